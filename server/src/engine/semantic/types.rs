//! Row types: which model the rows in a name or expression are, as far as the code says.
//!
//! ```python
//! payments = Payment.query.filter_by(user_id=uid).all()   # Rows(Payment)
//! by_user = {p.user_id: p for p in payments}               # RowByKey(Payment, user_id)
//! for p in by_user.values(): ...                           # p: Row(Payment)
//! ```
//!
//! Flow-insensitive and local to a function; where the origin is unknown, there is no type and
//! the rules that need one say nothing.

use tree_sitter::Node;

use crate::engine::index::{ModelResolver, RelationshipKind};
use crate::engine::orm::{self, Access, Orm, Scope};
use crate::engine::syntax::{callee_name, field, named_children};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowType {
    /// One row of the model.
    Row(String),
    /// An iterable of rows of the model.
    Rows(String),
    /// A dict from a row attribute to one row (`{s.user_id: s for s in rows}`).
    RowByKey { model: String, key: String },
    /// A dict from a row attribute to a list of rows (`defaultdict(list)` grouping).
    RowsByKey { model: String, key: String },
}

impl RowType {
    /// The model's name as the index resolves it (`app.models:Order` for a relationship's
    /// target); [`crate::engine::index::display_model`] shows it.
    pub fn model(&self) -> &str {
        match self {
            RowType::Row(model) | RowType::Rows(model) => model,
            RowType::RowByKey { model, .. } | RowType::RowsByKey { model, .. } => model,
        }
    }
}

/// Terminals that return one row.
const ONE_ROW: &[&str] = &[
    "first",
    "one",
    "one_or_none",
    "get",
    "scalar_one",
    "scalar_one_or_none",
    "get_or_404",
    "first_or_404",
    "one_or_404",
    "last",
    "earliest",
    "latest",
];
/// Terminals that return no rows at all (a number, a boolean, a mapping).
const NOT_ROWS: &[&str] = &[
    "count",
    "exists",
    "aggregate",
    "values",
    "values_list",
    "scalar",
    "in_bulk",
    "delete",
    "update",
];

pub(crate) struct TypeEnv<'e, 'a> {
    pub source: &'a str,
    pub index: &'e ModelResolver<'e>,
    pub names: &'e dyn Fn(&str) -> Option<RowType>,
    pub scope: &'e dyn Scope<'a>,
}

pub(crate) fn infer<'a>(node: Node<'a>, env: &TypeEnv<'_, 'a>) -> Option<RowType> {
    // Recursive over nested expressions: 5,000 parentheses must not overflow the stack.
    stacker::maybe_grow(64 * 1024, 1024 * 1024, || infer_nested(node, env))
}

fn infer_nested<'a>(node: Node<'a>, env: &TypeEnv<'_, 'a>) -> Option<RowType> {
    let text = |n: Node<'_>| &env.source[n.byte_range()];
    match node.kind() {
        "identifier" => (env.names)(text(node)),
        "parenthesized_expression" | "await" => named_children(node)
            .next()
            .and_then(|inner| infer(inner, env)),
        "call" | "subscript" => {
            if let Some(call) = orm::recognize(node, env.source, env.scope) {
                return query_type(&call);
            }
            if node.kind() == "subscript" {
                // `d[k]`
                let value = field(node, "value")?;
                return match infer(value, env)? {
                    RowType::RowByKey { model, .. } => Some(RowType::Row(model)),
                    RowType::RowsByKey { model, .. } => Some(RowType::Rows(model)),
                    RowType::Rows(model) => Some(RowType::Row(model)),
                    RowType::Row(_) => None,
                };
            }
            let function = field(node, "function")?;
            let arguments = field(node, "arguments")?;
            let first = named_children(arguments).next();
            if function.kind() == "identifier" {
                return match text(function) {
                    "list" | "sorted" | "tuple" | "reversed" | "set" => first
                        .and_then(|a| infer(a, env))
                        .filter(|t| matches!(t, RowType::Rows(_))),
                    // `specific_iterator(Order.objects.filter(...))`: a function handed the rows
                    // of a query yields those rows (see `Builder::origin_of`).
                    name if !orm::looks_like_class(name) => first
                        .filter(|a| orm::recognize(*a, env.source, env.scope).is_some())
                        .and_then(|a| infer(a, env))
                        .filter(|t| matches!(t, RowType::Rows(_))),
                    _ => None,
                };
            }
            let object = field(function, "object")?;
            let method = text(field(function, "attribute")?);
            let receiver = infer(object, env);
            match (method, receiver) {
                ("values", Some(RowType::RowByKey { model, .. })) => Some(RowType::Rows(model)),
                ("get", Some(RowType::RowByKey { model, .. })) => Some(RowType::Row(model)),
                ("get", Some(RowType::RowsByKey { model, .. })) => Some(RowType::Rows(model)),
                ("all" | "scalars" | "unique", Some(RowType::Rows(model))) => {
                    Some(RowType::Rows(model))
                }
                ("first" | "one" | "one_or_none", Some(RowType::Rows(model))) => {
                    Some(RowType::Row(model))
                }
                _ => None,
            }
        }
        "attribute" => {
            // A relationship of a row: `user.sessions`, `order.customer`.
            let object = field(node, "object")?;
            let attribute = text(field(node, "attribute")?);
            let RowType::Row(model) = infer(object, env)? else {
                return None;
            };
            let relationship = env.index.relationship(&model, attribute)?;
            let target = env
                .index
                .qualified_target(&model, relationship.target.as_deref()?);
            Some(match relationship.kind {
                RelationshipKind::Single => RowType::Row(target),
                RelationshipKind::Collection => RowType::Rows(target),
            })
        }
        "list_comprehension" | "generator_expression" | "set_comprehension" => {
            // `[x for x in rows if ...]` keeps the rows' type.
            // The clause that binds the body's variable decides, wherever it stands:
            // `[row for keys in [...] for start in ... for row in query(...)]`.
            let body = field(node, "body")?;
            if body.kind() != "identifier" {
                return None;
            }
            let clause = named_children(node)
                .filter(|c| c.kind() == "for_in_clause")
                .find(|c| field(*c, "left").is_some_and(|left| text(left) == text(body)))?;
            let right = field(clause, "right")?;
            match infer(right, env)? {
                RowType::Rows(model) => Some(RowType::Rows(model)),
                _ => None,
            }
        }
        "dictionary_comprehension" => {
            // `{x.key: x for x in rows}`
            let pair = field(node, "body")?;
            let (key, value) = (field(pair, "key")?, field(pair, "value")?);
            let clause = named_children(node).find(|c| c.kind() == "for_in_clause")?;
            let (left, right) = (field(clause, "left")?, field(clause, "right")?);
            let RowType::Rows(model) = infer(right, env)? else {
                return None;
            };
            let loop_name = text(left);
            if text(value) != loop_name
                || key.kind() != "attribute"
                || field(key, "object").map(text) != Some(loop_name)
            {
                return None;
            }
            let key = text(field(key, "attribute")?).to_string();
            Some(RowType::RowByKey { model, key })
        }
        _ => None,
    }
}

