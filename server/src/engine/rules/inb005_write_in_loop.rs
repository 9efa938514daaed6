//! INB005 write-in-loop.

use tree_sitter::Node;

use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::edit_support::{body_indent_unit, indentation_at, NameTable};
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::orm::{Access, Chain, Orm, QueryApi};
use crate::engine::semantic::calls::{CallSite, Callee};
use crate::engine::semantic::types::RowType;
use crate::engine::semantic::{LoopId, LoopKind, SemanticModel};
use crate::engine::source::TextRange;
use crate::engine::syntax::{display_code, field, named_children};

pub static RULE: RuleInfo = RuleInfo {
    code: "INB005",
    name: "write-in-loop",
    severity: Severity::Warning,
    summary: "A row is written once per loop iteration: one INSERT/UPDATE round trip each",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Sometimes,
    enabled_by_default: true,
    category: Category::Performance,
};

const DOCUMENTATION: &str = r#"## What it does
Flags a database write that runs once per loop iteration:
- Django `obj.save()` on a row of the loop (a row from a query, or a model instance created in
  the loop), and `M.objects.create(...)`;
- SQLAlchemy `session.add(obj)` followed by `session.flush()` or `session.commit()` in the same
  loop (the flush or commit is flagged: `add` alone only queues the row);
- `session.execute(insert(M)...)` or `session.execute(update(M)...)` per iteration.

## Why is this bad?
Each write is a round trip, and each commit a transaction with its own fsync on the server: a loop
over 10,000 rows issues 10,000 statements where a bulk operation issues one (or one per batch).
(One flush of many added objects is batched by SQLAlchemy where the database returns generated
keys in order, e.g. PostgreSQL; on SQLite it still inserts row by row, and only the per-row
transactions go away.)

## Example
```python
for name in names:
    Tag.objects.create(name=name)

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

for row in rows:
    session.add(Event(**row))
session.commit()
```
For rows loaded and changed in the loop, `M.objects.bulk_update(rows, fields=[...])`; for
SQLAlchemy statements, one `session.execute(insert(M), [dict, ...])` (an "executemany").

## Fix safety
Offered where the shape is simple (the write is a statement of its own directly in a `for` loop
without `return`, `yield` or `else`), and always unsafe:
- `bulk_create` and `bulk_update` do not call the model's `save()` method, so a `save()` override
  does not run, and they send no `pre_save`/`post_save` signals;
- `auto_now` fields are not updated by `bulk_update`, and only the listed fields are written;
- auto-generated primary keys are not set on the objects on every database (MySQL, SQLite before
  3.35), so code after the loop that reads `obj.id` may see `None` (a loop that reads `.id`/`.pk`
  of the written object gets no fix);
- one commit after the loop instead of one per row makes the loop all-or-nothing: a failure half
  way now keeps none of the rows instead of the first half, and other transactions see the rows
  only at the end;
