//! INB301 unbounded-in-list.

use tree_sitter::Node;

use super::Database;
use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::edit_support::NameTable;
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::semantic::{Query, SemanticModel};
use crate::engine::source::SourceFile;
use crate::engine::syntax::{display_code, field, named_children};

pub static RULE: RuleInfo = RuleInfo {
    code: "INB301",
    name: "unbounded-in-list",
    severity: Severity::Information,
    summary: "`.in_(xs)` / `__in=xs` with a collection of unbounded size and no chunking",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Sometimes,
    enabled_by_default: false,
    category: Category::Performance,
};

const DOCUMENTATION: &str = r#"## What it does
Flags `.in_(xs)`, `tuple_(...).in_(xs)` and Django `__in=xs` where `xs` comes from outside (a
parameter, or a list built from one) and nothing bounds its size: no chunk loop around the query,
no slice.

## Why is this bad?
Each element is one bound parameter, and databases cap them: PostgreSQL with server-side binding
(psycopg 3) allows 65,535 bind parameters per statement and asyncpg 32,767, while psycopg2 inlines
the values client-side (no hard cap, but huge statements and planning cost); SQLite allows 32,766
host parameters (999 before 3.32); Oracle allows 1,000 expressions in one IN list; SQL Server 2,100
parameters; MySQL is bounded by `max_allowed_packet`. Even below the caps, very long IN lists plan
and run slowly. The query works in tests and fails, or crawls, on the first big input.

## Example
```python
rows = Session.query.filter(Session.user_id.in_(user_ids)).all()
```

## Use instead
```python
keys = list(dict.fromkeys(user_ids))
rows = []
for start in range(0, len(keys), 1000):
    rows.extend(Session.query.filter(Session.user_id.in_(keys[start:start + 1000])).all())
```

## Fix safety
The fix runs the query once per chunk of `batch-size` distinct keys and concatenates the results
(as one list expression, so it fits wherever the query stood). It is unsafe: rows come back in
chunk order, and it is only offered for queries that return all their rows (`.all()`, iterated),
never for `.first()`, `.count()`, `limit` or `order_by`, whose result a concatenation would change.
"#;

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let model = context.model;
    let file = model.file;
    for query in &model.queries {
        let mut lists = Vec::new();
        in_lists(file, query.call.node, &mut lists);
        for list in lists {
            if !is_unbounded(model, query, list) {
                continue;
            }
            let name = file.node_text(list);
            let message = message(
                &display_code(file.node_text(shown_expression(list)), 50),
                name,
                context.options.database,
            );
            let mut diagnostic = Diagnostic::new(&RULE, message, list.byte_range());
            context.offer_fix(&mut diagnostic, || {
                chunk_fix(file, query, list, context.options.batch_size)
            });
            diagnostics.push(diagnostic);
        }
    }
}

/// `M.col.in_(xs)` for an `.in_()` argument, `col__in=xs` for a keyword.
fn shown_expression(list: Node<'_>) -> Node<'_> {
    match list.parent() {
        Some(parent) if parent.kind() == "keyword_argument" => parent,
        Some(parent) => parent.parent().unwrap_or(parent),
        None => list,
    }
}

/// "`M.col.in_(xs)` binds one parameter per element of `xs`, whose size nothing bounds
/// (databases cap bind parameters): chunk the keys".
fn message(code: &str, name: &str, database: Option<Database>) -> String {
    format!(
        "`{code}` binds one parameter per element of `{name}`, whose size nothing bounds ({}): \
         chunk the keys",
        limit_phrase(database)
    )
}

/// The database's cap, short: the message stays one line; the rule's documentation has the
/// details (drivers, versions, planning cost).
fn limit_phrase(database: Option<Database>) -> &'static str {
    match database {
        Some(Database::Postgresql) => "PostgreSQL caps a statement at 65,535 parameters",
        Some(Database::Sqlite) => "SQLite caps a statement at 32,766 parameters",
        Some(Database::Oracle) => "Oracle caps an IN list at 1,000 expressions",
        Some(Database::Mssql) => "SQL Server caps a statement at 2,100 parameters",
        Some(Database::Mysql) => "MySQL caps a statement at `max_allowed_packet`",
        None => "databases cap bind parameters",
    }
}

/// The arguments of `.in_(...)` and the values of `__in=` inside a query.
fn in_lists<'a>(file: &SourceFile, node: Node<'a>, out: &mut Vec<Node<'a>>) {
    crate::engine::syntax::with_stack(|| {
        match node.kind() {
            "call" => {
                let is_in = field(node, "function")
                    .filter(|f| f.kind() == "attribute")
                    .and_then(|f| field(f, "attribute"))
                    .is_some_and(|a| file.node_text(a) == "in_");
                if is_in {
                    if let Some(argument) =
                        field(node, "arguments").and_then(|a| named_children(a).next())
                    {
                        out.push(argument);
                    }
                }
            }
            "keyword_argument"
                if field(node, "name").is_some_and(|n| file.node_text(n).ends_with("__in")) =>
            {
                out.extend(field(node, "value"));
            }
            "lambda" => return,
            _ => {}
        }
        for child in named_children(node) {
            in_lists(file, child, out);
        }
    })
}

