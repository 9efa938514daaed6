//! SQLAlchemy (legacy `Query`, 2.0 statements, async), Flask-SQLAlchemy and SQLModel.

use tree_sitter::Node;

use super::{
    collect_refs, last_component, looks_like_class, statement_kind, Access, Chain, NameRef,
    QueryApi, Receiver, Recognized, RefContext, Scope,
};
use crate::engine::syntax::{field, named_children};

/// Methods that end a query and run it.
pub const TERMINALS: &[&str] = &[
    "all",
    "first",
    "one",
    "one_or_none",
    "scalar",
    "scalar_one",
    "scalar_one_or_none",
    "scalars",
    "count",
    "get",
    "exists",
    "unique",
    "fetchall",
    "fetchone",
    "fetchmany",
    "first_or_404",
    "get_or_404",
    "one_or_404",
    "mappings",
    "tuples",
];

/// Session methods that run a statement or load a row.
const SESSION_METHODS: &[&str] = &[
    "query",
    "execute",
    "scalars",
    "scalar",
    "get",
    "get_one",
    "exec",
    "stream",
    "stream_scalars",
];

/// `db.` helpers of Flask-SQLAlchemy 3.
const FLASK_DB_METHODS: &[&str] = &["get_or_404", "first_or_404", "one_or_404", "paginate"];

/// Query methods that write instead of read.
const WRITE_METHODS: &[&str] = &["update", "delete", "insert"];

pub(super) fn recognize(call: &Receiver<'_, '_>) -> Option<Recognized> {
    let Receiver {
        chain,
        first_call,
        path: ref receiver,
        source,
        scope,
    } = *call;
    let method = chain.segments[first_call].name;

    let (api, model, refs_from) = if last_component(receiver) == "query" && first_call >= 1 {
        // `M.query.filter_by(...)`: the receiver before `.query` is the model class.
        let model_path = &receiver[..receiver.len() - ".query".len()];
        if !looks_like_class(last_component(model_path)) {
            return None;
        }
        (
            QueryApi::ModelQuery,
            Some(last_component(model_path).to_string()),
            first_call,
        )
    } else if scope.is_session(receiver) && SESSION_METHODS.contains(&method) {
        let arguments = chain.segments[first_call].arguments?;
        let first_argument = positional_arguments(arguments).next();
        match method {
            "query" => (
                QueryApi::LegacyQuery,
                first_argument.and_then(|a| model_of(a, source)),
                first_call + 1,
            ),
            "get" | "get_one" => {
                // `session.get(Model, key)`: a mapping's `.get("key")` has no model first.
                let model = first_argument.and_then(|a| model_of(a, source))?;
                (QueryApi::SessionGet, Some(model), first_call)
            }
            _ => {
                let statement = first_argument?;
                (
                    QueryApi::Statement,
                    statement_model(statement, source, scope),
                    first_call,
                )
            }
        }
    } else if last_component(receiver) == "db" && FLASK_DB_METHODS.contains(&method) {
        let arguments = chain.segments[first_call].arguments?;
        let first_argument = positional_arguments(arguments).next()?;
        let model = model_of(first_argument, source)
            .or_else(|| statement_model(first_argument, source, scope));
        (QueryApi::FlaskDb, model, first_call)
    } else {
        return None;
    };

    let access = if writes(chain, first_call, api, source, scope) {
        Access::Write
    } else {
        Access::Read
    };
    let mut refs: Vec<NameRef> = chain.refs_from(refs_from, source, scope);
    // `session.query(M)`'s own arguments name columns; what varies per loop sits in filters.
    if api == QueryApi::LegacyQuery {
        if let Some(arguments) = chain.segments[first_call].arguments {
            collect_refs(arguments, source, RefContext::Key, scope, 0, &mut refs);
        }
    }
    Some(Recognized {
        api,
        access,
        model,
        refs,
    })
}

fn writes<'a>(
    chain: &Chain<'a>,
    first_call: usize,
    api: QueryApi,
    source: &str,
    scope: &dyn Scope<'a>,
) -> bool {
    let chained_write = chain.segments[first_call + 1..]
        .iter()
        .any(|segment| segment.is_call() && WRITE_METHODS.contains(&segment.name));
    if chained_write {
        return true;
    }
    if api != QueryApi::Statement {
        return false;
    }
    let Some(statement) = chain.segments[first_call]
        .arguments
        .and_then(|arguments| positional_arguments(arguments).next())
    else {
        return false;
    };
    let statement = resolve(statement, source, scope);
    match statement_kind(statement, source) {
        Some("insert" | "update" | "delete") => true,
        Some("text") => {
            let sql = &source[statement.byte_range()];
            let body = sql
                .split(['"', '\''])
                .find(|part| !part.trim().is_empty() && !part.starts_with("text("));
            body.is_some_and(|body| {
                let verb = body
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                matches!(verb.as_str(), "insert" | "update" | "delete")
            })
        }
        _ => false,
    }
}

/// Follows a name to the statement assigned to it in the same function.
fn resolve<'a>(node: Node<'a>, source: &str, scope: &dyn Scope<'a>) -> Node<'a> {
    if node.kind() == "identifier" {
        if let Some(value) = scope.value_of(&source[node.byte_range()]) {
            return value;
        }
    }
    node
}

pub(super) fn positional_arguments<'a>(arguments: Node<'a>) -> impl Iterator<Item = Node<'a>> {
    named_children(arguments).filter(|argument| {
        !matches!(
            argument.kind(),
            "keyword_argument" | "comment" | "dictionary_splat" | "list_splat"
        )
    })
}

/// `User` for `User`, `models.User` or `User.id`.
fn model_of(node: Node<'_>, source: &str) -> Option<String> {
    match node.kind() {
        "identifier" => {
            let name = &source[node.byte_range()];
            looks_like_class(name).then(|| name.to_string())
        }
        "attribute" => {
            let attribute = field(node, "attribute")?;
            let name = &source[attribute.byte_range()];
            if looks_like_class(name) {
                return Some(name.to_string());
            }
            model_of(field(node, "object")?, source)
        }
        _ => None,
    }
}

/// The model a statement selects from: `select(User)`, `select(User.id).where(...)`,
/// `select(func.count()).where(Session.user_id == uid)`.
fn statement_model<'a>(statement: Node<'a>, source: &str, scope: &dyn Scope<'a>) -> Option<String> {
    let statement = resolve(statement, source, scope);
    let chain = Chain::flatten(statement, source);
    if chain.root.kind() == "call" {
        if let Some(arguments) = field(chain.root, "arguments") {
            if let Some(model) = positional_arguments(arguments).find_map(|a| model_of(a, source)) {
                return Some(model);
            }
        }
    }
    chain
        .segments
        .iter()
        .filter_map(|segment| segment.arguments)
        .find_map(|arguments| first_model_attribute(arguments, source))
}

fn first_model_attribute(node: Node<'_>, source: &str) -> Option<String> {
    if node.kind() == "attribute" {
        if let Some(model) = field(node, "object").and_then(|object| model_of(object, source)) {
            return Some(model);
        }
    }
    named_children(node).find_map(|child| first_model_attribute(child, source))
}
