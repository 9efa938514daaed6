//! INB005 write-in-loop.

use tree_sitter::Node;

use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::edit_support::{body_indent_unit, indentation_at, NameTable};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::index::{ModelOrm, PerRowBehaviour, RowWrite};
use crate::engine::orm::{self, Access, Chain, NameRef, Orm, QueryApi, RefContext, SessionBinding};
use crate::engine::semantic::calls::{CallSite, Callee};
use crate::engine::semantic::types::RowType;
use crate::engine::semantic::{LoopId, LoopKind, Query, SemanticModel};
use crate::engine::source::TextRange;
use crate::engine::syntax::{display_code, field, named_children};

pub static RULE: RuleInfo = RuleInfo {
    code: "INB005",
    name: "write-in-loop",
    severity: Severity::Warning,
    summary: "A row is written once per loop iteration: one INSERT/UPDATE/DELETE round trip each",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Sometimes,
    enabled_by_default: false,
    category: Category::Performance,
};

const DOCUMENTATION: &str = r#"## What it does
Flags a database write that runs once per iteration of a loop whose number of iterations grows
with data (loops over literals, small constant ranges or enum members are not flagged):
- Django `obj.save()` / `obj.delete()` on a row: a row of a query (also one whose model the code
  does not name, such as `page.revisions.all()`), a model instance created in the loop, or any
  object saved with `save(update_fields=[...])`, `force_insert=` or `force_update=` (keywords only
  `Model.save()` takes);
- Django manager and queryset writes, which are queries too: `M.objects.create(...)`,
  `get_or_create(...)` and `update_or_create(...)` (a SELECT, then an INSERT or UPDATE, each; also
  when the result is unpacked or indexed), `M.objects.filter(...).update(...)` and `.delete()`, on a
  related manager (`obj.items.create(...)`, `self.inventory.hosts.update_or_create(...)`) or on a
  queryset held in a variable; `add`/`remove`/`set`/`clear` of a many-to-many relation of a row
  of a Django model the model index knows;
- SQLAlchemy `session.add(obj)` / `add_all` / `merge` / `session.delete(obj)` followed by
  `session.flush()` or `session.commit()` in the same loop (the flush or commit is flagged: `add`
  alone only queues the row), and `session.refresh(obj)` per row (one SELECT each; after a commit
  in the same loop, the commit is the finding);
- `session.execute(...)` / `conn.execute(...)` of `insert(M)`, `update(M)`, `delete(M)`, a Core
  table's `users.update()...` (also through a module-level `Table(...)` or a statement held in a
  variable), raw `text("UPDATE ...")`, Alembic's `op.execute(...)`, and the legacy
  `session.query(M).filter(...).update({...})` / `.delete()` (also on a query held in a variable);
- a project's own `obj.save(session)` / `obj.delete(db=session)` helper given a session, or a
  SQLAlchemy model's own `save()`/`delete()` whose body commits or flushes.

Not flagged: a chunk loop whose write takes one slice of the keys (`filter(pk__in=chunk)`,
`.in_(ids[i:i + 1000])`), a write of a collected batch (`filter(pk__in=pending).delete()` once the
batch is full), an executemany (`session.execute(update(M), rows)`), `bulk_create`/`bulk_update`
per parent, a write followed by an unconditional `break`/`return`, a write under a
`not in cache` guard, a `while` loop that retries until the write's result says so
(`while not created: ... = M.objects.get_or_create(name=candidate)`) or that takes the next row
from a query each time (a queue drained row by row), a SQLAlchemy model's own `delete()` that only
queues the row, and `save()` calls that are not row writes: positional arguments
(`image.save(stream)`, `storage.save(name, content)`, `obj.file.save(name, content)`), objects
not known to be rows (`form.save()`).

## Why is this bad?
Each write is a round trip, and each commit a transaction with its own fsync on the server: a loop
over 10,000 rows issues 10,000 statements where a bulk operation issues one (or one per batch).
(One flush of many added objects is batched by SQLAlchemy where the database returns generated
keys in order, e.g. PostgreSQL; on SQLite it still inserts row by row, and only the per-row
transactions go away. Deletes flushed together go out as one executemany.)

## Example
```python
for name in names:
    Tag.objects.create(name=name)

for doc in stale_documents:
    doc.delete()

for doc_id in doc_ids:
    Document.objects.filter(pk=doc_id).update(inbox=False)

for row in rows:
    session.add(Event(**row))
    session.commit()
```

## Use instead
```python
new_tags = []
for name in names:
    new_tags.append(Tag(name=name))
Tag.objects.bulk_create(new_tags)

document_pks = []
for doc in stale_documents:
    document_pks.append(doc.pk)
for start in range(0, len(document_pks), 1000):
    Document.objects.filter(pk__in=document_pks[start:start + 1000]).delete()

document_keys = []
for doc_id in doc_ids:
    document_keys.append(doc_id)
for start in range(0, len(document_keys), 1000):
    Document.objects.filter(pk__in=document_keys[start:start + 1000]).update(inbox=False)

for row in rows:
    session.add(Event(**row))
session.commit()
```
For rows loaded and changed in the loop, `M.objects.bulk_update(rows, fields=[...])` (the fields
assigned in the loop, or those `update_fields` lists); for SQLAlchemy statements, one
`session.execute(insert(M), [dict, ...])` (an "executemany"). The chunk size is `batch-size`.

## Fix safety
Offered where the shape is simple (the write is a statement of its own directly in a `for` loop
without `else`, `return` or `yield`, and the loop neither queries nor writes anything else, which
the collected write would now follow), and always unsafe. The fixes: `M.objects.create(...)` and
`obj = M(...); obj.save()` → `bulk_create`; `row.save()` / `row.save(update_fields=[...])` →
`bulk_update`; `row.delete()` → `filter(pk__in=chunk).delete()`; `M.objects.filter(k=x).update(...)`
/ `.delete()` with the same values for every key → `filter(k__in=chunk)`; `session.flush()` /
`commit()` after `add`/`delete` → moved after the loop; `session.execute(insert(M).values(...))`
→ one executemany.

No fix is offered, and the help line and hover say why, where batching would change behaviour:
- the model, or a class it inherits from (a mixin or abstract model anywhere in the project),
  overrides `save()` (`delete()` for deletes): `bulk_create`, `bulk_update` and `QuerySet.delete()`
  never call it;
- a `pre_save`/`post_save` receiver (`pre_delete`/`post_delete` for deletes) is connected for the
  model anywhere in the project (`@receiver(post_save, sender=M)`,
  `post_save.connect(handler, sender=M)`), or one without a sender the code spells out, which may
  run for any model: bulk writes send no save signals, and a batched delete sends the delete
  signals for all rows before any is deleted;
- a tree model (django-mptt `MPTTModel`, django-treebeard `MP_Node`/`NS_Node`/`AL_Node`) or one
  that records its history (a `HistoricalRecords()` field, a change-logging base such as
  `ChangeLoggedModel`): both work row by row in `save()`/`delete()` or their signals;
- `bulk_update` would skip an `auto_now` field that `save()` sets, or would be given an attribute
  the model index does not know as a field;
- the loop reads the new row's generated key (`obj.id`/`obj.pk`), or uses the added object after
  the flush (logging it, passing it on, `session.refresh(obj)`): the flush inside the loop sets
  its key and defaults; a deleted object is used after `delete()`, which clears its key;
- `get_or_create`/`update_or_create`, an `update()` whose values differ per row, a lookup without
  an `__in` form (`name__startswith=`), related-manager writes, SQLAlchemy `update`/`delete`
  statements and raw SQL: their batched forms (a lookup plus `bulk_create`, `bulk_update` or
  `Case(When(...))`, an executemany with primary keys) are not written automatically;
- a row whose model the code does not name, and a project's own `save(...)`/`delete(...)` helper,
  whose per-row work decides the batched form.

Where a fix is offered, it still changes behaviour in ways the code may care about:
- auto-generated primary keys are not set by `bulk_create` on every database (MySQL, SQLite
  before 3.35);
- one commit after the loop instead of one per row makes the loop all-or-nothing: a failure half
  way now keeps none of the rows instead of the first half, and other transactions see the rows
  only at the end;
