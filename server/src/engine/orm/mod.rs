//! Recognising ORM calls by evidence.
//!
//! A call chain such as `Session.query.filter_by(user_id=uid).all()` is flattened into a root
//! (`Session`) and segments (`query`, `filter_by(...)`, `all()`). Each ORM module ([`OrmModule`],
//! one file per ORM) decides whether the chain is a query: from what its receiver is bound to (a
//! parameter annotated `Session`, `Model.objects`, a related manager, a queryset held in a
//! variable) or from what its arguments prove (a mapped model class as the first argument of
//! `.query()`/`.get()`, a statement built by SQLAlchemy's `select`/`insert`/...). Method names alone
//! never make a query: `cache.get(k)` and `requests.get(url)` stay unrecognised because nothing
//! says their receivers are sessions.
//!
//! Each ORM module also owns its tables ([`Tables`]: which methods run a query, return one row,
//! write) so that rules ask the module instead of keeping lists of their own.

pub mod django;
pub mod loaders;
pub mod sqlalchemy;
pub mod symbols;

use tree_sitter::Node;

use super::source::TextRange;
use super::syntax::{dotted_path, field, named_children};
pub use symbols::{StatementKind, Symbol};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orm {
    SqlAlchemy,
    Django,
}

impl Orm {
    /// The module that knows this ORM.
    pub fn module(self) -> &'static dyn OrmModule {
        match self {
            Orm::SqlAlchemy => &sqlalchemy::SqlAlchemy,
            Orm::Django => &django::Django,
        }
    }

    /// This ORM's tables.
    pub fn tables(self) -> &'static Tables {
        self.module().tables()
    }
}

/// The ORMs a check recognises (the `orm` setting): `auto` is both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrmSet {
    pub sqlalchemy: bool,
    pub django: bool,
}

impl OrmSet {
    pub const ALL: OrmSet = OrmSet {
        sqlalchemy: true,
        django: true,
    };

    pub fn contains(self, orm: Orm) -> bool {
        match orm {
            Orm::SqlAlchemy => self.sqlalchemy,
            Orm::Django => self.django,
        }
    }
}

/// Every ORM module, in the order they are asked: SQLAlchemy claims session chains first, Django
/// managers are tried after.
pub static MODULES: &[&dyn OrmModule] = &[&sqlalchemy::SqlAlchemy, &django::Django];

/// What a name imported from `module` (`name` is `None` for `import module`) is to the ORMs:
/// asked of each ORM module, then of the list of libraries that are not ORMs.
pub fn classify(module: &str, name: Option<&str>) -> Option<Symbol> {
    MODULES
        .iter()
        .find_map(|orm| orm.symbol(module, name))
        .or_else(|| symbols::is_foreign_module(module).then_some(Symbol::Foreign))
}

/// One ORM: its tables, the library names it knows, and how it recognises a query chain. Adding a
/// session idiom or a manager shape touches one implementation.
pub trait OrmModule: Sync {
    fn orm(&self) -> Orm;
    fn tables(&self) -> &'static Tables;
    /// What `name`, imported from `module` (absolute, dotted; `None` name for `import module`),
    /// is to this ORM, if anything.
    fn symbol(&self, module: &str, name: Option<&str>) -> Option<Symbol>;
    /// Whether the chain is one of this ORM's queries, and what kind.
    fn recognize(&self, call: &Receiver<'_, '_>) -> Option<Recognized>;
}