fn query_type(call: &orm::OrmCall<'_>) -> Option<RowType> {
    if call.access == Access::Write {
        return None;
    }
    let model = call.model.clone()?;
    match call.terminal.as_deref() {
        Some(terminal) if ONE_ROW.contains(&terminal) => Some(RowType::Row(model)),
        Some(terminal) if NOT_ROWS.contains(&terminal) => None,
        _ if call.api == orm::QueryApi::SessionGet => Some(RowType::Row(model)),
        _ if call.orm == Orm::Django
            || call.terminal.is_some()
            || call.api != orm::QueryApi::Statement =>
        {
            Some(RowType::Rows(model))
        }
        // `session.execute(select(M))` without `.scalars()` gives rows of tuples, not models.
        _ => None,
    }
}

/// The row type a parameter annotation promises: `User`, `list[User]`, `QuerySet[User]`.
pub(crate) fn annotation_type(annotation: &str, index: &ModelResolver<'_>) -> Option<RowType> {
    let cleaned = annotation.replace(['"', '\'', ' '], "");
    let (outer, inner) = match cleaned.split_once('[') {
        Some((outer, rest)) => (outer, rest.trim_end_matches(']')),
        None => ("", cleaned.as_str()),
    };
    let inner = inner
        .strip_prefix("Optional[")
        .map(|i| i.trim_end_matches(']'))
        .unwrap_or(inner);
    let name = inner.rsplit('.').next().unwrap_or(inner);
    index.model(name)?;
    let outer = outer.rsplit('.').next().unwrap_or(outer);
    match outer {
        "" | "Optional" => Some(RowType::Row(name.to_string())),
        "list" | "List" | "Sequence" | "Iterable" | "QuerySet" | "set" | "Set" | "tuple"
        | "Collection" => Some(RowType::Rows(name.to_string())),
        _ => None,
    }
}

/// `by_key[row.attr].append(row)`: the dict groups rows by `attr`.
pub(crate) fn grouping_append<'a>(
    call: Node<'a>,
    source: &str,
) -> Option<(String, Node<'a>, String, Node<'a>)> {
    if callee_name(call, source) != Some("append") {
        return None;
    }
    let function = field(call, "function")?;
    let target = field(function, "object")?;
    if target.kind() != "subscript" {
        return None;
    }
    let dict = field(target, "value")?;
    let key = field(target, "subscript")?;
    let appended = named_children(field(call, "arguments")?).next()?;
    if dict.kind() != "identifier" || key.kind() != "attribute" {
        return None;
    }
    let key_object = field(key, "object")?;
    if source[key_object.byte_range()] != source[appended.byte_range()] {
        return None;
    }
    let attribute = source[field(key, "attribute")?.byte_range()].to_string();
    Some((
        source[dict.byte_range()].to_string(),
        appended,
        attribute,
        key,
    ))
}