- an exception raised in the loop leaves the collected rows unwritten.
"#;

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let model = context.model;
    for call in &model.calls {
        let Callee::Method { receiver, method } = &call.callee else {
            continue;
        };
        if call.loops.is_empty() {
            continue;
        }
        // `qs.delete()` on a queryset held in a variable is a write query, reported with them.
        if model.queries.iter().any(|q| q.call.node == call.node) {
            continue;
        }
        match method.as_str() {
            "save" | "asave" if !call.receiver_is_session => {
                row_save(context, call, receiver, diagnostics)
            }
            "delete" | "adelete" if !call.receiver_is_session => {
                row_delete(context, call, receiver, diagnostics)
            }
            "commit" | "flush" if call.receiver_is_session => {
                flush_per_row(context, call, receiver, method, diagnostics)
            }
            "refresh" if call.receiver_is_session => {
                refresh_per_row(context, call, receiver, diagnostics)
            }
            _ => {}
        }
    }
    for query in &model.queries {
        if query.call.access == Access::Write && !query.loops.is_empty() {
            write_query(context, query, diagnostics);
        }
    }
}

type FixBuilder<'f> = Box<dyn FnOnce() -> Result<Fix, String> + 'f>;

fn push(
    diagnostics: &mut Vec<Diagnostic>,
    context: &Context<'_, '_>,
    message: String,
    range: TextRange,
    id: LoopId,
    fix: impl FnOnce() -> Result<Fix, String>,
    related: Option<(&str, TextRange)>,
) {
    // A loop over a literal or a constant writes a fixed number of rows: not an N+1.
    if !context.model.grows(id) {
        return;
    }
    let lp = context.model.loop_(id);
    let mut diagnostic = Diagnostic::new(&RULE, message, range)
        .with_related("the loop repeats the write", lp.header.clone());
    if let Some((label, range)) = related {
        diagnostic = diagnostic.with_related(label, range);
    }
    context.offer_fix(&mut diagnostic, fix);
    diagnostics.push(diagnostic);
}

/// Whether the write at `node` really runs once per iteration of loop `id`: not followed by an
/// unconditional `break`/`return`, not under a `not in cache` guard.
fn repeats(model: &SemanticModel<'_>, node: Node<'_>, id: LoopId) -> bool {
    !model.runs_at_most_once(node, id) && !model.is_memoised(node, id)
}

/// The loop that repeats a write: the innermost loop around it whose N grows. `None` when none
/// grows, or when the write is batch-shaped: the loop's names reach it only inside
/// `__in=`/`.in_()` or a slice (a chunk loop writing one slice of the keys at a time), or it
/// writes a collected batch (`filter(pk__in=pending).delete()` once the batch is full).
fn repeating_loop(model: &SemanticModel<'_>, loops: &[LoopId], refs: &[NameRef]) -> Option<LoopId> {
    let id = loops.iter().rev().copied().find(|&id| model.grows(id))?;
    let varying = &model.loop_(id).varying;
    let mut keyed = false;
    let mut batched = false;
    for reference in refs {
        let varies = varying.contains(&reference.name);
        match reference.context {
            RefContext::Key => keyed |= varies,
            RefContext::Batch => batched = true,
            RefContext::Page => batched |= varies,
        }
    }
    (keyed || !batched).then_some(id)
}

/// The names a write query reads, with a queryset held in a variable read through its value:
/// `qs_batch.delete()` reads what `qs_batch = qs.filter(id__gte=start, ...)` reads (a chunk's
/// bounds), not only the variable.
fn write_refs(model: &SemanticModel<'_>, query: &Query<'_>) -> Vec<NameRef> {
    let source = model.file.text();
    let root = Chain::flatten(query.call.node, source).root;
    if root.kind() != "identifier" {
        return query.call.refs.clone();
    }
    let name = &source[root.byte_range()];
    let held = model
        .scope_of(query.call.node)
        .values
        .get(name)
        .and_then(|value| model.queries.iter().find(|q| q.call.node == *value));
    match held {
        Some(held) => query
            .call
            .refs
            .iter()
            .filter(|r| !(r.name == name && r.range == root.byte_range()))
            .chain(held.call.refs.iter())
            .cloned()
            .collect(),
        None => query.call.refs.clone(),
    }
}

/// The loop to report for an object bound in loop `binding` (one of `loops`, innermost last):
/// that loop, or the nearest loop around it whose N grows.
fn growing_from(model: &SemanticModel<'_>, loops: &[LoopId], binding: LoopId) -> Option<LoopId> {
    let at = loops.iter().position(|&id| id == binding)?;
    loops[..=at]
        .iter()
        .rev()
        .copied()
        .find(|&id| model.grows(id))
}

/// The innermost loop around `call` whose body binds `name` (its target, or an assignment).
fn binding_loop(model: &SemanticModel<'_>, loops: &[LoopId], name: &str) -> Option<LoopId> {
    loops.iter().rev().copied().find(|&id| {
        model.loop_(id).varying.contains(name)
            || model.loop_bound.get(id).is_some_and(|b| b.contains(name))
    })
}

// ---- `obj.save()` ----------------------------------------------------------------------------

/// What a saved object is, as far as the code shows.
enum SavedRow {
    /// A row of model `M` from a query, an annotation or a relationship: `bulk_update`.
    Loaded(String),
    /// A model instance created in the loop (`tag = Tag(...)`): `bulk_create`.
    Created(String),
    /// A Django row of a model the code does not name: `save(update_fields=[...])` says so.
    Unnamed,
    /// The project's own `save(...)`: given a session (`obj.save(db)`), or defined on a
    /// SQLAlchemy model, which has no `save()` of its own.
    Helper(Option<String>),
}

impl SavedRow {
    fn model(&self) -> Option<&str> {
        match self {
            SavedRow::Loaded(model) | SavedRow::Created(model) => Some(model),
            SavedRow::Helper(model) => model.as_deref(),
            SavedRow::Unnamed => None,
        }
    }
}

/// Keywords only Django's `Model.save()` takes: evidence that the receiver is a row.
const DJANGO_SAVE_KEYWORDS: &[&str] = &["update_fields", "force_insert", "force_update"];

fn row_save(
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    receiver: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let Some(gate) = row_call(context.model, call, receiver) else {
        return;
    };
    let Some(row) = saved_row(context, call, receiver, &gate) else {
        return;
    };
    let fix = || save_fix(context, call, gate.id, receiver, &row);
    push_row_write(
        diagnostics,
        context,
        call,
        gate.id,
        "writes",
        row.model().map(crate::engine::index::display_model),
        fix,
    );
}

/// A `save()`/`delete()` call whose receiver one of the loops around it binds: what the two
/// share before they ask what the receiver is.
struct RowCall<'a> {
    /// The loop reported: the binding loop, or the nearest one around it that grows.
    id: LoopId,
    arguments: Node<'a>,
    /// The call is given a session (`obj.save(db)`): the project's own helper.
    session_argument: bool,
}

/// The row write's loop and arguments, or `None` where the call is no per-iteration row write:
/// positional arguments without a session (Django's `save()`/`delete()` take keywords only;
/// `image.save(stream)`, `storage.save(name, content)`), a receiver no loop binds, a loop that
/// does not grow, a write followed by `break`/`return` or under a cache guard, a drain loop.
fn row_call<'a>(
    model: &SemanticModel<'a>,
    call: &CallSite<'a>,
    receiver: &str,
) -> Option<RowCall<'a>> {
    let arguments = field(call.node, "arguments")?;
    let session_argument = passes_session(model, arguments);
    if positional_arguments(arguments).next().is_some() && !session_argument {
        return None;
    }
    let binding = binding_loop(model, &call.loops, receiver)?;
    let id = growing_from(model, &call.loops, binding)?;
    if !repeats(model, call.node, id) || drains(model, id, receiver) {
        return None;
    }
    Some(RowCall {
        id,
        arguments,
        session_argument,
    })
}

/// Reports `obj.save()` / `obj.delete()`: "`call` writes one `Model` per `x` of `xs`".
fn push_row_write(
    diagnostics: &mut Vec<Diagnostic>,
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    id: LoopId,
    verb: &str,
    class: Option<&str>,
    fix: impl FnOnce() -> Result<Fix, String>,
) {
    let model = context.model;
    let what = class.map_or("one row".to_string(), |class| format!("one `{class}`"));
    let message = format!(
        "`{}` {verb} {what} per {}",
        call_text(model, call.node),
        model.loop_(id).iteration_phrase()
    );
    push(
        diagnostics,
        context,
        message,
        call.node.byte_range(),
        id,
        fix,
        None,
    );
}

