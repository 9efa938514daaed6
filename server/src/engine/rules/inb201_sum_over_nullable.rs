//! INB201 sum-over-nullable.

use super::{Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::syntax::display_code;

pub static RULE: RuleInfo = RuleInfo {
    code: "INB201",
    name: "sum-over-nullable",
    severity: Severity::Warning,
    summary: "`sum()` over a nullable numeric column: one NULL row raises `TypeError`",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Always,
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

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let file = context.model.file;
    for site in &context.model.sums {
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
            site.model, site.column
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
