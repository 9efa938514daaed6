//! SQLAlchemy (legacy `Query`, 2.0 statements, async), Flask-SQLAlchemy, SQLModel and Alembic.
//!
//! A receiver is a session when its binding says so ([`SessionBinding::Session`]) or when the
//! call's arguments prove it: a mapped model class as the first argument of `.query()`,
//! `.get()` or `.get_one()`, a statement built by SQLAlchemy's `select`/`insert`/`update`/
//! `delete`/`text` as the first argument of `.execute()`/`.scalars()`/... Where the evidence is
//! only a shape (a CapWords name, a `select` that no import resolves), the receiver must also be
//! named like a session (`session`, `db_session`, `conn`).

use tree_sitter::Node;

use super::symbols::{in_library, StatementKind, Symbol};
use super::{
    collect_refs, last_component, statement, Access, Chain, Evaluation, ModelEvidence, NameRef,
    Orm, OrmModule, QueryApi, Receiver, Recognized, RefContext, Scope, SessionBinding, Tables,
};
use crate::engine::syntax::{field, named_children};

pub struct SqlAlchemy;

pub static TABLES: Tables = Tables {
    terminals: &[
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
    ],
    // Legacy `Query` methods that execute it; a 2.0 statement runs at `session.execute(...)`.
    runs: &[
        "all",
        "first",
        "one",
        "one_or_none",
        "scalar",
        "count",
        "get",
        "delete",
        "update",
        "first_or_404",
        "get_or_404",
        "one_or_404",
        "paginate",
    ],
    builds: &[
        "filter",
        "filter_by",
        "where",
        "order_by",
        "join",
        "outerjoin",
        "options",
        "limit",
        "offset",
        "group_by",
        "having",
        "distinct",
        "with_entities",
        "add_columns",
        "add_entity",
        "select_from",
        "yield_per",
        "execution_options",
        "params",
        "correlate",
        "enable_eagerloads",
        "populate_existing",
        "subquery",
        "cte",
        "exists",
        "union",
        "union_all",
        "from_self",
        "reset_joinpoint",
        "with_for_update",
    ],
    one_row: &[
        "first",
        "one",
        "one_or_none",
        "get",
        "scalar_one",
        "scalar_one_or_none",
        "get_or_404",
        "first_or_404",
        "one_or_404",
    ],
    no_rows: &["count", "exists", "scalar", "delete", "update"],
    reusable: &[
        "all",
        "first",
        "one",
        "one_or_none",
        "scalar",
        "scalar_one",
        "scalar_one_or_none",
        "count",
        "get",
        "exists",
        "fetchall",
        "fetchone",
        "first_or_404",
        "get_or_404",
        "one_or_404",
    ],
    chain_writes: &["update", "delete", "insert"],
    receiver_writes: &[
        "add",
        "add_all",
        "commit",
        "flush",
        "delete",
        "merge",
        "bulk_save_objects",
        "bulk_insert_mappings",
        "bulk_update_mappings",
    ],
    lazy_strategies: &["select", "True", "dynamic"],
    lazy_by_default: true,
    memoised: &[],
};

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

/// Schema constructs: executing one changes the schema, it reads or writes no rows.
const DDL_CONSTRUCTS: &[&str] = &[
    "DDL",
    "CreateTable",
    "DropTable",
    "CreateIndex",
    "DropIndex",
    "AddConstraint",
    "DropConstraint",
    "CreateSchema",
    "DropSchema",
    "CreateSequence",
    "DropSequence",
    "CreateColumn",
    "SetTableComment",
    "DropTableComment",
    "SetColumnComment",
    "DropColumnComment",
];

/// Libraries whose names this module knows.
const LIBRARIES: &[&str] = &["sqlalchemy", "sqlmodel", "flask_sqlalchemy", "alembic"];

impl OrmModule for SqlAlchemy {
    fn orm(&self) -> Orm {
        Orm::SqlAlchemy
    }