/// What one ORM's query methods do. Rules read these instead of keeping lists of their own.
#[derive(Debug)]
pub struct Tables {
    /// Methods that end a query chain: what the query returns is decided by them.
    pub terminals: &'static [&'static str],
    /// Chain methods that send SQL when called.
    pub runs: &'static [&'static str],
    /// The ORM's own chain methods that build a query without running it.
    pub builds: &'static [&'static str],
    /// Terminals that return one row (or `None`).
    pub one_row: &'static [&'static str],
    /// Terminals that return no rows: a number, a boolean, a mapping.
    pub no_rows: &'static [&'static str],
    /// Terminals whose result can be kept and read again (a list, a row, a number), as opposed
    /// to a one-shot result or iterator.
    pub reusable: &'static [&'static str],
    /// Chain methods that write (`update`, `delete`, `create`, ...).
    pub chain_writes: &'static [&'static str],
    /// Methods of a session (SQLAlchemy) or of a model instance (Django) that write.
    pub receiver_writes: &'static [&'static str],
    /// Relationship loading strategies that run a query per row on access; `None` (no strategy
    /// declared) is the ORM's default.
    pub lazy_strategies: &'static [&'static str],
    /// Whether a relationship without a declared strategy loads lazily.
    pub lazy_by_default: bool,
    /// Manager methods the ORM answers from a cache after the first call (Django's
    /// `ContentType.objects.get_for_model`): not a query per iteration.
    pub memoised: &'static [&'static str],
}

impl Tables {
    pub fn is_terminal(&self, method: &str) -> bool {
        self.terminals.contains(&method)
    }

    pub fn runs(&self, method: &str) -> bool {
        self.runs.contains(&method)
    }

    /// Whether a method is one of the ORM's own that builds a query lazily.
    pub fn builds(&self, method: &str) -> bool {
        self.builds.contains(&method)
    }

    /// Whether a relationship declared with `lazy` loads one query per row on access.
    pub fn loads_lazily(&self, lazy: Option<&str>) -> bool {
        match lazy {
            None => self.lazy_by_default,
            Some(strategy) => self.lazy_strategies.contains(&strategy),
        }
    }
}

/// The API shape a query uses; fixes (and messages) differ per shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryApi {
    /// `session.query(M).filter(...)`
    LegacyQuery,
    /// Flask-SQLAlchemy / `query_property`: `M.query.filter_by(...)`
    ModelQuery,
    /// 2.0 style: `session.execute(select(M)...)`, `scalars`, `scalar`, SQLModel `exec`
    Statement,
    /// `session.get(M, key)`
    SessionGet,
    /// Flask-SQLAlchemy 3 helpers: `db.get_or_404(M, key)`, `db.one_or_404(stmt)`
    FlaskDb,
    /// `M.objects.filter(...)`
    DjangoManager,
    /// `obj.order_set.filter(...)`
    DjangoRelated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Where a name is used inside a query, which decides whether using a loop variable there is an
/// N+1 or a legitimate batch or page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefContext {
    /// An ordinary argument: `filter_by(user_id=uid)`, `get(M, uid)`.
    Key,
    /// Inside `.in_(...)`, `__in=`, `in_bulk(...)`: the batched form.
    Batch,
    /// `offset`/`limit`/slices/`>`/`<` comparisons: a page of a larger result.
    Page,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRef {
    pub name: String,
    pub range: TextRange,
    pub context: RefContext,
}

/// Whether a chain sends SQL where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    /// It ends in a method that runs it (`.all()`, `.get()`, `session.execute(...)`, `qs[0]`).
    Runs,
    /// It builds a query (a Django queryset, a legacy `Query`) that runs only where it is
    /// iterated or consumed; the semantic model decides from where it stands.
    Lazy,
}

/// One recognised ORM call: the outermost call of its chain.
#[derive(Debug, Clone)]
pub struct OrmCall<'a> {
    pub node: Node<'a>,
    pub orm: Orm,
    pub api: QueryApi,
    pub access: Access,
    /// The model class named in the query, when it can be read off the code.
    pub model: Option<String>,
    /// The last method of the chain (`all`, `first`, `count`, ...), if any.
    pub terminal: Option<String>,
    /// Whether the chain runs where it stands or only builds a query.
    pub evaluation: Evaluation,
    /// The query as shown in messages, without a trailing argument-less terminal.
    pub display: String,
    /// Names the query's arguments read, with the context they are read in.
    pub refs: Vec<NameRef>,
}

