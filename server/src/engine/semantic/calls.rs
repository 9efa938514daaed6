//! Call sites and function summaries.
//!
//! The builder records every call whose callee is a plain name (`load_stats(uid)`) or a method of
//! a dotted receiver (`self.load(uid)`, `session.commit()`, `repo.get(cid)`), and every attribute
//! read inside a function or loop (`pr.consent_tasks`: a property runs when read), with the loops
//! around it. From those, [`summaries`] computes for each function which of its parameters reach
//! an ORM query as a key: directly, or through calls to further functions and methods of the same
//! file or, with the project's summaries ([`crate::engine::index::calls`]), of the modules it
//! imports, up to a depth, cycles safe. A method is found from what its receiver holds
//! ([`super::classes`]): `self`, an instance the code constructs or annotates, a row of a model.
//! A call that cannot be resolved to a definition is skipped, never guessed.

use std::cell::OnceCell;
use std::path::Path;
use std::sync::Arc;

use tree_sitter::Node;

use super::classes::{
    find_member, is_module_statement, ClassAt, FileClasses, Graph, Holds, Member, Receivers,
};
use super::types::RowType;
use super::{LoopId, Query, SemanticModel};
use crate::engine::diagnostic::OtherFile;
use crate::engine::index::calls::{
    self as index_calls, ArgSlot, CallEdge, CallForm, CallIndex, CallTarget, CallValue, ClassRef,
    ClassSummary, FileSummary, FunctionKind, FunctionSummary, Imports, InstanceRef, MemberAccess,
    MethodEntry, PassedArgument, PendingCall, ResolvedFunction,
};
use crate::engine::index::ModelResolver;
use crate::engine::orm::{self, RefContext};
use crate::engine::source::TextRange;
use crate::engine::syntax::{dotted_path, field, named_children};

/// What a call calls, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callee {
    /// `load_stats(uid)`
    Name(String),
    /// `self.load(uid)`, `session.commit()`: the receiver as a dotted path and the method.
    Method { receiver: String, method: String },
    /// `pr.consent_tasks` read without a call: runs the member if it is a property.
    Attribute { receiver: String, attribute: String },
}

impl Callee {
    /// The receiver as a dotted path, for a method call or an attribute read.
    pub fn receiver(&self) -> Option<&str> {
        match self {
            Callee::Name(_) => None,
            Callee::Method { receiver, .. } | Callee::Attribute { receiver, .. } => Some(receiver),
        }
    }

    /// The name called or read.
    pub fn member(&self) -> &str {
        match self {
            Callee::Name(name)
            | Callee::Method { method: name, .. }
            | Callee::Attribute {
                attribute: name, ..
            } => name,
        }
    }

    /// As written: `load_stats`, `repo.get_by_id`, `pr.consent_tasks`.
    pub fn display(&self) -> String {
        match self.receiver() {
            Some(receiver) => format!("{receiver}.{}", self.member()),
            None => self.member().to_string(),
        }
    }
}

#[derive(Debug)]
pub struct CallSite<'a> {
    pub node: Node<'a>,
    pub callee: Callee,
    /// The receiver expression of a method call.
    pub receiver: Option<Node<'a>>,
    /// The receiver is a session or connection.
    pub receiver_is_session: bool,
    /// What rows the receiver holds, when known (`order.save()` on a row of `Order`).
    pub receiver_type: Option<RowType>,
    /// Loops of the function around the call, innermost last.
    pub loops: Vec<LoopId>,
    /// The enclosing `function_definition` or `lambda`, or the module.
    pub scope: Node<'a>,
    /// What the caller does with the call's value.
    pub value: CallValue,
}

impl CallSite<'_> {
    /// Whether the call writes to the database: a session's `add`/`commit`/`flush`/`delete`/...,
    /// or `save()`/`delete()` on anything else (a model instance).
    pub fn writes(&self) -> bool {
        let Callee::Method { method, .. } = &self.callee else {
            return false;
        };
        if self.receiver_is_session {
            orm::Orm::SqlAlchemy
                .tables()
                .receiver_writes
                .contains(&method.as_str())
        } else {
            orm::Orm::Django
                .tables()
                .receiver_writes
                .contains(&method.as_str())
        }
    }
}

/// Records a call site; `None` for calls of anything but a name or a method of a dotted path.
pub(super) fn call_site<'a>(
    node: Node<'a>,
    source: &'a str,
    scope: &dyn orm::Scope<'a>,
    loops: Vec<LoopId>,
    function: Node<'a>,
    value: CallValue,
    row_type: impl FnOnce(Node<'a>) -> Option<RowType>,
) -> Option<CallSite<'a>> {
    let callee = field(node, "function")?;
    match callee.kind() {
        "identifier" => Some(CallSite {
            node,
            callee: Callee::Name(source[callee.byte_range()].to_string()),
            receiver: None,
            receiver_is_session: false,
            receiver_type: None,
            loops,
            scope: function,
            value,
        }),
        "attribute" => {
            let object = field(callee, "object")?;
            let receiver = dotted_path(object, source)?;
            let method = source[field(callee, "attribute")?.byte_range()].to_string();
            Some(CallSite {
                node,
                receiver_is_session: match scope.session_binding(&receiver) {
                    orm::SessionBinding::Session => true,
                    orm::SessionBinding::NotSession => false,
                    // `session.add(...)`, `self.db.commit()`: a write has no argument to prove
                    // anything, so the receiver's name has to.
                    orm::SessionBinding::Unknown => {
                        orm::sqlalchemy::named_like_session(orm::last_component(&receiver))
                    }
                },
                receiver_type: row_type(object),
                callee: Callee::Method { receiver, method },
                receiver: Some(object),
                loops,
                scope: function,
                value,
            })
        }
        _ => None,
    }
}

