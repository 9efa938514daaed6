//! Call sites and function summaries.
//!
//! The builder records every call whose callee is a plain name (`load_stats(uid)`) or a method of
//! a dotted receiver (`self.load(uid)`, `session.commit()`, `order.save()`), with the loops around
//! it. From those, [`summaries`] computes for each function which of its parameters reach an ORM
//! query as a key: directly, or through calls to further functions of the same file or, with the
//! project's summaries ([`crate::engine::index::calls`]), of the modules it imports, up to a
//! depth, cycles safe. A call that cannot be resolved to a definition is skipped, never guessed.

use std::cell::OnceCell;
use std::path::Path;
use std::sync::Arc;

use tree_sitter::Node;

use super::types::RowType;
use super::{LoopId, SemanticModel};
use crate::engine::index::calls::{
    self as index_calls, ArgSlot, CallEdge, CallIndex, CallTarget, FileSummary, FunctionSummary,
    Imports, PendingCall, ResolvedFunction,
};
use crate::engine::orm::{self, RefContext};
use crate::engine::syntax::{dotted_path, field, named_children};

/// What a call calls, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callee {
    /// `load_stats(uid)`
    Name(String),
    /// `self.load(uid)`, `session.commit()`: the receiver as a dotted path and the method.
    Method { receiver: String, method: String },
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
            })
        }
        _ => None,
    }
}

/// A function or method defined in the file.
#[derive(Debug, Clone)]
pub struct FunctionDef<'a> {
    pub node: Node<'a>,
    pub name: String,
    /// The class a method is defined in.
    pub class: Option<String>,
    /// Parameter names in order (`self` included for methods).
    pub parameters: Vec<String>,
    /// A statement of the module (decorated or not): other modules can import it.
    pub module_level: bool,
    /// Decorated with a cache (`functools.cache`, `lru_cache`, `cachetools.cached`): a call
    /// with a key it has seen runs no query.
    pub memoised: bool,
}

impl FunctionDef<'_> {
    /// Whether calls go through `self.`/`cls.`: the first parameter is then bound already.
    fn is_method(&self) -> bool {
        self.class.is_some()
    }
}

pub use crate::engine::index::calls::{Hop, Reach};

/// What a call resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A function of the file, by index into [`Summaries::functions`].
    Local(usize),
    /// A module-level function of another module, by index into [`Summaries::imported`].
    Imported(usize),
}

/// A function of another module that calls of the file name: each is kept once per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedTarget {
    pub module: String,
    pub name: String,
    /// Its index in [`Summaries::external`] when the project's summaries have it.
    pub known: Option<usize>,
}

/// A call's target and the function (index into [`Summaries::functions`]) it sits in.
type Resolved = (Target, Option<usize>);

/// A call passing parameters on, before export: its target, the call (index into the model's
/// calls) and each argument's slot with the caller's parameter it derives from.
type PendingEdge = (CallTarget, usize, Vec<(ArgSlot, usize)>);

/// The project around the file: its imports and the summaries of the other files.
#[derive(Clone, Copy)]
pub struct Project<'p> {
    pub imports: &'p Imports,
    pub index: &'p CallIndex,
}