/// What the code says about a receiver being a SQLAlchemy session or connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionBinding {
    /// Bound to one: an annotation (`Session`, `AsyncSession`, `Annotated[Session, ...]`), a
    /// session or connection constructor, a session factory's call, `db.session` of
    /// Flask-SQLAlchemy, an attribute assigned one in `__init__`.
    Session,
    /// Bound to something else: `requests.Session()`, a parameter annotated with another type.
    NotSession,
    /// Nothing said either way: the call's arguments decide.
    Unknown,
}

/// How strongly the code says a name is a mapped model class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ModelEvidence {
    /// Not a model: a lower-case name, or a name of a non-ORM library.
    None,
    /// Only its shape: a CapWords name.
    Shape,
    /// Imported from a models module (`from app.models import Order`).
    Imported,
    /// The project's model index declares it.
    Indexed,
}

/// What the recognisers need to know about names in scope.
pub trait Scope<'a> {
    /// What the code binds a receiver (a plain or dotted name) to.
    fn session_binding(&self, path: &str) -> SessionBinding;
    /// The expression last assigned to `name` in the enclosing function, if known.
    fn value_of(&self, name: &str) -> Option<Node<'a>>;
    /// What a name imported (or bound at module level from an import) is to the ORMs.
    fn symbol(&self, name: &str) -> Option<Symbol>;
    /// Whether a (plain or dotted) name is a mapped model class.
    fn model_evidence(&self, name: &str) -> ModelEvidence;
    /// Whether `owner.attribute` is a relationship the model index knows, for an owner whose
    /// rows' model the scope knows (`order.items` with `order` a row of `Order`).
    fn related_manager(&self, owner: &str, attribute: &str) -> Option<RelatedManager>;
    /// What a project's own query method of this name does, when the project declares it.
    fn query_method(&self, _name: &str) -> Option<crate::engine::index::QueryMethod> {
        None
    }
    /// The ORMs this check recognises.
    fn orms(&self) -> OrmSet {
        OrmSet::ALL
    }
}

/// A relationship reached through a row, as a Django related manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedManager {
    /// The related model, when the index knows it.
    pub model: Option<String>,
    /// The owner's model is known (`order` is a row of `Order`), not only the accessor's name.
    pub owner_typed: bool,
}

/// A scope that knows nothing: for recognising chains outside any file context (tests).
pub struct NoScope;

impl<'a> Scope<'a> for NoScope {
    fn session_binding(&self, _: &str) -> SessionBinding {
        SessionBinding::Unknown
    }
    fn value_of(&self, _: &str) -> Option<Node<'a>> {
        None
    }
    fn symbol(&self, _: &str) -> Option<Symbol> {
        None
    }
    fn model_evidence(&self, name: &str) -> ModelEvidence {
        if looks_like_class(last_component(name)) {
            ModelEvidence::Shape
        } else {
            ModelEvidence::None
        }
    }
    fn related_manager(&self, _: &str, _: &str) -> Option<RelatedManager> {
        None
    }
}

/// One link of a call chain: `.name`, `.name(args)` or `[slice]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment<'a> {
    pub name: &'a str,
    pub arguments: Option<Node<'a>>,
    pub subscript: Option<Node<'a>>,
    /// The expression that ends with this segment (`a.b(x)` for segment `b(x)`).
    pub node: Node<'a>,
}

impl Segment<'_> {
    pub fn is_call(&self) -> bool {
        self.arguments.is_some()
    }
}

pub(crate) struct Chain<'a> {
    pub root: Node<'a>,
    pub segments: Vec<Segment<'a>>,
}