/// Records an attribute read `x.attr` (not called) of a dotted object, which runs the member if
/// it is a property.
pub(super) fn member_read<'a>(
    node: Node<'a>,
    source: &'a str,
    loops: Vec<LoopId>,
    function: Node<'a>,
    value: CallValue,
    row_type: impl FnOnce(Node<'a>) -> Option<RowType>,
) -> Option<CallSite<'a>> {
    let object = field(node, "object")?;
    let receiver = dotted_path(object, source)?;
    let attribute = source[field(node, "attribute")?.byte_range()].to_string();
    Some(CallSite {
        node,
        callee: Callee::Attribute {
            receiver,
            attribute,
        },
        receiver: Some(object),
        receiver_is_session: false,
        receiver_type: row_type(object),
        loops,
        scope: function,
        value,
    })
}

/// A function or method defined in the file.
#[derive(Debug, Clone)]
pub struct FunctionDef<'a> {
    pub node: Node<'a>,
    pub name: String,
    /// The class a method is defined in.
    pub class: Option<String>,
    /// The `class_definition` of a method.
    pub class_node: Option<Node<'a>>,
    pub kind: FunctionKind,
    /// Parameter names in order (`self` included for methods).
    pub parameters: Vec<String>,
    /// Each parameter's annotation, in the order of `parameters`.
    pub annotations: Vec<Option<Node<'a>>>,
    /// A statement of the module (decorated or not): other modules can import it.
    pub module_level: bool,
    /// Decorated with a cache (`functools.cache`, `lru_cache`, `cachetools.cached`): a call
    /// with a key it has seen runs no query.
    pub memoised: bool,
    /// A classmethod that returns `cls(...)` (or its class called by name): calling it makes an
    /// instance.
    pub factory: bool,
    /// A property's `@name.setter` or `@name.deleter`: reading `name` runs the getter.
    pub accessor: bool,
}

impl FunctionDef<'_> {
    /// `Class.method` for a method, the name for a function: how messages name it.
    pub fn qualified_name(&self) -> String {
        match &self.class {
            Some(class) => format!("{class}.{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The function's name where it is defined.
    pub fn name_range(&self) -> TextRange {
        field(self.node, "name").map_or_else(|| self.node.byte_range(), |name| name.byte_range())
    }
}

pub use crate::engine::index::calls::{Hop, Reach};

impl Reach {
    /// Lower is surer: a query that runs whatever the caller does or loaded.
    fn doubt(&self) -> (bool, bool) {
        (self.returned, self.relation.is_some())
    }

    /// This reach, one call further up: through a call whose value is used as `value`, passing
    /// the parameter as written (`passed_as_is`). `None` when the caller only combines the
    /// returned query into another one, so it never runs on its own.
    pub fn through_call(
        &self,
        parameter: usize,
        hop: Hop,
        value: CallValue,
        passed_as_is: bool,
    ) -> Option<Reach> {
        let returned = match (self.returned, value) {
            (false, _) | (true, CallValue::Evaluated) => false,
            (true, CallValue::Returned) => true,
            (true, CallValue::Combined) => return None,
        };
        let mut path = Vec::with_capacity(self.path.len() + 1);
        path.push(hop);
        path.extend(self.path.iter().cloned());
        Some(Reach {
            parameter,
            path,
            model: self.model.clone(),
            relation: self.relation.clone().filter(|_| passed_as_is),
            returned,
        })
    }
}

/// Adds a reach for its parameter, or replaces a doubtful one (a returned query, a relation
/// a prefetch may serve) with a surer one.
fn add_reach(reaches: &mut Vec<Reach>, reach: Reach) {
    match reaches.iter_mut().find(|r| r.parameter == reach.parameter) {
        Some(known) if reach.doubt() < known.doubt() => *known = reach,
        Some(_) => {}
        None => reaches.push(reach),
    }
}

/// What a caller does with a call's value (when the call returns a query unevaluated), from the
/// nodes that enclose the call, innermost first.
pub fn call_value<'a>(
    call: Node<'a>,
    enclosing: impl IntoIterator<Item = Node<'a>>,
    source: &str,
) -> CallValue {
    let mut current = call;
    for parent in enclosing {
        match parent.kind() {
            "parenthesized_expression" | "await" => {}
            // `.filter(...)`, `.values_list(...)` keep building; `.count()`, `.first()` run it.
            "attribute" if field(parent, "object") == Some(current) => {
                let Some(method) = field(parent, "attribute").map(|a| &source[a.byte_range()])
                else {
                    return CallValue::Evaluated;
                };
                let builds = orm::MODULES.iter().any(|orm| orm.tables().builds(method))
                    && !orm::MODULES.iter().any(|orm| orm.tables().runs(method));
                if !builds {
                    return CallValue::Evaluated;
                }
            }
            "call" if field(parent, "function") == Some(current) => {}
            "return_statement" => return CallValue::Returned,
            // `qs |= row.items.filter(...)`, `a | b`, `filter(pk__in=...)`: one larger query.
            "binary_operator" | "augmented_assignment" => {
                let operator = field(parent, "operator").map(|o| &source[o.byte_range()]);
                return if matches!(operator, Some("|" | "&" | "|=" | "&=")) {
                    CallValue::Combined
                } else {
                    CallValue::Evaluated
                };
            }
            "keyword_argument" => {
                let name = field(parent, "name").map_or("", |n| &source[n.byte_range()]);
                return if name.ends_with("__in") {
                    CallValue::Combined
                } else {
                    CallValue::Evaluated
                };
            }
            _ => return CallValue::Evaluated,
        }
        current = parent;
    }
    CallValue::Evaluated
}

/// `self.input_sources.all()` for parameter `self`: the relation of a parameter a Django
/// related-manager query reads whole (`.all()`, `.count()`, `.exists()`, or iterated as is).
fn relation_read_whole(query: &Query<'_>, parameter: &str, source: &str) -> Option<String> {
    if query.call.api != orm::QueryApi::DjangoRelated {
        return None;
    }
    let chain = orm::Chain::flatten(query.call.node, source);
    if &source[chain.root.byte_range()] != parameter {
        return None;
    }
    let (relation, rest) = chain.segments.split_first()?;
    if relation.is_call() || relation.subscript.is_some() {
        return None;
    }
    let whole = rest.iter().all(|segment| {
        segment
            .arguments
            .is_some_and(|a| named_children(a).next().is_none())
            && matches!(segment.name, "all" | "count" | "exists")
    });
    whole.then(|| relation.name.to_string())
}

/// What a call resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A function of the file, by index into [`Summaries::functions`].
    Local(usize),
    /// A function of another file, by index into [`Summaries::imported`].
    Imported(usize),
}