/// What a saved object is, when the code shows it is a row.
fn saved_row(
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    receiver: &str,
    gate: &RowCall<'_>,
) -> Option<SavedRow> {
    let model = context.model;
    let class = row_class(context, call, receiver);
    let row = match class {
        _ if gate.session_argument => SavedRow::Helper(class.map(|(name, _)| name)),
        Some((name, created)) => match context.index.model(&name).map(|m| m.orm) {
            // A SQLAlchemy model has no `save()` of its own: the project's writes only where its
            // body commits (or flushes); one that only adds waits for the next flush.
            Some(ModelOrm::SqlAlchemy) if context.index.writes_when_called(&name, "save") => {
                SavedRow::Helper(Some(name))
            }
            Some(ModelOrm::SqlAlchemy) => return None,
            _ if created => SavedRow::Created(name),
            _ => SavedRow::Loaded(name),
        },
        None if keyword_names(model.file.text(), gate.arguments)
            .iter()
            .any(|k| DJANGO_SAVE_KEYWORDS.contains(k))
            || query_row_orm(model, call.node, receiver) == Some(Orm::Django) =>
        {
            SavedRow::Unnamed
        }
        None => return None,
    };
    Some(row)
}

/// The model of the receiver's rows and whether the loop created it: a row type the semantic
/// model knows, or a call of an indexed model class assigned to it (`tag = Tag(name=n)`).
fn row_class(
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    receiver: &str,
) -> Option<(String, bool)> {
    if let Some(RowType::Row(name)) = &call.receiver_type {
        return Some((name.clone(), false));
    }
    let model = context.model;
    let value = model.scope_of(call.node).values.get(receiver).copied()?;
    if value.kind() != "call" {
        return None;
    }
    let class = model.file.node_text(field(value, "function")?);
    let name = class.rsplit('.').next().unwrap_or(class);
    context.index.model(name)?;
    Some((class.to_string(), true))
}

fn save_fix(
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    id: LoopId,
    receiver: &str,
    row: &SavedRow,
) -> Result<Fix, String> {
    match row {
        SavedRow::Loaded(class) => bulk_update_fix(context, call, id, receiver, class),
        SavedRow::Created(class) => bulk_create_fix(context, call, id, receiver, class),
        SavedRow::Unnamed => Err(
            "the row's model is not named in the code, so no `bulk_update` can be written for it"
                .to_string(),
        ),
        SavedRow::Helper(_) => Err(helper_reason("save")),
    }
}

fn helper_reason(method: &str) -> String {
    format!(
        "`{method}(...)` is the project's own method: what it writes (and commits) per row decides \
         the batched form"
    )
}

/// `row.field = ...; row.save()` over query rows → `bulk_update(rows, fields=[...])`.
fn bulk_update_fix(
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    id: LoopId,
    receiver: &str,
    class: &str,
) -> Result<Fix, String> {
    let model = context.model;
    let indexed = django_model(context, class)?;
    if let Some(behaviour) = context.index.per_row_behaviour(class, RowWrite::Save) {
        return Err(per_row_reason(&behaviour, class, "bulk_update"));
    }
    let listed = update_fields(model, call)?;
    let fields: Vec<String> = match &listed {
        Some(fields) => fields.clone(),
        None => {
            let prefix = format!("{receiver}.");
            let mut fields: Vec<String> = model.loop_bound[id]
                .iter()
                .filter_map(|name| name.strip_prefix(&prefix))
                .filter(|rest| !rest.contains('.'))
                .map(str::to_string)
                .collect();
            fields.sort_unstable();
            fields
        }
    };
    if fields.is_empty() {
        return Err("no field of the row is assigned in the loop".to_string());
    }
    for name in &fields {
        let known =
            indexed.column(name).is_some() || indexed.relationship(name).is_some() || name == "pk";
        if !known {
            return Err(format!(
                "`{receiver}.{name}` is not a field the model index knows on `{class}` \
                 (`bulk_update` accepts only concrete fields)"
            ));
        }
    }
    // `save()` sets `auto_now` fields (all of them, or those in `update_fields`); `bulk_update`
    // writes the values as they are.
    let auto_now = context.index.auto_now_fields(class);
    if let Some(stamp) = auto_now
        .iter()
        .find(|f| listed.is_none() || fields.contains(f))
    {
        return Err(format!(
            "`save()` sets the `auto_now` field `{stamp}` of `{class}`, which `bulk_update` leaves \
             unchanged"
        ));
    }
    let shape = simple_shape(model, call.node, id)?;
    let written = class_in_file(model, call.node, class)?;
    let mut names = NameTable::new(model.file, call.node);
    let list = plural_name(&mut names, "changed_", class, "s");
    let fields = fields
        .iter()
        .map(|f| format!("\"{f}\""))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(collect_fix(
        format!("Collect the changed `{class}` rows and write them with one `bulk_update` after the loop"),
        &shape,
        &list,
        receiver,
        format!("{written}.objects.bulk_update({list}, fields=[{fields}])"),
    ))
}

/// `update_fields=["a", "b"]` as a list, `None` without the keyword; an error for any other
/// argument or a list that is not literal.
fn update_fields(
    model: &SemanticModel<'_>,
    call: &CallSite<'_>,
) -> Result<Option<Vec<String>>, String> {
    let Some(arguments) = field(call.node, "arguments") else {
        return Ok(None);
    };
    let mut listed = None;
    for argument in named_children(arguments) {
        if argument.kind() == "comment" {
            continue;
        }
        let name = field(argument, "name").map(|n| model.file.node_text(n));
        let (Some("update_fields"), Some(value)) = (name, field(argument, "value")) else {
            return Err("`save(...)` has arguments other than `update_fields`".to_string());
        };
        if !matches!(value.kind(), "list" | "tuple") {
            return Err("`update_fields` is not a literal list".to_string());
        }
        let mut fields = Vec::new();
        for item in named_children(value) {
            if item.kind() != "string" {
                return Err("`update_fields` is not a literal list of names".to_string());
            }
            fields.push(
                model
                    .file
                    .node_text(item)
                    .trim_matches(['"', '\''])
                    .to_string(),
            );
        }
        listed = Some(fields);
    }
    Ok(listed)
}

/// `obj = M(...); obj.save()` → `bulk_create` after the loop.
fn bulk_create_fix(
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    id: LoopId,
    receiver: &str,
    class: &str,
) -> Result<Fix, String> {
    let model = context.model;
    bulk_form_allowed(context, call, class, RowWrite::Save, "bulk_create")?;
    if reads_generated_key(model.loop_(id).node, receiver, model.file.text()) {
        return Err(format!(
            "the loop reads `{receiver}.id`/`{receiver}.pk`, which `bulk_create` may not set"
        ));
    }
    let shape = simple_shape(model, call.node, id)?;
    Ok(bulk_create_collected(
        model, call.node, &shape, class, receiver,
    ))
}

/// What a Django bulk form of `obj.save()`/`obj.delete()` requires: a call without arguments, a
/// Django model the index knows, and nothing that works row by row (see [`per_row_reason`]).
fn bulk_form_allowed(
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    class: &str,
    write: RowWrite,
    bulk: &str,
) -> Result<(), String> {
    if field(call.node, "arguments").is_some_and(|a| named_children(a).next().is_some()) {
        return Err(format!("`{}(...)` has arguments", write.method()));
    }
    django_model(context, class)?;
    match context.index.per_row_behaviour(class, write) {
        Some(behaviour) => Err(per_row_reason(&behaviour, class, bulk)),
        None => Ok(()),
    }
}

// ---- `obj.delete()` --------------------------------------------------------------------------

