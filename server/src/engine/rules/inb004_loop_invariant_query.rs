//! INB004 loop-invariant-query.

use tree_sitter::Node;

use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::edit_support::{indentation_at, NameTable};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::orm::{Access, Chain, Orm, QueryApi};
use crate::engine::semantic::{LoopId, LoopKind, Query, SemanticModel};
use crate::engine::syntax::{display_code, dotted_path, field};

pub static RULE: RuleInfo = RuleInfo {
    code: "INB004",
    name: "loop-invariant-query",
    severity: Severity::Information,
    summary: "A query in a loop does not depend on the loop: the same query runs every iteration",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Sometimes,
    enabled_by_default: false,
    category: Category::Performance,
};

const DOCUMENTATION: &str = r#"## What it does
Flags a read query inside a `for` loop or comprehension that uses nothing the loop changes: no
loop variable, nothing assigned in the loop body, in any loop around it in its function. The loop
body must not write to the database (no `session.add/commit/flush/delete`, no `.save()`, no
`M.objects.create/update/delete`, no `insert/update/delete` statement), since a write could change
what the query returns.

## Why is this bad?
The same statement goes to the database once per iteration and returns the same rows each time: N
round trips where one would do. It is easy to miss because the query looks harmless where it
stands.

## Example
```python
for order in orders:
    rate = session.query(TaxRate).filter_by(country="FR").one()
    order.total = order.net * (1 + rate.value)
```

## Use instead
```python
rate_value = session.query(TaxRate).filter_by(country="FR").one()
for order in orders:
    rate = rate_value
    order.total = order.net * (1 + rate.value)
```

Not flagged: a `while` loop (polling until the database changes is what such loops do); a loop
that runs at most once (`break`/`return` right after the query); a query only the iteration
whose item equals one value runs (`if field_name == "credentials":`); a query reading a name
assigned in the loop; a loop whose body writes to the database.

## Fix safety
The fix moves the query into a fresh variable just before the outermost loop it is invariant in.
It is unsafe: the query now runs even when the loop has no iterations or when the branch holding it
would never have run (so `.one()` may raise where it did not), other code running during the
loop (triggers, other connections, functions the loop calls) may have changed the rows between
iterations, and all iterations now share one result object. A one-shot SQLAlchemy result is
materialised with `list(...)`; a query whose result shape is not known is not moved.
"#;

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let model = context.model;
    let source = model.file.text();
    for query in &model.queries {
        let Some(&outermost) = query.loops.first() else {
            continue;
        };
        if query.call.access == Access::Write || !query.evaluated {
            continue;
        }
        let invariant = query.loops.iter().all(|&id| {
            let lp = model.loop_(id);
            lp.kind != LoopKind::While
                && !query
                    .call
                    .refs
                    .iter()
                    .any(|r| lp.varying.contains(&r.name) || bound_in(model, id, &r.name))
        });
        if !invariant {
            continue;
        }
        // The receiver itself may change per iteration: `for db in dbs: db.session.query(M)`.
        let root = Chain::flatten(query.call.node, source).root;
        if let Some(root) = dotted_path(root, source) {
            let head = root.split('.').next().unwrap_or(&root).to_string();
            if query
                .loops
                .iter()
                .any(|&id| bound_in(model, id, &root) || bound_in(model, id, &head))
            {
                continue;
            }
        }
        let innermost = *query.loops.last().expect("not empty");
        if model.runs_at_most_once(query.call.node, innermost)
            || query
                .loops
                .iter()
                .any(|&id| model.runs_for_one_key(query.call.node, id))
            || model.loop_writes(outermost).is_some()
        {
            continue;
        }
        let lp = model.loop_(outermost);
        let on_model = query
            .call
            .model
            .as_deref()
            .map(|m| format!(" on `{m}`"))
            .unwrap_or_default();
        let message = format!(
            "`{}`{on_model} does not depend on `{}` of `{}`: the same query runs once per iteration",
            query.call.display,
            display_code(&lp.target, 40),
            display_code(&lp.iterable, 40)
        );
        let mut diagnostic = Diagnostic::new(&RULE, message, query.call.node.byte_range())
            .with_related("the loop the query can move out of", lp.header.clone());
        context.offer_fix(&mut diagnostic, || hoist(model, query, outermost));
        diagnostics.push(diagnostic);
    }
}

