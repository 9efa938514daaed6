//! INB002 lazy-load-in-loop.

use std::collections::HashSet;

use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::edit_support::{merge_insertions, NameTable};
use crate::engine::fix::imports::{ensure_imports, Needed};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::index::{display_model, ModelOrm, ModelResolver, RelationshipKind};
use crate::engine::orm::loaders::{covers, loader_options, option_insertion};
use crate::engine::orm::{Orm, QueryApi};
use crate::engine::semantic::{AttributeRead, LoopId, Origin, SemanticModel};

pub static RULE: RuleInfo = RuleInfo {
    code: "INB002",
    name: "lazy-load-in-loop",
    severity: Severity::Warning,
    summary: "A relationship of each loop row loads lazily: one query per row",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Sometimes,
    enabled_by_default: false,
    category: Category::Performance,
};

const DOCUMENTATION: &str = r#"## What it does
Flags a loop over rows of a query (or over a relationship collection of them) whose body reads a
relationship that loads lazily, one query per row: `for order in orders: order.customer.name`.
It knows SQLAlchemy's `relationship(lazy=...)` (`"select"`, the default, loads lazily; `"selectin"`,
`"joined"`, `"subquery"` and `"immediate"` load with the rows; `"raise"`/`"raise_on_sql"` raise
instead; `"dynamic"` returns a query), loader options already on the query (`selectinload`,
`joinedload`, `subqueryload`, `raiseload`, chained paths), Django's `select_related` and
`prefetch_related` (also `Prefetch(...)`), forward foreign keys and one-to-ones, reverse accessors
(`related_name`, `<model>_set`) and many-to-many fields. Reading `order.customer_id` is not a load,
nor is reading `order.customer` after the same iteration assigned it (`order.customer = c`), nor a
Django related manager handed on as it is (`add_m2m(group.hosts, host)`): only its methods query.

Only rows of a query the function runs are judged, with the loader options of that query and of
the queries it refines (`orders = Order.objects.select_related("customer")`, later
`orders.filter(...)`): rows passed in by a caller may have been loaded with the relationship
there. Rows of one object's relationship (`for item in order.items.all()` for one `order`) count
only inside a loop over the owners, where their number grows with the data.

## Why is this bad?
Each access issues its own `SELECT`: 1 query for the rows plus N for the relationship. This is the
N+1 that runtime tools (nplusone, django-zeal, Bullet) catch in tests — found here before the code runs.

## Example
```python
orders = session.scalars(select(Order).where(Order.paid)).all()
for order in orders:
    print(order.customer.name)
```

## Use instead
```python
orders = session.scalars(select(Order).where(Order.paid).options(joinedload(Order.customer))).all()
```
Django: `Order.objects.select_related("customer")` for a foreign key or one-to-one,
`prefetch_related("items")` for reverse and many-to-many relations.