fn row_delete(
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    receiver: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let model = context.model;
    let Some(gate) = row_call(model, call, receiver) else {
        return;
    };
    let class = match &call.receiver_type {
        Some(RowType::Row(class)) => Some(class.as_str()),
        _ => None,
    };
    let indexed = class.and_then(|class| context.index.model(class).map(|m| m.orm));
    let helper = match (indexed, query_row_orm(model, call.node, receiver)) {
        _ if gate.session_argument => true,
        (Some(ModelOrm::Django), _) | (None, Some(Orm::Django)) => false,
        // A SQLAlchemy model's own `delete()` writes now only where its body commits or flushes
        // (ckan's only queues `Session.delete(self)` for the next flush).
        (Some(ModelOrm::SqlAlchemy), _)
            if class.is_some_and(|class| context.index.writes_when_called(class, "delete")) =>
        {
            true
        }
        _ => return,
    };
    let fix = || match class {
        _ if helper => Err(helper_reason("delete")),
        Some(class) => delete_rows_fix(context, call, gate.id, receiver, class),
        None => Err(
            "the row's model is not named in the code, so no batched delete can be written for it"
                .to_string(),
        ),
    };
    push_row_write(diagnostics, context, call, gate.id, "deletes", class, fix);
}

/// `row.delete()` per row → collect the primary keys, one `filter(pk__in=...).delete()` per chunk.
fn delete_rows_fix(
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    id: LoopId,
    receiver: &str,
    class: &str,
) -> Result<Fix, String> {
    let model = context.model;
    bulk_form_allowed(context, call, class, RowWrite::Delete, "QuerySet.delete()")?;
    let shape = simple_shape(model, call.node, id)?;
    if used_after(model, shape.loop_node, receiver, call.node.end_byte()) {
        return Err(format!(
            "the loop uses `{receiver}` after `delete()`, which clears its primary key"
        ));
    }
    let written = class_in_file(model, call.node, class)?;
    let mut names = NameTable::new(model.file, call.node);
    let list = plural_name(&mut names, "", class, "_pks");
    let after = chunked_write(
        model,
        &shape,
        &mut names,
        &list,
        context.options.batch_size,
        |chunk| format!("{written}.objects.filter(pk__in={chunk}).delete()"),
    );
    Ok(collect_fix(
        format!(
            "Collect the `{class}` primary keys and delete the rows with one \
             `filter(pk__in=...).delete()` per {} keys after the loop",
            context.options.batch_size
        ),
        &shape,
        &list,
        &format!("{receiver}.pk"),
        after,
    ))
}

// ---- `session.add(x)` + `session.flush()` ----------------------------------------------------

/// Session methods that queue a row for the next flush.
const QUEUED: &[&str] = &["add", "add_all", "delete", "merge"];

fn flush_per_row(
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    receiver: &str,
    method: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let model = context.model;
    let Some(&id) = call.loops.last() else {
        return;
    };
    let extent = model.loop_extent(id);
    let queued = model.calls.iter().find(|other| {
        matches!(&other.callee, Callee::Method { receiver: r, method: m } if r == receiver && QUEUED.contains(&m.as_str()))
            && other.loops.last() == Some(&id)
            && other.node.start_byte() < call.node.start_byte()
            && extent.start <= other.node.start_byte()
    });
    let Some(queued) = queued else { return };
    if !repeats(model, call.node, id) {
        return;
    }
    let Callee::Method {
        method: queued_method,
        ..
    } = &queued.callee
    else {
        return;
    };
    let (verb, label) = match queued_method.as_str() {
        "delete" => ("DELETE", "the row deleted in this iteration"),
        "merge" => ("SELECT and write", "the row merged in this iteration"),
        _ => ("INSERT", "the row added in this iteration"),
    };
    let message = format!(
        "`{receiver}.{method}()` after `{receiver}.{queued_method}(...)` runs once per {}: one {verb} round trip{} per row",
        model.loop_(id).iteration_phrase(),
        if method == "commit" { " and transaction" } else { "" }
    );
    let fix = || move_after_loop(model, call, queued, id);
    push(
        diagnostics,
        context,
        message,
        call.node.byte_range(),
        id,
        fix,
        Some((label, queued.node.byte_range())),
    );
}

/// `session.add(x); session.commit()` → the commit moves after the loop.
fn move_after_loop(
    model: &SemanticModel<'_>,
    call: &CallSite<'_>,
    queued: &CallSite<'_>,
    id: LoopId,
) -> Result<Fix, String> {
    // What the flush generates decides first: it is why the flush is in the loop at all.
    let loop_node = model.loop_(id).node;
    let source = model.file.text();
    for added in field(queued.node, "arguments")
        .into_iter()
        .flat_map(named_children)
        .filter(|a| a.kind() == "identifier")
    {
        let name = &source[added.byte_range()];
        if reads_generated_key(loop_node, name, source) {
            return Err(format!(
                "the loop reads `{name}.id`/`{name}.pk`, which the flush inside the loop sets"
            ));
        }
        if used_after(model, loop_node, name, call.node.end_byte()) {
            return Err(format!(
                "the loop uses `{name}` after the flush, which gives it its generated key and \
                 defaults"
            ));
        }
    }
    let shape = simple_shape(model, call.node, id)?;
    let index = model.file.line_index();
    let line = index.line_of(shape.statement.start_byte());
    let content = index.line_range(line, source);
    if index.line_of(shape.statement.end_byte()) != line
        || !source[content.start..shape.statement.start_byte()]
            .trim()
            .is_empty()
    {
        return Err("the statement shares its line".to_string());
    }
    let rest = source[shape.statement.end_byte()..content.end].trim();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Err("the statement shares its line".to_string());
    }
    let moved = source[shape.statement.start_byte()..content.end].trim_end();
    let statement = display_code(&source[shape.statement.byte_range()], 40);
    Ok(Fix::new(
        format!(
            "Move `{statement}` after the loop: one {} for all rows",
            if statement.contains("commit") {
                "transaction"
            } else {
                "flush"
            }
        ),
        Applicability::Unsafe,
        vec![
            Edit::delete(content.start..index.line_start(line + 1)),
            shape.after_loop(moved),
        ],
    ))
}

// ---- `session.refresh(x)` --------------------------------------------------------------------

fn refresh_per_row(
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    receiver: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let model = context.model;
    let Some(refreshed) = field(call.node, "arguments")
        .and_then(|a| positional_arguments(a).next())
        .and_then(|a| crate::engine::syntax::dotted_path(a, model.file.text()))
    else {
        return;
    };
    let Some(id) = binding_loop(model, &call.loops, &refreshed)
        .and_then(|binding| growing_from(model, &call.loops, binding))
    else {
        return;
    };
    if !repeats(model, call.node, id) {
        return;
    }
    // After `session.commit()` in the same loop, the commit is the finding (and the refresh the
    // reason it cannot move).
    let extent = model.loop_extent(id);
    let flushed_before = model.calls.iter().any(|other| {
        matches!(&other.callee, Callee::Method { receiver: r, method: m } if r == receiver && matches!(m.as_str(), "commit" | "flush"))
            && extent.start <= other.node.start_byte()
            && other.node.start_byte() < call.node.start_byte()
    });
    if flushed_before {
        return;
    }
    let message = format!(
        "`{}` reloads one row per {}: one SELECT per row",
        call_text(model, call.node),
        model.loop_(id).iteration_phrase()
    );
    let fix = || {
        Err(
            "reload the rows with one query instead: `select(M).where(M.id.in_(ids))` with \
             `execution_options(populate_existing=True)`, or `selectinload` for the attributes"
                .to_string(),
        )
    };
    push(
        diagnostics,
        context,
        message,
        call.node.byte_range(),
        id,
        fix,
        None,
    );
}

// ---- write queries ---------------------------------------------------------------------------