    fn tables(&self) -> &'static Tables {
        &TABLES
    }

    fn symbol(&self, module: &str, name: Option<&str>) -> Option<Symbol> {
        if !LIBRARIES.iter().any(|library| in_library(module, library)) {
            return None;
        }
        let Some(name) = name else {
            return (in_library(module, "sqlalchemy") || module == "sqlmodel")
                .then_some(Symbol::SqlAlchemyModule);
        };
        Some(match name {
            "Session" | "AsyncSession" | "Connection" | "AsyncConnection" | "ORMSession" => {
                Symbol::SessionClass
            }
            "sessionmaker" | "async_sessionmaker" => Symbol::SessionFactory,
            "scoped_session" | "async_scoped_session" => Symbol::ScopedSession,
            "create_engine" | "create_async_engine" | "engine_from_config" => Symbol::EngineFactory,
            "SQLAlchemy" if in_library(module, "flask_sqlalchemy") => Symbol::FlaskSqlAlchemy,
            "op" if in_library(module, "alembic") => Symbol::AlembicOp,
            "orm" | "sql" | "future" if in_library(module, "sqlalchemy") => {
                Symbol::SqlAlchemyModule
            }
            name if DDL_CONSTRUCTS.contains(&name) => Symbol::Ddl,
            name => match StatementKind::from_name(name) {
                Some(kind) => Symbol::Statement(kind),
                None => return None,
            },
        })
    }

    fn recognize(&self, call: &Receiver<'_, '_>) -> Option<Recognized> {
        recognize(call)
    }
}

fn recognize(call: &Receiver<'_, '_>) -> Option<Recognized> {
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
        if scope.model_evidence(model_path) < ModelEvidence::Shape {
            return None;
        }
        (
            QueryApi::ModelQuery,
            Some(last_component(model_path).to_string()),
            first_call,
        )
    } else if SESSION_METHODS.contains(&method) {
        let (api, model) = session_call(call, method)?;
        let refs_from = if api == QueryApi::LegacyQuery {
            first_call + 1
        } else {
            first_call
        };
        (api, model, refs_from)
    } else if FLASK_DB_METHODS.contains(&method) && is_flask_db(receiver, scope) {
        let arguments = chain.segments[first_call].arguments?;
        let first_argument = positional_arguments(arguments).next()?;
        let model = model_of(first_argument, source, scope)
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
    let evaluation = match api {
        QueryApi::LegacyQuery | QueryApi::ModelQuery => chain.evaluation(&TABLES, scope),
        _ => Evaluation::Runs,
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
        evaluation,
        refs,
    })
}

/// `receiver.method(...)` with `method` a session method: a query when the receiver is bound to
/// a session, or when the arguments prove it.
fn session_call(call: &Receiver<'_, '_>, method: &str) -> Option<(QueryApi, Option<String>)> {
    let Receiver {
        chain,
        first_call,
        path: ref receiver,
        source,
        scope,
    } = *call;
    let binding = session_binding(receiver, scope);
    if binding == SessionBinding::NotSession {
        return None;
    }
    let bound = binding == SessionBinding::Session;
    let named = named_like_session(last_component(receiver));
    // What an argument must at least show, given what the receiver is.
    let accepts = |strong: bool| bound || strong || named;
    let arguments = chain.segments[first_call].arguments?;
    let first_argument = positional_arguments(arguments).next();
    match method {
        "query" => {
            let argument = first_argument?;
            let evidence = queried_evidence(argument, source, scope);
            // On a receiver bound or named as a session, any entity will do
            // (`session.query(self.model)`); elsewhere it must be a model class.
            let proven = match evidence {
                ModelEvidence::None => (bound || named) && is_entity_expression(argument),
                evidence => accepts(evidence >= ModelEvidence::Imported),
            };
            if !proven {
                return None;
            }
            Some((QueryApi::LegacyQuery, model_of(argument, source, scope)))
        }
        "get" | "get_one" => {
            // `session.get(Model, key)`: a mapping's `.get("key")` has no model first.
            let argument = first_argument?;
            let evidence = model_evidence_of(argument, source, scope);
            let proven = match evidence {
                // `session.get(self.model, pk)`: an entity and a key.
                ModelEvidence::None => {
                    let says_session = last_component(receiver)
                        .to_ascii_lowercase()
                        .ends_with("session");
                    (bound || says_session)
                        && is_entity_expression(argument)
                        && positional_arguments(arguments).count() >= 2
                }
                evidence => accepts(evidence >= ModelEvidence::Imported),
            };
            if !proven {
                return None;
            }
            Some((QueryApi::SessionGet, model_of(argument, source, scope)))
        }
        _ => {
            let argument = first_argument?;
            if is_ddl(argument, source, scope) || is_ddl_sql(argument, source, scope) {
                return None;
            }
            let evidence = statement(argument, source, scope);
            let proven = match evidence {
                Some(evidence) => accepts(evidence.strong),
                // A statement we cannot see (a parameter, a helper's result, raw SQL) counts only
                // on a bound session.
                None => bound,
            };
            if !proven {
                return None;
            }
            Some((
                QueryApi::Statement,
                statement_model(argument, source, scope),
            ))
        }
    }
}

