//! The single traversal that builds the [`SemanticModel`].

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use tree_sitter::{Node, TreeCursor};

use super::calls;
use super::types::{annotation_type, grouping_append, infer, RowType, TypeEnv};
use super::FileContext;
use super::{
    header_range, AttributeRead, Cardinality, Comprehension, Loop, LoopId, LoopKind, Origin, Query,
    ScopeRecord, SemanticModel, Store,
};
use crate::engine::imports::Imports;
use crate::engine::index::{ModelResolver, RelationshipKind};
use crate::engine::orm::symbols::is_models_module;
use crate::engine::orm::{
    self, continues_chain, continues_chain_in, last_component, looks_like_class, Chain, Evaluation,
    ModelEvidence, OrmSet, RelatedManager, SessionBinding, Symbol,
};

/// Built-ins that consume an iterable they are given: a lazy query passed to one runs.
const CONSUMING_BUILTINS: &[&str] = &[
    "list",
    "tuple",
    "set",
    "frozenset",
    "sorted",
    "len",
    "bool",
    "any",
    "all",
    "sum",
    "min",
    "max",
    "dict",
    "next",
    // Printing a Django queryset runs it (`repr` fetches its first rows).
    "print",
    "repr",
    "str",
];

/// Built-ins that wrap an iterable lazily: what happens to their result happens to it.
const WRAPPING_BUILTINS: &[&str] = &["enumerate", "zip", "iter", "reversed", "map", "filter"];
use crate::engine::source::SourceFile;
use crate::engine::syntax::{bound_names, dotted_path, field, is_literal, named_children};

/// Stack space kept free before recursing deeper; deeper trees continue on a heap-allocated stack.
const STACK_RED_ZONE: usize = 64 * 1024;
const STACK_GROWTH: usize = 1024 * 1024;

pub(super) fn build<'a>(
    file: &'a SourceFile,
    index: &ModelResolver<'_>,
    context: &FileContext<'_>,
) -> SemanticModel<'a> {
    let mut builder = Builder {
        file,
        source: file.text(),
        index,
        imports: Imports::collect(file, context.module, context.package),
        module: context.module,
        package: context.package,
        orms: context.orms,
        classes: Vec::new(),
        loops: Vec::new(),
        loop_assignments: Vec::new(),
        queries: Vec::new(),
        scopes: vec![FunctionScope::new(file.root())],
        records: Vec::new(),
        comprehensions: Vec::new(),
        stores: Vec::new(),
        calls: Vec::new(),
        class_nodes: Vec::new(),
        reads: Vec::new(),
        fixed_data_functions: fixed_data_functions(file.root(), file.text()),
        ancestors: Vec::new(),
        errors_on_path: 0,
        cursors: Vec::new(),
        skip: context.skip,
    };
    builder.visit(file.root());
    let module_scope = builder.scopes.pop().expect("the module scope");
    builder.records.push(module_scope.into_record());
    let Builder {
        mut loops,
        loop_assignments,
        queries,
        records,
        comprehensions,
        stores,
        calls,
        class_nodes,
        reads,
        ..
    } = builder;
    let loop_bound = loop_assignments
        .iter()
        .map(|body| {
            body.iter()
                .flat_map(|a| a.targets.iter().cloned())
                .collect()
        })
        .collect();
    let loop_flows = loop_assignments
        .iter()
        .map(|body| {
            body.iter()
                .map(|a| (a.targets.clone(), a.sources.clone()))
                .collect()
        })
        .collect();
    for (body, lp) in loop_assignments.iter().zip(loops.iter_mut()) {
        propagate_varying(lp, body);
    }
    let (scope_order, scope_parent) = scope_nesting(&records);
    SemanticModel {
        file,
        reads,
        loops,
        queries,
        scopes: records,
        comprehensions,
        stores,
        calls,
        classes: class_nodes,
        loop_bound,
        loop_flows,
        scope_order,
        scope_parent,
    }
}

/// The records by start, outer first (on equal ranges the later record, which encloses: the
/// module comes last), and each record's enclosing record.
fn scope_nesting(records: &[ScopeRecord<'_>]) -> (Vec<usize>, Vec<Option<usize>>) {
    let range = |at: usize| records[at].node.byte_range();
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by_key(|&at| (range(at).start, Reverse(range(at).end), Reverse(at)));
    let mut parent = vec![None; records.len()];
    let mut open: Vec<usize> = Vec::new();
    for &at in &order {
        while open
            .last()
            .is_some_and(|&top| range(top).end < range(at).end)
        {
            open.pop();
        }
        parent[at] = open.last().copied();
        open.push(at);
    }
    (order, parent)
}

/// `targets = f(sources)` somewhere inside a loop body.
struct Assignment {
    targets: Vec<String>,
    sources: Vec<String>,
    /// The value is a literal, the same on every iteration (`count = 0`).
    constant: bool,
}

struct FunctionScope<'a> {
    node: Node<'a>,
    /// Loops of this function around the node being visited, innermost last.
    loop_stack: Vec<LoopId>,
    /// What names bound here say about being a session (`with Session(engine) as s`,
    /// `s: Session`, `http = requests.Session()`).
    sessions: HashMap<String, SessionBinding>,
    /// Imports inside the function's body (`from sqlalchemy import select` in a function).
    imports: Imports,
    /// Names holding a query that has not run yet (`qs = M.objects.filter(...)`), by index into
    /// the model's queries: where the name is consumed, the query runs.
    lazy: HashMap<String, usize>,
    /// The expression last assigned to each plain name.
    values: HashMap<String, Node<'a>>,
    /// Names assigned more than once: the last value may be a branch's only.
    rebound: HashSet<String>,
    /// What rows each name holds, where known.
    types: HashMap<String, RowType>,
    parameters: HashSet<String>,
    /// The query each name's rows came from.
    origins: HashMap<String, Origin<'a>>,
    /// The annotation of each plain name annotated here.
    annotations: HashMap<String, Node<'a>>,
}

impl<'a> FunctionScope<'a> {
    fn new(node: Node<'a>) -> FunctionScope<'a> {
        FunctionScope {
            node,
            loop_stack: Vec::new(),
            sessions: HashMap::new(),
            imports: Imports::default(),
            lazy: HashMap::new(),
            values: HashMap::new(),
            rebound: HashSet::new(),
            types: HashMap::new(),
            parameters: HashSet::new(),
            origins: HashMap::new(),
            annotations: HashMap::new(),
        }
    }

    fn into_record(self) -> ScopeRecord<'a> {
        ScopeRecord {
            node: self.node,
            sessions: self.sessions,
            values: self.values,
            types: self.types,
            parameters: self.parameters,
            origins: self.origins,
            annotations: self.annotations,
        }
    }
}

struct Builder<'a, 'i> {
    file: &'a SourceFile,
    source: &'a str,
    index: &'i ModelResolver<'i>,
    /// The module's imports (also those under `if`/`try`), relative ones made absolute.
    imports: Imports,
    module: &'i str,
    package: bool,
    orms: OrmSet,
    /// Per class being visited (innermost last), its `self.` attributes that methods assigned
    /// a session or something else.
    classes: Vec<HashMap<String, SessionBinding>>,
    loops: Vec<Loop<'a>>,
    loop_assignments: Vec<Vec<Assignment>>,
    queries: Vec<Query<'a>>,
    scopes: Vec<FunctionScope<'a>>,
    records: Vec<ScopeRecord<'a>>,
    comprehensions: Vec<Comprehension<'a>>,
    stores: Vec<Store<'a>>,
    calls: Vec<calls::CallSite<'a>>,
    class_nodes: Vec<Node<'a>>,
    reads: Vec<AttributeRead<'a>>,
    /// Module-level functions that return data fixed by the code (see [`fixed_data_functions`]).
    fixed_data_functions: HashMap<&'a str, FixedReturn>,
    /// The path from the root to the node being visited, itself included: `Node::parent` walks
    /// down from the root every time, so the walk keeps the path instead.
    ancestors: Vec<Node<'a>>,
    /// How many nodes of `ancestors` are ERROR nodes.
    errors_on_path: usize,
    /// Cursors for walking children, one per level in use: a new cursor allocates, and the walk
    /// goes through every node of the file.
    cursors: Vec<TreeCursor<'a>>,
    /// Top-level statements left out ([`FileContext::skip`]), sorted.
    skip: &'i [crate::engine::source::TextRange],
}

/// How deep a name's value is followed to find what it is (`Session = sessionmaker()`,
/// `db = SQLAlchemy()`).
const MAX_SYMBOL_DEPTH: usize = 3;

impl<'a> orm::Scope<'a> for Builder<'a, '_> {
    fn session_binding(&self, path: &str) -> SessionBinding {
        if let Some(binding) = self
            .scopes
            .iter()
            .rev()
            .find_map(|scope| scope.sessions.get(path).copied())
        {
            return binding;
        }
        if let Some(attribute) = path.strip_prefix("self.").filter(|a| !a.contains('.')) {
            if let Some(binding) = self
                .classes
                .last()
                .and_then(|class| class.get(attribute).copied())
            {
                return binding;
            }
        }
        SessionBinding::Unknown
    }