/// A function of another file that calls of the file name: each is kept once per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedTarget {
    /// How the project finds it.
    pub target: CallTarget,
    /// Its index in [`Summaries::external`] and how calls bind it, when the project has it.
    pub known: Option<(usize, CallForm)>,
}

/// A call's target, how the call binds it, and the function (index into
/// [`Summaries::functions`]) it sits in.
#[derive(Debug, Clone, Copy)]
struct Resolved {
    target: Target,
    form: CallForm,
    caller: Option<usize>,
}

/// A call passing parameters on, before export: its target, the call (index into the model's
/// calls) and each argument's slot with the caller's parameter it derives from.
type PendingEdge = (CallTarget, usize, Vec<PassedArgument>);

/// The project around the file: its imports and the summaries of the other files.
#[derive(Clone, Copy)]
pub struct Project<'p> {
    pub imports: &'p Imports,
    pub index: &'p CallIndex,
    /// The checked file's path in the index.
    pub path: &'p std::path::Path,
}

/// The function a call runs, as [`Summaries::callee`] describes it for messages.
pub struct CalleeInfo {
    /// `load_stats`, `Repository.get_by_id`.
    pub name: String,
    pub kind: FunctionKind,
    /// Its name where it is defined: in this file, or in `file`.
    pub definition: TextRange,
    pub file: Option<OtherFile>,
}

/// Per function (index into [`functions`]), the parameters that reach a query.
pub struct Summaries<'a> {
    pub functions: Vec<FunctionDef<'a>>,
    /// The file's classes, their bases and methods.
    pub classes: FileClasses<'a>,
    pub reaches: Vec<Vec<Reach>>,
    /// Functions of other files that calls of the file resolve to, as the project has them.
    pub external: Vec<ResolvedFunction>,
    /// The functions of other files the file's calls name.
    pub imported: Vec<ImportedTarget>,
    /// Module-level names bound to instances, for the project.
    instances: Vec<(String, InstanceRef)>,
    /// Per call of the model (same index), what it calls and the function it sits in.
    targets: Vec<Option<Resolved>>,
    /// Per function, per parameter, the names derived from it (`key = uid`, `k = str(uid)`),
    /// computed for the functions that need them.
    derived: Vec<OnceCell<Vec<FastSet<String>>>>,
}

impl<'a> Summaries<'a> {
    /// The names each parameter of a function derives, computed once.
    fn derived(&self, model: &SemanticModel<'a>, function: usize) -> &[FastSet<String>] {
        self.derived[function]
            .get_or_init(|| derive_parameters(&self.functions[function], model, model.file.text()))
    }

    /// What the `index`th call of the model resolves to: a module-level function of the file for
    /// a plain name (unless the caller binds that name itself), a function imported from another
    /// module (`from m import f`, `import m as h; h.f(...)`), or a method (a property, for an
    /// attribute read) of what the receiver holds, found through its class and bases.
    pub fn target(&self, index: usize) -> Option<&Target> {
        self.targets
            .get(index)?
            .as_ref()
            .map(|resolved| &resolved.target)
    }

    /// The kind, the binding, the parameters and the reaches of a call's target, when known.
    fn binding(
        &self,
        resolved: &Resolved,
    ) -> Option<(FunctionKind, CallForm, &[String], &[Reach])> {
        match resolved.target {
            Target::Local(index) => {
                let function = &self.functions[index];
                Some((
                    function.kind,
                    resolved.form,
                    &function.parameters,
                    &self.reaches[index],
                ))
            }
            Target::Imported(index) => {
                let (known, form) = self.imported[index].known?;
                let function = &self.external[known];
                Some((function.kind, form, &function.parameters, &function.reaches))
            }
        }
    }

    /// The function the `index`th call runs: its qualified name, kind and definition.
    pub fn callee(&self, index: usize) -> Option<CalleeInfo> {
        match self.target(index)? {
            Target::Local(function) => {
                let function = &self.functions[*function];
                Some(CalleeInfo {
                    name: function.qualified_name(),
                    kind: function.kind,
                    definition: function.name_range(),
                    file: None,
                })
            }
            Target::Imported(imported) => {
                let function = &self.external[self.imported[*imported].known?.0];
                Some(CalleeInfo {
                    name: function.definition.display.clone(),
                    kind: function.kind,
                    definition: function.definition.range.clone(),
                    file: function.definition.file.clone(),
                })
            }
        }
    }

    /// Whether the `index`th call calls the function it sits in.
    pub fn is_recursive(&self, index: usize) -> bool {
        matches!(
            self.targets.get(index),
            Some(Some(Resolved {
                target: Target::Local(function),
                caller: Some(caller),
                ..
            })) if function == caller
        )
    }