impl<'a> Chain<'a> {
    /// Flattens `a.b(x).c[1:2].d()` into root `a` and its segments in source order.
    pub fn flatten(node: Node<'a>, source: &'a str) -> Chain<'a> {
        let mut segments = Vec::new();
        let mut current = node;
        loop {
            match current.kind() {
                "call" => {
                    let Some(function) = field(current, "function") else {
                        break;
                    };
                    if function.kind() != "attribute" {
                        break;
                    }
                    let (Some(object), Some(attribute)) =
                        (field(function, "object"), field(function, "attribute"))
                    else {
                        break;
                    };
                    segments.push(Segment {
                        name: &source[attribute.byte_range()],
                        arguments: field(current, "arguments"),
                        subscript: None,
                        node: current,
                    });
                    current = object;
                }
                "attribute" => {
                    let (Some(object), Some(attribute)) =
                        (field(current, "object"), field(current, "attribute"))
                    else {
                        break;
                    };
                    segments.push(Segment {
                        name: &source[attribute.byte_range()],
                        arguments: None,
                        subscript: None,
                        node: current,
                    });
                    current = object;
                }
                "subscript" => {
                    let Some(value) = field(current, "value") else {
                        break;
                    };
                    segments.push(Segment {
                        name: "[]",
                        arguments: None,
                        subscript: Some(current),
                        node: current,
                    });
                    current = value;
                }
                "parenthesized_expression" => match named_children(current).next() {
                    Some(inner) => current = inner,
                    None => break,
                },
                _ => break,
            }
        }
        segments.reverse();
        Chain {
            root: current,
            segments,
        }
    }

    /// The last method of the chain when it is one of `terminals`.
    pub fn terminal(&self, terminals: &[&str]) -> Option<String> {
        self.segments
            .last()
            .filter(|segment| segment.is_call() && terminals.contains(&segment.name))
            .map(|segment| segment.name.to_string())
    }

    /// Whether a call segment of the chain is one of `methods`.
    pub fn calls_any(&self, methods: &[&str]) -> bool {
        self.segments
            .iter()
            .any(|segment| segment.is_call() && methods.contains(&segment.name))
    }

    /// Whether the chain runs its query: a method that sends SQL, an index (`qs[0]`), or a
    /// project's own query method that runs (`LogEntry.objects.log_create(...)`).
    pub fn evaluation(&self, tables: &Tables, scope: &dyn Scope<'a>) -> Evaluation {
        let indexed = self.segments.iter().any(|segment| {
            segment
                .subscript
                .is_some_and(|subscript| !is_slice_subscript(subscript))
        });
        let custom_runs = self
            .segments
            .iter()
            .filter(|segment| {
                segment.is_call() && !tables.builds(segment.name) && !tables.runs(segment.name)
            })
            .any(|segment| scope.query_method(segment.name).is_some_and(|m| m.runs));
        if indexed || custom_runs || self.calls_any(tables.runs) {
            Evaluation::Runs
        } else {
            Evaluation::Lazy
        }
    }

    /// Index of the first call segment: everything before it is the receiver (`db.session`).
    pub fn first_call(&self) -> Option<usize> {
        self.segments.iter().position(Segment::is_call)
    }

    /// The receiver before the first call as dotted text, e.g. `self.db.session`.
    pub fn receiver_path(&self, source: &str, first_call: usize) -> Option<String> {
        let mut path = dotted_path(self.root, source)?;
        for segment in &self.segments[..first_call] {
            if segment.is_call() || segment.subscript.is_some() {
                return None;
            }
            path.push('.');
            path.push_str(segment.name);
        }
        Some(path)
    }

    /// Names read by every call argument and slice from segment `from` on.
    pub fn refs_from(&self, from: usize, source: &'a str, scope: &dyn Scope<'a>) -> Vec<NameRef> {
        let mut refs = Vec::new();
        for segment in &self.segments[from.min(self.segments.len())..] {
            let context = match segment.name {
                "in_" | "not_in" | "in_bulk" | "any_" => RefContext::Batch,
                "offset" | "limit" | "slice" | "paginate" | "fetch" => RefContext::Page,
                _ => RefContext::Key,
            };
            if let Some(arguments) = segment.arguments {
                collect_refs(arguments, source, context, scope, 0, &mut refs);
            }
            if let Some(subscript) = segment.subscript {
                for child in named_children(subscript).skip(1) {
                    collect_refs(child, source, RefContext::Page, scope, 0, &mut refs);
                }
            }
        }
        refs
    }
}