    fn value_of(&self, name: &str) -> Option<Node<'a>> {
        let scope = self.scopes.last()?;
        if let Some(value) = scope.values.get(name) {
            return Some(*value);
        }
        // A module-level name the function reads but does not bind (`users = Table(...)`).
        if scope.parameters.contains(name) {
            return None;
        }
        self.scopes.first()?.values.get(name).copied()
    }

    fn symbol(&self, name: &str) -> Option<Symbol> {
        self.symbol_at_depth(name, 0)
    }

    fn model_evidence(&self, path: &str) -> ModelEvidence {
        let name = last_component(path);
        if self.symbol(path).is_some() {
            return ModelEvidence::None;
        }
        if self.index.model(name).is_some() {
            return ModelEvidence::Indexed;
        }
        if !looks_like_class(name) {
            return ModelEvidence::None;
        }
        let imported_from = self
            .imported(path)
            .map(|(module, name)| match name {
                Some(name) if path.contains('.') => format!("{module}.{name}"),
                _ => module,
            })
            .or_else(|| self.index.imported_from(name).map(str::to_string));
        if imported_from.is_some_and(|module| is_models_module(&module)) {
            ModelEvidence::Imported
        } else {
            ModelEvidence::Shape
        }
    }

    fn related_manager(&self, owner: &str, attribute: &str) -> Option<RelatedManager> {
        let owner_type = (!owner.contains('.'))
            .then(|| self.name_type(owner))
            .flatten();
        if let Some(RowType::Row(model)) = owner_type {
            let relationship = self.index.relationship(&model, attribute)?;
            return (relationship.kind == RelationshipKind::Collection).then_some(RelatedManager {
                model: relationship.target,
                owner_typed: true,
            });
        }
        // Nothing says what the owner is: a related name the project declares once is enough.
        self.index
            .related_accessor(attribute)
            .map(|model| RelatedManager {
                model,
                owner_typed: false,
            })
    }

    fn query_method(&self, name: &str) -> Option<crate::engine::index::QueryMethod> {
        self.index.query_method(name)
    }

    fn orms(&self) -> OrmSet {
        self.orms
    }
}

impl<'a> Builder<'a, '_> {
    /// The module and name a dotted path comes from through the function's or the module's
    /// imports.
    fn imported(&self, path: &str) -> Option<(String, Option<String>)> {
        self.scopes
            .iter()
            .rev()
            .find_map(|scope| scope.imports.target_of(path))
            .or_else(|| self.imports.target_of(path))
    }

    fn symbol_at_depth(&self, path: &str, depth: usize) -> Option<Symbol> {
        if let Some((module, name)) = self.imported(path) {
            return orm::classify(&module, name.as_deref());
        }
        if depth >= MAX_SYMBOL_DEPTH || path.contains('.') {
            return None;
        }
        // A module-level name bound to what a library call returns: `Session = sessionmaker()`,
        // `db = SQLAlchemy(app)`.
        let value = self.scopes.first()?.values.get(path).copied()?;
        if value.kind() != "call" {
            return None;
        }
        let callee = field(value, "function").and_then(|f| dotted_path(f, self.source))?;
        match self.symbol_at_depth(&callee, depth + 1)? {
            Symbol::SessionFactory | Symbol::ScopedSession => Some(Symbol::SessionFactory),
            symbol @ (Symbol::FlaskSqlAlchemy | Symbol::EngineFactory | Symbol::Foreign) => {
                Some(symbol)
            }
            _ => None,
        }
    }

    /// The row type a plain name holds in the scopes being visited.
    fn name_type(&self, name: &str) -> Option<RowType> {
        self.scopes
            .iter()
            .rev()
            .find_map(|scope| scope.types.get(name).cloned())
    }

    /// What a value says about being a session: `Session(engine)`, `SessionLocal()`,
    /// `async_session()`, `sessionmaker(...)()`, `engine.connect()`, an alias of a session, or
    /// `requests.Session()` (not one).
    fn session_from_value(&self, value: Node<'a>) -> SessionBinding {
        let mut value = value;
        if value.kind() == "await" {
            match named_children(value).next() {
                Some(inner) => value = inner,
                None => return SessionBinding::Unknown,
            }
        }
        match value.kind() {
            "identifier" | "attribute" => {
                return dotted_path(value, self.source).map_or(SessionBinding::Unknown, |path| {
                    orm::Scope::session_binding(self, &path)
                });
            }
            "call" => {}
            _ => return SessionBinding::Unknown,
        }
        let Some(function) = field(value, "function") else {
            return SessionBinding::Unknown;
        };
        if function.kind() == "call" {
            return self.session_from_value(function);
        }
        let Some(callee) = dotted_path(function, self.source) else {
            return SessionBinding::Unknown;
        };
        match orm::Scope::symbol(self, &callee) {
            Some(Symbol::SessionClass | Symbol::SessionFactory | Symbol::ScopedSession) => {
                return SessionBinding::Session
            }
            Some(Symbol::Foreign) => return SessionBinding::NotSession,
            Some(_) => return SessionBinding::Unknown,
            None => {}
        }
        if let Some(owner) = callee
            .strip_suffix(".connect")
            .or_else(|| callee.strip_suffix(".begin"))
        {
            let engine = orm::Scope::symbol(self, owner) == Some(Symbol::EngineFactory)
                || last_component(owner)
                    .to_ascii_lowercase()
                    .contains("engine");
            return if engine {
                SessionBinding::Session
            } else {
                SessionBinding::Unknown
            };
        }
        let root = callee.split('.').next().unwrap_or(&callee);
        if orm::Scope::symbol(self, root) == Some(Symbol::Foreign) {
            return SessionBinding::NotSession;
        }
        if last_component(&callee)
            .to_ascii_lowercase()
            .contains("session")
        {
            SessionBinding::Session
        } else {
            SessionBinding::Unknown
        }
    }

    /// What a parameter's annotation says: `Session`, `AsyncSession`, `Optional[Session]`,
    /// `Annotated[Session, Depends(...)]`, `Session | None`, a module-level alias of one
    /// (`SessionDep`), or another imported class (not a session).
    fn session_from_annotation(&self, annotation: Node<'a>, depth: usize) -> SessionBinding {
        let text = self.text(annotation).trim_matches(['"', '\'']);
        match annotation.kind() {
            "type" => named_children(annotation)
                .next()
                .map_or(SessionBinding::Unknown, |inner| {
                    self.session_from_annotation(inner, depth)
                }),
            "identifier" | "attribute" => {
                match orm::Scope::symbol(self, text) {
                    Some(Symbol::SessionClass | Symbol::ScopedSession) => {
                        return SessionBinding::Session
                    }
                    Some(_) => return SessionBinding::NotSession,
                    None => {}
                }
                // A module-level alias: `SessionDep = Annotated[Session, Depends(get_db)]`.
                if depth < MAX_SYMBOL_DEPTH && !text.contains('.') {
                    if let Some(alias) = self.scopes.first().and_then(|m| m.values.get(text)) {
                        return self.session_from_annotation(*alias, depth + 1);
                    }
                }
                session_by_type_name(text)
            }
            "generic_type" | "subscript" => {
                let mut parts = named_children(annotation);
                let head = parts.next().map(|h| last_component(self.text(h)));
                if !matches!(head, Some("Optional" | "Annotated")) {
                    return SessionBinding::Unknown;
                }
                let inner = parts.next().and_then(|arguments| {
                    if arguments.kind() == "type_parameter" {
                        named_children(arguments).next()
                    } else {
                        Some(arguments)
                    }
                });
                inner.map_or(SessionBinding::Unknown, |inner| {
                    self.session_from_annotation(inner, depth)
                })
            }
            // `Session | None`
            "binary_operator" => field(annotation, "left")
                .map_or(SessionBinding::Unknown, |left| {
                    self.session_from_annotation(left, depth)
                }),
            // A quoted annotation: only a plain name is read.
            "string" => {
                if text
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
                {
                    session_by_type_name(text)
                } else {
                    SessionBinding::Unknown
                }
            }
            _ => SessionBinding::Unknown,
        }
    }
}