    /// The reaches of the function the `index`th call resolves to whose parameter receives an
    /// argument (or, for a method, the receiver) accepted by `takes` (the expression).
    pub fn reaching_arguments(
        &self,
        model: &SemanticModel<'a>,
        index: usize,
        mut takes: impl FnMut(Node<'a>) -> bool,
    ) -> Vec<(Node<'a>, &Reach)> {
        let Some((kind, form, parameters, reaches)) = self
            .targets
            .get(index)
            .and_then(Option::as_ref)
            .and_then(|resolved| self.binding(resolved))
        else {
            return Vec::new();
        };
        let call = &model.calls[index];
        let mut found = Vec::new();
        for (argument, parameter) in bind_arguments(call, kind, form, parameters, model.file.text())
        {
            if !takes(argument) {
                continue;
            }
            if let Some(reach) = reaches.iter().find(|r| r.parameter == parameter) {
                found.push((argument, reach));
            }
        }
        found
    }
}

/// Every function of the file and which of its parameters reach a query, through at most
/// `max_depth` hops (calls, then the query), following calls into other files when `project`
/// is given. `models` places the models of rows that receive method calls.
pub fn summaries<'a>(
    model: &SemanticModel<'a>,
    models: &ModelResolver<'_>,
    max_depth: usize,
    module: &str,
    project: Option<Project<'_>>,
) -> Summaries<'a> {
    let max_depth = max_depth.max(1);
    let source = model.file.text();
    // The module's statements, to tell module-level functions by position (`Node::parent` walks
    // down from the root).
    let statements: Vec<Node<'a>> = named_children(model.file.root()).collect();
    let functions: Vec<FunctionDef<'a>> = model
        .scopes
        .iter()
        .filter(|scope| scope.node.kind() == "function_definition")
        .filter_map(|scope| {
            let mut function = function_def(scope.node, source)?;
            function.module_level = is_module_statement(function.node, &statements);
            Some(function)
        })
        .collect();
    let by_node: FastMap<usize, usize> = functions
        .iter()
        .enumerate()
        .map(|(index, f)| (f.node.id(), index))
        .collect();
    let no_imports = Imports::default();
    let imports = project.map_or(&no_imports, |p| p.imports);
    let classes = FileClasses::build(model, &functions, &statements, imports);
    let function_of = |node: Node<'a>| by_node.get(&model.scope_of(node).node.id()).copied();
    let receivers = Receivers::new(
        model,
        &functions,
        &classes,
        imports,
        models,
        module,
        &function_of,
    );
    let instances = receivers.module_instances();
    let graph = Graph {
        here: &classes.summaries,
        project: project.map(|p| p.index),
        near: project.map(|p| p.path),
    };
    let function_in = |scope: Node<'a>| by_node.get(&scope.id()).copied();
    let resolution = resolve_targets(
        model,
        &functions,
        &classes,
        &receivers,
        &graph,
        project,
        &function_in,
    );
    drop(receivers);
    let mut summaries = Summaries {
        reaches: vec![Vec::new(); functions.len()],
        derived: (0..functions.len()).map(|_| OnceCell::new()).collect(),
        functions,
        classes,
        external: resolution.external,
        imported: resolution.imported,
        instances,
        targets: resolution.targets,
    };
    // Direct reaches: a query in the function reads a parameter as a key.
    for query in &model.queries {
        if query.call.access != orm::Access::Read || !(query.evaluated || query.returned) {
            continue;
        }
        let Some(index) = function_of(query.call.node) else {
            continue;
        };
        if summaries.functions[index].memoised {
            continue;
        }
        if !query.call.refs.iter().any(|r| r.context == RefContext::Key) {
            continue;
        }
        // `choices = cache.get(key)`, `if choices is None:` query, `cache.set(key, choices)`.
        if model.runs_on_cache_miss(summaries.functions[index].node, query.call.node) {
            continue;
        }
        let reached: Vec<usize> = summaries
            .derived(model, index)
            .iter()
            .enumerate()
            .filter(|(_, names)| {
                query
                    .call
                    .refs
                    .iter()
                    .any(|r| r.context == RefContext::Key && names.contains(&r.name))
            })
            .map(|(parameter, _)| parameter)
            .collect();
        for parameter in reached {
            let relation = relation_read_whole(
                query,
                &summaries.functions[index].parameters[parameter],
                source,
            );
            let reach = Reach {
                parameter,
                path: vec![Hop {
                    range: query.call.node.byte_range(),
                    display: query.call.display.clone(),
                    function: summaries.functions[index].qualified_name(),
                    file: None,
                }],
                model: query.call.model.clone(),
                relation,
                returned: !query.evaluated,
            };
            add_reach(&mut summaries.reaches[index], reach);
        }
    }
    // Through calls: each round adds one more hop; a bounded number of rounds ends cycles.
    for _ in 1..max_depth {
        let mut added = Vec::new();
        for (call, resolved) in model.calls.iter().zip(&summaries.targets) {
            let Some(resolved) = resolved else {
                continue;
            };
            let Some(caller) = resolved.caller else {
                continue;
            };
            if summaries.functions[caller].memoised {
                continue;
            }
            let Some((kind, form, parameters, reaches)) = summaries.binding(resolved) else {
                continue;
            };
            for (argument, parameter) in bind_arguments(call, kind, form, parameters, source) {
                let Some(reach) = reaches
                    .iter()
                    .find(|r| r.parameter == parameter && r.path.len() < max_depth)
                else {
                    continue;
                };
                let mut names = Vec::new();
                collect_identifiers(argument, source, &mut names);
                for (caller_parameter, derived_names) in
                    summaries.derived(model, caller).iter().enumerate()
                {
                    if !names.iter().any(|name| derived_names.contains(name)) {
                        continue;
                    }
                    let known = summaries.reaches[caller]
                        .iter()
                        .any(|r| r.parameter == caller_parameter)
                        || added.iter().any(|(c, r): &(usize, Reach)| {
                            *c == caller && r.parameter == caller_parameter
                        });
                    if known {
                        continue;
                    }
                    let passed_as_is = source[argument.byte_range()]
                        == summaries.functions[caller].parameters[caller_parameter];
                    let hop = call_hop(call, source, &summaries.functions[caller]);
                    if let Some(reach) =
                        reach.through_call(caller_parameter, hop, call.value, passed_as_is)
                    {
                        added.push((caller, reach));
                    }
                }
            }
        }
        if added.is_empty() {
            break;
        }
        for (caller, reach) in added {
            summaries.reaches[caller].push(reach);
        }
    }
    summaries
}