fn write_query(context: &Context<'_, '_>, query: &Query<'_>, diagnostics: &mut Vec<Diagnostic>) {
    let model = context.model;
    let source = model.file.text();
    // `M.objects.get_or_create(...)[0]`: the subscript holds the same write; report the call.
    let node = query.call.node;
    let nested_write = model.queries.iter().any(|other| {
        other.call.access == Access::Write
            && other.call.node != node
            && node.start_byte() <= other.call.node.start_byte()
            && other.call.node.end_byte() <= node.end_byte()
    });
    if nested_write {
        return;
    }
    let refs = write_refs(model, query);
    let Some(id) = repeating_loop(model, &query.loops, &refs) else {
        return;
    };
    if !repeats(model, node, id) || retries_until(model, query, id) {
        return;
    }
    // An UPDATE or DELETE that takes nothing from the loop writes the same rows every time: a
    // reset between iterations (`M.objects.all().delete()` per test case), not a write per key.
    let varying = &model.loop_(id).varying;
    let takes_from_loop = refs.iter().any(|r| varying.contains(&r.name));
    let flattened = Chain::flatten(query.call.node, source);
    let chain = &flattened;
    let phrase = model.loop_(id).iteration_phrase();
    let display = &query.call.display;
    let on_model = query.call.model.as_deref().unwrap_or("");
    let (message, fix): (String, FixBuilder<'_>) = match (query.call.orm, query.call.api) {
        (Orm::Django, _) => {
            let Some((verb, write)) = django_write(chain) else {
                return;
            };
            match verb {
                "create" => {
                    let what = if on_model.is_empty() {
                        "one row".to_string()
                    } else {
                        format!("one `{on_model}`")
                    };
                    (
                        format!("`{display}` inserts {what} per {phrase}"),
                        if query.call.api == QueryApi::DjangoManager {
                            Box::new(move || create_fix(context, query.call.node, chain, id))
                        } else {
                            Box::new(|| {
                                Err("only `M.objects.create(...)` is rewritten (into `bulk_create`)"
                                    .to_string())
                            })
                        },
                    )
                }
                "get_or_create" | "update_or_create" => (
                    format!(
                        "`{display}` runs a SELECT, then an {} when needed, per {phrase}",
                        if verb == "get_or_create" {
                            "INSERT"
                        } else {
                            "UPDATE or INSERT"
                        }
                    ),
                    Box::new(move || {
                        Err(format!(
                            "batching `{verb}` takes one `filter(<key>__in=keys)` for the rows \
                             that exist and one `bulk_create` for the missing ones (with repeated \
                             keys and concurrent writers to handle); not rewritten automatically"
                        ))
                    }),
                ),
                "update" | "delete" if takes_from_loop => (
                    format!(
                        "`{display}` runs one {} per {phrase}",
                        if verb == "update" {
                            "UPDATE"
                        } else {
                            "DELETE (with its cascade)"
                        }
                    ),
                    Box::new(move || keyed_write_fix(context, query, chain, id, verb, write)),
                ),
                "add" | "remove" | "set" | "clear"
                    if owned_by_django_row(context, query, chain) =>
                {
                    (
                        format!("`{display}` writes the relation's link rows once per {phrase}"),
                        Box::new(|| {
                            Err("one `bulk_create` (or filtered `delete()`) of the link rows of the \
                             relation's `through` model replaces them; not rewritten automatically"
                            .to_string())
                        }),
                    )
                }
                // Already the bulk form, once per parent.
                _ => return,
            }
        }
        (Orm::SqlAlchemy, QueryApi::Statement) => {
            if executes_many(model, chain) {
                return;
            }
            let Some((kind, statement)) = statement_kind(model, chain) else {
                return;
            };
            if kind.verb() != "INSERT" && !takes_from_loop {
                return;
            }
            (
                format!(
                    "`{}` runs one {} per {phrase}",
                    display_code(&source[statement.byte_range()], 60),
                    kind.verb()
                ),
                Box::new(move || match kind {
                    WriteStatement::Insert => {
                        insert_fix(model, query.call.node, chain, statement, id)
                    }
                    WriteStatement::Update | WriteStatement::Delete => Err(format!(
                        "{} per row becomes one executemany `session.execute({}(M), [...])` \
                         with primary keys, or one `.in_()` statement when the values do not \
                         vary; not rewritten automatically",
                        with_article(kind.verb()),
                        kind.verb().to_ascii_lowercase()
                    )),
                    WriteStatement::Raw(_) => Err(
                        "the statement is raw SQL; batching it means rewriting the SQL".to_string(),
                    ),
                }),
            )
        }
        (Orm::SqlAlchemy, QueryApi::LegacyQuery | QueryApi::ModelQuery) => {
            let Some(verb) = chain
                .segments
                .iter()
                .find(|s| s.is_call() && matches!(s.name, "update" | "delete"))
                .map(|s| s.name)
                .filter(|_| takes_from_loop)
            else {
                return;
            };
            let verb = verb.to_ascii_uppercase();
            (
                format!("`{display}` runs one {verb} per {phrase}"),
                Box::new(move || {
                    Err(format!(
                        "{} per row becomes one `filter(M.id.in_(keys))` {} when the values do \
                         not vary, or one executemany `session.execute({}(M), [...])` with \
                         primary keys; not rewritten automatically",
                        with_article(&verb),
                        verb.to_ascii_lowercase(),
                        verb.to_ascii_lowercase()
                    ))
                }),
            )
        }
        _ => return,
    };
    push(
        diagnostics,
        context,
        message,
        query.call.node.byte_range(),
        id,
        fix,
        None,
    );
}

/// The write of a Django chain (`create`, `update`, `add`, ...; async forms by their sync name)
/// and its segment.
fn django_write<'c, 'a>(chain: &'c Chain<'a>) -> Option<(&'a str, &'c orm::Segment<'a>)> {
    let writes = Orm::Django.tables().chain_writes;
    let segment = chain
        .segments
        .iter()
        .find(|s| s.is_call() && writes.contains(&s.name))?;
    let verb = segment
        .name
        .strip_prefix('a')
        .filter(|sync| writes.contains(sync))
        .unwrap_or(segment.name);
    Some((verb, segment))
}

/// `M.objects.filter(k=x).update(f=v)` / `.delete()` per key, with the same values for every key
/// → collect the keys, one `filter(k__in=chunk)` write per chunk after the loop.
fn keyed_write_fix<'a>(
    context: &Context<'_, 'a>,
    query: &Query<'a>,
    chain: &Chain<'a>,
    id: LoopId,
    verb: &str,
    write: &orm::Segment<'a>,
) -> Result<Fix, String> {
    let model = context.model;
    let source = model.file.text();
    let not_rewritten = || {
        format!("only `M.objects.filter(key=value).{verb}(...)` with one key per iteration is rewritten")
    };
    let [manager, filter, last] = chain.segments.as_slice() else {
        return Err(not_rewritten());
    };
    if query.call.api != QueryApi::DjangoManager
        || manager.name != "objects"
        || manager.is_call()
        || filter.name != "filter"
        || last.node != write.node
        || !matches!(chain.root.kind(), "identifier" | "attribute")
    {
        return Err(not_rewritten());
    }
    let class = query.call.model.as_deref().ok_or_else(not_rewritten)?;
    let varying = &model.loop_(id).varying;
    let varies = |node: Node<'_>| {
        query.call.refs.iter().any(|r| {
            varying.contains(&r.name)
                && node.start_byte() <= r.range.start
                && r.range.end <= node.end_byte()
        })
    };
    if write.arguments.is_some_and(varies) {
        return Err(
            "the values differ per row: one `bulk_update` of the changed rows, or one `update()` \
             with `Case(When(...))`; not rewritten automatically"
                .to_string(),
        );
    }
    let arguments = filter.arguments.ok_or_else(not_rewritten)?;
    let mut key = None;
    let mut others = Vec::new();
    for argument in named_children(arguments).filter(|a| a.kind() != "comment") {
        if argument.kind() != "keyword_argument" {
            return Err(not_rewritten());
        }
        if varies(argument) {
            if key.replace(argument).is_some() {
                return Err("the filter takes several values from the loop".to_string());
            }
        } else {
            others.push(&source[argument.byte_range()]);
        }
    }
    let key = key.ok_or_else(not_rewritten)?;
    let (Some(name), Some(value)) = (field(key, "name"), field(key, "value")) else {
        return Err(not_rewritten());
    };
    let name = &source[name.byte_range()];
    let lookup = name.strip_suffix("__exact").unwrap_or(name);
    let plain = !lookup.contains("__") || lookup.ends_with("__id") || lookup.ends_with("__pk");
    if !plain {
        return Err(format!("the lookup `{name}` has no `__in` form"));
    }
    if verb == "delete" {
        django_model(context, class)?;
        if let Some(behaviour) = context
            .index
            .per_row_behaviour(class, RowWrite::Delete)
            .filter(|b| !matches!(b, PerRowBehaviour::Override { .. }))
        {
            return Err(per_row_reason(
                &behaviour,
                class,
                "one `QuerySet.delete()` for all keys",
            ));
        }
    }
    let shape = simple_shape(model, query.call.node, id)?;
    let written = &source[chain.root.byte_range()];
    let mut names = NameTable::new(model.file, query.call.node);
    let list = plural_name(&mut names, "", class, "_keys");
    let rest: String = others.iter().map(|o| format!("{o}, ")).collect();
    let write_arguments = write
        .arguments
        .map(|a| &source[a.byte_range()])
        .unwrap_or("()");
    let after = chunked_write(
        model,
        &shape,
        &mut names,
        &list,
        context.options.batch_size,
        |chunk| {
            format!(
                "{written}.objects.filter({rest}{lookup}__in={chunk}).{}{write_arguments}",
                write.name
            )
        },
    );
    Ok(collect_fix(
        format!(
            "Collect the keys and run one `filter({lookup}__in=...).{}()` per {} keys after the loop",
            write.name, context.options.batch_size
        ),
        &shape,
        &list,
        &source[value.byte_range()],
        after,
    ))
}

