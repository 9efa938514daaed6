//! Eager-loading options on a query, as the ORMs write them: SQLAlchemy
//! `options(selectinload(...))` and Django `select_related`/`prefetch_related`. Where they are
//! (INB002 knows a loaded relationship is covered, INB007 removes one) and where a new one goes.

use tree_sitter::Node;

use super::{Chain, QueryApi};
use crate::engine::source::{SourceFile, TextRange};
use crate::engine::syntax::{callee_name, field, named_children};

/// SQLAlchemy loader functions that load a relationship with the rows (or forbid lazy loads).
pub const EAGER_LOADERS: &[&str] = &[
    "selectinload",
    "joinedload",
    "subqueryload",
    "immediateload",
    "raiseload",
    "contains_eager",
    "noload",
    "defaultload",
];

/// One loader option as written: its relationship path and where it sits in the query.
#[derive(Debug)]
pub struct LoaderOption {
    pub path: Vec<String>,
    /// The option's own range (`selectinload(User.sessions)`, `"customer"`).
    pub range: TextRange,
    /// The range to delete to remove the option: the whole `.options(...)` /
    /// `.select_related(...)` segment when it is its only argument.
    pub removal: TextRange,
    pub loader: String,
}

/// Every loader option of a query (its statement's, for 2.0 style).
pub fn loader_options(file: &SourceFile, query: Node<'_>) -> Vec<LoaderOption> {
    let source = file.text();
    let mut found = Vec::new();
    let mut chains = vec![Chain::flatten(query, source)];
    // `session.scalars(select(M).options(...))`: the statement is a chain of its own.
    if let Some(arguments) = chains[0].segments.iter().find_map(|s| s.arguments) {
        for argument in named_children(arguments).filter(|a| a.kind() == "call") {
            chains.push(Chain::flatten(argument, source));
        }
    }
    for chain in &chains {
        for segment in &chain.segments {
            let Some(arguments) = segment.arguments else {
                continue;
            };
            let arguments_list: Vec<Node<'_>> = named_children(arguments)
                .filter(|a| a.kind() != "comment")
                .collect();
            let only_one = arguments_list.len() == 1;
            let segment_start = field(
                field(segment.node, "function").unwrap_or(segment.node),
                "object",
            )
            .map(|o| o.end_byte())
            .unwrap_or(segment.node.start_byte());
            match segment.name {
                "options" => {
                    for option in &arguments_list {
                        let (path, loader) = sqlalchemy_option_path(file, *option);
                        if path.is_empty() {
                            continue;
                        }
                        let removal = if only_one {
                            segment_start..segment.node.end_byte()
                        } else {
                            argument_removal(file, *option)
                        };
                        found.push(LoaderOption {
                            path,
                            range: option.byte_range(),
                            removal,
                            loader,
                        });
                    }
                }
                "select_related" | "prefetch_related" => {
                    for option in &arguments_list {
                        let lookup = if option.kind() == "call" {
                            // `Prefetch("orders", queryset=...)`
                            field(*option, "arguments").and_then(|a| named_children(a).next())
                        } else {
                            Some(*option)
                        };
                        let Some(lookup) = lookup.filter(|l| l.kind() == "string") else {
                            continue;
                        };
                        let text = file.node_text(lookup).trim_matches(['"', '\'']);
                        let removal = if only_one {
                            segment_start..segment.node.end_byte()
                        } else {
                            argument_removal(file, *option)
                        };
                        let path: Vec<String> = text.split("__").map(str::to_string).collect();
                        // `Prefetch("labels", queryset=Label.objects.select_related("owner"))`
                        // loads `labels__owner` too.
                        for nested in prefetch_queryset_lookups(file, *option) {
                            found.push(LoaderOption {
                                path: path.iter().cloned().chain(nested).collect(),
                                range: option.byte_range(),
                                removal: removal.clone(),
                                loader: segment.name.to_string(),
                            });
                        }
                        found.push(LoaderOption {
                            path,
                            range: option.byte_range(),
                            removal,
                            loader: segment.name.to_string(),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// The lookups the `queryset=` of a `Prefetch(...)` loads itself (`select_related("owner")`,
/// `prefetch_related("tags__owner")`), each as a path.
fn prefetch_queryset_lookups(file: &SourceFile, prefetch: Node<'_>) -> Vec<Vec<String>> {
    let source = file.text();
    let Some(queryset) = field(prefetch, "arguments").and_then(|arguments| {
        named_children(arguments).find_map(|argument| {
            (argument.kind() == "keyword_argument"
                && field(argument, "name").is_some_and(|name| file.node_text(name) == "queryset"))
            .then(|| field(argument, "value"))
            .flatten()
        })
    }) else {
        return Vec::new();
    };
    let chain = Chain::flatten(queryset, source);
    let mut paths = Vec::new();
    for segment in &chain.segments {
        if !matches!(segment.name, "select_related" | "prefetch_related") {
            continue;
        }
        for lookup in segment
            .arguments
            .into_iter()
            .flat_map(named_children)
            .filter(|argument| argument.kind() == "string")
        {
            let text = file.node_text(lookup).trim_matches(['"', '\'']);
            paths.push(text.split("__").map(str::to_string).collect());
        }
    }
    paths
}

/// `selectinload(User.sessions).joinedload(Session.payments)` → (`["sessions", "payments"]`, the
/// outermost loader's name).
fn sqlalchemy_option_path(file: &SourceFile, option: Node<'_>) -> (Vec<String>, String) {
    let source = file.text();
    let mut calls = Vec::new();
    let mut current = option;
    while current.kind() == "call" {
        calls.push(current);
        match field(current, "function") {
            Some(function) if function.kind() == "attribute" => match field(function, "object") {
                Some(object) => current = object,
                None => break,
            },
            _ => break,
        }
    }
    calls.reverse();
    let mut path = Vec::new();
    let mut loader = String::new();
    for call in calls {
        let Some(name) = callee_name(call, source) else {
            continue;
        };
        if !EAGER_LOADERS.contains(&name) && name != "lazyload" {
            continue;
        }
        if loader.is_empty() {
            loader = name.to_string();
        }
        let Some(argument) = field(call, "arguments").and_then(|a| named_children(a).next()) else {
            continue;
        };
        let attribute = match argument.kind() {
            "attribute" => field(argument, "attribute").map(|a| file.node_text(a).to_string()),
            "string" => Some(
                file.node_text(argument)
                    .trim_matches(['"', '\''])
                    .to_string(),
            ),
            _ => None,
        };
        path.extend(attribute);
    }
    (path, loader)
}

/// The range that removes one argument with its separating comma.
fn argument_removal(file: &SourceFile, argument: Node<'_>) -> TextRange {
    let text = file.text();
    let mut end = argument.end_byte();
    let rest = &text[end..];
    let trimmed = rest.trim_start();
    if trimmed.starts_with(',') {
        end += rest.len() - trimmed.len() + 1;
        let after = &text[end..];
        end += after.len() - after.trim_start_matches([' ', '\t']).len();
        return argument.start_byte()..end;
    }
    // The last argument: take the comma before it.
    let before = &text[..argument.start_byte()];
    let start = before
        .trim_end()
        .strip_suffix(',')
        .map(str::len)
        .unwrap_or(argument.start_byte());
    start..argument.end_byte()
}

/// Whether a relationship path is loaded eagerly (or deliberately not lazily) by the query's
/// options: an option whose path starts with it.
pub fn covers(options: &[LoaderOption], path: &[String]) -> bool {
    options.iter().any(|option| {
        option.loader != "lazyload"
            && option.path.len() >= path.len()
            && option.path[..path.len()] == *path
    })
}

/// Where to add `.options(...)` / `.select_related(...)` to a query, and on which chain.
pub fn option_insertion(file: &SourceFile, query: Node<'_>, api: QueryApi) -> Option<usize> {
    let source = file.text();
    let chain = Chain::flatten(query, source);
    let first_call = chain.first_call()?;
    match api {
        QueryApi::LegacyQuery | QueryApi::ModelQuery => {
            // Before a trailing terminal (`.all()`, `.first()`), else at the end.
            let last = chain.segments.last()?;
            let terminal = last.is_call()
                && matches!(
                    last.name,
                    "all"
                        | "first"
                        | "one"
                        | "one_or_none"
                        | "get"
                        | "count"
                        | "scalar"
                        | "limit"
                        | "offset"
                );
            Some(if terminal {
                field(field(last.node, "function")?, "object")?.end_byte()
            } else {
                query.end_byte()
            })
        }
        QueryApi::Statement => {
            let arguments = chain.segments[first_call].arguments?;
            let statement = named_children(arguments)
                .next()
                .filter(|s| s.kind() == "call")?;
            Some(statement.end_byte())
        }
        QueryApi::DjangoManager => {
            // Right after `Model.objects`.
            field(
                field(chain.segments[first_call].node, "function")?,
                "object",
            )
            .map(|manager| manager.end_byte())
        }
        _ => None,
    }
}