/// A list is unbounded when it is a parameter of the function (or a name built from one without a
/// slice) and no enclosing loop varies it (a chunk loop).
fn is_unbounded(model: &SemanticModel<'_>, query: &Query<'_>, list: Node<'_>) -> bool {
    if list.kind() != "identifier" {
        return false;
    }
    let file = model.file;
    let name = file.node_text(list);
    if query
        .loops
        .iter()
        .any(|&id| model.loop_(id).varying.contains(name))
    {
        return false;
    }
    let scope = model.scope_of(list);
    if scope.parameters.contains(name) {
        return !scope.values.contains_key(name);
    }
    match scope.values.get(name) {
        // `ids = [u.id for u in users]`, `ids = list(user_ids)`: as large as its source.
        Some(value) => match value.kind() {
            "list_comprehension" | "set_comprehension" | "generator_expression" => {
                let mut sources = Vec::new();
                for clause in named_children(*value).filter(|c| c.kind() == "for_in_clause") {
                    sources.extend(field(clause, "right"));
                }
                sources.iter().any(|s| {
                    s.kind() == "identifier" && scope.parameters.contains(file.node_text(*s))
                })
            }
            "call" => {
                let callee = field(*value, "function")
                    .map(|f| file.node_text(f))
                    .unwrap_or("");
                let argument = field(*value, "arguments").and_then(|a| named_children(a).next());
                matches!(callee, "list" | "set" | "tuple" | "sorted")
                    && argument.is_some_and(|a| {
                        a.kind() == "identifier" && scope.parameters.contains(file.node_text(a))
                    })
            }
            _ => false,
        },
        None => false,
    }
}

fn chunk_fix(
    file: &SourceFile,
    query: &Query<'_>,
    list: Node<'_>,
    batch_size: usize,
) -> Result<Fix, String> {
    let node = query.call.node;
    let terminal = query.call.terminal.as_deref();
    let text = file.node_text(node);
    let ordered_or_limited = [
        "order_by", "limit", "offset", "distinct", "group_by", "having", "slice",
    ]
    .iter()
    .any(|method| text.contains(&format!(".{method}(")));
    let iterated = node.parent().is_some_and(|p| {
        matches!(p.kind(), "for_statement" | "for_in_clause") && field(p, "right") == Some(node)
    });
    match terminal {
        Some("all") if !ordered_or_limited => {}
        None if iterated && !ordered_or_limited => {}
        Some(other) => {
            return Err(format!(
                "concatenating per-chunk results would change what `.{other}()` returns"
            ))
        }
        None if ordered_or_limited => {
            return Err(
                "an ordered or limited query cannot be split into chunks and concatenated"
                    .to_string(),
            )
        }
        None => {
            return Err(
                "the query object is used as such; end it with `.all()` to get a fix".to_string(),
            )
        }
    }
    if ordered_or_limited {
        return Err(
            "an ordered or limited query cannot be split into chunks and concatenated".to_string(),
        );
    }
    let mut names = NameTable::new(file, node);
    let keys = names.fresh("keys");
    let start = names.fresh("start");
    let row = names.fresh("row");
    let name = file.node_text(list);
    let before = &file.text()[node.start_byte()..list.start_byte()];
    let after = &file.text()[list.end_byte()..node.end_byte()];
    let chunked = format!(
        "[{row} for {keys} in [list(dict.fromkeys({name}))] for {start} in range(0, len({keys}), {batch_size}) for {row} in {before}{keys}[{start}:{start} + {batch_size}]{after}]"
    );
    Ok(Fix::new(
        format!("Run the query per chunk of {batch_size} distinct keys"),
        Applicability::Unsafe,
        vec![Edit::replace(node.byte_range(), chunked)],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message is one line an editor can show: the caps' details are in the documentation
    /// (it was 280 characters, a list of four databases' caps in every finding).
    #[test]
    fn the_message_stays_short_and_the_documentation_keeps_the_caps() {
        let longest_code = "x".repeat(50);
        for database in [
            None,
            Some(Database::Postgresql),
            Some(Database::Sqlite),
            Some(Database::Oracle),
            Some(Database::Mssql),
            Some(Database::Mysql),
        ] {
            let message = message(&longest_code, "user_ids", database);
            assert!(
                message.len() <= 200,
                "{} characters: {message}",
                message.len()
            );
        }
        for cap in ["65,535", "32,766", "2,100", "1,000"] {
            assert!(RULE.documentation.contains(cap), "{cap}");
        }
    }
}