/// "an UPDATE", "an INSERT", "a DELETE".
fn with_article(verb: &str) -> String {
    let article = if verb.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {verb}")
}

/// What a SQLAlchemy statement writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteStatement {
    Insert,
    Update,
    Delete,
    /// `text("UPDATE ...")` or a SQL string, with its verb.
    Raw(&'static str),
}

impl WriteStatement {
    fn verb(self) -> &'static str {
        match self {
            WriteStatement::Insert => "INSERT",
            WriteStatement::Update => "UPDATE",
            WriteStatement::Delete => "DELETE",
            WriteStatement::Raw(verb) => verb,
        }
    }
}

/// The statement `session.execute(...)` runs (followed to its assignment) and what it writes:
/// `insert(M)`, `sa.update(M)`, a Core table's `users.delete()`, raw SQL.
fn statement_kind<'a>(
    model: &SemanticModel<'a>,
    chain: &Chain<'a>,
) -> Option<(WriteStatement, Node<'a>)> {
    let source = model.file.text();
    let first = chain.segments.iter().position(|s| s.is_call())?;
    let mut statement = positional_arguments(chain.segments[first].arguments?).next()?;
    if statement.kind() == "identifier" {
        statement = model
            .scope_of(statement)
            .values
            .get(&source[statement.byte_range()])
            .copied()
            .or_else(|| {
                model
                    .scopes
                    .last()
                    .and_then(|module| module.values.get(&source[statement.byte_range()]))
                    .copied()
            })?;
    }
    let inner = Chain::flatten(statement, source);
    let constructor = match inner.root.kind() {
        // `insert(M)...`, `text("...")`
        "call" => crate::engine::syntax::callee_name(inner.root, source),
        // `sa.update(M)`, `users.delete()`
        _ => inner
            .segments
            .first()
            .filter(|s| s.is_call())
            .map(|s| s.name),
    };
    let kind = match constructor {
        Some("insert") => WriteStatement::Insert,
        Some("update") => WriteStatement::Update,
        Some("delete") => WriteStatement::Delete,
        _ => WriteStatement::Raw(sql_verb(&source[statement.byte_range()])?),
    };
    Some((kind, statement))
}

/// `session.execute(statement, rows)` with parameters that are not one literal dict: an
/// executemany of a batch of rows, the batched form.
fn executes_many(model: &SemanticModel<'_>, chain: &Chain<'_>) -> bool {
    let Some(mut parameters) = chain
        .segments
        .iter()
        .find(|s| s.is_call())
        .and_then(|s| s.arguments)
        .and_then(|arguments| positional_arguments(arguments).nth(1))
    else {
        return false;
    };
    if parameters.kind() == "identifier" {
        if let Some(value) = model
            .scope_of(parameters)
            .values
            .get(model.file.node_text(parameters))
        {
            parameters = *value;
        }
    }
    parameters.kind() != "dictionary"
}

/// The verb of the first SQL string in a raw statement: `INSERT`, `UPDATE` or `DELETE`.
fn sql_verb(text: &str) -> Option<&'static str> {
    let body = text
        .split(['"', '\''])
        .find(|part| !part.trim().is_empty() && !part.starts_with("text("))?;
    let verb = body.split_whitespace().next()?.to_ascii_lowercase();
    match verb.as_str() {
        "insert" => Some("INSERT"),
        "update" => Some("UPDATE"),
        "delete" => Some("DELETE"),
        _ => None,
    }
}

/// The ORM of the query whose row `name` holds where `node` stands, when the code shows one: a
/// loop target over the query (`for revision in page.revisions.all()` iterates a Django related
/// manager even where the model index does not know the related model), or a name assigned a
/// query's one row (`obj = qs.first()`). A name holding the queryset itself is not a row.
fn query_row_orm(model: &SemanticModel<'_>, node: Node<'_>, name: &str) -> Option<Orm> {
    let origin = model
        .scope_of(node)
        .origins
        .get(name)
        .filter(|origin| origin.path.is_empty())?;
    // The loop's target: its origin is what the loop iterates.
    let iterated = model.loops.iter().enumerate().any(|(id, lp)| {
        let extent = model.loop_extent(id);
        lp.target == name && extent.start <= node.start_byte() && node.end_byte() <= extent.end
    });
    let one_row = model
        .queries
        .iter()
        .find(|q| q.call.node == origin.query)
        .and_then(|q| q.call.terminal.as_deref())
        .is_some_and(|terminal| origin.orm.tables().one_row.contains(&terminal));
    (iterated || one_row).then_some(origin.orm)
}

/// A `while` loop that retries until the write's result says so: `while not created: obj,
/// created = M.objects.get_or_create(name=candidate)` looks for a free name, one write per try.
fn retries_until(model: &SemanticModel<'_>, query: &Query<'_>, id: LoopId) -> bool {
    let lp = model.loop_(id);
    lp.kind == LoopKind::While
        && query.assigned_to.iter().any(|name| {
            lp.target
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == name)
        })
}

/// A `while` loop that takes the next row from a query each iteration and writes it (a queue
/// drained one row at a time): the rows cannot be known up front.
fn drains(model: &SemanticModel<'_>, id: LoopId, receiver: &str) -> bool {
    let lp = model.loop_(id);
    if lp.kind != LoopKind::While {
        return false;
    }
    let extent = model.loop_extent(id);
    model.queries.iter().any(|q| {
        q.assigned_to.iter().any(|name| name == receiver)
            && extent.start <= q.call.node.start_byte()
            && q.call.node.end_byte() <= extent.end
    })
}

/// A related manager write (`obj.tags.add(tag)`) whose owner is a row of a Django model the index
/// knows: the relation is a Django relation, not a list named like one (SQLAlchemy's
/// instrumented collections, in-memory objects).
fn owned_by_django_row(context: &Context<'_, '_>, query: &Query<'_>, chain: &Chain<'_>) -> bool {
    let model = context.model;
    let source = model.file.text();
    let Some(manager) = chain.segments.iter().position(|s| s.is_call()) else {
        return false;
    };
    let mut owner = crate::engine::syntax::dotted_path(chain.root, source).unwrap_or_default();
    for segment in &chain.segments[..manager.saturating_sub(1)] {
        owner.push('.');
        owner.push_str(segment.name);
    }
    let row = model.scope_of(query.call.node).types.get(&owner).cloned();
    matches!(row, Some(RowType::Row(name)) if context.index.model(&name).is_some_and(|m| m.orm == ModelOrm::Django))
}

// ---- fixes -----------------------------------------------------------------------------------

/// Where the rewritten loop's edits go: the statement holding the write, directly in the body
/// of a plain `for` loop without `else`, `return` or `yield`.
struct Shape<'a> {
    statement: Node<'a>,
    loop_node: Node<'a>,
    indent: String,
    /// Offset of the line after the loop.
    after: usize,
    /// A newline to put first when the loop ends the file without one.
    lead: &'static str,
}

impl Shape<'_> {
    /// Inserts `code` (its later lines already indented) on its own line after the loop, at the
    /// loop's indentation.
    fn after_loop(&self, code: &str) -> Edit {
        Edit::insert(self.after, format!("{}{}{code}\n", self.lead, self.indent))
    }
}