/// The rows of a query with a `LIMIT` (`.limit(n)`, `qs[:n]`), in the chain or in the statement
/// it runs (`session.execute(stmt)` with `stmt = select(...).limit(10)`, `value_of` finding it):
/// a page, whose size the code sets.
fn is_limited_query<'a>(
    node: Node<'a>,
    source: &'a str,
    value_of: &dyn Fn(&str) -> Option<Node<'a>>,
    depth: usize,
) -> bool {
    if depth > MAX_SYMBOL_DEPTH {
        return false;
    }
    let node = match node.kind() {
        "await" | "parenthesized_expression" => {
            return named_children(node)
                .next()
                .is_some_and(|inner| is_limited_query(inner, source, value_of, depth + 1))
        }
        "identifier" => {
            return value_of(&source[node.byte_range()])
                .is_some_and(|value| is_limited_query(value, source, value_of, depth + 1))
        }
        "call" | "subscript" => node,
        _ => return false,
    };
    // A page size the code or a setting fixes (`.limit(10)`, `.limit(limit)`, `[:PAGE_SIZE]`), not
    // one computed from the data (`[: len(ids)]`).
    let fixed_size = |size: &str| {
        let size = size.trim();
        !size.is_empty()
            && size
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    };
    let chain = Chain::flatten(node, source);
    chain.segments.iter().any(|segment| {
        let limited = segment.is_call()
            && segment.name == "limit"
            && segment.arguments.is_some_and(|arguments| {
                let text = &source[arguments.byte_range()];
                fixed_size(text.trim_start_matches('(').trim_end_matches(')'))
            });
        let sliced = segment.subscript.is_some_and(|subscript| {
            named_children(subscript).skip(1).any(|index| {
                index.kind() == "slice"
                    && source[index.byte_range()]
                        .split(':')
                        .nth(1)
                        .is_some_and(fixed_size)
            })
        });
        // `session.execute(stmt)`: the statement it runs.
        let runs_limited = segment.arguments.is_some_and(|arguments| {
            named_children(arguments)
                .next()
                .is_some_and(|statement| is_limited_query(statement, source, value_of, depth + 1))
        });
        limited || sliced || runs_limited
    })
}

/// A query pinned to one primary key of its own model: `Device.objects.filter(pk=device.pk)`,
/// `session.query(M).filter_by(id=k)`, `.filter(M.id == k)` with `M` the queried model. At most
/// one row. A join makes `filter_by` and another model's key say nothing of the rows.
fn is_one_row_query(node: Node<'_>, source: &str) -> bool {
    if node.kind() != "call" {
        return false;
    }
    let chain = Chain::flatten(node, source);
    if chain
        .segments
        .iter()
        .any(|segment| segment.name.contains("join"))
    {
        return false;
    }
    // `session.query(M)`, `select(M)`: the queried model; `M.objects` for Django.
    let queried: Option<&str> = chain.segments.iter().find_map(|segment| {
        let first = segment
            .arguments
            .filter(|_| matches!(segment.name, "query" | "select"))
            .and_then(|arguments| named_children(arguments).next())?;
        Some(&source[first.byte_range()])
    });
    let is_value = |operand: Node<'_>| {
        // Another model's column (`Item.order_id`) is a join condition, not a value.
        !(operand.kind() == "attribute"
            && field(operand, "object").is_some_and(|object| {
                let object = &source[object.byte_range()];
                object.starts_with(|c: char| c.is_ascii_uppercase())
            }))
    };
    chain.segments.iter().any(|segment| {
        matches!(segment.name, "filter" | "filter_by" | "where")
            && segment.arguments.is_some_and(|arguments| {
                named_children(arguments).any(|condition| match condition.kind() {
                    "keyword_argument" => field(condition, "name")
                        .is_some_and(|name| matches!(&source[name.byte_range()], "pk" | "id")),
                    "comparison_operator" => {
                        let operands: Vec<Node<'_>> = named_children(condition).collect();
                        let [left, right] = operands.as_slice() else {
                            return false;
                        };
                        let left = &source[left.byte_range()];
                        let column = left.strip_suffix(".id").or(left.strip_suffix(".pk"));
                        source[condition.byte_range()].contains("==")
                            && column.is_some_and(|model| queried == Some(model))
                            && is_value(*right)
                    }
                    _ => false,
                })
            })
    })
}

/// Iterating the schema: the installed models, a model's fields, a class's subclasses, a table's
/// constraints, the rows of Django's `ContentType` (one per installed model) and `Permission` (a
/// few per model). N is the size of the code base, not of the data. Judged on the receiver chain
/// alone (arguments left out), so that a query that only mentions `_meta.fields` in an argument
/// is not taken for the schema; `django_table(name)` says whether a name is Django's own
/// `ContentType` or `Permission` (by its import or `apps.get_model(...)`).
fn iterates_the_schema(node: Node<'_>, source: &str, django_table: &dyn Fn(&str) -> bool) -> bool {
    let text = &source[node.byte_range()];
    // `getattr(instance.__class__, "__role_fields")`: an attribute the class defines.
    if text.starts_with("getattr(") && text.contains(".__class__,") {
        return true;
    }
    let chain = receiver_text(node, source);
    let root = chain.split(['.', '(', '[']).next().unwrap_or("");
    if matches!(root, "ContentType" | "Permission")
        && chain.starts_with(&format!("{root}.objects."))
        && django_table(root)
    {
        return true;
    }
    // `table.constraints`, `Model.__table__.foreign_keys`: only of a table.
    let of_a_table = |attribute: &str| {
        chain.strip_suffix(attribute).is_some_and(|object| {
            object.to_ascii_lowercase().ends_with("table") || object.ends_with("__table__")
        })
    };
    of_a_table(".constraints")
        || of_a_table(".foreign_keys")
        || chain.ends_with("registered_models")
        || [
            "get_models(",
            "get_app_configs(",
            "get_fields(",
            "__subclasses__(",
            "_meta.fields",
            "_meta.many_to_many",
            "_meta.related_objects",
            "metadata.sorted_tables",
            "metadata.tables",
        ]
        .iter()
        .any(|needle| chain.contains(needle))
}

/// An expression's receiver chain with every argument list and index emptied:
/// `Order.objects.filter(user=u).only(*fields)` → `Order.objects.filter().only()`.
fn receiver_text(node: Node<'_>, source: &str) -> String {
    match node.kind() {
        "call" => field(node, "function")
            .map(|function| format!("{}()", receiver_text(function, source)))
            .unwrap_or_default(),
        "attribute" => match (field(node, "object"), field(node, "attribute")) {
            (Some(object), Some(attribute)) => format!(
                "{}.{}",
                receiver_text(object, source),
                &source[attribute.byte_range()]
            ),
            _ => String::new(),
        },
        "subscript" => field(node, "value")
            .map(|value| format!("{}[]", receiver_text(value, source)))
            .unwrap_or_default(),
        _ => source[node.byte_range()].to_string(),
    }
}

/// Whether the module names Django's own `ContentType` or `Permission` as `name`: imported from
/// `django.contrib`, or `name = apps.get_model("auth.Permission")` somewhere in the file.
fn is_django_table(name: &str, source: &str) -> bool {
    let app_label = match name {
        "ContentType" => "contenttypes.ContentType",
        "Permission" => "auth.Permission",
        _ => return false,
    };
    let module = match name {
        "ContentType" => "django.contrib.contenttypes.models import",
        _ => "django.contrib.auth.models import",
    };
    source.lines().any(|line| {
        let line = line.trim();
        (line.starts_with("from ") && line.contains(module) && line.contains(name))
            || (line.starts_with(&format!("{name} = "))
                && line.contains("get_model(")
                && (line.contains(app_label) || line.contains(&app_label.to_ascii_lowercase())))
    })
}

/// Module-level functions whose every returned value is fixed by the code: a literal collection
/// (`return ["title", "logo"]`), the schema (`return Permission.objects.filter(...)`) or data
/// parsed from a file (`return json.load(file)`), which a call with literal arguments reads from
/// what ships with the code (`read_seed_file("x.json")`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FixedReturn {
    /// A literal or the schema, whatever the arguments.
    Schema,
    /// Data parsed from a file: fixed when the file is named by literals.
    ParsedFile,
}

fn fixed_data_functions<'a>(root: Node<'a>, source: &'a str) -> HashMap<&'a str, FixedReturn> {
    let mut functions = HashMap::new();
    for statement in named_children(root) {
        // A later binding of the name replaces what an earlier definition said.
        if statement.kind() == "expression_statement" {
            for assignment in named_children(statement).filter(|n| n.kind() == "assignment") {
                if let Some(left) = field(assignment, "left") {
                    functions.remove(&source[left.byte_range()]);
                }
            }
            continue;
        }
        if let Some((name, kind)) = fixed_return_of(statement, source) {
            match kind {
                Some(kind) => functions.insert(name, kind),
                None => functions.remove(name),
            };
        }
    }
    functions
}

/// For a top-level function definition (decorated or not), its name and what its returns make
/// of a loop over its calls (see [`fixed_data_functions`]); `None` for any other statement.
fn fixed_return_of<'a>(
    statement: Node<'_>,
    source: &'a str,
) -> Option<(&'a str, Option<FixedReturn>)> {
    let definition = match statement.kind() {
        "decorated_definition" => field(statement, "definition"),
        _ => Some(statement),
    }
    .filter(|d| d.kind() == "function_definition")?;
    let name = &source[field(definition, "name")?.byte_range()];
    let body = field(definition, "body")?;
    let django_table = |name: &str| is_django_table(name, source);
    // Parsed data counts only when the function reads a file (`open(...)`), not a request or
    // a download.
    let reads_a_file = source[body.byte_range()].contains("open(");
    let mut values = Vec::new();
    returned_values(body, &mut values);
    let kind_of = |value: Node<'_>| match value.kind() {
        "list" | "tuple" | "set" | "dictionary" => (named_children(value).next().is_some()
            && !named_children(value)
                .any(|item| matches!(item.kind(), "list_splat" | "dictionary_splat")))
        .then_some(FixedReturn::Schema),
        "call" if iterates_the_schema(value, source, &django_table) => Some(FixedReturn::Schema),
        "call" => field(value, "function")
            .is_some_and(|function| {
                reads_a_file
                    && matches!(
                        &source[function.byte_range()],
                        "json.load"
                            | "yaml.load"
                            | "yaml.safe_load"
                            | "yaml.full_load"
                            | "tomllib.load"
                            | "toml.load"
                    )
            })
            .then_some(FixedReturn::ParsedFile),
        _ => None,
    };
    let kinds: Option<Vec<FixedReturn>> = values
        .into_iter()
        .flatten()
        .filter(|value| value.kind() != "none")
        .map(kind_of)
        .collect();
    Some((name, kinds.and_then(|kinds| kinds.into_iter().max())))
}