/// Per function (index into [`functions`]), the parameters that reach a query.
pub struct Summaries<'a> {
    pub functions: Vec<FunctionDef<'a>>,
    pub reaches: Vec<Vec<Reach>>,
    /// Functions of other modules that calls of the file resolve to, as the project has them.
    pub external: Vec<ResolvedFunction>,
    /// The functions of other modules the file's calls name.
    pub imported: Vec<ImportedTarget>,
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
    /// a plain name (unless the caller binds that name itself), a method of the caller's class
    /// for `self.method(...)` / `cls.method(...)`, or a function imported from another module
    /// (`from m import f`, `import m as h; h.f(...)`).
    pub fn target(&self, index: usize) -> Option<&Target> {
        self.targets.get(index)?.as_ref().map(|(target, _)| target)
    }

    /// The parameters and reaches of a target, when known.
    fn callee(&self, target: &Target) -> Option<(&[String], usize, &[Reach])> {
        match target {
            Target::Local(index) => {
                let function = &self.functions[*index];
                Some((
                    &function.parameters,
                    usize::from(function.is_method()),
                    &self.reaches[*index],
                ))
            }
            Target::Imported(index) => {
                let function = &self.external[self.imported[*index].known?];
                Some((&function.parameters, 0, &function.reaches))
            }
        }
    }

    /// The reaches of the function the `index`th call resolves to whose parameter receives an
    /// argument accepted by `takes` (the argument's expression).
    pub fn reaching_arguments(
        &self,
        model: &SemanticModel<'a>,
        index: usize,
        mut takes: impl FnMut(Node<'a>) -> bool,
    ) -> Vec<(Node<'a>, &Reach)> {
        let Some((parameters, offset, reaches)) = self.target(index).and_then(|t| self.callee(t))
        else {
            return Vec::new();
        };
        let call = &model.calls[index];
        let mut found = Vec::new();
        for (argument, parameter) in bind_arguments(call, parameters, offset, model.file.text()) {
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
/// is given.
pub fn summaries<'a>(
    model: &SemanticModel<'a>,
    max_depth: usize,
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
            function.module_level = is_module_level(function.node, &statements);
            Some(function)
        })
        .collect();
    let by_node: FastMap<usize, usize> = functions
        .iter()
        .enumerate()
        .map(|(index, f)| (f.node.id(), index))
        .collect();
    let mut summaries = Summaries {
        reaches: vec![Vec::new(); functions.len()],
        functions,
        external: Vec::new(),
        imported: Vec::new(),
        targets: Vec::new(),
        derived: Vec::new(),
    };
    let function_of = |node: Node<'a>| by_node.get(&model.scope_of(node).node.id()).copied();
    let (targets, imported) = resolve_targets(model, &summaries.functions, project, &function_of);
    summaries.targets = targets;
    summaries.imported = imported;
    if let Some(project) = project {
        for target in &mut summaries.imported {
            target.known = project
                .index
                .function(&target.module, &target.name)
                .map(|function| {
                    summaries.external.push(function);
                    summaries.external.len() - 1
                });
        }
    }
    // Names each function derives from each parameter (`key = uid`, `k = str(uid)`).
    summaries.derived = (0..summaries.functions.len())
        .map(|_| OnceCell::new())
        .collect();
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
            if !summaries.reaches[index]
                .iter()
                .any(|r| r.parameter == parameter)
            {
                summaries.reaches[index].push(Reach {
                    parameter,
                    path: vec![Hop {
                        range: query.call.node.byte_range(),
                        display: query.call.display.clone(),
                        function: summaries.functions[index].name.clone(),
                        file: None,
                    }],
                    model: query.call.model.clone(),
                });
            }
        }
    }
    // Through calls: each round adds one more hop; a bounded number of rounds ends cycles.
    for _ in 1..max_depth {
        let mut added = Vec::new();
        for (call, resolved) in model.calls.iter().zip(&summaries.targets) {
            let Some((target, Some(caller))) = resolved else {
                continue;
            };
            let caller = *caller;
            if summaries.functions[caller].memoised {
                continue;
            }
            let Some((parameters, offset, reaches)) = summaries.callee(target) else {
                continue;
            };
            for (argument, parameter) in bind_arguments(call, parameters, offset, source) {
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
                    let mut path = vec![call_hop(call, source, &summaries.functions[caller])];
                    path.extend(reach.path.iter().cloned());
                    added.push((
                        caller,
                        Reach {
                            parameter: caller_parameter,
                            path,
                            model: reach.model.clone(),
                        },
                    ));
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
        function: caller.name.clone(),
        file: None,
    }
}

/// Resolves every call of the model once, with the function it sits in.
fn resolve_targets<'a>(
    model: &SemanticModel<'a>,
    functions: &[FunctionDef<'a>],
    project: Option<Project<'_>>,
    function_of: &dyn Fn(Node<'a>) -> Option<usize>,
) -> (Vec<Option<Resolved>>, Vec<ImportedTarget>) {
    let mut imported_targets: Vec<ImportedTarget> = Vec::new();
    // A file names few functions of other modules: a scan finds them without allocating.
    let mut intern = |module: &str, name: &str| -> usize {
        if let Some(index) = imported_targets
            .iter()
            .position(|t| t.module == module && t.name == name)
        {
            return index;
        }
        imported_targets.push(ImportedTarget {
            module: module.to_string(),
            name: name.to_string(),
            known: None,
        });
        imported_targets.len() - 1
    };
    let source = model.file.text();
    let module_functions: FastMap<&str, usize> = functions
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, f)| f.class.is_none() && f.module_level)
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
            let target = match &call.callee {
                Callee::Name(name) => {
                    let local = module_functions.get(name.as_str()).copied();
                    let imported = if local.is_none() {
                        project
                            .and_then(|p| p.imports.function(name))
                            .filter(|_| !module_binds(name))
                    } else {
                        None
                    };
                    if local.is_none() && imported.is_none() {
                        return None;
                    }
                    let caller = model.scope_of(call.node);
                    if caller.parameters.contains(name) || caller.values.contains_key(name) {
                        return None;
                    }
                    match (local, imported) {
                        (Some(index), _) => Target::Local(index),
                        (None, Some((module, name))) => Target::Imported(intern(module, name)),
                        (None, None) => return None,
                    }
                }
                Callee::Method { receiver, method } if receiver == "self" || receiver == "cls" => {
                    let class = enclosing_class(call.scope, source)?;
                    let index = functions
                        .iter()
                        .position(|f| f.class.as_deref() == Some(class) && &f.name == method)?;
                    Target::Local(index)
                }
                Callee::Method { receiver, method } => {
                    let head = receiver.split('.').next().unwrap_or(receiver);
                    if !imported_heads.contains(head) {
                        return None;
                    }
                    let module = project?.imports.module(receiver)?;
                    let caller = model.scope_of(call.node);
                    if caller.parameters.contains(head)
                        || caller.values.contains_key(head)
                        || module_binds(head)
                    {
                        return None;
                    }
                    Target::Imported(intern(&module, method))
                }
            };
            Some((target, function_of(call.node)))
        })
        .collect();
    (targets, imported_targets)
}

