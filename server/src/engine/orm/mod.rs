//! Recognising ORM calls by their receiver.
//!
//! A call chain such as `Session.query.filter_by(user_id=uid).all()` is flattened into a root
//! (`Session`) and segments (`query`, `filter_by(...)`, `all()`). Each ORM module decides from the
//! receiver prefix (a session, `Model.query`, `Model.objects`, a related manager) whether the chain
//! is a query. Method names alone never make a query: `cache.get(k)` and `requests.get(url)` stay
//! unrecognised because their receivers are neither.

mod django;
mod sqlalchemy;

use tree_sitter::Node;

use super::source::TextRange;
use super::syntax::{dotted_path, field, named_children};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orm {
    SqlAlchemy,
    Django,
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
    /// The query as shown in messages, without a trailing argument-less terminal.
    pub display: String,
    /// Names the query's arguments read, with the context they are read in.
    pub refs: Vec<NameRef>,
}

/// What the recognisers need to know about names in scope.
pub trait Scope<'a> {
    /// Whether `name` (a plain or dotted name) is bound to a SQLAlchemy session or connection.
    fn is_session(&self, name: &str) -> bool;
    /// The expression last assigned to `name` in the enclosing function, if known.
    fn value_of(&self, name: &str) -> Option<Node<'a>>;
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
    pub fn refs_from(&self, from: usize, source: &str, scope: &dyn Scope<'a>) -> Vec<NameRef> {
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
    source: &str,
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
                    .filter(|value| is_statement(*value, source))
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

/// Whether an expression builds a SQL statement: `select(...)`, `sa.select(...).where(...)`.
pub(crate) fn is_statement(node: Node<'_>, source: &str) -> bool {
    statement_kind(node, source).is_some()
}

/// The constructor at the root of a statement chain: `select`, `insert`, `update`, `delete`, `text`.
pub(crate) fn statement_kind<'s>(node: Node<'_>, source: &'s str) -> Option<&'s str> {
    let chain = Chain::flatten(node, source);
    let root = chain.root;
    let name = if root.kind() == "call" {
        super::syntax::callee_name(root, source)?
    } else {
        return None;
    };
    matches!(
        name,
        "select" | "insert" | "update" | "delete" | "text" | "union" | "union_all" | "exists"
    )
    .then_some(name)
}

/// Recognises an ORM call at `node`, which must be the outermost call of its chain.
pub fn recognize<'a>(
    node: Node<'a>,
    source: &'a str,
    scope: &dyn Scope<'a>,
) -> Option<OrmCall<'a>> {
    if !matches!(node.kind(), "call" | "subscript") {
        return None;
    }
    let chain = Chain::flatten(node, source);
    let first_call = chain.first_call()?;
    let receiver = Receiver {
        chain: &chain,
        first_call,
        path: chain.receiver_path(source, first_call)?,
        source,
        scope,
    };
    let (orm, terminals, query) = match sqlalchemy::recognize(&receiver) {
        Some(query) => (Orm::SqlAlchemy, sqlalchemy::TERMINALS, query),
        None => (
            Orm::Django,
            django::TERMINALS,
            django::recognize(&receiver)?,
        ),
    };
    Some(OrmCall {
        terminal: chain.terminal(terminals),
        node,
        orm,
        api: query.api,
        access: query.access,
        model: query.model,
        display: display_without_terminals(node, source, terminals),
        refs: query.refs,
    })
}

/// A call chain whose receiver (everything before its first call) is a dotted path, as each ORM's
/// `recognize` reads it.
struct Receiver<'c, 'a> {
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
struct Recognized {
    api: QueryApi,
    access: Access,
    model: Option<String>,
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