/// What the top-level functions among `statements` (byte ranges of top-level statements) make of
/// the loops over their calls elsewhere in the file: an edit that changes it changes other
/// functions' findings.
pub(crate) fn fixed_returns(
    root: Node<'_>,
    source: &str,
    statements: &[crate::engine::source::TextRange],
) -> Vec<(String, Option<FixedReturn>)> {
    named_children(root)
        .filter(|statement| statements.contains(&statement.byte_range()))
        .filter_map(|statement| fixed_return_of(statement, source))
        .map(|(name, kind)| (name.to_string(), kind))
        .collect()
}

/// The values of the `return` statements of a function body, `None` for a bare `return`; nested
/// functions and classes return for themselves. Only statements are walked: a `return` stands
/// in a block, never inside an expression.
fn returned_values<'a>(node: Node<'a>, values: &mut Vec<Option<Node<'a>>>) {
    for child in named_children(node) {
        match child.kind() {
            "return_statement" => values.push(named_children(child).next()),
            "block"
            | "if_statement"
            | "elif_clause"
            | "else_clause"
            | "for_statement"
            | "while_statement"
            | "try_statement"
            | "except_clause"
            | "except_group_clause"
            | "finally_clause"
            | "with_statement"
            | "match_statement"
            | "case_clause" => returned_values(child, values),
            _ => {}
        }
    }
}

/// `3`, `-1`.
fn is_integer_literal(node: Node<'_>) -> bool {
    match node.kind() {
        "integer" => true,
        "unary_operator" => named_children(node).next().is_some_and(is_integer_literal),
        _ => false,
    }
}