## Fix safety
The fix adds the loader option to the query that produced the rows — `selectinload` for
collections, `joinedload` for one related row (nested paths chain them) — with its import. It is
safe: the query returns the same rows, with the relationship already loaded.
"#;

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let model = context.model;
    let mut reported: HashSet<(LoopId, String, String)> = HashSet::new();
    for read in &model.reads {
        let Some(relationship) = context.index.relationship(&read.model, &read.attribute) else {
            continue;
        };
        let orm = match context.index.model(&read.model).map(|m| m.orm) {
            Some(ModelOrm::Django) => Orm::Django,
            _ => Orm::SqlAlchemy,
        };
        if !orm.tables().loads_lazily(relationship.lazy.as_deref()) {
            continue;
        }
        // `prefix.object_types.add(ct)` writes through the relation; it loads nothing.
        if read
            .then
            .as_deref()
            .is_some_and(|method| Orm::Django.tables().chain_writes.contains(&method))
        {
            continue;
        }
        // A Django related manager handed on as it is (`add_m2m(group.hosts, host)`) queries
        // nothing: only its methods do, and they are queries of their own.
        if orm == Orm::Django
            && relationship.kind == RelationshipKind::Collection
            && read.then.is_none()
        {
            continue;
        }
        // `order.customer.id` is INB006's (the id is already on the row).
        if read.then.as_deref().is_some_and(|t| t == "id" || t == "pk")
            && relationship.kind == RelationshipKind::Single
        {
            continue;
        }
        let Some(loop_id) = read
            .loops
            .iter()
            .rev()
            .copied()
            .find(|&id| model.grows(id) && model.loop_(id).varying.contains(&read.object))
        else {
            continue;
        };
        if is_related_manager_query(model, read) || assigned_before(model, read, loop_id) {
            continue;
        }
        // Rows that come from elsewhere (a parameter, a caller's query) may have been loaded
        // with the relation there: only rows of a query this function runs are judged.
        let Some(origin) = &read.origin else {
            continue;
        };
        // The rows of one object's relation (`for item in order.items.all()` with one `order`):
        // N is that object's children, not the table's rows, unless the owners themselves are
        // iterated by a loop that grows around this one.
        let of_one_owner = origin.api == QueryApi::DjangoRelated || !origin.path.is_empty();
        let owners_grow = read
            .loops
            .iter()
            .take_while(|&&id| id != loop_id)
            .any(|&id| model.grows(id));
        if of_one_owner && !owners_grow {
            continue;
        }
        let mut path = read
            .origin
            .as_ref()
            .map(|o| o.path.clone())
            .unwrap_or_default();
        path.push(read.attribute.clone());
        if covers(&model.loader_options(origin), &path) {
            continue;
        }
        if !reported.insert((loop_id, read.object.clone(), read.attribute.clone())) {
            continue;
        }
        let lp = model.loop_(loop_id);
        let kind = match relationship.kind {
            RelationshipKind::Single => "one row",
            RelationshipKind::Collection => "its rows",
        };
        let message = format!(
            "`{}.{}` loads {kind} of `{}` lazily, once per `{}` of the loop: N+1 queries",
            read.object,
            read.attribute,
            relationship
                .target
                .as_deref()
                .unwrap_or("the related model"),
            lp.target
        );
        let mut diagnostic = Diagnostic::new(&RULE, message, read.node.byte_range()).with_related(
            format!("the loop over `{}` repeats the load", lp.target),
            lp.header.clone(),
        );
        diagnostic = diagnostic.with_related(
            "the query the fix adds the loader option to",
            origin.query.byte_range(),
        );
        // One option for the deepest lazy path through this one (`orders` → `orders.items`), so
        // that the reads along it share one fix.
        let deepest = deepest_path(model, origin, &path);
        context.offer_fix(&mut diagnostic, || {
            eager_fix(model, context.index, read, &deepest, origin)
        });
        diagnostics.push(diagnostic);
    }
}

/// `job.queue = default_queue` earlier in the same iteration: the row holds that object, so
/// reading `job.queue` loads nothing.
fn assigned_before(model: &SemanticModel<'_>, read: &AttributeRead<'_>, loop_id: LoopId) -> bool {
    let source = model.file.text();
    let written = format!("{}.{}", read.object, read.attribute);
    model.stores.iter().any(|store| {
        // The assignment runs whenever the read does: its block holds the read too (not an
        // `if` branch the read comes after).
        let dominates = store
            .node
            .parent()
            .and_then(|statement| statement.parent())
            .is_some_and(|block| {
                block.start_byte() <= read.node.start_byte()
                    && read.node.end_byte() <= block.end_byte()
            });
        !store.augmented
            && store.loops.contains(&loop_id)
            && store.node.end_byte() <= read.node.start_byte()
            && source[store.left.byte_range()] == written
            && dominates
    })
}

/// The longest relationship path read from the same query's rows that starts with `path`.
fn deepest_path(model: &SemanticModel<'_>, origin: &Origin<'_>, path: &[String]) -> Vec<String> {
    model
        .reads
        .iter()
        .filter_map(|read| {
            let other = read.origin.as_ref().filter(|o| o.query == origin.query)?;
            let mut full = other.path.clone();
            full.push(read.attribute.clone());
            full.starts_with(path).then_some(full)
        })
        .max_by_key(Vec::len)
        .unwrap_or_else(|| path.to_vec())
}

/// `customer.order_set.filter(...)` is INB001's (a related-manager query per row that no
/// prefetch serves); a whole relation read (`.all()`, `.count()`) stays this rule's.
fn is_related_manager_query(model: &SemanticModel<'_>, read: &AttributeRead<'_>) -> bool {
    model.queries.iter().any(|query| {
        query.call.api == QueryApi::DjangoRelated
            && query.call.node.start_byte() <= read.node.start_byte()
            && read.node.end_byte() <= query.call.node.end_byte()
            && model.prefetchable_relation(query).is_none()
    })
}