fn call_hop(call: &CallSite<'_>, source: &str, caller: &FunctionDef<'_>) -> Hop {
    Hop {
        range: call.node.byte_range(),
        display: crate::engine::syntax::display_code(&source[call.node.byte_range()], 60),
        function: caller.qualified_name(),
        file: None,
    }
}

/// What [`resolve_targets`] finds: per call its target, and the functions of other files named.
struct Resolution {
    targets: Vec<Option<Resolved>>,
    imported: Vec<ImportedTarget>,
    external: Vec<ResolvedFunction>,
}

/// Resolves every call of the model once, with the function it sits in.
fn resolve_targets<'a>(
    model: &SemanticModel<'a>,
    functions: &[FunctionDef<'a>],
    classes: &FileClasses<'a>,
    receivers: &Receivers<'_, 'a>,
    graph: &Graph<'_>,
    project: Option<Project<'_>>,
    function_in: &dyn Fn(Node<'a>) -> Option<usize>,
) -> Resolution {
    let mut imported: Vec<ImportedTarget> = Vec::new();
    let mut interned: FastMap<CallTarget, usize> = FastMap::default();
    let mut external: Vec<ResolvedFunction> = Vec::new();
    let mut intern = |target: CallTarget,
                      known: &dyn Fn() -> Option<(ResolvedFunction, CallForm)>|
     -> (usize, CallForm) {
        if let Some(&index) = interned.get(&target) {
            let form = imported[index]
                .known
                .map_or(CallForm::Plain, |(_, form)| form);
            return (index, form);
        }
        let known = known().map(|(function, form)| {
            external.push(function);
            (external.len() - 1, form)
        });
        interned.insert(target.clone(), imported.len());
        imported.push(ImportedTarget { target, known });
        (
            imported.len() - 1,
            known.map_or(CallForm::Plain, |(_, form)| form),
        )
    };
    let module_functions: FastMap<&str, usize> = functions
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, f)| f.kind == FunctionKind::Function && f.module_level)
        .map(|(index, f)| (f.name.as_str(), index))
        .collect();
    // The first names of what the file imports: a method call on anything else is no module's.
    let imported_heads: FastSet<&str> = project
        .map(|p| {
            p.imports
                .list
                .iter()
                .map(|import| import.local.split('.').next().unwrap_or(&import.local))
                .collect()
        })
        .unwrap_or_default();
    let module_record = model.scopes.last();
    // A name the module rebinds (`load = cached(load)`) is not surely the import any more.
    let module_binds = |name: &str| module_record.is_some_and(|m| m.values.contains_key(name));
    let targets = model
        .calls
        .iter()
        .map(|call| {
            // Writes are INB005's: a session's `add()`/`commit()`, a row's `save()`/`delete()`,
            // whatever a model's override runs. (A receiver only named like a session, such as
            // `repo = Repo.from_session(s)`, still has its class's methods resolved below.)
            if call.writes() {
                return None;
            }
            let record = model.scope_of(call.node);
            let caller = function_in(record.node);
            let (target, form) = match &call.callee {
                Callee::Name(name) => {
                    let local = module_functions.get(name.as_str()).copied();
                    let from_import = if local.is_none() {
                        project
                            .and_then(|p| p.imports.function(name))
                            .filter(|_| !module_binds(name))
                    } else {
                        None
                    };
                    if local.is_none() && from_import.is_none() {
                        return None;
                    }
                    if record.parameters.contains(name) || record.values.contains_key(name) {
                        return None;
                    }
                    match (local, from_import) {
                        (Some(index), _) => (Target::Local(index), CallForm::Plain),
                        (None, Some((module, name))) => {
                            let target = CallTarget::Imported {
                                module: module.to_string(),
                                name: name.to_string(),
                            };
                            let (index, form) = intern(target.clone(), &|| {
                                let project = project?;
                                project.index.function(&target, Some(project.path))
                            });
                            (Target::Imported(index), form)
                        }
                        (None, None) => return None,
                    }
                }
                Callee::Method { receiver, .. } | Callee::Attribute { receiver, .. } => {
                    let member = call.callee.member();
                    let access = match call.callee {
                        Callee::Attribute { .. } => MemberAccess::Read,
                        _ => MemberAccess::Call,
                    };
                    let head = receiver.split('.').next().unwrap_or(receiver);
                    let imported_module = imported_heads.contains(head)
                        && !(record.parameters.contains(head)
                            || record.values.contains_key(head)
                            || module_binds(head));
                    if imported_module {
                        let module = project?.imports.module(receiver)?;
                        // `helpers.load(uid)`: a module's function, or a method of an object
                        // the module binds; a read is only ever an object's property.
                        let target = match access {
                            MemberAccess::Call => CallTarget::Imported {
                                module,
                                name: member.to_string(),
                            },
                            MemberAccess::Read => {
                                let (parent, object) = module.rsplit_once('.')?;
                                CallTarget::Method {
                                    receiver: InstanceRef::Global(ClassRef {
                                        module: parent.to_string(),
                                        name: object.to_string(),
                                    }),
                                    name: member.to_string(),
                                    access,
                                }
                            }
                        };
                        let (index, form) = intern(target.clone(), &|| {
                            let project = project?;
                            project.index.function(&target, Some(project.path))
                        });
                        (Target::Imported(index), form)
                    } else {
                        let holds = receivers.holds(call, caller, record)?;
                        if access == MemberAccess::Read {
                            if let Holds::Instance(ClassAt::Here(class)) = holds {
                                if !classes.may_have_properties(class) {
                                    return None;
                                }
                            }
                        }
                        let (found, form) = find_member(graph, &holds, member, access)?;
                        match found {
                            Member::Here(index) => (Target::Local(index), form),
                            // In another file, or in one the project may read later: the project
                            // looks it up from the receiver's class.
                            elsewhere => {
                                let target = CallTarget::Method {
                                    receiver: receivers.instance_ref(&holds)?,
                                    name: member.to_string(),
                                    access,
                                };
                                let (index, _) = intern(target, &|| match elsewhere {
                                    Member::There(path, function) => {
                                        Some((project?.index.function_at(path, function)?, form))
                                    }
                                    _ => None,
                                });
                                (Target::Imported(index), form)
                            }
                        }
                    }
                }
            };
            Some(Resolved {
                target,
                form,
                caller,
            })
        })
        .collect();
    Resolution {
        targets,
        imported,
        external,
    }
}