/// The loop as a fix can rewrite it: the write a statement of its own directly in the body of a
/// plain `for` loop, which neither leaves early nor queries or writes anything else (moving the
/// write after the loop would reorder it with those).
fn simple_shape<'a>(
    model: &SemanticModel<'a>,
    write: Node<'a>,
    id: LoopId,
) -> Result<Shape<'a>, String> {
    let lp = model.loop_(id);
    if !matches!(lp.kind, LoopKind::For | LoopKind::AsyncFor) {
        return Err("the write is in a comprehension or `while` loop".to_string());
    }
    let loop_node = lp.node;
    if field(loop_node, "alternative").is_some() {
        return Err("the loop has an `else` clause".to_string());
    }
    let mut statement = write;
    if statement.parent().is_some_and(|p| p.kind() == "await") {
        statement = statement.parent().expect("checked");
    }
    let statement = statement
        .parent()
        .filter(|p| p.kind() == "expression_statement" && named_children(*p).count() == 1)
        .ok_or("the write's result is used")?;
    if statement.parent() != field(loop_node, "body") {
        return Err("the write is not directly in the loop body".to_string());
    }
    if leaves_early(field(loop_node, "body").expect("has a body")) {
        return Err(
            "the loop can `return` or `yield` before the collected rows are written".to_string(),
        );
    }
    let extent = field(loop_node, "body").expect("has a body").byte_range();
    let inside =
        |node: Node<'_>| extent.start <= node.start_byte() && node.end_byte() <= extent.end;
    let reads = model
        .queries
        .iter()
        .any(|q| q.call.access == Access::Read && inside(q.call.node));
    if reads {
        return Err("the loop also queries the database, and may read the rows written in the same iteration".to_string());
    }
    let other_write = model
        .queries
        .iter()
        .filter(|q| q.call.access == Access::Write && q.call.node != write)
        .map(|q| q.call.node)
        .chain(
            model
                .calls
                .iter()
                .filter(|c| c.node != write && c.writes() && !queues_for_flush(c))
                .map(|c| c.node),
        )
        .find(|node| inside(*node));
    if let Some(other) = other_write {
        return Err(format!(
            "the loop also writes (`{}`), and the collected write would run after it",
            display_code(model.file.node_text(other), 40)
        ));
    }
    let file = model.file;
    let index = file.line_index();
    let line_start = index.line_start(index.line_of(loop_node.start_byte()));
    if !file.text()[line_start..loop_node.start_byte()]
        .trim()
        .is_empty()
    {
        return Err("the loop does not start its own line".to_string());
    }
    let after = index.line_start(index.line_of(loop_node.end_byte()) + 1);
    let lead = if after >= file.text().len() && !file.text().ends_with('\n') {
        "\n"
    } else {
        ""
    };
    Ok(Shape {
        statement,
        loop_node,
        indent: indentation_at(file, loop_node.start_byte()).to_string(),
        after,
        lead,
    })
}

/// `session.add(x)` and the like only queue a row: the flush or commit writes it.
fn queues_for_flush(call: &CallSite<'_>) -> bool {
    call.receiver_is_session
        && matches!(&call.callee, Callee::Method { method, .. } if QUEUED.contains(&method.as_str()))
}

fn leaves_early(node: Node<'_>) -> bool {
    match node.kind() {
        "return_statement" | "yield" => true,
        "function_definition" | "lambda" | "class_definition" => false,
        _ => named_children(node).any(leaves_early),
    }
}

/// Whether `name.id` or `name.pk` is read anywhere in the node.
fn reads_generated_key(node: Node<'_>, name: &str, source: &str) -> bool {
    if node.kind() == "attribute"
        && field(node, "object").is_some_and(|o| &source[o.byte_range()] == name)
        && field(node, "attribute").is_some_and(|a| matches!(&source[a.byte_range()], "id" | "pk"))
    {
        return true;
    }
    named_children(node).any(|child| reads_generated_key(child, name, source))
}

/// Whether the loop reads `name` after offset `after` (passes it on, reads an attribute of it);
/// assigning it, or assigning an attribute of it, is not a read.
fn used_after(model: &SemanticModel<'_>, loop_node: Node<'_>, name: &str, after: usize) -> bool {
    let source = model.file.text();
    let Some(body) = field(loop_node, "body") else {
        return false;
    };
    let mut stack = vec![body];
    while let Some(node) = stack.pop() {
        if node.end_byte() <= after {
            continue;
        }
        if node.kind() == "assignment" {
            // The value is read; the target is written, unless it indexes or calls through `name`.
            if let Some(right) = field(node, "right") {
                stack.push(right);
            }
            if let Some(left) = field(node, "left") {
                let assigns = match left.kind() {
                    "identifier" => true,
                    "attribute" => field(left, "object").is_some_and(|o| o.kind() == "identifier"),
                    _ => false,
                };
                if !assigns {
                    stack.push(left);
                }
            }
            continue;
        }
        if node.kind() == "identifier"
            && node.start_byte() >= after
            && &source[node.byte_range()] == name
        {
            return true;
        }
        stack.extend(named_children(node));
    }
    false
}

/// The call as written, for messages.
fn call_text(model: &SemanticModel<'_>, node: Node<'_>) -> String {
    display_code(model.file.node_text(node), 60)
}

/// The fix that starts an empty `list` before the loop, appends `item` to it in place of the
/// write, and runs `after` once after the loop.
fn collect_fix(message: String, shape: &Shape<'_>, list: &str, item: &str, after: String) -> Fix {
    Fix::new(
        message,
        Applicability::Unsafe,
        vec![
            Edit::insert(
                shape.loop_node.start_byte() - (shape.indent.len()),
                format!("{}{list} = []\n", shape.indent),
            ),
            Edit::replace(
                shape.statement.byte_range(),
                format!("{list}.append({item})"),
            ),
            shape.after_loop(&after),
        ],
    )
}

/// A chunk loop after the loop: `write(chunk)` once per `batch` collected keys, so that no
/// statement binds more than `batch` of them.
fn chunked_write(
    model: &SemanticModel<'_>,
    shape: &Shape<'_>,
    names: &mut NameTable,
    list: &str,
    batch: usize,
    write: impl FnOnce(&str) -> String,
) -> String {
    let start = names.fresh("start");
    let unit = body_indent_unit(model.file, shape.loop_node);
    let chunk = format!("{list}[{start}:{start} + {batch}]");
    format!(
        "for {start} in range(0, len({list}), {batch}):\n{}{unit}{}",
        shape.indent,
        write(&chunk)
    )
}

/// Collects the new `class` rows built by `item` and inserts them with one `bulk_create` after
/// the loop.
fn bulk_create_collected(
    model: &SemanticModel<'_>,
    write: Node<'_>,
    shape: &Shape<'_>,
    class: &str,
    item: &str,
) -> Fix {
    let mut names = NameTable::new(model.file, write);
    let list = plural_name(&mut names, "new_", class, "s");
    collect_fix(
        format!(
            "Collect the new `{class}` rows and insert them with one `bulk_create` after the loop"
        ),
        shape,
        &list,
        item,
        format!("{class}.objects.bulk_create({list})"),
    )
}

/// `prefix` + the class in snake case + `suffix`, fresh in the scope: `new_order_items`.
fn plural_name(names: &mut NameTable, prefix: &str, class: &str, suffix: &str) -> String {
    let class = class.rsplit('.').next().unwrap_or(class);
    let mut snake = String::new();
    for (i, ch) in class.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                snake.push('_');
            }
            snake.push(ch.to_ascii_lowercase());
        } else {
            snake.push(ch);
        }
    }
    names.fresh(&format!("{prefix}{snake}{suffix}"))
}

/// The Django model the index knows by this name, for fixes that write Django's bulk forms.
fn django_model<'i>(
    context: &'i Context<'_, '_>,
    class: &str,
) -> Result<&'i crate::engine::index::Model, String> {
    context
        .index
        .model(class)
        .filter(|m| m.orm == ModelOrm::Django)
        .ok_or_else(|| format!("`{class}` is not a Django model the model index knows"))
}

