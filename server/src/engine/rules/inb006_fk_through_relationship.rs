//! INB006 fk-through-relationship.

use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::index::RelationshipKind;
use crate::engine::orm::loaders::covers;
use crate::engine::semantic::{AttributeRead, SemanticModel};

pub static RULE: RuleInfo = RuleInfo {
    code: "INB006",
    name: "fk-through-relationship",
    severity: Severity::Information,
    summary: "`o.customer.id` loads the related row to read a key the row already holds in `o.customer_id`",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Always,
    enabled_by_default: false,
    category: Category::Performance,
};

const DOCUMENTATION: &str = r#"## What it does
Flags `order.customer.id` (or `.pk`) where `order.customer_id` holds the same value: the foreign-key
column of the relationship, known from the model index (a Django `ForeignKey`/`OneToOneField`, or a
SQLAlchemy `customer_id` column with a `ForeignKey` next to a `customer` relationship).

## Why is this bad?
Reading `order.customer` loads the customer row — a query per order in a loop — only to read back
the key that was already in `order.customer_id`.

## Example
```python
for order in orders:
    ids.append(order.customer.id)
```

## Use instead
```python
for order in orders:
    ids.append(order.customer_id)
```

## Fix safety
Safe: the foreign-key column holds exactly the related row's key.
"#;

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let file = context.model.file;
    for read in &context.model.reads {
        if !matches!(read.then.as_deref(), Some("id" | "pk")) {
            continue;
        }
        let Some(relationship) = context.index.relationship(&read.model, &read.attribute) else {
            continue;
        };
        if relationship.kind != RelationshipKind::Single {
            continue;
        }
        let Some(model) = context.index.model(&read.model) else {
            continue;
        };
        let column = relationship
            .foreign_key_column
            .clone()
            .unwrap_or_else(|| format!("{}_id", read.attribute));
        if model
            .column(&column)
            .is_none_or(|c| c.foreign_key.is_none())
        {
            continue;
        }
        if loaded_anyway(context.model, read) {
            continue;
        }
        let Some(whole) = read.node.parent() else {
            continue;
        };
        let replacement = format!("{}.{column}", read.object);
        let message = format!(
            "`{}` loads the `{}` row to read its key; `{replacement}` already holds it",
            file.node_text(whole),
            read.attribute
        );
        let mut diagnostic = Diagnostic::new(&RULE, message, whole.byte_range());
        context.offer_fix(&mut diagnostic, || {
            Ok(Fix::new(
                format!("Use `{replacement}`"),
                Applicability::Safe,
                vec![Edit::replace(whole.byte_range(), replacement.clone())],
            ))
        });
        diagnostics.push(diagnostic);
    }
}

/// The function needs the related row for more than its key: it reads another of its attributes
/// (`table.database.name`), uses the object itself (passes it, tests it, stores it), or its query
/// loads it already (`select_related("user")`). Reading the key through it then costs nothing.
fn loaded_anyway(model: &SemanticModel<'_>, read: &AttributeRead<'_>) -> bool {
    let scope = model.scope_of(read.node).node;
    let other_use = model.reads.iter().any(|other| {
        other.node != read.node
            && other.object == read.object
            && other.attribute == read.attribute
            && !matches!(other.then.as_deref(), Some("id" | "pk"))
            && other.loops == read.loops
            && model.scope_of(other.node).node == scope
    });
    let selected = read.origin.as_ref().is_some_and(|origin| {
        let mut path = origin.path.clone();
        path.push(read.attribute.clone());
        covers(&model.loader_options(origin), &path)
    });
    other_use || selected
}