impl Summaries<'_> {
    /// The file's summary for the project: its functions with located reaches, the calls that
    /// pass their parameters on, and the loop calls whose loop-dependent arguments reach no query
    /// in this file (they may through another).
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
            parameter: reach.parameter,
            path: reach.path.iter().map(locate_hop).collect(),
            model: reach.model.clone(),
        };
        // Per function: the target, the call (by index) and its arguments' slots and parameters.
        let mut edges: Vec<Vec<PendingEdge>> = vec![Vec::new(); self.functions.len()];
        let mut pending = Vec::new();
        for (index, (call, resolved)) in model.calls.iter().zip(&self.targets).enumerate() {
            let Some((target, caller)) = resolved else {
                continue;
            };
            if call.loops.is_empty() && caller.is_none() {
                continue;
            }
            let project_target = || match target {
                Target::Local(index) => CallTarget::Local(*index),
                Target::Imported(index) => CallTarget::Imported {
                    module: self.imported[*index].module.clone(),
                    name: self.imported[*index].name.clone(),
                },
            };
            let slots = argument_slots(call, source);
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
            let Some(caller) = *caller else {
                continue;
            };
            let names_of_caller = self.derived(model, caller);
            let mut arguments = Vec::new();
            for (argument, slot) in &slots {
                for (parameter, derived_names) in names_of_caller.iter().enumerate() {
                    if reads_any(*argument, source, &|name| derived_names.contains(name)) {
                        arguments.push((slot.clone(), parameter));
                    }
                }
            }
            if !arguments.is_empty() {
                edges[caller].push((project_target(), index, arguments));
            }
        }
        // Only functions that reach a query or pass a parameter on can ever reach one: the
        // others are left out, and the calls to them with them.
        let mut kept: Vec<Option<usize>> = vec![None; self.functions.len()];
        let mut next = 0;
        for (index, slot) in kept.iter_mut().enumerate() {
            if !self.reaches[index].is_empty() || !edges[index].is_empty() {
                *slot = Some(next);
                next += 1;
            }
        }
        let remap = |target: CallTarget| match target {
            CallTarget::Local(index) => kept[index].map(CallTarget::Local),
            imported => Some(imported),
        };
        let mut functions = Vec::with_capacity(next);
        for (index, edges) in edges.into_iter().enumerate() {
            if kept[index].is_none() {
                continue;
            }
            let function = &self.functions[index];
            functions.push(FunctionSummary {
                name: function.name.clone(),
                class: function.class.clone(),
                module_level: function.module_level,
                parameters: function.parameters.clone(),
                reaches: self.reaches[index].iter().map(locate_reach).collect(),
                calls: edges
                    .into_iter()
                    .filter_map(|(target, call, arguments)| {
                        Some(CallEdge {
                            target: remap(target)?,
                            hop: locate_hop(&call_hop(&model.calls[call], source, function)),
                            arguments,
                        })
                    })
                    .collect(),
            });
        }
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
            Some(name) => parameters.push(source[name.byte_range()].to_string()),
            None => break,
        }
    }
    let class = enclosing_class(node, source).map(str::to_string);
    Some(FunctionDef {
        node,
        name,
        class,
        parameters,
        module_level: false,
        memoised: is_memoised_function(node, source),
    })
}