/// Removes trailing argument-less terminals (`.all()`, `.scalars()`) for display.
pub(crate) fn display_without_terminals(
    node: Node<'_>,
    source: &str,
    terminals: &[&str],
) -> String {
    let mut current = node;
    while current.kind() == "call" {
        let Some(function) = field(current, "function") else {
            break;
        };
        let Some(arguments) = field(current, "arguments") else {
            break;
        };
        if function.kind() != "attribute" || named_children(arguments).next().is_some() {
            break;
        }
        let (Some(object), Some(attribute)) =
            (field(function, "object"), field(function, "attribute"))
        else {
            break;
        };
        if !terminals.contains(&&source[attribute.byte_range()]) || object.kind() != "call" {
            break;
        }
        current = object;
    }
    super::syntax::display_code(&super::syntax::code_without_comments(current, source), 80)
}

const MAX_VALUE_DEPTH: usize = 3;

/// Collects the names an expression reads, classifying each by the query context around it.
/// Attribute names and keyword names are not reads; `a.b` also records the dotted path `a.b`.
pub(crate) fn collect_refs<'a>(
    node: Node<'a>,
    source: &'a str,
    context: RefContext,
    scope: &dyn Scope<'a>,
    depth: usize,
    out: &mut Vec<NameRef>,
) {
    let push = |out: &mut Vec<NameRef>, name: String, node: Node<'_>| {
        out.push(NameRef {
            name,
            range: node.byte_range(),
            context,
        })
    };
    match node.kind() {
        "identifier" => {
            let name = &source[node.byte_range()];
            // A statement built earlier (`stmt = select(M).where(...)`) is read through its value,
            // so that `stmt` built from a chunk with `.in_()` keeps its batch context.
            if depth < MAX_VALUE_DEPTH && context == RefContext::Key {
                if let Some(value) = scope
                    .value_of(name)
                    .filter(|value| statement(*value, source, scope).is_some())
                {
                    collect_refs(value, source, context, scope, depth + 1, out);
                    return;
                }
            }
            push(out, name.to_string(), node);
        }
        "attribute" => {
            if let Some(path) = dotted_path(node, source) {
                push(out, path, node);
            }
            if let Some(object) = field(node, "object") {
                collect_refs(object, source, context, scope, depth, out);
            }
        }
        "keyword_argument" => {
            let name = field(node, "name")
                .map(|n| &source[n.byte_range()])
                .unwrap_or("");
            let context = if name.ends_with("__in") {
                RefContext::Batch
            } else if ["__gt", "__gte", "__lt", "__lte"]
                .iter()
                .any(|s| name.ends_with(s))
            {
                RefContext::Page
            } else {
                context
            };
            if let Some(value) = field(node, "value") {
                collect_refs(value, source, context, scope, depth, out);
            }
        }
        "call" => {
            let method = field(node, "function")
                .filter(|f| f.kind() == "attribute")
                .and_then(|f| field(f, "attribute"))
                .map(|a| &source[a.byte_range()]);
            let argument_context = match method {
                Some("in_" | "not_in" | "in_bulk" | "any_") => RefContext::Batch,
                Some("offset" | "limit" | "slice" | "paginate") => RefContext::Page,
                _ => context,
            };
            if let Some(function) = field(node, "function") {
                collect_refs(function, source, context, scope, depth, out);
            }
            if let Some(arguments) = field(node, "arguments") {
                collect_refs(arguments, source, argument_context, scope, depth, out);
            }
        }
        "comparison_operator" => {
            let mut cursor = node.walk();
            let ordering = node
                .children(&mut cursor)
                .any(|c| matches!(c.kind(), "<" | ">" | "<=" | ">="));
            let context = if ordering { RefContext::Page } else { context };
            for child in named_children(node) {
                collect_refs(child, source, context, scope, depth, out);
            }
        }
        "slice" => {
            for child in named_children(node) {
                collect_refs(child, source, RefContext::Page, scope, depth, out);
            }
        }
        // A lambda's body runs later, with its own parameters.
        "lambda" | "comment" => {}
        _ => {
            for child in named_children(node) {
                collect_refs(child, source, context, scope, depth, out);
            }
        }
    }
}