fn eager_fix(
    model: &SemanticModel<'_>,
    index: &ModelResolver<'_>,
    read: &AttributeRead<'_>,
    path: &[String],
    origin: &Origin<'_>,
) -> Result<Fix, String> {
    let file = model.file;
    let at = option_insertion(file, origin.query, origin.api)
        .ok_or("the query's shape has no place for a loader option")?;
    let root = origin.model.clone().ok_or("the query's model is unknown")?;
    let mut edits = Vec::new();
    // The query's own ORM decides: a model of the same name in the other ORM is irrelevant.
    let option = if origin.orm == Orm::Django {
        // Django refuses a lookup a `Prefetch(...)` of the same query already names with a
        // queryset of its own ("lookup was already seen with a different queryset").
        let prefetched_with_queryset = loader_options(file, origin.query).into_iter().any(|o| {
            o.path.first() == path.first() && file.slice(o.range.clone()).starts_with("Prefetch(")
        });
        if prefetched_with_queryset && path.len() > 1 {
            return Err(format!(
                "`{}` is prefetched with a `Prefetch(..., queryset=...)` of its own: load `{}` in \
                 that queryset (`.select_related(\"{}\")` or `.prefetch_related(...)`)",
                path[0],
                path[1..].join("__"),
                path[1..].join("__")
            ));
        }
        // A path of single relations is a join; anything through a collection is prefetched.
        let mut all_single = true;
        let mut current = root.clone();
        for step in path {
            let relationship = index
                .relationship(&current, step)
                .ok_or("a relationship on the path is unknown")?;
            all_single &= relationship.kind == RelationshipKind::Single;
            current =
                index.qualified_target(&current, relationship.target.as_deref().unwrap_or(""));
        }
        let method = if all_single {
            "select_related"
        } else {
            "prefetch_related"
        };
        format!(".{method}(\"{}\")", path.join("__"))
    } else {
        let names = NameTable::new(file, origin.query);
        let mut parts = Vec::new();
        let mut imports: Vec<(String, String)> = Vec::new();
        let mut current = root.clone();
        let mut loaders = Vec::new();
        for step in path {
            let relationship = index
                .relationship(&current, step)
                .ok_or("a relationship on the path is unknown")?;
            let loader = match relationship.kind {
                RelationshipKind::Single => "joinedload",
                RelationshipKind::Collection => "selectinload",
            };
            // The class as the code names it; `current` is how the index finds it.
            let class = display_model(&current).to_string();
            if current != root {
                // `Order.items` in a nested option needs `Order` in scope.
                if !names.is_taken(&class) {
                    // Import it from where the query's own model comes from, when it is declared
                    // beside it.
                    let root_module = index
                        .model(&root)
                        .map(|m| m.module.clone())
                        .unwrap_or_default();
                    let beside_root = index
                        .model_where(&class, |m| {
                            m.orm == ModelOrm::SqlAlchemy
                                && m.relationship(step).is_some()
                                && m.module == root_module
                        })
                        .is_some();
                    let module = index
                        .imported_from(&root)
                        .filter(|_| beside_root)
                        .ok_or(format!(
                            "`{class}` is not imported here; import it to get a fix"
                        ))?
                        .to_string();
                    imports.push((module, class.to_string()));
                }
            }
            if relationship.lazy.as_deref() == Some("dynamic") {
                return Err(format!(
                    "`{class}.{step}` is `lazy=\"dynamic\"`: no loader option can load it \
                     (SQLAlchemy raises), so load the related rows with one batched query instead"
                ));
            }
            parts.push(format!("{loader}({class}.{step})"));
            loaders.push(loader);
            let target = relationship
                .target
                .as_deref()
                .ok_or("the related model is unknown")?;
            current = index.qualified_target(&current, target);
        }
        loaders.sort();
        loaders.dedup();
        imports.extend(
            loaders
                .into_iter()
                .map(|loader| ("sqlalchemy.orm".to_string(), loader.to_string())),
        );
        let needed: Vec<Needed<'_>> = imports
            .iter()
            .map(|(module, name)| Needed::from(module, name))
            .collect();
        edits.extend(ensure_imports(file, &needed));
        format!(".options({})", parts.join("."))
    };
    edits.push(Edit::insert(at, option.clone()));
    merge_insertions(&mut edits);
    Ok(Fix::new(
        format!(
            "Load `{}.{}` with the rows: `{}`",
            read.object,
            read.attribute,
            option.trim_start_matches('.')
        ),
        Applicability::Safe,
        edits,
    ))
}