impl Summaries<'_> {
    /// The file's summary for the project: its functions with located reaches, the calls that
    /// pass their parameters on, its classes and module-level instances, and the loop calls
    /// whose loop-dependent arguments reach no query in this file (they may through another).
    pub fn export(
        &self,
        model: &SemanticModel<'_>,
        path: &Arc<Path>,
        module: &str,
        imports: &Imports,
    ) -> FileSummary {
        let file = model.file;
        let source = file.text();
        let locate_hop = |hop: &Hop| -> Hop {
            match &hop.file {
                Some(_) => hop.clone(),
                None => Hop {
                    file: Some(index_calls::locate(file, path, &hop.range)),
                    ..hop.clone()
                },
            }
        };
        let locate_reach = |reach: &Reach| Reach {
            path: reach.path.iter().map(locate_hop).collect(),
            ..reach.clone()
        };
        // Per function: the target, the call (by index) and its arguments' slots and parameters.
        let mut edges: Vec<Vec<PendingEdge>> = vec![Vec::new(); self.functions.len()];
        let mut pending = Vec::new();
        for (index, (call, resolved)) in model.calls.iter().zip(&self.targets).enumerate() {
            let Some(resolved) = resolved else {
                continue;
            };
            if call.loops.is_empty() && resolved.caller.is_none() {
                continue;
            }
            let project_target = || match resolved.target {
                Target::Local(function) => CallTarget::Local {
                    function,
                    form: resolved.form,
                },
                Target::Imported(index) => self.imported[index].target.clone(),
            };
            let slots = call_slots(call, source);
            if !call.loops.is_empty() && self.reaching_arguments(model, index, |_| true).is_empty()
            {
                let mut arguments = Vec::new();
                for (argument, slot) in &slots {
                    let varies = call.loops.iter().any(|&id| {
                        let varying = &model.loop_(id).varying;
                        reads_any(*argument, source, &|name| varying.contains(name))
                    });
                    if varies {
                        arguments.push(slot.clone());
                    }
                }
                if !arguments.is_empty() {
                    pending.push(PendingCall {
                        target: project_target(),
                        arguments,
                    });
                }
            }
            let Some(caller) = resolved.caller else {
                continue;
            };
            let names_of_caller = self.derived(model, caller);
            let parameters = &self.functions[caller].parameters;
            let mut arguments = Vec::new();
            let mut read = Vec::new();
            for (argument, slot) in &slots {
                read.clear();
                collect_identifiers(*argument, source, &mut read);
                for (parameter, derived_names) in names_of_caller.iter().enumerate() {
                    if read.iter().any(|name| derived_names.contains(name)) {
                        let as_is = source[argument.byte_range()] == parameters[parameter];
                        arguments.push(PassedArgument {
                            slot: slot.clone(),
                            parameter,
                            as_is,
                        });
                    }
                }
            }
            if !arguments.is_empty() {
                edges[caller].push((project_target(), index, arguments));
            }
        }
        // Only functions that reach a query or pass a parameter on can ever reach one: the
        // others are left out, and the calls to them with them (a class still lists them by
        // name: they hide the same method of its bases).
        let mut kept: Vec<Option<usize>> = vec![None; self.functions.len()];
        let mut next = 0;
        for (index, slot) in kept.iter_mut().enumerate() {
            if !self.reaches[index].is_empty() || !edges[index].is_empty() {
                *slot = Some(next);
                next += 1;
            }
        }
        let remap = |target: CallTarget| match target {
            CallTarget::Local { function, form } => {
                kept[function].map(|function| CallTarget::Local { function, form })
            }
            other => Some(other),
        };
        let mut functions = Vec::with_capacity(next);
        for (index, edges) in edges.into_iter().enumerate() {
            if kept[index].is_none() {
                continue;
            }
            let function = &self.functions[index];
            let name = function.qualified_name();
            functions.push(FunctionSummary {
                name: function.name.clone(),
                class: function.class.clone(),
                kind: function.kind,
                module_level: function.module_level,
                parameters: function.parameters.clone(),
                definition: locate_hop(&Hop {
                    range: function.name_range(),
                    display: name.clone(),
                    function: name,
                    file: None,
                }),
                reaches: self.reaches[index].iter().map(locate_reach).collect(),
                calls: edges
                    .into_iter()
                    .filter_map(|(target, call, arguments)| {
                        let call = &model.calls[call];
                        Some(CallEdge {
                            target: remap(target)?,
                            hop: locate_hop(&call_hop(call, source, function)),
                            value: call.value,
                            arguments,
                        })
                    })
                    .collect(),
            });
        }
        let classes = self
            .classes
            .summaries
            .iter()
            .map(|class| ClassSummary {
                methods: class
                    .methods
                    .iter()
                    .map(|method| MethodEntry {
                        function: method.function.and_then(|function| kept[function]),
                        ..method.clone()
                    })
                    .collect(),
                ..class.clone()
            })
            .collect();
        let pending = pending
            .into_iter()
            .filter_map(|call| {
                Some(PendingCall {
                    target: remap(call.target)?,
                    arguments: call.arguments,
                })
            })
            .collect();
        FileSummary {
            path: path.clone(),
            module: module.to_string(),
            imports: imports.clone(),
            functions,
            classes,
            instances: self.instances.clone(),
            pending,
        }
    }
}