/// What says an expression builds a SQL statement, and which kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementEvidence {
    pub kind: StatementKind,
    /// The constructor resolves to SQLAlchemy or SQLModel (an import, `sa.`, a `Table`), not
    /// only a name that looks like one.
    pub strong: bool,
}

/// Whether an expression builds a SQL statement: `select(...)`, `sa.select(...).where(...)`,
/// `users_table.delete()`, or a name holding one (`stmt = select(M)`; `stmt.where(...)`).
pub(crate) fn statement<'a>(
    node: Node<'a>,
    source: &'a str,
    scope: &dyn Scope<'a>,
) -> Option<StatementEvidence> {
    statement_at_depth(node, source, scope, 0)
}

fn statement_at_depth<'a>(
    node: Node<'a>,
    source: &'a str,
    scope: &dyn Scope<'a>,
    depth: usize,
) -> Option<StatementEvidence> {
    if depth > MAX_VALUE_DEPTH {
        return None;
    }
    let chain = Chain::flatten(node, source);
    let root = chain.root;
    match root.kind() {
        "call" => {
            let function = field(root, "function")?;
            match function.kind() {
                // `f().select()` and the like flatten to a root call of a plain name.
                "identifier" => {
                    let name = &source[function.byte_range()];
                    let kind = StatementKind::from_name(name)?;
                    match scope.symbol(name) {
                        Some(Symbol::Statement(kind)) => {
                            Some(StatementEvidence { kind, strong: true })
                        }
                        Some(_) => None,
                        None => Some(StatementEvidence {
                            kind,
                            strong: false,
                        }),
                    }
                }
                _ => None,
            }
        }
        "identifier" => {
            // `sa.select(...)`, `db.select(...)`, `users.delete()` on a `Table`, or a name
            // holding a statement.
            if let Some(first) = chain.segments.first().filter(|s| s.is_call()) {
                if let Some(kind) = StatementKind::from_name(first.name) {
                    let owner = &source[root.byte_range()];
                    match scope.symbol(owner) {
                        Some(Symbol::SqlAlchemyModule | Symbol::FlaskSqlAlchemy) => {
                            return Some(StatementEvidence { kind, strong: true })
                        }
                        Some(_) => return None,
                        None if is_table(root, source, scope) => {
                            return Some(StatementEvidence { kind, strong: true })
                        }
                        None if matches!(owner, "db" | "sa" | "sqlalchemy" | "sqlmodel") => {
                            return Some(StatementEvidence {
                                kind,
                                strong: false,
                            })
                        }
                        None => {}
                    }
                }
            }
            let value = scope.value_of(&source[root.byte_range()])?;
            statement_at_depth(value, source, scope, depth + 1)
        }
        _ => None,
    }
}

/// A name bound to `Table(...)` (SQLAlchemy Core).
fn is_table<'a>(node: Node<'a>, source: &'a str, scope: &dyn Scope<'a>) -> bool {
    node.kind() == "identifier"
        && scope
            .value_of(&source[node.byte_range()])
            .filter(|value| value.kind() == "call")
            .and_then(|value| super::syntax::callee_name(value, source))
            .is_some_and(|callee| callee == "Table")
}

/// Recognises an ORM call at `node`, which must be the outermost call of its chain.
pub fn recognize<'a>(
    node: Node<'a>,
    source: &'a str,
    scope: &dyn Scope<'a>,
) -> Option<OrmCall<'a>> {
    recognize_at_depth(node, source, scope, 0)
}