/// The receiver's binding, with Flask-SQLAlchemy's `db.session` and Alembic's `op` added.
fn session_binding<'a>(receiver: &str, scope: &dyn Scope<'a>) -> SessionBinding {
    let binding = scope.session_binding(receiver);
    if binding != SessionBinding::Unknown {
        return binding;
    }
    if let Some(owner) = receiver.strip_suffix(".session") {
        if is_flask_db(owner, scope) {
            return SessionBinding::Session;
        }
        // `request.session.get(key, default)`: a web request's session is a mapping.
        if last_component(owner) == "request" {
            return SessionBinding::NotSession;
        }
    }
    if scope.symbol(receiver) == Some(Symbol::AlembicOp) {
        return SessionBinding::Session;
    }
    SessionBinding::Unknown
}

/// `db` of Flask-SQLAlchemy: bound to `SQLAlchemy(...)`, or the conventional name.
fn is_flask_db<'a>(path: &str, scope: &dyn Scope<'a>) -> bool {
    match scope.symbol(path) {
        Some(Symbol::FlaskSqlAlchemy) => true,
        Some(_) => false,
        None => last_component(path) == "db",
    }
}

/// Names that say a value is a session or connection: `session`, `db_session`, `dbsession`,
/// `sess`, `conn`, `connection`; not `sessions_by_user`, `session_id` or `sessions`.
pub(crate) fn named_like_session(name: &str) -> bool {
    let lower = name.trim_start_matches('_').to_ascii_lowercase();
    lower.ends_with("session")
        || matches!(
            lower.as_str(),
            "sess" | "conn" | "connection" | "db_conn" | "dbconn" | "db"
        )
}

/// What `session.query(...)`'s first argument shows: a model class, a column of one
/// (`User.id`), a function over one (`func.count(User.id)`), or a subquery over one
/// (`session.query(Payment).filter(...).exists()`): the strongest evidence found in it.
fn queried_evidence<'a>(node: Node<'a>, source: &'a str, scope: &dyn Scope<'a>) -> ModelEvidence {
    crate::engine::syntax::with_stack(|| match node.kind() {
        "identifier" | "attribute" => {
            let own = model_evidence_of(node, source, scope);
            match field(node, "object").filter(|_| node.kind() == "attribute") {
                Some(object) if object.kind() == "call" => {
                    own.max(queried_evidence(object, source, scope))
                }
                _ => own,
            }
        }
        "call" | "argument_list" | "keyword_argument" => named_children(node)
            .map(|child| queried_evidence(child, source, scope))
            .max()
            .unwrap_or(ModelEvidence::None),
        _ => ModelEvidence::None,
    })
}

/// The evidence that `User`, `models.User` or `User.id` names a model class.
fn model_evidence_of<'a>(node: Node<'a>, source: &'a str, scope: &dyn Scope<'a>) -> ModelEvidence {
    match node.kind() {
        "identifier" => scope.model_evidence(&source[node.byte_range()]),
        "attribute" => {
            let Some(path) = crate::engine::syntax::dotted_path(node, source) else {
                return ModelEvidence::None;
            };
            let whole = scope.model_evidence(&path);
            if whole > ModelEvidence::None {
                return whole;
            }
            // `User.id`: the object is the model.
            field(node, "object").map_or(ModelEvidence::None, |object| {
                model_evidence_of(object, source, scope)
            })
        }
        _ => ModelEvidence::None,
    }
}