impl<'a> FunctionDef<'a> {
    fn body(&self) -> Node<'a> {
        field(self.node, "body").unwrap_or(self.node)
    }
}

fn function_def<'a>(node: Node<'a>, source: &str) -> Option<FunctionDef<'a>> {
    let name = source[field(node, "name")?.byte_range()].to_string();
    let mut parameters = Vec::new();
    let mut annotations = Vec::new();
    for parameter in named_children(field(node, "parameters")?) {
        let name = match parameter.kind() {
            "identifier" => Some(parameter),
            "typed_parameter" | "default_parameter" | "typed_default_parameter" => {
                field(parameter, "name")
                    .or_else(|| named_children(parameter).find(|c| c.kind() == "identifier"))
            }
            // `*args`, `**kwargs`, `*`, `/`: positions after them are not plain.
            _ => None,
        };
        match name {
            Some(name) => {
                parameters.push(source[name.byte_range()].to_string());
                annotations.push(field(parameter, "type"));
            }
            None => break,
        }
    }
    // `Node::parent` walks down from the root: asked once.
    let parent = node.parent();
    let class_node = enclosing_class(parent);
    let decorators = decorators(parent, source);
    let decorated = |names: &[&str]| {
        decorators
            .iter()
            .any(|callee| names.contains(&orm::last_component(callee)))
    };
    let kind = if class_node.is_none() {
        FunctionKind::Function
    } else if decorated(&["staticmethod"]) {
        FunctionKind::StaticMethod
    } else if decorated(&["classmethod"]) {
        FunctionKind::ClassMethod
    } else if decorated(&["property", "cached_property"]) {
        FunctionKind::Property
    } else {
        FunctionKind::Method
    };
    let class = class_node
        .and_then(|class| field(class, "name"))
        .map(|name| source[name.byte_range()].to_string());
    let factory = kind == FunctionKind::ClassMethod
        && returns_own_instance(node, parameters.first(), class.as_deref(), source);
    let accessor = decorators.iter().any(|callee| {
        callee
            .strip_prefix(&format!("{name}."))
            .is_some_and(|rest| rest == "setter" || rest == "deleter")
    });
    Some(FunctionDef {
        node,
        name,
        class,
        class_node,
        kind,
        parameters,
        annotations,
        module_level: false,
        memoised: decorated(MEMOISING_DECORATORS),
        factory,
        accessor,
    })
}

/// The class a function (whose parent is `parent`) is a method of, directly, not through a
/// nested function.
fn enclosing_class(parent: Option<Node<'_>>) -> Option<Node<'_>> {
    let mut current = parent;
    while let Some(node) = current {
        match node.kind() {
            "class_definition" => return Some(node),
            "function_definition" | "lambda" | "module" => return None,
            _ => current = node.parent(),
        }
    }
    None
}

/// Decorators that memoise a function's results per argument.
const MEMOISING_DECORATORS: &[&str] = &[
    "cache",
    "lru_cache",
    "cached",
    "memoize",
    "memoized",
    "memoise",
    "memoised",
];

/// The decorators of a function (whose parent is `parent`) as their dotted callees
/// (`functools.lru_cache`, `name.setter`).
fn decorators<'s>(parent: Option<Node<'_>>, source: &'s str) -> Vec<&'s str> {
    let Some(decorated) = parent.filter(|parent| parent.kind() == "decorated_definition") else {
        return Vec::new();
    };
    named_children(decorated)
        .filter(|child| child.kind() == "decorator")
        .map(|decorator| {
            let text = source[decorator.byte_range()].trim_start_matches('@');
            text.split('(').next().unwrap_or(text).trim()
        })
        .collect()
}

/// Whether a classmethod returns an instance of the class it is called on: `return cls(...)`
/// (or the class by name), directly or through a name assigned from it, in every `return`.
fn returns_own_instance(
    function: Node<'_>,
    cls: Option<&String>,
    class: Option<&str>,
    source: &str,
) -> bool {
    let Some(body) = field(function, "body") else {
        return false;
    };
    let constructs = |node: Node<'_>| {
        node.kind() == "call"
            && field(node, "function").is_some_and(|callee| {
                let callee = &source[callee.byte_range()];
                Some(callee) == cls.map(String::as_str) || Some(callee) == class
            })
    };
    // Statements of the body, into `if`/`try`/`with` blocks but not nested functions.
    let mut returned = Vec::new();
    let mut made: Vec<&str> = Vec::new();
    let mut stack = vec![body];
    while let Some(node) = stack.pop() {
        for statement in named_children(node) {
            match statement.kind() {
                "return_statement" => returned.push(named_children(statement).next()),
                "expression_statement" => {
                    let assignment = named_children(statement).next();
                    if let Some((left, right)) = assignment
                        .filter(|a| a.kind() == "assignment")
                        .and_then(|a| Some((field(a, "left")?, field(a, "right")?)))
                    {
                        if left.kind() == "identifier" && constructs(right) {
                            made.push(&source[left.byte_range()]);
                        }
                    }
                }
                "function_definition" | "class_definition" | "decorated_definition" => {}
                _ => stack.push(statement),
            }
        }
    }
    !returned.is_empty()
        && returned.iter().all(|value| {
            value.is_some_and(|value| {
                constructs(value)
                    || (value.kind() == "identifier" && made.contains(&&source[value.byte_range()]))
            })
        })
}

