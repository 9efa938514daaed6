//! INB201 sum-over-nullable.

use tree_sitter::Node;

use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::semantic::calls::Callee;
use crate::engine::semantic::types::RowType;
use crate::engine::semantic::SemanticModel;
use crate::engine::syntax::display_code;
use crate::engine::syntax::{field, named_children};

pub static RULE: RuleInfo = RuleInfo {
    code: "INB201",
    name: "sum-over-nullable",
    severity: Severity::Warning,
    summary: "`sum()` over a nullable numeric column: one NULL row raises `TypeError`",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Always,
    enabled_by_default: true,
    category: Category::Correctness,
};

const DOCUMENTATION: &str = r#"## What it does
Flags `sum(p.amount for p in rows)` (also `sum([...])`, `math.fsum(...)` and `total += p.amount` in a
loop) where `rows` are rows of a model whose `amount` column is nullable and numeric, according to
the model declarations inbatch indexed: a SQLAlchemy `Column` without `nullable=False` (the default
is nullable), `Mapped[Optional[Decimal]]`, `Mapped[Decimal | None]`, a SQLModel `Optional[...]`
field, or a Django field with `null=True`.

## Why is this bad?
A NULL column comes back as `None`. `Decimal("9.99") + None` raises
`TypeError: unsupported operand type(s)`, so one pending payment without an amount breaks the whole
report — typically in production, since test data rarely has NULLs.

## Example
```python
total = sum(p.amount for p in payments)  # Payment.amount is Mapped[Optional[Decimal]]
```

## Use instead
```python
total = sum((p.amount or 0) for p in payments)
```
or let the database do it: `session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(...))`
(Django: `Coalesce(Sum("amount"), 0)`).

## Fix safety
The fix replaces `p.amount` by `(p.amount or 0)`. It is unsafe: where the original raised
`TypeError`, the fixed code returns a total that counts NULL as zero, which is almost always what
was meant but is a change in behaviour.
"#;

/// `sum(p.amount for p in rows)` or `total += p.amount` over rows of a model.
struct SumSite<'a> {
    /// The `sum(...)` call or the augmented assignment.
    call: Node<'a>,
    /// The summed `p.amount`.
    element: Node<'a>,
    model: String,
    column: String,
}

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let file = context.model.file;
    for site in sum_sites(context.model) {
        let Some(model) = context.index.model(&site.model) else {
            continue;
        };
        let Some(column) = model.column(&site.column) else {
            continue;
        };
        if !(column.nullable && column.numeric) {
            continue;
        }
        let element = file.node_text(site.element);
        let what = display_code(file.node_text(site.call), 60);
        let message = format!(
            "`{what}` adds `{}.{}`, which is nullable: one NULL row makes it `None` and the sum raises `TypeError`",
            crate::engine::index::display_model(&site.model),
            site.column
        );
        let mut diagnostic = Diagnostic::new(&RULE, message, site.call.byte_range());
        context.offer_fix(&mut diagnostic, || {
            Ok(Fix::new(
                format!("Count NULL `{}` as 0: `({element} or 0)`", site.column),
                Applicability::Unsafe,
                vec![Edit::replace(
                    site.element.byte_range(),
                    format!("({element} or 0)"),
                )],
            ))
        });
        diagnostics.push(diagnostic);
    }
}

/// Every sum over rows' columns: `sum(...)`/`math.fsum(...)` of a comprehension over rows, and
/// `total += p.amount` over a row not guarded by a test of that column.
fn sum_sites<'a>(model: &SemanticModel<'a>) -> Vec<SumSite<'a>> {
    let source = model.file.text();
    let text = |node: Node<'_>| &source[node.byte_range()];
    let mut sites = Vec::new();
    for call in &model.calls {
        let name = match &call.callee {
            Callee::Name(name) => name.as_str(),
            Callee::Method { receiver, method } if receiver == "math" => method.as_str(),
            Callee::Method { .. } | Callee::Attribute { .. } => continue,
        };
        if !matches!(name, "sum" | "fsum") {
            continue;
        }
        // `sum(x for x in rows)` has the generator as its whole argument list.
        let Some(arguments) = field(call.node, "arguments") else {
            continue;
        };
        let argument = if arguments.kind() == "generator_expression" {
            arguments
        } else {
            match named_children(arguments).next() {
                Some(argument) => argument,
                None => continue,
            }
        };
        let Some(comprehension) = model.comprehension(argument) else {
            continue;
        };
        let (Some(body), Some(clause)) = (
            field(comprehension.node, "body"),
            named_children(comprehension.node).find(|c| c.kind() == "for_in_clause"),
        ) else {
            continue;
        };
        let Some(Some(RowType::Rows(rows_model))) = comprehension.iterated.first() else {
            continue;
        };
        let Some(variable) = field(clause, "left") else {
            continue;
        };
        // `sum(p.amount for p in rows if p.amount is not None)` already keeps NULLs out.
        let element = text(body);
        if named_children(comprehension.node)
            .any(|c| c.kind() == "if_clause" && text(c).contains(element))
        {
            continue;
        }
        let column = (body.kind() == "attribute"
            && field(body, "object").is_some_and(|o| text(o) == text(variable)))
        .then(|| field(body, "attribute").map(|a| text(a).to_string()))
        .flatten();
        if let Some(column) = column {
            sites.push(SumSite {
                call: call.node,
                element: body,
                model: rows_model.clone(),
                column,
            });
        }
    }
    for store in &model.stores {
        let is_plus =
            store.augmented && field(store.node, "operator").is_some_and(|o| text(o) == "+=");
        if !is_plus || store.right.kind() != "attribute" {
            continue;
        }
        let Some(RowType::Row(row_model)) = &store.object_type else {
            continue;
        };
        if guarded_by_condition(store.node, text(store.right), source) {
            continue;
        }
        if let Some(column) = field(store.right, "attribute").map(|a| text(a).to_string()) {
            sites.push(SumSite {
                call: store.node,
                element: store.right,
                model: row_model.clone(),
                column,
            });
        }
    }
    sites.sort_by_key(|site| site.call.start_byte());
    sites
}

/// Whether an `if` around `node` (inside its function) tests `expression`, as in
/// `if p.amount is not None: total += p.amount`.
fn guarded_by_condition(node: Node<'_>, expression: &str, source: &str) -> bool {
    let mut current = node.parent();
    while let Some(parent) = current {
        match parent.kind() {
            "if_statement" | "elif_clause"
                if field(parent, "condition")
                    .is_some_and(|c| source[c.byte_range()].contains(expression)) =>
            {
                return true;
            }
            "function_definition" | "lambda" => return false,
            _ => {}
        }
        current = parent.parent();
    }
    false
}