fn recognize_at_depth<'a>(
    node: Node<'a>,
    source: &'a str,
    scope: &dyn Scope<'a>,
    depth: usize,
) -> Option<OrmCall<'a>> {
    if !matches!(node.kind(), "call" | "subscript") {
        return None;
    }
    let chain = Chain::flatten(node, source);
    let first_call = chain.first_call()?;
    let path = chain.receiver_path(source, first_call)?;
    // A query held in a variable and refined here: `base = Item.objects.filter(...)` before,
    // `base.filter(owner=u).count()` now.
    if first_call == 0 && depth < MAX_VALUE_DEPTH && chain.root.kind() == "identifier" {
        if let Some(held) = scope
            .value_of(&path)
            .filter(|value| matches!(value.kind(), "call" | "subscript"))
            .and_then(|value| recognize_at_depth(value, source, scope, depth + 1))
            .filter(|held| held.evaluation == Evaluation::Lazy && held.access == Access::Read)
        {
            return Some(continue_held_query(node, &chain, held, source, scope));
        }
    }
    let receiver = Receiver {
        chain: &chain,
        first_call,
        path,
        source,
        scope,
    };
    let orms = scope.orms();
    let (module, query) = MODULES
        .iter()
        .filter(|module| orms.contains(module.orm()))
        .find_map(|module| Some((*module, module.recognize(&receiver)?)))?;
    let tables = module.tables();
    Some(OrmCall {
        terminal: chain.terminal(tables.terminals),
        node,
        orm: module.orm(),
        api: query.api,
        access: query.access,
        model: query.model,
        evaluation: query.evaluation,
        display: display_without_terminals(node, source, tables.terminals),
        refs: query.refs,
    })
}

/// `held.filter(k=v).count()` where `held` names a lazy query: the same ORM, API and model,
/// with this chain's own arguments (and the variable itself, which may change per iteration).
fn continue_held_query<'a>(
    node: Node<'a>,
    chain: &Chain<'a>,
    held: OrmCall<'a>,
    source: &'a str,
    scope: &dyn Scope<'a>,
) -> OrmCall<'a> {
    let tables = held.orm.tables();
    let mut refs = chain.refs_from(0, source, scope);
    refs.push(NameRef {
        name: source[chain.root.byte_range()].to_string(),
        range: chain.root.byte_range(),
        context: RefContext::Key,
    });
    let access = if chain.calls_any(tables.chain_writes) {
        Access::Write
    } else {
        Access::Read
    };
    OrmCall {
        terminal: chain.terminal(tables.terminals),
        node,
        orm: held.orm,
        api: held.api,
        access,
        model: held.model,
        evaluation: chain.evaluation(tables, scope),
        display: display_without_terminals(node, source, tables.terminals),
        refs,
    }
}

/// A call chain whose receiver (everything before its first call) is a dotted path, as each ORM's
/// `recognize` reads it.
pub struct Receiver<'c, 'a> {
    chain: &'c Chain<'a>,
    /// Index of the chain's first call segment.
    first_call: usize,
    /// The receiver as dotted text: `db.session`, `User.objects`, `order.item_set`.
    path: String,
    source: &'a str,
    scope: &'c dyn Scope<'a>,
}

/// What an ORM's `recognize` makes of a chain; `recognize` adds the node, the ORM, the terminal
/// and the display.
pub struct Recognized {
    api: QueryApi,
    access: Access,
    model: Option<String>,
    evaluation: Evaluation,
    refs: Vec<NameRef>,
}

/// True when `node` is followed by `.attr` or `[...]`: it is then not the end of its chain.
pub fn continues_chain(node: Node<'_>) -> bool {
    node.parent()
        .is_some_and(|parent| continues_chain_in(node, parent))
}

/// [`continues_chain`] with the parent known.
pub fn continues_chain_in(node: Node<'_>, parent: Node<'_>) -> bool {
    match parent.kind() {
        "attribute" => field(parent, "object") == Some(node),
        "subscript" => field(parent, "value") == Some(node) && is_slice_subscript(parent),
        _ => false,
    }
}

/// Django evaluates `qs[a:b]` as a LIMIT/OFFSET query, so a slice continues the query chain.
fn is_slice_subscript(subscript: Node<'_>) -> bool {
    named_children(subscript)
        .skip(1)
        .any(|child| child.kind() == "slice")
}

pub(crate) fn looks_like_class(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && name.chars().any(|c| c.is_ascii_lowercase())
}

/// The last component of a dotted name.
pub(crate) fn last_component(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}