/// A call's receiver (bound to `self` by a method) and arguments with their slots; splats end
/// the list.
fn call_slots<'a>(call: &CallSite<'a>, source: &str) -> Vec<(Node<'a>, ArgSlot)> {
    let mut slots: Vec<(Node<'a>, ArgSlot)> = call
        .receiver
        .map(|receiver| (receiver, ArgSlot::Receiver))
        .into_iter()
        .collect();
    let Some(arguments) = field(call.node, "arguments").filter(|_| call.node.kind() == "call")
    else {
        return slots;
    };
    let mut position = 0;
    for argument in named_children(arguments) {
        match argument.kind() {
            "keyword_argument" => {
                let Some(name) = field(argument, "name").map(|n| &source[n.byte_range()]) else {
                    continue;
                };
                let Some(value) = field(argument, "value") else {
                    continue;
                };
                slots.push((value, ArgSlot::Keyword(name.to_string())));
            }
            "list_splat" | "dictionary_splat" => break,
            "comment" => {}
            _ => {
                slots.push((argument, ArgSlot::Position(position)));
                position += 1;
            }
        }
    }
    slots
}

/// Pairs a call's receiver and arguments with the callee's parameter indices, as a call of
/// this form binds a function of this kind.
fn bind_arguments<'a>(
    call: &CallSite<'a>,
    kind: FunctionKind,
    form: CallForm,
    parameters: &[String],
    source: &str,
) -> Vec<(Node<'a>, usize)> {
    call_slots(call, source)
        .into_iter()
        .filter_map(|(argument, slot)| Some((argument, kind.bind(form, parameters, &slot)?)))
        .collect()
}

/// For each parameter, the parameter and every name assigned (last assignment,
/// flow-insensitively) from it or from a name derived from it. What each assignment reads is
/// collected once for all the parameters.
fn derive_parameters(
    function: &FunctionDef<'_>,
    model: &SemanticModel<'_>,
    source: &str,
) -> Vec<FastSet<String>> {
    if function.parameters.is_empty() {
        return Vec::new();
    }
    let record = model.scope_of(function.body());
    let reads: Vec<(&String, Vec<String>)> = record
        .values
        .iter()
        .map(|(name, value)| {
            let mut read = Vec::new();
            collect_identifiers(*value, source, &mut read);
            (name, read)
        })
        .collect();
    function
        .parameters
        .iter()
        .map(|parameter| {
            let mut names: FastSet<String> = FastSet::default();
            names.insert(parameter.clone());
            loop {
                let before = names.len();
                for (name, read) in &reads {
                    if !names.contains(name.as_str())
                        && read.iter().any(|r| names.contains(r.as_str()))
                    {
                        names.insert((*name).clone());
                    }
                }
                if names.len() == before {
                    return names;
                }
            }
        })
        .collect()
}

/// Whether an expression reads a name or dotted path accepted by `accepts` (as
/// [`collect_identifiers`] collects them, without allocating for plain names).
fn reads_any(node: Node<'_>, source: &str, accepts: &dyn Fn(&str) -> bool) -> bool {
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        match node.kind() {
            "identifier" => {
                if accepts(&source[node.byte_range()]) {
                    return true;
                }
            }
            "attribute" => {
                let text = &source[node.byte_range()];
                let plain = text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
                let accepted = if plain {
                    accepts(text)
                } else {
                    dotted_path(node, source).is_some_and(|path| accepts(&path))
                };
                if accepted {
                    return true;
                }
                stack.extend(field(node, "object"));
            }
            "keyword_argument" => stack.extend(field(node, "value")),
            "lambda" | "comment" | "string" => {}
            _ => stack.extend(named_children(node)),
        }
    }
    false
}

pub(crate) use crate::engine::hashing::{FastMap, FastSet};

/// Names and dotted paths an expression reads; nested functions and lambdas excluded.
pub(crate) fn collect_identifiers(node: Node<'_>, source: &str, out: &mut Vec<String>) {
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        match node.kind() {
            "identifier" => out.push(source[node.byte_range()].to_string()),
            "attribute" => {
                if let Some(path) = dotted_path(node, source) {
                    out.push(path);
                }
                stack.extend(field(node, "object"));
            }
            "keyword_argument" => stack.extend(field(node, "value")),
            "lambda" | "comment" | "string" => {}
            _ => stack.extend(named_children(node)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{call_value, CallValue};
    use crate::engine::source::SourceFile;

    /// What the caller does with the value of the call `device.interfaces()` in `code`.
    fn value_of_call(code: &str) -> CallValue {
        let file = SourceFile::parse(code);
        let start = code.find("device.interfaces()").expect("the call");
        let call = file
            .root()
            .descendant_for_byte_range(start, start + "device.interfaces()".len())
            .expect("a node");
        assert_eq!(call.kind(), "call");
        let enclosing = std::iter::successors(call.parent(), |node| node.parent());
        call_value(call, enclosing, file.text())
    }

    #[test]
    fn a_returned_query_runs_where_its_value_is_evaluated() {
        assert_eq!(
            value_of_call("n = device.interfaces().count()\n"),
            CallValue::Evaluated
        );
        assert_eq!(
            value_of_call("for i in device.interfaces(): pass\n"),
            CallValue::Evaluated
        );
        assert_eq!(
            value_of_call("names = list(device.interfaces().values_list('name'))\n"),
            CallValue::Evaluated
        );
        assert_eq!(
            value_of_call("def f(device):\n    return device.interfaces().filter(up=True)\n"),
            CallValue::Returned
        );
        assert_eq!(
            value_of_call("qs |= device.interfaces()\n"),
            CallValue::Combined
        );
        assert_eq!(
            value_of_call("qs = a | device.interfaces().filter(up=True)\n"),
            CallValue::Combined
        );
        assert_eq!(
            value_of_call("Cable.objects.filter(interface__in=device.interfaces())\n"),
            CallValue::Combined
        );
    }
}