- an exception raised in the loop leaves the collected rows unwritten.
"#;

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let model = context.model;
    let source = model.file.text();
    for call in &model.calls {
        let Callee::Method { receiver, method } = &call.callee else {
            continue;
        };
        if call.loops.is_empty() {
            continue;
        }
        if method == "save" && !call.receiver_is_session {
            let Some((id, row)) = saved_row(context, call, receiver) else {
                continue;
            };
            if model.runs_at_most_once(call.node, id) {
                continue;
            }
            let message = format!(
                "`{receiver}.save()` writes one `{}` per `{}` of `{}`",
                crate::engine::index::display_model(row.model()),
                display_code(&model.loop_(id).target, 40),
                display_code(&model.loop_(id).iterable, 40)
            );
            let fix = || save_fix(model, call, id, receiver, &row);
            push(
                diagnostics,
                context,
                message,
                call.node.byte_range(),
                id,
                fix,
                None,
            );
        } else if call.receiver_is_session && matches!(method.as_str(), "commit" | "flush") {
            let Some(&id) = call.loops.last() else {
                continue;
            };
            let extent = model.loop_extent(id);
            let add = model.calls.iter().find(|other| {
                matches!(&other.callee, Callee::Method { receiver: r, method: m } if r == receiver && (m == "add" || m == "add_all"))
                    && other.loops.last() == Some(&id)
                    && other.node.start_byte() < call.node.start_byte()
                    && extent.start <= other.node.start_byte()
            });
            let Some(add) = add else { continue };
            if model.runs_at_most_once(call.node, id) {
                continue;
            }
            let message = format!(
                "`{receiver}.{method}()` after `{receiver}.add(...)` runs once per `{}` of `{}`: one INSERT round trip{} per row",
                display_code(&model.loop_(id).target, 40),
                display_code(&model.loop_(id).iterable, 40),
                if method == "commit" { " and transaction" } else { "" }
            );
            let fix = || move_after_loop(model, call, add, id);
            push(
                diagnostics,
                context,
                message,
                call.node.byte_range(),
                id,
                fix,
                Some(add.node.byte_range()),
            );
        }
    }
    for query in &model.queries {
        let Some(&id) = query.loops.last() else {
            continue;
        };
        if query.call.access != Access::Write || model.runs_at_most_once(query.call.node, id) {
            continue;
        }
        let chain = Chain::flatten(query.call.node, source);
        let lp = model.loop_(id);
        let (message, fix): (String, Box<dyn FnOnce() -> Result<Fix, String>>) = match (
            query.call.orm,
            query.call.api,
        ) {
            (Orm::Django, QueryApi::DjangoManager)
                if chain
                    .segments
                    .iter()
                    .any(|s| s.is_call() && s.name == "create") =>
            {
                let model_name = query.call.model.clone().unwrap_or_default();
                (
                    format!(
                        "`{}` inserts one `{model_name}` per `{}` of `{}`",
                        query.call.display,
                        display_code(&lp.target, 40),
                        display_code(&lp.iterable, 40)
                    ),
                    Box::new(|| create_fix(model, query.call.node, &chain, id)),
                )
            }
            (Orm::SqlAlchemy, QueryApi::Statement) => {
                let Some((kind, statement)) = statement_of(model, &chain) else {
                    continue;
                };
                if kind != "insert" && kind != "update" {
                    continue;
                }
                let verb = if kind == "insert" { "INSERT" } else { "UPDATE" };
                (
                    format!(
                        "`{}` runs one {verb} per `{}` of `{}`",
                        display_code(&source[statement.byte_range()], 60),
                        display_code(&lp.target, 40),
                        display_code(&lp.iterable, 40)
                    ),
                    Box::new(move || {
                        if kind == "insert" {
                            insert_fix(model, query.call.node, &chain, statement, id)
                        } else {
                            Err("an UPDATE per row becomes one executemany `update(M)` with primary keys; not rewritten automatically".to_string())
                        }
                    }),
                )
            }
            _ => continue,
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
}

fn push(
    diagnostics: &mut Vec<Diagnostic>,
    context: &Context<'_, '_>,
    message: String,
    range: TextRange,
    id: LoopId,
    fix: impl FnOnce() -> Result<Fix, String>,
    add: Option<TextRange>,
) {
    // A loop over a literal or a constant writes a fixed number of rows: not an N+1.
    if !context.model.grows(id) {
        return;
    }
    let lp = context.model.loop_(id);
    let mut diagnostic = Diagnostic::new(&RULE, message, range)
        .with_related("the loop repeats the write", lp.header.clone());
    if let Some(add) = add {
        diagnostic = diagnostic.with_related("the row added in this iteration", add);
    }
    context.offer_fix(&mut diagnostic, fix);
    diagnostics.push(diagnostic);
}

enum SavedRow {
    /// A row from a query the loop iterates: `bulk_update`.
    Loaded(String),
    /// A model instance created in the loop: `bulk_create`.
    Created(String),
}

impl SavedRow {
    fn model(&self) -> &str {
        match self {
            SavedRow::Loaded(model) | SavedRow::Created(model) => model,
        }
    }
}

/// The loop a saved object belongs to and what it is, when it is a row of a model.
fn saved_row(
    context: &Context<'_, '_>,
    call: &CallSite<'_>,
    receiver: &str,
) -> Option<(LoopId, SavedRow)> {
    let model = context.model;
    let bound = |id: LoopId| {
        model.loop_(id).varying.contains(receiver)
            || model
                .loop_bound
                .get(id)
                .is_some_and(|b| b.contains(receiver))
    };
    let id = call.loops.iter().rev().copied().find(|&id| bound(id))?;
    if let Some(RowType::Row(name)) = &call.receiver_type {
        return Some((id, SavedRow::Loaded(name.clone())));
    }
    let value = model.scope_of(call.node).values.get(receiver).copied()?;
    if value.kind() != "call" {
        return None;
    }
    let class = field(value, "function")?;
    let class = model.file.node_text(class);
    let name = class.rsplit('.').next().unwrap_or(class);
    context.index.model(name)?;
    Some((id, SavedRow::Created(class.to_string())))
}

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
    let reads = model.queries.iter().any(|q| {
        q.call.access == Access::Read
            && extent.start <= q.call.node.start_byte()
            && q.call.node.end_byte() <= extent.end
    });
    if reads {
        return Err("the loop also queries the database, and may read the rows written in the same iteration".to_string());
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
            Edit::insert(
                shape.after,
                format!("{}{}{after}\n", shape.lead, shape.indent),
            ),
        ],
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
    let list = plural_name(model, write, "new_", class);
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

fn plural_name(model: &SemanticModel<'_>, node: Node<'_>, prefix: &str, class: &str) -> String {
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
    NameTable::new(model.file, node).fresh(&format!("{prefix}{snake}s"))
}

/// `M.objects.create(**kw)` → collect `M(**kw)`, `M.objects.bulk_create(...)` after the loop.
fn create_fix(
    model: &SemanticModel<'_>,
    node: Node<'_>,
    chain: &Chain<'_>,
    id: LoopId,
) -> Result<Fix, String> {
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
    let shape = simple_shape(model, node, id)?;
    let class_node = field(manager.node, "object").ok_or("no model")?;
    let class = &source[class_node.byte_range()];
    let arguments = &source[create.arguments.ok_or("no arguments")?.byte_range()];
    Ok(bulk_create_collected(
        model,
        node,
        &shape,
        class,
        &format!("{class}{arguments}"),
    ))
}

/// `row.save()` in the loop → one `bulk_update` of the loaded rows or `bulk_create` of the new ones.
fn save_fix(
    model: &SemanticModel<'_>,
    call: &CallSite<'_>,
    id: LoopId,
    receiver: &str,
    row: &SavedRow,
) -> Result<Fix, String> {
    if field(call.node, "arguments").is_some_and(|a| named_children(a).next().is_some()) {
        return Err("`save(...)` has arguments".to_string());
    }
    match row {
        SavedRow::Loaded(class) => bulk_update_fix(model, call, id, receiver, class),
        SavedRow::Created(class) => bulk_create_fix(model, call, id, receiver, class),
    }
}

/// `row.field = ...; row.save()` over query rows → `bulk_update(rows, fields=[...])`.
fn bulk_update_fix(
    model: &SemanticModel<'_>,
    call: &CallSite<'_>,
    id: LoopId,
    receiver: &str,
    class: &str,
) -> Result<Fix, String> {
    let prefix = format!("{receiver}.");
    let mut fields: Vec<&str> = model.loop_bound[id]
        .iter()
        .filter_map(|name| name.strip_prefix(&prefix))
        .filter(|rest| !rest.contains('.'))
        .collect();
    if fields.is_empty() {
        return Err("no field of the row is assigned in the loop".to_string());
    }
    fields.sort_unstable();
    let shape = simple_shape(model, call.node, id)?;
    let list = plural_name(model, call.node, "changed_", class);
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
        format!("{class}.objects.bulk_update({list}, fields=[{fields}])"),
    ))
}