/// `STATUSES`, `MAX_RETRIES`: upper case by convention means a constant.
fn is_constant_name(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// A type no import resolves, by its name: `Session`, `DbSession`, `AsyncConnection`.
fn session_by_type_name(text: &str) -> SessionBinding {
    let name = last_component(text);
    if name.ends_with("Session") || name.ends_with("Connection") {
        SessionBinding::Session
    } else {
        SessionBinding::Unknown
    }
}

impl<'a> Builder<'a, '_> {
    fn scope(&mut self) -> &mut FunctionScope<'a> {
        self.scopes
            .last_mut()
            .expect("the module scope is never popped")
    }

    fn text(&self, node: Node<'_>) -> &'a str {
        &self.source[node.byte_range()]
    }

    fn visit(&mut self, node: Node<'a>) {
        // A shell may stop the walk (a newer edit made it useless): see `engine::cancel`.
        crate::engine::cancel::check();
        let is_error = node.is_error();
        self.ancestors.push(node);
        self.errors_on_path += usize::from(is_error);
        stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || self.visit_node(node));
        self.errors_on_path -= usize::from(is_error);
        self.ancestors.pop();
    }

    /// Visits `node`, a child of `parent`, a child of the node being visited.
    fn visit_grandchild(&mut self, parent: Node<'a>, node: Node<'a>) {
        self.ancestors.push(parent);
        self.visit(node);
        self.ancestors.pop();
    }

    /// The parent of the node being visited.
    fn parent(&self) -> Option<Node<'a>> {
        let parent = self
            .ancestors
            .len()
            .checked_sub(2)
            .map(|at| self.ancestors[at]);
        debug_assert_eq!(
            parent,
            self.ancestors.last().and_then(|node| node.parent()),
            "the visit skipped a level of the tree"
        );
        parent
    }

    /// The enclosing nodes of the node being visited, innermost first.
    fn enclosing(&self) -> impl Iterator<Item = Node<'a>> + '_ {
        self.ancestors.iter().rev().skip(1).copied()
    }

    /// Whether the node being visited is, or sits inside, a region tree-sitter could not parse.
    fn visiting_error_region(&self, node: Node<'a>) -> bool {
        debug_assert_eq!(self.ancestors.last(), Some(&node));
        node.has_error() || node.is_missing() || self.errors_on_path > 0
    }

    fn visit_children(&mut self, node: Node<'a>) {
        let mut cursor = match self.cursors.pop() {
            Some(mut cursor) => {
                cursor.reset(node);
                cursor
            }
            None => node.walk(),
        };
        // Only the root's children are ever skipped (an incremental analysis).
        let skip = if self.ancestors.len() == 1 {
            self.skip
        } else {
            &[]
        };
        if cursor.goto_first_child() {
            loop {
                let child = cursor.node();
                if child.is_named()
                    && (skip.is_empty()
                        || skip
                            .binary_search_by_key(&child.start_byte(), |range| range.start)
                            .is_err())
                {
                    self.visit(child);
                }
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
        }
        self.cursors.push(cursor);
    }

    fn visit_node(&mut self, node: Node<'a>) {
        match node.kind() {
            "function_definition" | "lambda" => self.visit_function(node),
            "class_definition" => {
                self.class_nodes.push(node);
                self.classes.push(HashMap::new());
                self.visit_children(node);
                self.classes.pop();
            }
            "import_statement" | "import_from_statement" if self.scopes.len() > 1 => {
                let (file, module, package) = (self.file, self.module, self.package);
                self.scope()
                    .imports
                    .add_statement(file, node, module, package);
            }
            "for_statement" => self.visit_for(node),
            "while_statement" => self.visit_while(node),
            "list_comprehension"
            | "set_comprehension"
            | "dictionary_comprehension"
            | "generator_expression" => self.visit_comprehension(node),
            "assignment" | "augmented_assignment" => self.visit_assignment(node),
            "named_expression" => {
                if let (Some(name), Some(value)) = (field(node, "name"), field(node, "value")) {
                    self.visit(value);
                    self.record_assignment(name, value, false);
                }
            }
            "with_item" => self.visit_with_item(node),
            "call" | "subscript" => {
                self.record_query(node);
                if node.kind() == "call" {
                    self.record_grouping(node);
                    self.record_call_site(node);
                }
                self.visit_children(node);
            }
            "attribute" => {
                self.record_attribute_read(node);
                self.record_member_read(node);
                self.visit_children(node);
            }
            "identifier" => self.record_name_use(node),
            "comment" | "string_content" | "escape_sequence" => {}
            _ => self.visit_children(node),
        }
    }

    fn visit_function(&mut self, node: Node<'a>) {
        let mut scope = FunctionScope::new(node);
        if let Some(parameters) = field(node, "parameters") {
            for parameter in named_children(parameters) {
                let name = if parameter.kind() == "identifier" {
                    Some(parameter)
                } else {
                    named_children(parameter).find(|c| c.kind() == "identifier")
                };
                let Some(name) = name else { continue };
                let name = self.text(name).to_string();
                let annotation_node = field(parameter, "type");
                let annotation = annotation_node
                    .map(|t| self.text(t).trim_matches(['"', '\'']))
                    .unwrap_or("");
                if let Some(annotation) = annotation_node {
                    let binding = self.session_from_annotation(annotation, 0);
                    if binding != SessionBinding::Unknown {
                        scope.sessions.insert(name.clone(), binding);
                    }
                }
                if let Some(row_type) = annotation_type(annotation, self.index) {
                    scope.types.insert(name.clone(), row_type);
                }
                scope.parameters.insert(name);
            }
        }
        // Decorators and defaults run where the function is defined; the body runs later.
        for child in named_children(node) {
            if child.kind() == "decorator" {
                self.visit(child);
            }
        }
        self.scopes.push(scope);
        if let Some(body) = field(node, "body") {
            self.visit(body);
        }
        let scope = self.scopes.pop().expect("pushed above");
        self.records.push(scope.into_record());
    }

    /// `self.session = session` in a method: the class's other methods see `self.session` as
    /// what was assigned.
    fn record_self_attribute(&mut self, left: Node<'a>, right: Node<'a>) {
        let Some(path) = dotted_path(left, self.source) else {
            return;
        };
        let Some(attribute) = path.strip_prefix("self.").filter(|a| !a.contains('.')) else {
            return;
        };
        let binding = self.session_from_value(right);
        if binding == SessionBinding::Unknown {
            return;
        }
        if let Some(class) = self.classes.last_mut() {
            class.insert(attribute.to_string(), binding);
        }
    }

    /// The row type of an expression in the current scope.
    fn row_type(&self, node: Node<'a>) -> Option<RowType> {
        let scopes = &self.scopes;
        let names = |name: &str| {
            scopes
                .iter()
                .rev()
                .find_map(|scope| scope.types.get(name).cloned())
        };
        let env = TypeEnv {
            source: self.source,
            index: self.index,
            names: &names,
            scope: self,
        };
        infer(node, &env)
    }

    /// Types the names a `for` target binds from what its iterable yields.
    fn type_loop_target(&mut self, left: Node<'a>, right: Node<'a>) {
        if left.kind() == "identifier" {
            if let Some(origin) = self.origin_of(right) {
                let name = self.text(left).to_string();
                self.scope().origins.insert(name, origin);
            }
        }
        let iterated = self.row_type(right);
        let element = match iterated {
            Some(RowType::Rows(model)) => Some(RowType::Row(model)),
            _ => None,
        };
        if left.kind() == "identifier" {
            if let Some(element) = element {
                let name = self.text(left).to_string();
                self.scope().types.insert(name, element);
            }
            return;
        }
        // `for i, row in enumerate(rows)`, `for label, row in zip(labels, rows)`: each target
        // takes what its own iterable yields.
        if let Some(pairs) = self.unpacked_iterables(left, right) {
            for (target, iterable) in pairs {
                self.type_loop_target(target, iterable);
            }
            return;
        }
        // `for key, rows in by_key.items()`
        let items_of = field(right, "function")
            .filter(|f| {
                f.kind() == "attribute"
                    && field(*f, "attribute").is_some_and(|a| self.text(a) == "items")
            })
            .and_then(|f| field(f, "object"))
            .and_then(|object| self.row_type(object));
        let value_type = match items_of {
            Some(RowType::RowByKey { model, .. }) => RowType::Row(model),
            Some(RowType::RowsByKey { model, .. }) => RowType::Rows(model),
            _ => return,
        };
        if let Some(value) = named_children(left)
            .nth(1)
            .filter(|v| v.kind() == "identifier")
        {
            let name = self.text(value).to_string();
            self.scope().types.insert(name, value_type);
        }
    }

    /// The targets of `for a, b in enumerate(xs)` / `zip(xs, ys)` paired with the iterables they
    /// take their items from (the index of `enumerate` takes none).
    fn unpacked_iterables(
        &self,
        left: Node<'a>,
        right: Node<'a>,
    ) -> Option<Vec<(Node<'a>, Node<'a>)>> {
        if !matches!(
            left.kind(),
            "pattern_list" | "tuple_pattern" | "list_pattern"
        ) {
            return None;
        }
        let function = field(right, "function").filter(|f| f.kind() == "identifier")?;
        let arguments: Vec<Node<'a>> = named_children(field(right, "arguments")?)
            .filter(|a| a.kind() != "keyword_argument")
            .collect();
        let targets: Vec<Node<'a>> = named_children(left).collect();
        match self.text(function) {
            "enumerate" => match (targets.as_slice(), arguments.first()) {
                ([_, item], Some(iterable)) => Some(vec![(*item, *iterable)]),
                _ => None,
            },
            "zip" if targets.len() == arguments.len() => {
                Some(targets.into_iter().zip(arguments).collect())
            }
            _ => None,
        }
    }

    fn visit_for(&mut self, node: Node<'a>) {
        let (Some(left), Some(right)) = (field(node, "left"), field(node, "right")) else {
            return self.visit_children(node);
        };
        self.visit(right);
        self.type_loop_target(left, right);
        let is_async = node.child(0).is_some_and(|first| first.kind() == "async");
        let kind = if is_async {
            LoopKind::AsyncFor
        } else {
            LoopKind::For
        };
        let id = self.open_loop(kind, node, left, right);
        if let Some(body) = field(node, "body") {
            self.visit(body);
        }
        self.close_loop(id);
        if let Some(alternative) = field(node, "alternative") {
            self.visit(alternative);
        }
    }

    fn visit_while(&mut self, node: Node<'a>) {
        let Some(condition) = field(node, "condition") else {
            return self.visit_children(node);
        };
        let id = self.new_loop(
            LoopKind::While,
            node,
            self.text(condition).to_string(),
            String::new(),
        );
        self.push_loop(id);
        self.visit(condition);
        if let Some(body) = field(node, "body") {
            self.visit(body);
        }
        self.close_loop(id);
        if let Some(alternative) = field(node, "alternative") {
            self.visit(alternative);
        }
    }

    /// `[body for a in xs if c for b in f(a)]`: each `for` clause is a loop nested in the previous
    /// one; the first iterable runs once, outside them all.
    fn visit_comprehension(&mut self, node: Node<'a>) {
        let kind = match node.kind() {
            "list_comprehension" => LoopKind::ListComprehension,
            "set_comprehension" => LoopKind::SetComprehension,
            "dictionary_comprehension" => LoopKind::DictComprehension,
            _ => LoopKind::Generator,
        };
        let enclosing = self.current_loops();
        let mut opened = Vec::new();
        let mut iterated = Vec::new();
        for clause in named_children(node) {
            match clause.kind() {
                "for_in_clause" => {
                    let (Some(left), Some(right)) = (field(clause, "left"), field(clause, "right"))
                    else {
                        continue;
                    };
                    self.visit_grandchild(clause, right);
                    iterated.push(self.row_type(right));
                    self.type_loop_target(left, right);
                    opened.push(self.open_loop(kind, clause, left, right));
                }
                "if_clause" => self.visit(clause),
                _ => {}
            }
        }
        if let Some(body) = field(node, "body") {
            self.visit(body);
        }
        let assigned_to = self
            .parent()
            .filter(|p| p.kind() == "assignment")
            .and_then(|p| field(p, "left"))
            .filter(|l| l.kind() == "identifier")
            .map(|l| self.text(l).to_string());
        self.comprehensions.push(Comprehension {
            node,
            kind,
            clauses: opened.clone(),
            iterated,
            loops: enclosing,
            assigned_to,
        });
        for id in opened.into_iter().rev() {
            self.close_loop(id);
        }
    }

    fn visit_assignment(&mut self, node: Node<'a>) {
        let Some(left) = field(node, "left") else {
            return self.visit_children(node);
        };
        // `repo: CustomerRepository = make()` and `repo: CustomerRepository`: what the name holds.
        if let Some(annotation) = field(node, "type").filter(|_| left.kind() == "identifier") {
            let name = self.text(left).to_string();
            self.scope().annotations.insert(name, annotation);
        }
        let Some(right) = field(node, "right") else {
            return self.visit_children(node);
        };
        self.visit(right);
        self.visit(left);
        let augmented = node.kind() == "augmented_assignment";
        self.record_store(node, left, right, augmented);
        if !augmented && left.kind() == "subscript" {
            self.record_keyed_assignment(left, right);
        }
        if !augmented && left.kind() == "identifier" {
            let name = self.text(left).to_string();
            if let Some(row_type) = self.row_type(right) {
                self.scope().types.insert(name.clone(), row_type);
            }
            if let Some(origin) = self.origin_of(right) {
                self.scope().origins.insert(name.clone(), origin);
            }
            let binding = self.session_from_value(right);
            if binding == SessionBinding::Unknown {
                self.scope().sessions.remove(&name);
            } else {
                self.scope().sessions.insert(name.clone(), binding);
            }
            let held = self
                .queries
                .iter()
                .rposition(|query| query.call.node == right && !query.evaluated);
            match held {
                Some(index) => self.scope().lazy.insert(name.clone(), index),
                None => self.scope().lazy.remove(&name),
            };
            let scope = self.scope();
            if scope.values.insert(name.clone(), right).is_some() {
                scope.rebound.insert(name);
            }
        }
        if !augmented && left.kind() == "attribute" {
            self.record_self_attribute(left, right);
        }
        self.record_assignment(left, right, augmented);
    }

    fn visit_with_item(&mut self, node: Node<'a>) {
        let Some(value) = field(node, "value") else {
            return self.visit_children(node);
        };
        if value.kind() == "as_pattern" {
            let expression = named_children(value).next();
            let alias = field(value, "alias");
            if let Some(expression) = expression {
                self.visit_grandchild(value, expression);
                if let Some(alias) = alias {
                    let target = named_children(alias).next().unwrap_or(alias);
                    if target.kind() == "identifier" {
                        let binding = self.session_from_value(expression);
                        if binding != SessionBinding::Unknown {
                            let name = self.text(target).to_string();
                            self.scope().sessions.insert(name, binding);
                        }
                    }
                    self.record_assignment(target, expression, false);
                }
            }
        } else {
            self.visit(value);
        }
    }

    /// `by_key[x.k].append(x)` groups rows by `k`: the dict's type.
    fn record_grouping(&mut self, call: Node<'a>) {
        if let Some((dict, appended, key, _)) = grouping_append(call, self.source) {
            if let Some(RowType::Row(model)) = self.row_type(appended) {
                self.scope()
                    .types
                    .insert(dict, RowType::RowsByKey { model, key });
            }
        }
    }

    /// `by_key[row.key] = row` inside a loop over rows: the dict's type.
    fn record_keyed_assignment(&mut self, left: Node<'a>, right: Node<'a>) {
        let (Some(dict), Some(key)) = (field(left, "value"), field(left, "subscript")) else {
            return;
        };
        if dict.kind() != "identifier" || key.kind() != "attribute" || right.kind() != "identifier"
        {
            return;
        }
        if field(key, "object").map(|o| self.text(o)) != Some(self.text(right)) {
            return;
        }
        let Some(RowType::Row(model)) = self.row_type(right) else {
            return;
        };
        let Some(key_name) = field(key, "attribute").map(|a| self.text(a).to_string()) else {
            return;
        };
        let dict_name = self.text(dict).to_string();
        self.scope().types.insert(
            dict_name,
            RowType::RowByKey {
                model,
                key: key_name,
            },
        );
    }

    /// Every assignment, with what the traversal knew of the value's rows.
    fn record_store(&mut self, node: Node<'a>, left: Node<'a>, right: Node<'a>, augmented: bool) {
        let value_type = self.row_type(right);
        let object_type = (right.kind() == "attribute")
            .then(|| field(right, "object"))
            .flatten()
            .and_then(|object| self.row_type(object));
        let loops = self.current_loops();
        self.stores.push(Store {
            node,
            left,
            right,
            augmented,
            value_type,
            object_type,
            loops,
        });
    }

    /// The loops of the function around the node being visited, innermost last.
    fn current_loops(&self) -> Vec<LoopId> {
        self.scopes
            .last()
            .map(|s| s.loop_stack.clone())
            .unwrap_or_default()
    }

    /// The query that produced an expression's rows, and the relationships followed since.
    fn origin_of(&self, node: Node<'a>) -> Option<Origin<'a>> {
        // Recursive over nested expressions: guarded like the traversal.
        stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || self.origin_of_nested(node))
    }

    fn origin_of_nested(&self, node: Node<'a>) -> Option<Origin<'a>> {
        match node.kind() {
            "identifier" => {
                let name = self.text(node);
                self.scopes
                    .iter()
                    .rev()
                    .find_map(|scope| scope.origins.get(name).cloned())
            }
            "parenthesized_expression" | "await" => named_children(node)
                .next()
                .and_then(|inner| self.origin_of(inner)),
            "call" | "subscript" => {
                if !continues_chain(node) {
                    if let Some(origin) = self.related_rows_of_loaded_row(node) {
                        return Some(origin);
                    }
                    if let Some(call) = orm::recognize(node, self.source, self) {
                        return Some(Origin {
                            query: node,
                            path: Vec::new(),
                            api: call.api,
                            orm: call.orm,
                            model: call.model,
                            earlier: self.refined_queries(node),
                        });
                    }
                }
                let function = field(node, "function")?;
                let argument = field(node, "arguments").and_then(|a| named_children(a).next());
                match function.kind() {
                    "identifier"
                        if matches!(
                            self.text(function),
                            "list" | "sorted" | "tuple" | "reversed" | "set"
                        ) =>
                    {
                        self.origin_of(argument?)
                    }
                    // `specific_iterator(views_qs)`: a function that takes the rows of a query
                    // yields those rows (a class would build something else from them).
                    "identifier" if !looks_like_class(self.text(function)) => {
                        let argument = argument?;
                        orm::recognize(argument, self.source, self)?;
                        self.origin_of(argument)
                    }
                    // `by_key.values()`, `rows.all()`
                    "attribute" => self.origin_of(field(function, "object")?),
                    _ => None,
                }
            }
            "attribute" => {
                let object = field(node, "object")?;
                let mut origin = self.origin_of(object)?;
                origin
                    .path
                    .push(self.text(field(node, "attribute")?).to_string());
                Some(origin)
            }
            "list_comprehension" | "generator_expression" | "set_comprehension" => {
                let body = field(node, "body")?;
                let clause = named_children(node)
                    .filter(|c| c.kind() == "for_in_clause")
                    .find(|c| {
                        field(*c, "left").is_some_and(|left| self.text(left) == self.text(body))
                    })?;
                self.origin_of(field(clause, "right")?)
            }
            _ => None,
        }
    }

    /// `customer.orders.all()` on a row of a Django query: the related rows as that query's
    /// `prefetch_related("orders")` would hold them, so the loaders of the outer query (and its
    /// `Prefetch(..., queryset=...)` lookups) decide what the inner rows load.
    fn related_rows_of_loaded_row(&self, node: Node<'a>) -> Option<Origin<'a>> {
        let function = field(node, "function").filter(|f| f.kind() == "attribute")?;
        if self.text(field(function, "attribute")?) != "all"
            || field(node, "arguments").is_some_and(|a| named_children(a).next().is_some())
        {
            return None;
        }
        let manager = field(function, "object").filter(|m| m.kind() == "attribute")?;
        let owner = field(manager, "object").filter(|o| o.kind() == "identifier")?;
        let mut origin = self.origin_of(owner)?;
        if origin.orm != orm::Orm::Django {
            return None;
        }
        origin
            .path
            .push(self.text(field(manager, "attribute")?).to_string());
        Some(origin)
    }

    /// The queries a chain refines through the name at its root, newest first:
    /// `orders.filter(...)` where `orders = Order.objects.select_related(...)`.
    fn refined_queries(&self, node: Node<'a>) -> Vec<Node<'a>> {
        let mut earlier = Vec::new();
        let mut current = node;
        for _ in 0..MAX_SYMBOL_DEPTH {
            let root = Chain::flatten(current, self.source).root;
            if root.kind() != "identifier" {
                break;
            }
            let Some(value) = orm::Scope::value_of(self, self.text(root)) else {
                break;
            };
            if value == current
                || earlier.contains(&value)
                || !matches!(value.kind(), "call" | "subscript")
            {
                break;
            }
            earlier.push(value);
            current = value;
        }
        earlier
    }

    /// `x.attr` read from a row of a known model.
    fn record_attribute_read(&mut self, node: Node<'a>) {
        let (Some(object), Some(attribute)) = (field(node, "object"), field(node, "attribute"))
        else {
            return;
        };
        if object.kind() != "identifier" {
            return;
        }
        // Assigning `x.attr = ...` is a write, not a load.
        let parent = self.parent();
        if parent.is_some_and(|p| p.kind() == "assignment" && field(p, "left") == Some(node)) {
            return;
        }
        let Some(RowType::Row(model)) = self.row_type(object) else {
            return;
        };
        let attribute = self.text(attribute).to_string();
        if self.index.relationship(&model, &attribute).is_none() {
            return;
        }
        let then = parent
            .filter(|p| p.kind() == "attribute" && field(*p, "object") == Some(node))
            .and_then(|p| field(p, "attribute"))
            .map(|a| self.text(a).to_string());
        let loops = self
            .scopes
            .last()
            .map(|s| s.loop_stack.clone())
            .unwrap_or_default();
        let origin = self.origin_of(object);
        self.reads.push(AttributeRead {
            node,
            object: self.text(object).to_string(),
            model,
            attribute,
            loops,
            origin,
            then,
        });
    }

    /// A call of a name or of a method, for function summaries (INB003) and writes (INB004/5).
    fn record_call_site(&mut self, node: Node<'a>) {
        let scope = self.scopes.last().expect("the module scope");
        let site = calls::call_site(
            node,
            self.source,
            self,
            scope.loop_stack.clone(),
            scope.node,
            calls::call_value(node, self.enclosing(), self.source),
            |object| self.row_type(object),
        );
        self.calls.extend(site);
    }

    /// `pr.consent_tasks` read (not called, not assigned) inside a function or a loop: a property
    /// runs a query when it is read, so the read is a call site of its own (INB003). Only reads of
    /// a name's attribute: what deeper paths hold is rarely known, and reads are many.
    fn record_member_read(&mut self, node: Node<'a>) {
        let scope = self.scopes.last().expect("the module scope");
        if self.scopes.len() == 1 && scope.loop_stack.is_empty() {
            return;
        }
        if field(node, "object").is_none_or(|object| object.kind() != "identifier") {
            return;
        }
        let read = self.parent().is_none_or(|parent| match parent.kind() {
            "call" => field(parent, "function") != Some(node),
            "assignment" | "augmented_assignment" => field(parent, "left") != Some(node),
            "delete_statement" | "pattern_list" | "tuple_pattern" | "list_pattern" => false,
            _ => true,
        });
        if !read {
            return;
        }
        let site = calls::member_read(
            node,
            self.source,
            scope.loop_stack.clone(),
            scope.node,
            calls::call_value(node, self.enclosing(), self.source),
            |object| self.row_type(object),
        );
        self.calls.extend(site);
    }

    fn record_query(&mut self, node: Node<'a>) {
        if self.visiting_error_region(node) {
            return;
        }
        if self
            .parent()
            .is_some_and(|parent| continues_chain_in(node, parent))
            && !self.ends_query_before_attributes(node)
        {
            return;
        }
        if let Some(call) = orm::recognize(node, self.source, self) {
            let loops = self
                .scopes
                .last()
                .map(|s| s.loop_stack.clone())
                .unwrap_or_default();
            let evaluated = call.evaluation == Evaluation::Runs
                || self.evaluates_here(node)
                || self.discards_custom_method_result(node, &call);
            let returned = self
                .enclosing()
                .find(|parent| parent.kind() != "parenthesized_expression")
                .is_some_and(|parent| parent.kind() == "return_statement");
            let assigned_to = self.assigned_by_statement();
            self.queries.push(Query {
                call,
                loops,
                evaluated,
                returned,
                assigned_to,
            });
        }
    }

    /// `Order.objects.get(pk=k).customer.name`: the query ends at `.get(...)`; the attributes
    /// after it read the row it returned.
    fn ends_query_before_attributes(&self, node: Node<'a>) -> bool {
        let method = field(node, "function")
            .filter(|function| function.kind() == "attribute")
            .and_then(|function| field(function, "attribute"))
            .map(|attribute| self.text(attribute));
        let Some(method) = method else {
            return false;
        };
        if !orm::MODULES
            .iter()
            .any(|orm| orm.tables().one_row.contains(&method))
        {
            return false;
        }
        let mut current = node;
        for parent in self.enclosing() {
            match parent.kind() {
                "attribute" if field(parent, "object") == Some(current) => current = parent,
                "call" if field(parent, "function") == Some(current) => return false,
                _ => break,
            }
        }
        current != node
    }

    /// Whether a loop over `iterable` has a number of iterations fixed by the code.
    fn cardinality_of(&self, iterable: Node<'a>) -> Cardinality {
        if self.is_bounded(iterable, 0) {
            Cardinality::Bounded
        } else {
            Cardinality::Unbounded
        }
    }

    fn is_bounded(&self, node: Node<'a>, depth: usize) -> bool {
        if depth > MAX_SYMBOL_DEPTH {
            return false;
        }
        let value_of = |name: &str| orm::Scope::value_of(self, name);
        if is_limited_query(node, self.source, &value_of, 0)
            || iterates_the_schema(node, self.source, &|name| {
                is_django_table(name, self.source)
            })
            || is_one_row_query(node, self.source)
        {
            return true;
        }
        match node.kind() {
            "list" | "tuple" | "set" | "dictionary" | "string" | "concatenated_string" => {
                !named_children(node)
                    .any(|item| matches!(item.kind(), "list_splat" | "dictionary_splat"))
            }
            "parenthesized_expression" => named_children(node)
                .next()
                .is_some_and(|inner| self.is_bounded(inner, depth)),
            "identifier" => {
                let name = self.text(node);
                if is_constant_name(name) || self.is_bounded_loop_item(name) {
                    return true;
                }
                // Iterating a class: the members of an `Enum`.
                if looks_like_class(name) && self.name_type(name).is_none() {
                    return orm::Scope::model_evidence(self, name) < ModelEvidence::Imported;
                }
                // A name bound to a literal collection the function does not grow (`steps =
                // [first, second]`, `models = (User, Order)`); an empty literal is an
                // accumulator, and a parameter may be rebound on one path only.
                if self
                    .scopes
                    .iter()
                    .any(|scope| scope.parameters.contains(name))
                {
                    return false;
                }
                // `groups = all_groups()` then `if one: groups = groups.filter(pk=k)`: either.
                let value = self
                    .scopes
                    .iter()
                    .rev()
                    .find(|scope| scope.values.contains_key(name))
                    .filter(|scope| !scope.rebound.contains(name))
                    .and_then(|scope| scope.values.get(name).copied());
                value.is_some_and(|value| {
                    let literal = matches!(value.kind(), "list" | "tuple" | "set" | "dictionary")
                        && named_children(value).next().is_some();
                    // `tables = reversed(metadata.sorted_tables)`, `labels = seed.get("labels")`
                    let fixed_call = value.kind() == "call" && self.is_bounded(value, depth + 1);
                    ((literal || fixed_call) && !self.is_grown(name))
                        || is_limited_query(value, self.source, &value_of, 0)
                })
            }
            // `group["questions"]` where `group` is an item of a bounded loop.
            "subscript"
                if field(node, "value")
                    .is_some_and(|value| self.is_bounded_item_expression(value)) =>
            {
                true
            }
            // `rows[:3]`: a slice with a literal bound.
            "subscript" => named_children(node).skip(1).any(|index| {
                let mut parts = self.text(index).split(':');
                let start = parts.next().unwrap_or("").trim();
                let stop = parts.next().unwrap_or("").trim();
                index.kind() == "slice"
                    && (start.is_empty() || start.parse::<i64>().is_ok())
                    && stop.parse::<i64>().is_ok()
            }),
            "attribute" => {
                let Some(attribute) = field(node, "attribute").map(|a| self.text(a)) else {
                    return false;
                };
                // `settings.LANGUAGES`, `Status.choices` of a Django `TextChoices`, `group.items`
                // of an item of a bounded loop.
                is_constant_name(attribute)
                    || field(node, "object")
                        .is_some_and(|object| self.is_bounded_item_expression(object))
                    || (matches!(attribute, "choices" | "labels" | "values" | "names")
                        && field(node, "object").is_some_and(|object| {
                            looks_like_class(last_component(self.text(object)))
                        }))
            }
            "call" => {
                let Some(function) = field(node, "function") else {
                    return false;
                };
                let arguments: Vec<Node<'a>> = field(node, "arguments")
                    .map(|a| named_children(a).collect())
                    .unwrap_or_default();
                match function.kind() {
                    "identifier" => match self.text(function) {
                        // Literal bounds, however large, are fixed by the code.
                        "range" => {
                            !arguments.is_empty()
                                && arguments.iter().all(|a| is_integer_literal(*a))
                        }
                        "enumerate" | "sorted" | "reversed" | "list" | "tuple" | "set"
                        | "frozenset" | "iter" => arguments
                            .first()
                            .is_some_and(|first| self.is_bounded(*first, depth)),
                        "zip" => {
                            !arguments.is_empty()
                                && arguments.iter().any(|a| self.is_bounded(*a, depth))
                        }
                        // `typing.cast(List[Block], [Webhook, Secret])`
                        "cast" => arguments
                            .get(1)
                            .is_some_and(|value| self.is_bounded(*value, depth)),
                        helper => match self.fixed_data_functions.get(helper) {
                            Some(FixedReturn::Schema) => true,
                            // `read_seed_file("projects.json")`: a data file named by the code.
                            Some(FixedReturn::ParsedFile) => {
                                arguments.iter().all(|a| {
                                    is_literal(*a)
                                        || (a.kind() == "identifier"
                                            && is_constant_name(self.text(*a)))
                                }) && arguments.iter().any(|a| {
                                    let name = self.text(*a).trim_matches(['"', '\'']);
                                    a.kind() == "string"
                                        && [".json", ".yaml", ".yml", ".toml"]
                                            .iter()
                                            .any(|extension| name.ends_with(extension))
                                })
                            }
                            None => false,
                        },
                    },
                    // `{...}.items()`, `STATUS_NAMES.keys()`
                    "attribute" => {
                        let method = field(function, "attribute").map(|a| self.text(a));
                        let object = field(function, "object");
                        (matches!(method, Some("items" | "keys" | "values"))
                            && arguments.is_empty()
                            && object.is_some_and(|object| self.is_bounded(object, depth)))
                            // `seed.get("labels", [])` of an item of a bounded loop.
                            || (matches!(method, Some("get" | "pop"))
                                && object
                                    .is_some_and(|object| self.is_bounded_item_expression(object)))
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// The names the assignment statement around the node being visited binds, if it is in one.
    fn assigned_by_statement(&self) -> Vec<String> {
        let mut names = Vec::new();
        for parent in self.enclosing() {
            match parent.kind() {
                "assignment" => {
                    if let Some(left) = field(parent, "left") {
                        bound_names(left, self.source, &mut names);
                    }
                    break;
                }
                "expression_statement" | "block" | "module" | "function_definition" | "lambda" => {
                    break
                }
                _ => {}
            }
        }
        names
    }

    /// A target of an enclosing loop of this function whose own N is fixed by the code: what
    /// it holds comes from that fixed collection.
    fn is_bounded_item_expression(&self, node: Node<'a>) -> bool {
        let mut current = Some(node);
        while let Some(node) = current {
            current = match node.kind() {
                "identifier" => return self.is_bounded_loop_item(self.text(node)),
                "attribute" => field(node, "object"),
                "subscript" => field(node, "value"),
                _ => None,
            };
        }
        false
    }

    fn is_bounded_loop_item(&self, name: &str) -> bool {
        self.scopes.last().is_some_and(|scope| {
            scope.loop_stack.iter().any(|&id| {
                let lp = &self.loops[id];
                lp.cardinality == Cardinality::Bounded && lp.varying.contains(name)
            })
        })
    }

    /// Whether the function grows a collection held in `name` before this point: `name.append(x)`,
    /// `name.extend(...)`, `name += [...]`, `name[k] = v`.
    fn is_grown(&self, name: &str) -> bool {
        let Some(scope) = self.scopes.last() else {
            return false;
        };
        let grown_by_call = self.calls.iter().rev().any(|call| {
            call.scope == scope.node
                && matches!(
                    &call.callee,
                    calls::Callee::Method { receiver, method }
                        if receiver == name
                            && matches!(
                                method.as_str(),
                                "append" | "extend" | "insert" | "add" | "update" | "setdefault"
                            )
                )
        });
        let grown_by_store = self.stores.iter().rev().any(|store| {
            let target = if store.augmented {
                Some(store.left)
            } else if store.left.kind() == "subscript" {
                field(store.left, "value")
            } else {
                None
            };
            target.is_some_and(|t| self.text(t) == name)
                && scope.node.start_byte() <= store.node.start_byte()
                && store.node.end_byte() <= scope.node.end_byte()
        });
        grown_by_call || grown_by_store
    }

    /// A name holding a lazy query, consumed here: the query runs.
    fn record_name_use(&mut self, node: Node<'a>) {
        let Some(scope) = self.scopes.last() else {
            return;
        };
        if scope.lazy.is_empty() {
            return;
        }
        let Some(&index) = scope.lazy.get(self.text(node)) else {
            return;
        };
        if self.evaluates_here(node) || self.reads_a_row_attribute(node) {
            self.queries[index].evaluated = true;
        }
    }

    /// `user.email` where `user` holds what an unknown query method returned: it returned a
    /// row, so it ran. `qs.filter(...)` on a queryset is no such read.
    fn reads_a_row_attribute(&self, node: Node<'a>) -> bool {
        let Some(parent) = self.parent() else {
            return false;
        };
        if parent.kind() != "attribute" || field(parent, "object") != Some(node) {
            return false;
        }
        let Some(attribute) = field(parent, "attribute").map(|a| self.text(a)) else {
            return false;
        };
        !orm::MODULES.iter().any(|orm| {
            let tables = orm.tables();
            tables.builds(attribute)
                || tables.runs(attribute)
                || tables.is_terminal(attribute)
                || tables.chain_writes.contains(&attribute)
        }) && self.index.query_method(attribute).is_none()
    }

    /// `LogEntry.objects.log_create(...)` as a statement of its own: a method no table knows,
    /// called for its effect, runs.
    fn discards_custom_method_result(&self, node: Node<'a>, call: &orm::OrmCall<'a>) -> bool {
        let is_statement = self
            .enclosing()
            .find(|parent| !matches!(parent.kind(), "parenthesized_expression" | "await"))
            .is_some_and(|parent| parent.kind() == "expression_statement");
        let last = Chain::flatten(node, self.source)
            .segments
            .iter()
            .rev()
            .find(|segment| segment.is_call())
            .map(|segment| segment.name);
        let tables = call.orm.tables();
        is_statement && last.is_some_and(|method| !tables.builds(method) && !tables.runs(method))
    }

    /// Whether the expression being visited is consumed where it stands: iterated, passed to
    /// `list()`/`len()`/`bool()`/..., tested for truth, indexed, unpacked, or checked with `in`.
    fn evaluates_here(&self, node: Node<'a>) -> bool {
        let mut current = node;
        for parent in self.enclosing() {
            match parent.kind() {
                "parenthesized_expression" => {}
                "for_statement" | "for_in_clause" => {
                    return field(parent, "right") == Some(current)
                }
                "argument_list" => {}
                "call" => {
                    let callee = field(parent, "function")
                        .filter(|f| f.kind() == "identifier")
                        .map(|f| self.text(f));
                    match callee {
                        Some(name) if CONSUMING_BUILTINS.contains(&name) => return true,
                        // `enumerate(qs)`, `zip(a, qs)`: evaluated where the wrapper is.
                        Some(name) if WRAPPING_BUILTINS.contains(&name) => {}
                        _ => return false,
                    }
                }
                "not_operator" | "boolean_operator" | "list_splat" | "await" => return true,
                "if_statement" | "elif_clause" | "while_statement" | "conditional_expression" => {
                    return field(parent, "condition") == Some(current)
                        || (parent.kind() == "conditional_expression"
                            && named_children(parent).nth(1) == Some(current))
                }
                "comparison_operator" => {
                    let mut cursor = parent.walk();
                    let membership = parent
                        .children(&mut cursor)
                        .any(|c| matches!(c.kind(), "in" | "not in"));
                    return membership && named_children(parent).nth(1) == Some(current);
                }
                "subscript" => {
                    return field(parent, "value") == Some(current)
                        && !named_children(parent)
                            .skip(1)
                            .any(|child| child.kind() == "slice")
                }
                "assignment" => {
                    // `first, second = qs` unpacks it.
                    return field(parent, "right") == Some(current)
                        && field(parent, "left").is_some_and(|left| {
                            matches!(
                                left.kind(),
                                "pattern_list" | "tuple_pattern" | "list_pattern"
                            )
                        });
                }
                "yield" => return self.text(parent).starts_with("yield from"),
                _ => return false,
            }
            current = parent;
        }
        false
    }

    fn new_loop(
        &mut self,
        kind: LoopKind,
        node: Node<'a>,
        target: String,
        iterable: String,
    ) -> LoopId {
        let parent = self
            .scopes
            .last()
            .and_then(|scope| scope.loop_stack.last().copied());
        let id = self.loops.len();
        let cardinality = match kind {
            LoopKind::While => Cardinality::Unbounded,
            _ => field(node, "right")
                .map_or(Cardinality::Unbounded, |right| self.cardinality_of(right)),
        };
        self.loops.push(Loop {
            kind,
            node,
            header: header_range(node),
            target,
            iterable,
            parent,
            varying: HashSet::new(),
            cardinality,
        });
        self.loop_assignments.push(Vec::new());
        id
    }

    /// A `for` loop or clause: its targets vary by definition, and, seen from enclosing loops, are
    /// assigned from the iterable.
    fn open_loop(
        &mut self,
        kind: LoopKind,
        node: Node<'a>,
        left: Node<'a>,
        right: Node<'a>,
    ) -> LoopId {
        self.record_assignment(left, right, false);
        let id = self.new_loop(
            kind,
            node,
            self.text(left).to_string(),
            self.text(right).to_string(),
        );
        let mut targets = Vec::new();
        bound_names(left, self.source, &mut targets);
        self.loops[id].varying.extend(targets);
        self.push_loop(id);
        id
    }

    fn push_loop(&mut self, id: LoopId) {
        self.scope().loop_stack.push(id);
    }

    fn close_loop(&mut self, id: LoopId) {
        let stack = &mut self.scope().loop_stack;
        if let Some(position) = stack.iter().rposition(|&open| open == id) {
            stack.truncate(position);
        }
    }

    /// Records `left = right` in every loop of this function that encloses it.
    fn record_assignment(&mut self, left: Node<'a>, right: Node<'a>, augmented: bool) {
        let Some(scope) = self.scopes.last() else {
            return;
        };
        if scope.loop_stack.is_empty() {
            return;
        }
        let mut targets = Vec::new();
        bound_names(left, self.source, &mut targets);
        if targets.is_empty() {
            return;
        }
        let mut sources = Vec::new();
        collect_names(right, self.source, &mut sources);
        if augmented {
            sources.extend(targets.iter().cloned());
        }
        let constant = !augmented && is_literal(right);
        let loop_ids = scope.loop_stack.clone();
        for id in loop_ids {
            self.loop_assignments[id].push(Assignment {
                targets: targets.clone(),
                sources: sources.clone(),
                constant,
            });
        }
    }
}

/// Every name and dotted path an expression reads (attribute and keyword names excluded).
fn collect_names(node: Node<'_>, source: &str, out: &mut Vec<String>) {
    stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || match node.kind() {
        "identifier" => out.push(source[node.byte_range()].to_string()),
        "attribute" => {
            if let Some(path) = dotted_path(node, source) {
                out.push(path);
            }
            if let Some(object) = field(node, "object") {
                collect_names(object, source, out);
            }
        }
        "keyword_argument" => {
            if let Some(value) = field(node, "value") {
                collect_names(value, source, out);
            }
        }
        "comment" | "string_content" => {}
        _ => {
            for child in named_children(node) {
                collect_names(child, source, out);
            }
        }
    })
}

/// Everything assigned, directly or transitively, from a varying name also varies. A `while` loop
/// has no target: what its body reassigns (other than to a constant) is what varies.
fn propagate_varying(lp: &mut Loop<'_>, body: &[Assignment]) {
    if lp.kind == LoopKind::While {
        for assignment in body.iter().filter(|a| !a.constant) {
            lp.varying.extend(assignment.targets.iter().cloned());
        }
    }
    loop {
        let before = lp.varying.len();
        for assignment in body {
            if assignment
                .sources
                .iter()
                .any(|source| lp.varying.contains(source))
            {
                lp.varying.extend(assignment.targets.iter().cloned());
            }
        }
        if lp.varying.len() == before {
            break;
        }
    }
}
