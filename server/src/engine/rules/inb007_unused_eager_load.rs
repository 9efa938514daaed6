//! INB007 unused-eager-load.

use tree_sitter::Node;

use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::edit_support::remove_unused_import;
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::orm::loaders::loader_options;
use crate::engine::semantic::SemanticModel;
use crate::engine::syntax::{field, named_children};

pub static RULE: RuleInfo = RuleInfo {
    code: "INB007",
    name: "unused-eager-load",
    severity: Severity::Information,
    summary: "An eager-load option whose relationship is never read from the query's rows",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Always,
    enabled_by_default: false,
    category: Category::Performance,
};

const DOCUMENTATION: &str = r#"## What it does
Flags `selectinload(M.rel)`, `joinedload(M.rel)`, `subqueryload(M.rel)`, `select_related("rel")` and
`prefetch_related("rel")` on a query whose rows never have `rel` read in the function, and never
leave it (not returned, yielded, or passed to another function, which might read it).

## Why is this bad?
Every eager load costs: a `JOIN` that widens every row, or one more `SELECT ... IN (...)` per
relationship. Options copied from another query, or left behind after a refactor, make every call
slower for nothing.

## Example
```python
orders = session.scalars(select(Order).options(selectinload(Order.items))).all()
return sum(o.total for o in orders)
```

## Use instead
```python
orders = session.scalars(select(Order)).all()
return sum(o.total for o in orders)
```

## Fix safety
The fix removes the option, and its import when nothing else in the file uses it. It is unsafe: code inbatch cannot see (a template, a serializer reached
through a global) may still read the relationship, and would then load it lazily.
"#;

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let model = context.model;
    let file = model.file;
    for query in &model.queries {
        let options = loader_options(file, query.call.node);
        if options.is_empty() {
            continue;
        }
        let scope = model.scope_of(query.call.node);
        // Names holding this query's rows (or rows of it), in this function.
        let holders: Vec<&str> = scope
            .origins
            .iter()
            .filter(|(_, origin)| origin.query == query.call.node)
            .map(|(name, _)| name.as_str())
            .collect();
        if holders.is_empty()
            || rows_escape(model, scope.node, &holders)
            || query_escapes(query.call.node)
        {
            continue;
        }
        // Reads are only seen for relationships the model index knows: without it, say nothing.
        let Some(query_model) = query.call.model.as_deref() else {
            continue;
        };
        let mut judged = std::collections::HashSet::new();
        for option in options
            .iter()
            .filter(|o| !matches!(o.loader.as_str(), "raiseload" | "noload" | "lazyload"))
            .filter(|o| {
                o.path
                    .first()
                    .is_some_and(|first| context.index.relationship(query_model, first).is_some())
            })
        {
            // A `Prefetch(...)` with lookups of its own is one option with several paths.
            if !judged.insert(option.range.start) {
                continue;
            }
            let read = model.reads.iter().any(|read| {
                read.origin.as_ref().is_some_and(|origin| {
                    origin.query == query.call.node && {
                        let mut path = origin.path.clone();
                        path.push(read.attribute.clone());
                        path.first() == option.path.first()
                    }
                })
            });
            if read {
                continue;
            }
            let message = format!(
                "`{}` loads `{}` eagerly, but no row of this query reads it in this function",
                file.slice(option.range.clone()),
                option.path.join(".")
            );
            let mut diagnostic = Diagnostic::new(&RULE, message, option.range.clone());
            context.offer_fix(&mut diagnostic, || {
                let mut edits = vec![Edit::delete(option.removal.clone())];
                edits.extend(remove_unused_import(file, &option.loader, &option.removal));
                Ok(Fix::new(
                    "Remove the unused loader option",
                    Applicability::Unsafe,
                    edits,
                ))
            });
            diagnostics.push(diagnostic);
        }
    }
}

/// Rows leave the function (or reach code inbatch does not follow) when a holder is returned,
/// yielded, passed to a call other than a few builtins, or stored elsewhere.
fn rows_escape(model: &SemanticModel<'_>, scope: Node<'_>, holders: &[&str]) -> bool {
    let file = model.file;
    let mut stack = vec![scope];
    while let Some(node) = stack.pop() {
        if node.kind() == "identifier" && holders.contains(&file.node_text(node)) {
            if let Some(parent) = node.parent() {
                let escapes = match parent.kind() {
                    "return_statement" | "yield" | "list" | "tuple" | "dictionary" | "pair"
                    | "set" | "keyword_argument" => true,
                    "argument_list" => !parent
                        .parent()
                        .and_then(|call| field(call, "function"))
                        .is_some_and(|f| {
                            matches!(
                                file.node_text(f),
                                "len"
                                    | "print"
                                    | "list"
                                    | "sorted"
                                    | "enumerate"
                                    | "sum"
                                    | "zip"
                                    | "reversed"
                            )
                        }),
                    "assignment" => field(parent, "right") == Some(node),
                    _ => false,
                };
                if escapes {
                    return true;
                }
            }
        }
        stack.extend(named_children(node));
    }
    false
}

/// `return session.query(...).options(...).all()`: the rows leave at once.
fn query_escapes(query: Node<'_>) -> bool {
    let mut current = query;
    while let Some(parent) = current.parent() {
        match parent.kind() {
            "return_statement" | "yield" | "argument_list" => return true,
            "assignment"
            | "for_statement"
            | "expression_statement"
            | "block"
            | "function_definition"
            | "module" => return false,
            _ => current = parent,
        }
    }
    false
}