/// The class a function is a method of (directly, not through a nested function).
fn enclosing_class<'s>(function: Node<'_>, source: &'s str) -> Option<&'s str> {
    let mut current = function.parent();
    while let Some(node) = current {
        match node.kind() {
            "class_definition" => return field(node, "name").map(|n| &source[n.byte_range()]),
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

/// Whether a function definition is decorated with a memoising decorator.
fn is_memoised_function(function: Node<'_>, source: &str) -> bool {
    let Some(decorated) = function
        .parent()
        .filter(|parent| parent.kind() == "decorated_definition")
    else {
        return false;
    };
    named_children(decorated)
        .filter(|child| child.kind() == "decorator")
        .any(|decorator| {
            let text = source[decorator.byte_range()].trim_start_matches('@');
            let callee = text.split('(').next().unwrap_or(text).trim();
            MEMOISING_DECORATORS.contains(&orm::last_component(callee))
        })
}

/// Whether a function is one of the module's `statements` (in order), or the definition of a
/// decorated one.
fn is_module_level(function: Node<'_>, statements: &[Node<'_>]) -> bool {
    let after = statements.partition_point(|s| s.start_byte() <= function.start_byte());
    let Some(statement) = after.checked_sub(1).map(|at| statements[at]) else {
        return false;
    };
    statement == function
        || (statement.kind() == "decorated_definition"
            && field(statement, "definition") == Some(function))
}

/// Pairs a call's arguments with the callee's parameter indices: positional by position
/// (after `offset` bound parameters, `self` for a method), keywords by name. Splats end the
/// pairing.
fn bind_arguments<'a>(
    call: &CallSite<'a>,
    parameters: &[String],
    offset: usize,
    source: &str,
) -> Vec<(Node<'a>, usize)> {
    let mut bound = Vec::new();
    for (argument, slot) in argument_slots(call, source) {
        let index = match slot {
            ArgSlot::Position(position) => {
                Some(position + offset).filter(|index| *index < parameters.len())
            }
            ArgSlot::Keyword(name) => parameters.iter().position(|p| *p == name),
        };
        if let Some(index) = index {
            bound.push((argument, index));
        }
    }
    bound
}

/// A call's arguments with their slots; splats end the list.
fn argument_slots<'a>(call: &CallSite<'a>, source: &str) -> Vec<(Node<'a>, ArgSlot)> {
    let Some(arguments) = field(call.node, "arguments") else {
        return Vec::new();
    };
    let mut slots = Vec::new();
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