/// `obj = M(...); obj.save()` → `bulk_create` after the loop.
fn bulk_create_fix(
    model: &SemanticModel<'_>,
    call: &CallSite<'_>,
    id: LoopId,
    receiver: &str,
    class: &str,
) -> Result<Fix, String> {
    let shape = simple_shape(model, call.node, id)?;
    if reads_generated_key(shape.loop_node, receiver, model.file.text()) {
        return Err(format!(
            "the loop reads `{receiver}.id`/`{receiver}.pk`, which `bulk_create` may not set"
        ));
    }
    Ok(bulk_create_collected(
        model, call.node, &shape, class, receiver,
    ))
}

/// `session.add(x); session.commit()` → the commit moves after the loop.
fn move_after_loop(
    model: &SemanticModel<'_>,
    call: &CallSite<'_>,
    add: &CallSite<'_>,
    id: LoopId,
) -> Result<Fix, String> {
    let shape = simple_shape(model, call.node, id)?;
    let source = model.file.text();
    if let Some(added) = field(add.node, "arguments").and_then(|a| named_children(a).next()) {
        if added.kind() == "identifier"
            && reads_generated_key(shape.loop_node, &source[added.byte_range()], source)
        {
            return Err(format!(
                "the loop reads `{0}.id`/`{0}.pk`, which the flush inside the loop sets",
                &source[added.byte_range()]
            ));
        }
    }
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
        format!("Move `{statement}` after the loop: one transaction for all rows"),
        Applicability::Unsafe,
        vec![
            Edit::delete(content.start..index.line_start(line + 1)),
            Edit::insert(
                shape.after,
                format!("{}{}{moved}\n", shape.lead, shape.indent),
            ),
        ],
    ))
}

/// The statement `session.execute(...)` runs (followed to its assignment) and its kind.
fn statement_of<'a>(
    model: &SemanticModel<'a>,
    chain: &Chain<'a>,
) -> Option<(&'static str, Node<'a>)> {
    let source = model.file.text();
    let first = chain.segments.iter().position(|s| s.is_call())?;
    let mut statement = named_children(chain.segments[first].arguments?).next()?;
    if statement.kind() == "identifier" {
        statement = model
            .scope_of(statement)
            .values
            .get(&source[statement.byte_range()])
            .copied()?;
    }
    let root = Chain::flatten(statement, source).root;
    let name = crate::engine::syntax::callee_name(root, source)?;
    let kind = match name {
        "insert" => "insert",
        "update" => "update",
        _ => return None,
    };
    Some((kind, statement))
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
    if values.name != "values" {
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
    let list = NameTable::new(model.file, node).fresh("rows_to_insert");
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