/// A name or attribute that may hold a mapped class (`self.model`, `model_cls`), as opposed to
/// a literal or a computed value.
fn is_entity_expression(node: Node<'_>) -> bool {
    matches!(node.kind(), "identifier" | "attribute")
}

fn is_plain_string(node: Node<'_>) -> bool {
    matches!(node.kind(), "string" | "concatenated_string")
}

/// `DropTable(t)`, `schema.DropConstraint(fk)`: a schema change, not a row query.
fn is_ddl<'a>(node: Node<'a>, source: &'a str, scope: &dyn Scope<'a>) -> bool {
    if node.kind() != "call" {
        return false;
    }
    let Some(function) = field(node, "function") else {
        return false;
    };
    let name = match function.kind() {
        "identifier" => &source[function.byte_range()],
        "attribute" => match field(function, "attribute") {
            Some(attribute) => &source[attribute.byte_range()],
            None => return false,
        },
        _ => return false,
    };
    scope.symbol(name) == Some(Symbol::Ddl) || DDL_CONSTRUCTS.contains(&name)
}

fn writes<'a>(
    chain: &Chain<'a>,
    first_call: usize,
    api: QueryApi,
    source: &'a str,
    scope: &dyn Scope<'a>,
) -> bool {
    let chained_write = chain.segments[first_call + 1..]
        .iter()
        .any(|segment| segment.is_call() && TABLES.chain_writes.contains(&segment.name));
    if chained_write {
        return true;
    }
    if api != QueryApi::Statement {
        return false;
    }
    let Some(argument) = chain.segments[first_call]
        .arguments
        .and_then(|arguments| positional_arguments(arguments).next())
    else {
        return false;
    };
    match statement(argument, source, scope).map(|evidence| evidence.kind) {
        Some(StatementKind::Text) | None => {
            let Some(sql) = sql_text(argument, source, scope) else {
                return false;
            };
            let is_write = |word: &str| {
                matches!(
                    word,
                    "insert" | "update" | "delete" | "merge" | "replace" | "upsert"
                )
            };
            let words: Vec<String> = sql
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .filter(|word| !word.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
            match words.first().map(String::as_str) {
                Some(verb) if is_write(verb) => true,
                // `WITH cte AS (SELECT ...) UPDATE ...`
                Some("with") => words.iter().any(|word| is_write(word)),
                _ => false,
            }
        }
        Some(kind) => kind.writes(),
    }
}

/// The first word of raw SQL: `text("UPDATE ...")`, `"SELECT ..."`, or a name holding either.
fn sql_verb<'a>(node: Node<'a>, source: &'a str, scope: &dyn Scope<'a>) -> Option<String> {
    sql_text(node, source, scope)?
        .split_whitespace()
        .next()
        .map(|verb| verb.trim_start_matches('(').to_ascii_lowercase())
}

/// The text of raw SQL, interpolations left out: `text("...")`, a string, or a name holding
/// either.
fn sql_text<'a>(node: Node<'a>, source: &'a str, scope: &dyn Scope<'a>) -> Option<String> {
    let mut node = resolve(node, source, scope);
    // `text("UPDATE ...").params(...)`: the statement is the receiver of its modifiers.
    while let Some(object) = field(node, "function")
        .filter(|function| function.kind() == "attribute")
        .filter(|function| {
            field(*function, "attribute").is_some_and(|method| {
                matches!(
                    &source[method.byte_range()],
                    "params" | "bindparams" | "columns" | "execution_options"
                )
            })
        })
        .and_then(|function| field(function, "object"))
    {
        node = object;
    }
    let string = match formatted_string(node, source) {
        Some(string) => string,
        None if node.kind() == "call" => field(node, "arguments")
            .and_then(|arguments| positional_arguments(arguments).next())
            .map(|argument| resolve(argument, source, scope))
            .and_then(|argument| formatted_string(argument, source))?,
        None => return None,
    };
    let mut content = String::new();
    collect_string_content(string, source, &mut content);
    Some(content)
}