/// How a row type's model is named in the file: the fix writes `Class.objects...` after the loop,
/// so the class must be a name the module binds (imported or defined), not only the model
/// behind an attribute (`models.Order`).
fn class_in_file(model: &SemanticModel<'_>, node: Node<'_>, class: &str) -> Result<String, String> {
    let name = class.rsplit('.').next().unwrap_or(class);
    let source = model.file.text();
    // `Interface = apps.get_model("dcim", "Interface")` in a migration, a parameter, a module-level
    // assignment.
    let scope = model.scope_of(node);
    let module = model.scopes.last();
    if scope.values.contains_key(name)
        || scope.parameters.contains(name)
        || module.is_some_and(|m| m.values.contains_key(name))
    {
        return Ok(name.to_string());
    }
    let bound = named_children(model.file.root()).any(|statement| match statement.kind() {
        "class_definition" => {
            field(statement, "name").is_some_and(|n| &source[n.byte_range()] == name)
        }
        "decorated_definition" => field(statement, "definition")
            .and_then(|d| field(d, "name"))
            .is_some_and(|n| &source[n.byte_range()] == name),
        "import_from_statement" => {
            let mut cursor = statement.walk();
            let bound = statement
                .children_by_field_name("name", &mut cursor)
                .any(|imported| {
                    let alias = match imported.kind() {
                        "aliased_import" => field(imported, "alias"),
                        _ => Some(imported),
                    };
                    alias.is_some_and(|a| &source[a.byte_range()] == name)
                });
            bound
        }
        _ => false,
    });
    if bound || class.contains('.') {
        Ok(class.to_string())
    } else {
        Err(format!(
            "`{name}` is not imported, defined or assigned in this file under that name"
        ))
    }
}

/// Why a bulk form would change what writing `class`'s rows one by one does.
fn per_row_reason(behaviour: &PerRowBehaviour, class: &str, bulk: &str) -> String {
    match behaviour {
        PerRowBehaviour::Override {
            class: owner,
            method,
        } if owner == class => {
            format!("`{class}` overrides `{method}()`, which `{bulk}` never calls")
        }
        PerRowBehaviour::Override {
            class: owner,
            method,
        } => format!(
            "`{class}` inherits a `{method}()` override from `{owner}`, which `{bulk}` never calls"
        ),
        PerRowBehaviour::Tree { base } => format!(
            "`{class}` is a tree model (`{base}`) that keeps its tree columns in \
             `save()`/`delete()`, which `{bulk}` bypasses"
        ),
        PerRowBehaviour::History { what } => {
            format!("`{class}` records its history ({what}) row by row, which `{bulk}` bypasses")
        }
        PerRowBehaviour::Receiver {
            signal,
            handler,
            module,
            sender,
        } => {
            let place = if module.is_empty() {
                format!("`{handler}`")
            } else {
                format!("`{handler}` in `{module}`")
            };
            let whose = match sender {
                Some(_) => format!("a `{signal}` receiver for `{class}` ({place}) runs per row"),
                None => format!(
                    "a `{signal}` receiver that does not name its sender model ({place}) may run \
                     for each `{class}` row"
                ),
            };
            if signal.ends_with("_save") {
                format!("{whose}, and `{bulk}` sends no `{signal}`")
            } else {
                format!("{whose}, and `{bulk}` sends `{signal}` for all rows at once")
            }
        }
    }
}

/// `M.objects.create(**kw)` → collect `M(**kw)`, `M.objects.bulk_create(...)` after the loop.
fn create_fix(
    context: &Context<'_, '_>,
    node: Node<'_>,
    chain: &Chain<'_>,
    id: LoopId,
) -> Result<Fix, String> {
    let model = context.model;
    let source = model.file.text();
    let [receiver @ .., manager, create] = chain.segments.as_slice() else {
        return Err("only `M.objects.create(...)` is rewritten".to_string());
    };
    if manager.name != "objects"
        || create.name != "create"
        || receiver
            .iter()
            .any(|s| s.is_call() || s.subscript.is_some())
    {
        return Err("only `M.objects.create(...)` is rewritten".to_string());
    }
    let class_node = field(manager.node, "object").ok_or("no model")?;
    let class = &source[class_node.byte_range()];
    if let Some(behaviour) = context.index.per_row_behaviour(class, RowWrite::Save) {
        return Err(per_row_reason(
            &behaviour,
            orm::last_component(class),
            "bulk_create",
        ));
    }
    let shape = simple_shape(model, node, id)?;
    let arguments = &source[create.arguments.ok_or("no arguments")?.byte_range()];
    Ok(bulk_create_collected(
        model,
        node,
        &shape,
        class,
        &format!("{class}{arguments}"),
    ))
}

/// `session.execute(insert(M).values(a=x))` → collect `{"a": x}`, one executemany after the loop.
fn insert_fix<'a>(
    model: &SemanticModel<'a>,
    node: Node<'a>,
    chain: &Chain<'a>,
    statement: Node<'a>,
    id: LoopId,
) -> Result<Fix, String> {
    let source = model.file.text();
    let [receiver @ .., execute] = chain.segments.as_slice() else {
        return Err("the `execute` call is part of a longer chain".to_string());
    };
    if execute.name != "execute"
        || receiver
            .iter()
            .any(|s| s.is_call() || s.subscript.is_some())
    {
        return Err("the `execute` call is part of a longer chain".to_string());
    }
    let arguments = execute.arguments.ok_or("no arguments")?;
    if named_children(arguments).count() != 1 || named_children(arguments).next() != Some(statement)
    {
        return Err("the statement is not written inline as the only argument".to_string());
    }
    let inner = Chain::flatten(statement, source);
    let [values] = inner.segments.as_slice() else {
        return Err("only `insert(M).values(column=value, ...)` is rewritten".to_string());
    };
    if values.name != "values" || inner.root.kind() != "call" {
        return Err("only `insert(M).values(column=value, ...)` is rewritten".to_string());
    }
    let mut pairs = Vec::new();
    for argument in named_children(values.arguments.ok_or("no values")?) {
        if argument.kind() != "keyword_argument" {
            return Err("only keyword `values(...)` are rewritten".to_string());
        }
        let (Some(name), Some(value)) = (field(argument, "name"), field(argument, "value")) else {
            return Err("only keyword `values(...)` are rewritten".to_string());
        };
        pairs.push(format!(
            "\"{}\": {}",
            &source[name.byte_range()],
            &source[value.byte_range()]
        ));
    }
    let shape = simple_shape(model, node, id)?;
    let session = field(node, "function")
        .and_then(|f| field(f, "object"))
        .ok_or("no session")?;
    let session = &source[session.byte_range()];
    let table = &source[inner.root.byte_range()];
    let awaited = if node.parent().is_some_and(|p| p.kind() == "await") {
        "await "
    } else {
        ""
    };
    let mut names = NameTable::new(model.file, node);
    let list = names.fresh("rows_to_insert");
    let unit = body_indent_unit(model.file, shape.loop_node);
    let after = format!(
        "if {list}:\n{}{unit}{awaited}{session}.execute({table}, {list})",
        shape.indent
    );
    Ok(collect_fix(
        format!("Collect the rows and insert them with one `{session}.execute({table}, rows)` after the loop"),
        &shape,
        &list,
        &format!("{{{}}}", pairs.join(", ")),
        after,
    ))
}

// ---- evidence --------------------------------------------------------------------------------

/// Positional arguments of a call's argument list.
fn positional_arguments<'a>(arguments: Node<'a>) -> impl Iterator<Item = Node<'a>> {
    named_children(arguments).filter(|argument| {
        !matches!(
            argument.kind(),
            "keyword_argument" | "comment" | "dictionary_splat" | "list_splat"
        )
    })
}

/// The keyword names of a call's argument list.
fn keyword_names<'s>(source: &'s str, arguments: Node<'_>) -> Vec<&'s str> {
    named_children(arguments)
        .filter(|a| a.kind() == "keyword_argument")
        .filter_map(|a| field(a, "name"))
        .map(|name| &source[name.byte_range()])
        .collect()
}

/// Whether a call is given a session or connection (`obj.save(db)`, `obj.save(db=self.session)`):
/// bound to one, or named like one and bound to nothing else. Django's own keywords (`using=`)
/// name a database alias, not a session.
fn passes_session(model: &SemanticModel<'_>, arguments: Node<'_>) -> bool {
    let source = model.file.text();
    named_children(arguments).any(|argument| {
        let value = match argument.kind() {
            "keyword_argument" => {
                let name = field(argument, "name").map(|n| &source[n.byte_range()]);
                if name.is_some_and(|n| n == "using" || DJANGO_SAVE_KEYWORDS.contains(&n)) {
                    return false;
                }
                field(argument, "value")
            }
            _ => Some(argument),
        };
        let Some(path) = value.and_then(|v| crate::engine::syntax::dotted_path(v, source)) else {
            return false;
        };
        match model.scope_of(argument).sessions.get(&path) {
            Some(SessionBinding::Session) => true,
            Some(SessionBinding::NotSession) => false,
            _ => orm::sqlalchemy::named_like_session(orm::last_component(&path)),
        }
    })
}