/// Whether the loop or its body binds `name` (its targets, assignments, nested loops' targets).
fn bound_in(model: &SemanticModel<'_>, id: LoopId, name: &str) -> bool {
    model.loop_(id).varying.contains(name)
        || model
            .loop_bound
            .get(id)
            .is_some_and(|bound| bound.contains(name))
}

/// `rate = <query>` before the loop, the query replaced by `rate`.
fn hoist(model: &SemanticModel<'_>, query: &Query<'_>, outermost: LoopId) -> Result<Fix, String> {
    let file = model.file;
    let source = file.text();
    // `await session.execute(...)` moves with its `await`.
    let mut moved = query.call.node;
    if let Some(parent) = moved.parent().filter(|p| p.kind() == "await") {
        moved = parent;
    }
    let expression = &source[moved.byte_range()];
    if expression.contains("\"\"\"") || expression.contains("'''") {
        return Err("the query holds a multi-line string".to_string());
    }
    let is_iterated = moved.parent().is_some_and(|parent| {
        matches!(parent.kind(), "for_statement" | "for_in_clause")
            && field(parent, "right") == Some(moved)
    });
    let terminal = query.call.terminal.as_deref();
    let one_shot = match query.call.orm {
        Orm::Django => terminal == Some("iterator"),
        Orm::SqlAlchemy => {
            !matches!(query.call.api, QueryApi::SessionGet | QueryApi::FlaskDb)
                && terminal.is_none_or(|t| !Orm::SqlAlchemy.tables().reusable.contains(&t))
        }
    };
    if one_shot && !is_iterated {
        return Err(
            "the query returns a one-shot result that is used as more than an iterable".to_string(),
        );
    }
    let materialise = one_shot;
    let statement = enclosing_statement(model.loop_(outermost).node);
    let line_start = file
        .line_index()
        .line_start(file.line_index().line_of(statement.start_byte()));
    if !source[line_start..statement.start_byte()].trim().is_empty() {
        return Err("the loop does not start its own line".to_string());
    }
    let indent = indentation_at(file, statement.start_byte()).to_string();
    let mut names = NameTable::new(file, statement);
    let name = names.fresh(&base_name(query.call.model.as_deref(), terminal));
    let query_indent = indentation_at(file, moved.start_byte()).len();
    // Continuation lines keep one level of indentation under the new assignment.
    let text = reindent(expression, query_indent.saturating_sub(indent.len() + 4));
    let value = match (materialise, text.contains('\n')) {
        (true, _) => format!("list({text})"),
        // Continuation lines need the brackets the query may have had around it.
        (false, true) => format!("({text})"),
        (false, false) => text,
    };
    Ok(Fix::new(
        format!(
            "Run `{}` once, before the loop, as `{name}`",
            query.call.display
        ),
        Applicability::Unsafe,
        vec![
            Edit::insert(line_start, format!("{indent}{name} = {value}\n")),
            Edit::replace(moved.byte_range(), name),
        ],
    ))
}

/// The statement a loop is or sits in (a comprehension's clause sits in an expression).
fn enclosing_statement(node: Node<'_>) -> Node<'_> {
    let mut current = node;
    while let Some(parent) = current.parent() {
        if matches!(parent.kind(), "block" | "module") {
            break;
        }
        current = parent;
    }
    current
}

/// Continuation lines moved `by` columns to the left, where they have the room.
fn reindent(text: &str, by: usize) -> String {
    let mut lines = text.split('\n');
    let mut out = lines.next().unwrap_or("").to_string();
    for line in lines {
        out.push('\n');
        let spaces = line.len() - line.trim_start_matches(' ').len();
        out.push_str(&line[spaces.min(by)..]);
    }
    out
}

fn base_name(model: Option<&str>, terminal: Option<&str>) -> String {
    let Some(model) = model else {
        return "query_result".to_string();
    };
    let snake = crate::engine::syntax::snake_case(model);
    match terminal {
        Some("count") => format!("{snake}_count"),
        Some("exists") => format!("{snake}_exists"),
        Some(
            "first" | "one" | "one_or_none" | "get" | "scalar_one" | "scalar_one_or_none" | "last"
            | "earliest" | "latest",
        ) => snake,
        _ => format!("{snake}_rows"),
    }
}