/// The literal a SQL string is written from: the string itself, or the template of
/// `"DROP INDEX {0}".format(name)` and `"DELETE FROM %s" % table`.
fn formatted_string<'a>(node: Node<'a>, source: &str) -> Option<Node<'a>> {
    match node.kind() {
        "string" | "concatenated_string" => Some(node),
        "call" => {
            let function = field(node, "function").filter(|f| f.kind() == "attribute")?;
            let object = field(function, "object").filter(|o| is_plain_string(*o))?;
            let method = field(function, "attribute")?;
            (&source[method.byte_range()] == "format").then_some(object)
        }
        "binary_operator" => {
            let operator = field(node, "operator")?;
            let left = field(node, "left").filter(|l| is_plain_string(*l))?;
            (&source[operator.byte_range()] == "%").then_some(left)
        }
        _ => None,
    }
}

fn collect_string_content(node: Node<'_>, source: &str, out: &mut String) {
    for child in named_children(node) {
        match child.kind() {
            "string_content" => out.push_str(&source[child.byte_range()]),
            "string" | "concatenated_string" => collect_string_content(child, source, out),
            _ => out.push(' '),
        }
    }
}

/// Raw SQL that changes the schema or the session rather than reading or writing rows.
fn is_ddl_sql<'a>(node: Node<'a>, source: &'a str, scope: &dyn Scope<'a>) -> bool {
    sql_verb(node, source, scope).is_some_and(|verb| {
        matches!(
            verb.as_str(),
            "create"
                | "drop"
                | "alter"
                | "truncate"
                | "grant"
                | "revoke"
                | "comment"
                | "vacuum"
                | "analyze"
                | "reindex"
                | "set"
                | "lock"
                | "refresh"
                | "cluster"
                | "pragma"
                // Catalog introspection: the schema's shape, not the data's rows.
                | "show"
                | "describe"
                | "explain"
        )
    })
}

/// Follows a name to the statement assigned to it in the same function.
fn resolve<'a>(node: Node<'a>, source: &'a str, scope: &dyn Scope<'a>) -> Node<'a> {
    if node.kind() == "identifier" {
        if let Some(value) = scope.value_of(&source[node.byte_range()]) {
            return value;
        }
    }
    node
}

pub(crate) fn positional_arguments<'a>(arguments: Node<'a>) -> impl Iterator<Item = Node<'a>> {
    named_children(arguments).filter(|argument| {
        !matches!(
            argument.kind(),
            "keyword_argument" | "comment" | "dictionary_splat" | "list_splat"
        )
    })
}

/// `User` for `User`, `models.User` or `User.id`, when it may be a model class.
fn model_of<'a>(node: Node<'a>, source: &'a str, scope: &dyn Scope<'a>) -> Option<String> {
    match node.kind() {
        "identifier" => {
            let name = &source[node.byte_range()];
            (scope.model_evidence(name) > ModelEvidence::None).then(|| name.to_string())
        }
        "attribute" => {
            let attribute = field(node, "attribute")?;
            let name = &source[attribute.byte_range()];
            let path = crate::engine::syntax::dotted_path(node, source);
            if path.is_some_and(|path| scope.model_evidence(&path) > ModelEvidence::None) {
                return Some(name.to_string());
            }
            model_of(field(node, "object")?, source, scope)
        }
        _ => None,
    }
}

/// The model a statement selects from: `select(User)`, `select(User.id).where(...)`,
/// `select(func.count()).where(Session.user_id == uid)`.
fn statement_model<'a>(
    statement: Node<'a>,
    source: &'a str,
    scope: &dyn Scope<'a>,
) -> Option<String> {
    let statement = resolve(statement, source, scope);
    let chain = Chain::flatten(statement, source);
    if chain.root.kind() == "call" {
        if let Some(arguments) = field(chain.root, "arguments") {
            if let Some(model) =
                positional_arguments(arguments).find_map(|a| model_of(a, source, scope))
            {
                return Some(model);
            }
        }
    }
    chain
        .segments
        .iter()
        .filter_map(|segment| segment.arguments)
        .find_map(|arguments| first_model_attribute(arguments, source, scope))
}

fn first_model_attribute<'a>(
    node: Node<'a>,
    source: &'a str,
    scope: &dyn Scope<'a>,
) -> Option<String> {
    if node.kind() == "attribute" {
        if let Some(model) =
            field(node, "object").and_then(|object| model_of(object, source, scope))
        {
            return Some(model);
        }
    }
    named_children(node).find_map(|child| first_model_attribute(child, source, scope))
}
