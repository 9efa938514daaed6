//! The INB001 fix: one batched query per chunk of distinct keys before the loop, grouped into
//! dictionaries, and the loop rewired to dictionary lookups.
//!
//! ```python
//! sessions_by_user_id = defaultdict(list)
//! keys = list(dict.fromkeys(user_ids))
//! for start in range(0, len(keys), 1000):
//!     chunk = keys[start:start + 1000]
//!     for row in Session.query.filter(Session.user_id.in_(chunk)):
//!         sessions_by_user_id[row.user_id].append(row)
//! for uid in user_ids:
//!     sessions = sessions_by_user_id.get(uid, [])
//! ```
//!
//! Every way this could change behaviour beyond row order and error types is refused with a
//! reason that hover shows: keys computed inside the loop, other loop-dependent conditions, writes
//! in the loop, a mutated result, a query object used for more than its rows.

use std::collections::HashSet;
use std::fmt::Write;

use tree_sitter::Node;

use crate::engine::fix::edit_support::{
    body_indent_unit, indentation_at, parses_cleanly, NameTable,
};
use crate::engine::fix::imports::{ensure_imports, Needed};
use crate::engine::fix::{apply_fixes, Applicability, Edit, Fix};
use crate::engine::index::ModelResolver;
use crate::engine::orm::{Chain, QueryApi, RefContext, Segment};
use crate::engine::semantic::{Loop, LoopId, LoopKind, Query, SemanticModel};
use crate::engine::source::{SourceFile, TextRange};
use crate::engine::syntax::{bound_names, comment_ranges, field, named_children, snake_case};

/// What one query becomes: how rows are grouped before the loop and what replaces the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `.all()` or iterated: every row of the key, `by_key.get(key, [])`.
    List,
    /// `.first()`, `session.scalar(...)`: the first row of each key in the query's order.
    First,
    /// `.one()`, `.scalar_one()`, Django `.get(col=key)`: the key's rows grouped; exactly one row
    /// is the answer, anything else runs the original query, which raises as it did
    /// (`NoResultFound`, `MultipleResultsFound`, `DoesNotExist`, `MultipleObjectsReturned`).
    One,
    /// `.one_or_none()`, `.scalar_one_or_none()`: as `One`, but a key without rows is `None`.
    OneOrNone,
    /// `session.get(M, key)`, `M.query.get(key)`: by primary key, `by_key.get(key)`.
    Optional,
    /// `.one()` on a unique column: a row per key, `by_key[key]`; a key the batch did not find
    /// runs the original query, which raises as before.
    Unique,
    /// Django `get(pk=key)` / `get(unique_field=key)`: `in_bulk`, then `by_key[key]`; a key the
    /// batch did not find runs the original `get()`, which raises `DoesNotExist` as before.
    InBulk,
    /// `.count()`: one `GROUP BY` query, `by_key.get(key, 0)`.
    Count,
    /// Django `.exists()`: a set of keys, `key in keys`.
    Exists,
}

struct Plan {
    /// The key as an expression of the loop target, for the list of keys before the loop.
    key: String,
    /// The key as the loop reads it: the same expression, or the name the loop body assigned it
    /// to (`user_id = mention["user"]`).
    lookup_key: String,
    replace: TextRange,
    shape: Shape,
    /// The batched query with `{chunk}` where the chunk of keys goes.
    batched: String,
    /// The row attribute holding the key (`user_id`).
    attribute: String,
    base_name: String,
    imports: Vec<(&'static str, &'static str)>,
    /// The query as written, run in the loop for the keys the batch cannot answer alone
    /// (`One`, `OneOrNone`, `InBulk`): it raises, or returns, exactly what it did.
    fallback: String,
    /// `.first()` on a column that may hold many rows per key: the batch reads them all.
    reads_whole_groups: bool,
    /// A Django `.first()` without `order_by`: ordered by the model's `Meta.ordering` when it has
    /// one, else by `pk`, which only the queryset knows at run time (`QuerySet.ordered`).
    default_first_order: bool,
}

const MUTATING_METHODS: &[&str] = &[
    "append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse",
];

pub(super) fn build(
    model: &SemanticModel<'_>,
    loop_id: LoopId,
    queries: &[&Query<'_>],
    batch_size: usize,
    models: &ModelResolver<'_>,
) -> Result<Fix, String> {
    let file = model.file;
    let source = file.text();
    let lp = model.loop_(loop_id);
    let loop_node = lp.node;
    let mut enclosing = Vec::new();
    let (anchor, target, iterable, body) = match lp.kind {
        LoopKind::For => match (
            field(loop_node, "left"),
            field(loop_node, "right"),
            field(loop_node, "body"),
        ) {
            (Some(target), Some(iterable), Some(body)) => (loop_node, target, iterable, body),
            _ => return Err("the loop is incomplete".to_string()),
        },
        LoopKind::AsyncFor => {
            return Err("an `async for` loop's iterable cannot be read twice".to_string())
        }
        LoopKind::While => return Err("a `while` loop has no list of keys to batch".to_string()),
        _ => comprehension_parts(loop_node, &mut enclosing)?,
    };
    // In a nested comprehension the keys come from every clause around the loop's own
    // (`uid for g in groups for uid in g`): those clauses run once more before the statement.
    if !enclosing.is_empty() {
        check_enclosing_clauses(&enclosing, iterable, source)?;
    }
    if model.loop_writes(loop_id).is_some() {
        if let Some(write) = write_seen_by_reads(model, loop_id, queries, models) {
            return Err(format!(
                "the loop writes (`{}`), which a batched read before the loop would not see",
                crate::engine::syntax::display_code(&source[write.byte_range()], 50)
            ));
        }
    }
    let mut target_names = Vec::new();
    bound_names(target, source, &mut target_names);
    let target_names: HashSet<String> = target_names.into_iter().collect();

    let mut plans = Vec::new();
    // Related managers of the loop's rows (`table.field_set.all()`): prefetched, not rewritten.
    let mut prefetches: Vec<String> = Vec::new();
    for query in queries {
        refuse_inner_loop_names(model, loop_id, query)?;
        if query.call.api == QueryApi::DjangoRelated {
            if !enclosing.is_empty() {
                return Err(
                    "a related manager inside a nested comprehension is not prefetched".to_string(),
                );
            }
            let lookup = prefetch_lookup(&target_names, query, source)?;
            if !prefetches.contains(&lookup) {
                prefetches.push(lookup);
            }
            continue;
        }
        plans.push(plan(file, lp, &target_names, query, body, models)?);
    }

    let mut names = NameTable::new(file, anchor);
    let indent = indentation_at(file, anchor.start_byte()).to_string();
    let unit = body_indent_unit(file, anchor);
    let mut prelude = String::new();
    let mut edits = Vec::new();

    // The iterable the statement reads first: the outermost clause's in a nested comprehension.
    let outermost = enclosing
        .first()
        .and_then(|clause| field(*clause, "right"))
        .unwrap_or(iterable);
    let iterable_text = &source[outermost.byte_range()];
    // Prefetching slices the rows: it needs a list, and the very objects the loop then reads.
    let needs_list = !prefetches.is_empty() && !builds_list(outermost, source);
    let outer_iterable = if is_reiterable(outermost, file) && !needs_list {
        iterable_text.to_string()
    } else {
        // A generator or query result can be read only once: read it into a list first.
        let items = names.fresh("items");
        let _ = writeln!(prelude, "{indent}{items} = list({iterable_text})");
        edits.push(Edit::replace(outermost.byte_range(), items.clone()));
        items
    };
    // `for g in items for uid in g`: the clauses around the loop, then the loop's own.
    let (keys_iterable, key_clauses) = if enclosing.is_empty() {
        (outer_iterable, String::new())
    } else {
        let mut clauses = String::new();
        for clause in &enclosing {
            let mut text = source[clause.byte_range()].to_string();
            if field(*clause, "right") == Some(outermost) {
                let start = outermost.start_byte() - clause.start_byte();
                let end = outermost.end_byte() - clause.start_byte();
                text.replace_range(start..end, &outer_iterable);
            }
            clauses.push_str(&text);
            clauses.push(' ');
        }
        (source[iterable.byte_range()].to_string(), clauses)
    };

    let mut grouped_names = Vec::new();
    for plan in &plans {
        let name = names.fresh(&plan.base_name);
        let initial = match plan.shape {
            Shape::List | Shape::One | Shape::OneOrNone => "defaultdict(list)",
            Shape::Exists => "set()",
            _ => "{}",
        };
        let _ = writeln!(prelude, "{indent}{name} = {initial}");
        grouped_names.push(name);
    }

    let mut keys_seen: Vec<&str> = Vec::new();
    for plan in &plans {
        if keys_seen.contains(&plan.key.as_str()) {
            continue;
        }
        keys_seen.push(&plan.key);
        let keys = names.fresh("keys");
        let start = names.fresh("start");
        let chunk = names.fresh("chunk");
        let row = names.fresh("row");
        let target_text = &source[target.byte_range()];
        let key_source = if plan.key == target_text && key_clauses.is_empty() {
            keys_iterable.clone()
        } else {
            format!(
                "{} {key_clauses}for {target_text} in {keys_iterable}",
                plan.key
            )
        };
        let _ = writeln!(prelude, "{indent}{keys} = list(dict.fromkeys({key_source}))  # each key once, even when repeated");
        let _ = writeln!(
            prelude,
            "{indent}for {start} in range(0, len({keys}), {batch_size}):"
        );
        let _ = writeln!(
            prelude,
            "{indent}{unit}{chunk} = {keys}[{start}:{start} + {batch_size}]"
        );
        for (plan, grouped) in plans
            .iter()
            .zip(&grouped_names)
            .filter(|(p, _)| p.key == plan.key)
        {
            let batched = plan.batched.replace("{chunk}", &chunk);
            let inner = format!("{indent}{unit}{unit}");
            match plan.shape {
                Shape::InBulk | Shape::Count | Shape::Exists => {
                    let _ = writeln!(prelude, "{indent}{unit}{grouped}.update({batched})");
                }
                shape => {
                    let batched = if plan.default_first_order {
                        let query = names.fresh("query");
                        let _ = writeln!(prelude, "{indent}{unit}{query} = {batched}");
                        format!("({query} if {query}.ordered else {query}.order_by(\"pk\"))")
                    } else {
                        batched
                    };
                    let _ = writeln!(prelude, "{indent}{unit}for {row} in {batched}:");
                    let attribute = &plan.attribute;
                    let _ = match shape {
                        Shape::List | Shape::One | Shape::OneOrNone => {
                            writeln!(prelude, "{inner}{grouped}[{row}.{attribute}].append({row})")
                        }
                        Shape::First => writeln!(
                            prelude,
                            "{inner}{grouped}.setdefault({row}.{attribute}, {row})"
                        ),
                        _ => writeln!(prelude, "{inner}{grouped}[{row}.{attribute}] = {row}"),
                    };
                }
            }
        }
    }

    if !prefetches.is_empty() {
        let start = names.fresh("start");
        let lookups = prefetches
            .iter()
            .map(|lookup| format!("\"{lookup}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            prelude,
            "{indent}for {start} in range(0, len({keys_iterable}), {batch_size}):"
        );
        let _ = writeln!(
            prelude,
            "{indent}{unit}prefetch_related_objects({keys_iterable}[{start}:{start} + {batch_size}], {lookups})"
        );
    }

    for (plan, grouped) in plans.iter().zip(&grouped_names) {
        let key = &plan.lookup_key;
        let fallback = &plan.fallback;
        // The fallback sits in the `else` branch, which INB001 knows runs only on a miss.
        let lookup = match plan.shape {
            Shape::List => format!("{grouped}.get({key}, [])"),
            Shape::First | Shape::Optional => format!("{grouped}.get({key})"),
            Shape::One => conditional(
                file,
                plan.replace.start,
                &unit,
                &[
                    format!("{grouped}[{key}][0]"),
                    format!("if len({grouped}.get({key}, ())) == 1"),
                    format!("else {fallback}"),
                ],
            ),
            Shape::OneOrNone => conditional(
                file,
                plan.replace.start,
                &unit,
                &[
                    format!("{grouped}[{key}][0]"),
                    format!("if len({grouped}.get({key}, ())) == 1"),
                    format!("else {fallback} if {key} in {grouped}"),
                    "else None".to_string(),
                ],
            ),
            Shape::Unique | Shape::InBulk => conditional(
                file,
                plan.replace.start,
                &unit,
                &[
                    format!("{grouped}[{key}]"),
                    format!("if {key} in {grouped}"),
                    format!("else {fallback}"),
                ],
            ),
            Shape::Count => format!("{grouped}.get({key}, 0)"),
            Shape::Exists => format!("({key} in {grouped})"),
        };
        edits.push(Edit::replace(plan.replace.clone(), lookup));
    }
    let line_start = file
        .line_index()
        .line_start(file.line_index().line_of(anchor.start_byte()));
    // The prelude starts at the loop's column: the loop line's own indentation is already there.
    let prelude = prelude
        .strip_prefix(indent.as_str())
        .unwrap_or(&prelude)
        .to_string()
        + &indent;
    edits.push(Edit::insert(line_start + indent.len(), prelude));

    let mut imports: Vec<(&str, &str)> = plans
        .iter()
        .flat_map(|plan| plan.imports.iter().copied())
        .collect();
    if plans
        .iter()
        .any(|plan| matches!(plan.shape, Shape::List | Shape::One | Shape::OneOrNone))
    {
        imports.push(("collections", "defaultdict"));
    }
    if !prefetches.is_empty() {
        imports.push(("django.db.models", "prefetch_related_objects"));
    }
    let needed: Vec<Needed<'_>> = imports
        .iter()
        .map(|(module, name)| Needed::from(module, name))
        .collect();
    edits.extend(ensure_imports(file, &needed));

    let what = if plans.len() + prefetches.len() == 1 {
        "the query"
    } else {
        "the queries"
    };
    // A `.first()` per key becomes every row of the key: say so where groups may be large.
    let whole_groups = if plans.iter().any(|plan| plan.reads_whole_groups) {
        " (reads every row of each key to keep its first)"
    } else {
        ""
    };
    let title = if plans.is_empty() {
        let lookups = prefetches.join("`, `");
        format!("Prefetch `{lookups}` for the loop's rows, one query per {batch_size} rows, before the loop")
    } else {
        format!(
            "Batch {what} into one `IN` query per {batch_size} keys before the loop{whole_groups}"
        )
    };
    let fix = Fix::new(title, Applicability::Unsafe, edits);
    let (fixed, applied) = apply_fixes(source, [&fix]);
    if applied != 1 || !parses_cleanly(file, &fix, &fixed) {
        return Err("the rewritten code would not parse".to_string());
    }
    Ok(fix)
}

/// The relation to prefetch for `row.rel.all()` (also `.count()`, `.exists()`, iterated): the
/// loop's row itself owns a related manager the project declares, and nothing but `all`, `count`
/// or `exists` follows it, which read Django's prefetch cache instead of running a query.
fn prefetch_lookup(
    target_names: &HashSet<String>,
    query: &Query<'_>,
    source: &str,
) -> Result<String, String> {
    const REFUSAL: &str = "a related manager per object is fixed with `prefetch_related` (INB002)";
    let node = query.call.node;
    if awaited_expression(node, source)?.is_some() {
        return Err(REFUSAL.to_string());
    }
    let chain = Chain::flatten(node, source);
    let owner = &source[chain.root.byte_range()];
    let [relation, rest @ ..] = chain.segments.as_slice() else {
        return Err(REFUSAL.to_string());
    };
    let owned = chain.root.kind() == "identifier" && target_names.contains(owner);
    let cached = !rest.is_empty()
        && rest.iter().all(|segment| {
            matches!(segment.name, "all" | "count" | "exists")
                && segment
                    .arguments
                    .is_some_and(|arguments| named_children(arguments).next().is_none())
        });
    // A relation the project declares (its related model is known), or Django's `x_set` name.
    let declared = query.call.model.is_some() || relation.name.ends_with("_set");
    if !owned || relation.is_call() || !cached || !declared {
        return Err(
            "only `row.relation.all()`, `.count()` or `.exists()` on the loop's own row is prefetched (`prefetch_related_objects`); prefetch on the rows' query (INB002) or batch this one by hand"
                .to_string(),
        );
    }
    Ok(relation.name.to_string())
}

/// An iterable that is already a new list: `[...]`, a list comprehension, `list(...)`,
/// `sorted(...)`.
fn builds_list(iterable: Node<'_>, source: &str) -> bool {
    match iterable.kind() {
        "list" | "list_comprehension" => true,
        "call" => field(iterable, "function")
            .is_some_and(|f| matches!(&source[f.byte_range()], "list" | "sorted")),
        _ => false,
    }
}

/// A parenthesised conditional expression: on one line when it fits in 88 columns, else one part
/// per line, indented one level deeper than the line it starts on (as black writes it).
fn conditional(file: &SourceFile, at: usize, unit: &str, parts: &[String]) -> String {
    let one_line = format!("({})", parts.join(" "));
    let line_start = file.line_index().line_start(file.line_index().line_of(at));
    let column = file.text()[line_start..at].chars().count();
    if !one_line.contains('\n') && column + one_line.chars().count() <= 88 {
        return one_line;
    }
    let indent = indentation_at(file, at);
    let mut out = "(\n".to_string();
    for part in parts {
        let _ = writeln!(out, "{indent}{unit}{part}");
    }
    out.push_str(indent);
    out.push(')');
    out
}

/// Django write methods on a manager or queryset that only add or change rows of their own model.
const OWN_MODEL_WRITES: &[&str] = &[
    "bulk_create",
    "bulk_update",
    "create",
    "get_or_create",
    "update",
    "update_or_create",
];

/// The first write in the loop that the batched reads could observe: any write but one that
/// creates or updates rows of a model none of the loop's queries reads, with no `save()` override,
/// tree or history base, or signal receiver that could write elsewhere (a delete may cascade, a
/// session's `add`/`flush` or a row's `save()` is not tied to a model here). A read before the
/// loop sees what it would have seen at each iteration when no iteration changes its tables.
fn write_seen_by_reads<'a>(
    model: &SemanticModel<'a>,
    loop_id: LoopId,
    queries: &[&Query<'a>],
    models: &ModelResolver<'_>,
) -> Option<Node<'a>> {
    use crate::engine::index::RowWrite;
    let extent = model.loop_extent(loop_id);
    let inside =
        |node: Node<'_>| extent.start <= node.start_byte() && node.end_byte() <= extent.end;
    let read_models: Vec<&str> = queries
        .iter()
        .filter_map(|query| query.call.model.as_deref())
        .collect();
    // A lookup across a relation (`orders__status=...`) may join the written table.
    let source = model.file.text();
    if read_models.len() != queries.len()
        || queries
            .iter()
            .any(|query| source[query.call.node.byte_range()].contains("__"))
    {
        return model.loop_writes(loop_id);
    }
    let mut writes: Vec<Node<'a>> = model
        .calls
        .iter()
        .filter(|call| inside(call.node) && call.writes())
        .map(|call| call.node)
        .collect();
    for query in &model.queries {
        if query.call.access != crate::engine::orm::Access::Write || !inside(query.call.node) {
            continue;
        }
        let chain = Chain::flatten(query.call.node, source);
        let method = chain.segments.last().map(|segment| segment.name);
        let elsewhere = query.call.api == QueryApi::DjangoManager
            && method.is_some_and(|method| OWN_MODEL_WRITES.contains(&method))
            && query.call.model.as_deref().is_some_and(|written| {
                !read_models.contains(&written)
                    && models.model(written).is_some()
                    && models.per_row_behaviour(written, RowWrite::Save).is_none()
            });
        if !elsewhere {
            writes.push(query.call.node);
        }
    }
    writes.into_iter().min_by_key(|node| node.start_byte())
}

const COMPREHENSIONS: &[&str] = &[
    "list_comprehension",
    "set_comprehension",
    "dictionary_comprehension",
    "generator_expression",
];

/// The clauses around a nested comprehension's loop run once more to list the keys: each must
/// be free of side effects (names, attributes, subscripts, literals), and so must the loop's own
/// iterable, which the rewritten comprehension still reads where it was.
fn check_enclosing_clauses(
    enclosing: &[Node<'_>],
    iterable: Node<'_>,
    source: &str,
) -> Result<(), String> {
    let mut bound = HashSet::new();
    for (index, clause) in enclosing.iter().enumerate() {
        if clause.kind() == "for_in_clause" {
            // The outermost iterable is read once (into a list when it is one-shot).
            if index > 0 {
                let right = field(*clause, "right").ok_or("the comprehension is incomplete")?;
                check_key(right, source, &bound)?;
            }
            let mut names = Vec::new();
            bound_names(
                field(*clause, "left").ok_or("the comprehension is incomplete")?,
                source,
                &mut names,
            );
            bound.extend(names);
        } else {
            for condition in named_children(*clause) {
                check_key(condition, source, &bound)?;
            }
        }
    }
    if enclosing
        .first()
        .is_some_and(|c| c.kind() != "for_in_clause")
    {
        return Err("the comprehension is incomplete".to_string());
    }
    check_key(iterable, source, &bound)
}

/// A comprehension's `for` clause: the prelude goes before the statement holding the
/// comprehension, whose iterable runs once there too.
fn comprehension_parts<'a>(
    clause: Node<'a>,
    enclosing: &mut Vec<Node<'a>>,
) -> Result<(Node<'a>, Node<'a>, Node<'a>, Node<'a>), String> {
    let comprehension = clause.parent().ok_or("no comprehension")?;
    // The clauses before the loop's own in its comprehension bind names its iterable may read.
    let mut own: Vec<Node<'_>> = named_children(comprehension)
        .filter(|c| matches!(c.kind(), "for_in_clause" | "if_clause"))
        .take_while(|c| *c != clause)
        .collect();
    enclosing.append(&mut own);
    let (Some(target), Some(iterable)) = (field(clause, "left"), field(clause, "right")) else {
        return Err("the comprehension is incomplete".to_string());
    };
    let mut statement = comprehension;
    loop {
        let parent = statement
            .parent()
            .ok_or("the comprehension is not inside a statement")?;
        if COMPREHENSIONS.contains(&parent.kind()) {
            // Nested in the element or a later clause of `parent`: the clauses before bind names.
            let outer: Vec<Node<'_>> = named_children(parent)
                .filter(|c| matches!(c.kind(), "for_in_clause" | "if_clause"))
                .take_while(|c| {
                    !(c.start_byte() <= statement.start_byte()
                        && statement.end_byte() <= c.end_byte())
                })
                .collect();
            // Inside the first clause's iterable the comprehension runs in the outer scope.
            enclosing.splice(0..0, outer);
        }
        match parent.kind() {
            "block" | "module" => break,
            "lambda" | "function_definition" | "class_definition" | "decorated_definition" => {
                return Err("the comprehension is not inside a plain statement".to_string())
            }
            // A comprehension in a loop header or condition runs where the prelude cannot follow.
            "for_statement" | "while_statement" | "if_statement" | "elif_clause" | "with_statement" | "try_statement" => {
                return Err("the comprehension sits in a compound statement's header; assign it to a name first".to_string())
            }
            _ => statement = parent,
        }
    }
    Ok((statement, target, iterable, comprehension))
}

fn plan(
    file: &SourceFile,
    lp: &Loop<'_>,
    target_names: &HashSet<String>,
    query: &Query<'_>,
    body: Node<'_>,
    models: &ModelResolver<'_>,
) -> Result<Plan, String> {
    let source = file.text();
    let call = &query.call;
    let node = call.node;
    let awaited = awaited_expression(node, source)?;
    let chain = Chain::flatten(node, source);
    let first_call = chain.first_call().ok_or("the query has no call")?;

    // Where the key condition may sit, and which chain holds it.
    let (condition_chain, from) = match call.api {
        QueryApi::Statement => {
            let arguments = chain.segments[first_call].arguments.ok_or("no statement")?;
            let statement = named_children(arguments).next().ok_or("no statement")?;
            if statement.kind() != "call" {
                return Err(
                    "the statement is built outside the query call; build it inline to get a fix"
                        .to_string(),
                );
            }
            (Some(Chain::flatten(statement, source)), 0)
        }
        QueryApi::LegacyQuery => (None, first_call + 1),
        _ => (None, first_call),
    };
    let search = condition_chain.as_ref().unwrap_or(&chain);
    let condition = find_key_condition(file, lp, query, search, from, call.api)?;

    // The key must be computable from the loop target alone, without side effects.
    let key_node = condition.value;
    let mut lookup_key = source[key_node.byte_range()].to_string();
    let mut key = match leading_assignment(lp, body, key_node, source) {
        // `user_id = mention["user"]` first thing in the body: the keys are that expression.
        Some(value) => {
            check_key(value, source, target_names)?;
            // The expression must mean in the key list what it meant in the body.
            if let Some(name) = target_names
                .iter()
                .find(|name| binding_count(body, name, source) > 0)
            {
                return Err(format!(
                    "the loop body reassigns `{name}`, which the key reads"
                ));
            }
            source[value.byte_range()].to_string()
        }
        None => {
            check_key(key_node, source, target_names)?;
            lookup_key.clone()
        }
    };

    let terminals: Vec<&Segment<'_>> = chain.segments[first_call + 1..]
        .iter()
        .filter(|segment| segment.is_call() && TERMINAL_NAMES.contains(&segment.name))
        .collect();
    let terminal = chain
        .segments
        .last()
        .filter(|s| s.is_call() && TERMINAL_NAMES.contains(&s.name))
        .map(|s| s.name);
    let model = call.model.clone();
    // What the loop body sees: the awaited expression (`(await session.scalars(...)).all()`).
    let replaced = awaited.map(|a| a.outer).unwrap_or(node);
    let assigned_to = assigned_name(replaced, source);
    if awaited.is_some() && !matches!(call.api, QueryApi::Statement | QueryApi::SessionGet) {
        return Err(
            "only awaited `session.scalars(...)` and `session.get(...)` are batched".to_string(),
        );
    }

    let mut imports = Vec::new();
    let mut default_first_order = false;
    let (shape, batched, attribute) = match call.api {
        QueryApi::LegacyQuery | QueryApi::ModelQuery => {
            let model = model.ok_or("the model of the query is unknown")?;
            let shape = terminal_shape(terminal, node, source)?;
            let mut rewrites = Vec::new();
            let column = match &condition.kind {
                ConditionKind::Keyword { name, others } => {
                    rewrites.push(keyword_rewrite(
                        &condition,
                        others,
                        format!("filter({model}.{name}.in_({{chunk}}))"),
                    )?);
                    format!("{model}.{name}")
                }
                ConditionKind::Comparison { column } => {
                    let column_text = source[column.byte_range()].to_string();
                    rewrites.push((
                        condition.node.byte_range(),
                        format!("{column_text}.in_({{chunk}})"),
                    ));
                    column_text
                }
                ConditionKind::Positional => {
                    // `M.query.get(key)`: select by primary key instead.
                    rewrites.push((
                        condition.method_call_range()?,
                        format!("filter({model}.id.in_({{chunk}}))"),
                    ));
                    format!("{model}.id")
                }
            };
            // The batched query is read with `.all()`; the per-key terminal becomes a lookup.
            if let Some(last) = terminals
                .last()
                .filter(|_| terminal.is_some() && terminal != Some("get"))
            {
                let object = field(field(last.node, "function").ok_or("no function")?, "object")
                    .ok_or("no object")?;
                let all = if shape == Shape::Count { "" } else { ".all()" };
                rewrites.push((object.end_byte()..last.node.end_byte(), all.to_string()));
            }
            rewrites.extend(without_comments(node));
            let mut batched = splice(source, node.byte_range(), rewrites);
            if shape == Shape::Count {
                imports.push(("sqlalchemy", "func"));
                batched = count_query(
                    &batched, call.api, &model, &column, &chain, first_call, source,
                )?;
            }
            (
                shape,
                batched,
                column.rsplit('.').next().unwrap_or("id").to_string(),
            )
        }
        QueryApi::SessionGet => {
            let model = model.ok_or("the model of the query is unknown")?;
            let receiver =
                &source[node.start_byte()..method_node(node).ok_or("no method")?.start_byte()];
            imports.push(("sqlalchemy", "select"));
            let batched =
                format!("{receiver}scalars(select({model}).where({model}.id.in_({{chunk}})))");
            let batched = if awaited.is_some() {
                format!("(await {batched})")
            } else {
                batched
            };
            (Shape::Optional, batched, "id".to_string())
        }
        QueryApi::Statement => {
            let statement_chain = condition_chain.as_ref().ok_or("no statement")?;
            let statement = statement_chain_node(statement_chain).ok_or("no statement")?;
            let session_segment = &chain.segments[first_call];
            let mut after: Vec<&str> = chain.segments[first_call + 1..]
                .iter()
                .map(|s| s.name)
                .collect();
            after.extend(awaited.and_then(|a| a.terminal));
            // `execute(...).scalar_one()` is `scalars(...).one()`, `session.scalar(...)` is
            // `scalars(...).first()`: the same rows, read through the first column.
            match (session_segment.name, after.first().copied()) {
                ("execute", Some("scalars")) => {
                    after.remove(0);
                }
                ("execute", Some("scalar_one" | "scalar_one_or_none" | "scalar")) => {
                    after[0] = scalar_terminal(after[0]);
                }
                ("execute", _) => {
                    return Err(
                        "`execute()` returns rows of columns; use `scalars()` to get a fix"
                            .to_string(),
                    )
                }
                ("scalar", None) => after.push("first"),
                _ => {}
            }
            let shape = match after.as_slice() {
                [] => {
                    require_row_context(replaced, source)?;
                    Shape::List
                }
                ["all"] => Shape::List,
                ["first"] => Shape::First,
                ["one"] => Shape::One,
                ["one_or_none"] => Shape::OneOrNone,
                _ => {
                    return Err(format!(
                        "`{}` has no batched form",
                        after.join("().") + "()"
                    ))
                }
            };
            if !matches!(
                session_segment.name,
                "execute" | "scalars" | "exec" | "scalar"
            ) {
                return Err(format!("`{}()` has no batched form", session_segment.name));
            }
            // The rows are grouped by an attribute of the selected entity: `select(M)`, not
            // `select(M.col)`.
            if model
                .as_deref()
                .is_none_or(|model| !selects_entity(statement_chain, model, source))
            {
                return Err("only `select(Model)` statements are batched (the rows are grouped by their key column)".to_string());
            }
            let (rewrite, column) = match &condition.kind {
                ConditionKind::Comparison { column } => {
                    let column_text = source[column.byte_range()].to_string();
                    (
                        (
                            condition.node.byte_range(),
                            format!("{column_text}.in_({{chunk}})"),
                        ),
                        column_text,
                    )
                }
                ConditionKind::Keyword { name, others } => {
                    let model = model.ok_or("the model of the query is unknown")?;
                    (
                        keyword_rewrite(
                            &condition,
                            others,
                            format!("where({model}.{name}.in_({{chunk}}))"),
                        )?,
                        format!("{model}.{name}"),
                    )
                }
                ConditionKind::Positional => return Err("unexpected positional key".to_string()),
            };
            let mut rewrites = without_comments(statement);
            rewrites.push(rewrite);
            let statement_text = splice(source, statement.byte_range(), rewrites);
            let receiver = &source[node.start_byte()
                ..method_node(session_segment.node)
                    .ok_or("no method")?
                    .start_byte()];
            let method = if session_segment.name == "exec" {
                "exec"
            } else {
                "scalars"
            };
            let batched = format!("{receiver}{method}({statement_text})");
            let batched = if awaited.is_some() {
                format!("(await {batched})")
            } else {
                batched
            };
            (
                shape,
                batched,
                column.rsplit('.').next().unwrap_or("id").to_string(),
            )
        }
        QueryApi::DjangoManager => {
            let model = model.ok_or("the model of the query is unknown")?;
            let ConditionKind::Keyword { name, others } = &condition.kind else {
                return Err("only keyword conditions are batched for Django".to_string());
            };
            let segment = condition.segment.ok_or("no segment")?;
            // `filter(customer=cid)` on a foreign key groups by its column, `customer_id`.
            let foreign_key_column = models
                .relationship(&model, name)
                .and_then(|relationship| relationship.foreign_key_column);
            let attribute = if name == "pk" || name == "id" || name.ends_with("_id") {
                name.clone()
            } else if let Some(column) = foreign_key_column {
                column
            } else if models.model(&model).and_then(|m| m.column(name)).is_some() {
                name.clone()
            } else {
                return Err(format!(
                    "cannot tell whether `{name}` is a foreign key; filter on `{name}_id` (or the column itself) to get a fix"
                ));
            };
            // `filter(customer=c)` takes a row or its key; the rows are grouped by the key
            // (`customer_id`), so a row is looked up by its `pk`.
            if attribute != *name && name != "pk" {
                key = format!("getattr({key}, \"pk\", {key})");
                lookup_key = format!("getattr({lookup_key}, \"pk\", {lookup_key})");
            }
            if segment.name == "get" {
                django_get(
                    &DjangoGet {
                        node,
                        chain: &chain,
                        first_call,
                        condition: &condition,
                        name,
                        others,
                        attribute,
                    },
                    &model,
                    models,
                    source,
                )?
            } else if segment.name == "filter" {
                let argument = condition.node;
                let rewrites = vec![(argument.byte_range(), format!("{name}__in={{chunk}}"))];
                // A queryset's `.get()` raises where a lookup would not: not batched.
                // `filter(col=key).get()`: exactly one row, or the original raises.
                let shape = match terminal {
                    Some("get") => {
                        let get = chain.segments.last().and_then(|s| s.arguments);
                        if get.is_some_and(|arguments| named_children(arguments).next().is_some()) {
                            return Err(
                                "`.get(...)` with conditions after `.filter()` has no batched form"
                                    .to_string(),
                            );
                        }
                        Shape::One
                    }
                    _ => terminal_shape(terminal, node, source)?,
                };
                let mut rewrites = rewrites;
                if let Some(last) = chain.segments.last().filter(|_| terminal.is_some()) {
                    let object =
                        field(field(last.node, "function").ok_or("no function")?, "object")
                            .ok_or("no object")?;
                    rewrites.push((object.end_byte()..last.node.end_byte(), String::new()));
                }
                rewrites.extend(without_comments(node));
                let base = splice(source, node.byte_range(), rewrites);
                let ordered = chain.segments.iter().any(|s| s.name == "order_by");
                let batched = match shape {
                    // Ordered at run time as `first()` orders it: see `default_first_order`.
                    Shape::First if !ordered => {
                        default_first_order = true;
                        base
                    }
                    Shape::Count => {
                        imports.push(("django.db.models", "Count"));
                        format!("{base}.order_by().values_list(\"{name}\").annotate(Count(\"pk\"))")
                    }
                    Shape::Exists => format!("{base}.values_list(\"{name}\", flat=True)"),
                    _ => base,
                };
                (shape, batched, attribute)
            } else {
                return Err(format!("`.{}()` conditions are not batched", segment.name));
            }
        }
        QueryApi::DjangoRelated => {
            return Err(
                "a related manager per object is fixed with `prefetch_related` (INB002)"
                    .to_string(),
            );
        }
        QueryApi::FlaskDb => {
            return Err("`db.*_or_404` aborts the request per key; batch it by hand".to_string())
        }
    };

    if shape == Shape::List {
        if let Some(name) = &assigned_to {
            if mutates(body, source, name) {
                return Err(format!(
                    "`{name}` is modified in the loop, and a shared grouped list must not be"
                ));
            }
        }
    }
    let model_name = call
        .model
        .as_deref()
        .map(snake_case)
        .unwrap_or_else(|| "row".to_string());
    let base_name = match (&assigned_to, shape) {
        (Some(name), _) if shape != Shape::Count && shape != Shape::Exists => {
            format!("{name}_by_{attribute}")
        }
        (_, Shape::Count) => format!("{model_name}_counts_by_{attribute}"),
        (_, Shape::Exists) => format!("{attribute}s_with_{model_name}"),
        _ => format!("{model_name}s_by_{attribute}"),
    };
    let unique_key = call
        .model
        .as_deref()
        .and_then(|name| models.model(name))
        .is_some_and(|model| model.is_unique(&attribute))
        || attribute == "pk"
        || attribute == "id";
    // A unique key has at most one row: no list, no count of rows to check.
    let shape = match shape {
        Shape::One if unique_key => Shape::Unique,
        Shape::OneOrNone if unique_key => Shape::Optional,
        shape => shape,
    };
    let reads_whole_groups = shape == Shape::First && !unique_key;
    Ok(Plan {
        key,
        lookup_key,
        replace: replaced.byte_range(),
        shape,
        batched,
        attribute,
        base_name,
        imports,
        fallback: source[replaced.byte_range()].to_string(),
        reads_whole_groups,
        // One row per unique key: no order to keep.
        default_first_order: default_first_order && !unique_key,
    })
}

/// A Django `.get(col=key)` and where it sits in its chain.
struct DjangoGet<'c, 's, 'a> {
    node: Node<'a>,
    chain: &'c Chain<'a>,
    first_call: usize,
    condition: &'c KeyCondition<'s, 'a>,
    name: &'c str,
    others: &'c [String],
    attribute: String,
}

/// Queryset methods a `.get()` may follow and its batched form keep: they filter or load, they
/// neither reshape the rows (`values()`) nor limit them.
const GET_PRECEDING: &[&str] = &[
    "all",
    "filter",
    "exclude",
    "select_related",
    "prefetch_related",
    "only",
    "defer",
    "using",
    "order_by",
];

/// `M.objects.get(pk=key)` or `get(unique=key)` alone: `in_bulk(chunk, field_name=...)`;
/// anything else (more conditions, a column that may repeat): the rows grouped per key, one row
/// being the answer. Both fall back to the original `get()` for the keys they cannot answer.
fn django_get(
    get: &DjangoGet<'_, '_, '_>,
    model: &str,
    models: &ModelResolver<'_>,
    source: &str,
) -> Result<(Shape, String, String), String> {
    let segments = &get.chain.segments;
    let get_segment = get.condition.segment.ok_or("no segment")?;
    if !std::ptr::eq(segments.last().ok_or("no segment")?, get_segment) {
        return Err("`.get()` is not the end of the query".to_string());
    }
    if let Some(other) = segments[get.first_call..segments.len() - 1]
        .iter()
        .find(|segment| !segment.is_call() || !GET_PRECEDING.contains(&segment.name))
    {
        return Err(format!(
            "`.{}()` before `.get()` has no batched form",
            other.name
        ));
    }
    let name = get.name;
    let unique = name == "pk" || models.model(model).is_some_and(|m| m.is_unique(name));
    let method = method_node(get_segment.node).ok_or("no method")?;
    let mut rewrites = without_comments(get.node);
    // in_bulk keys a relation's dictionary by the related row (one query each): columns only.
    if unique && get.others.is_empty() && get.attribute == name {
        // in_bulk keys its dictionary by the field's value: the lookup reads the same key.
        let field_name = if name == "pk" {
            String::new()
        } else {
            format!(", field_name=\"{name}\"")
        };
        rewrites.push((
            method.start_byte()..get_segment.node.end_byte(),
            format!("in_bulk({{chunk}}{field_name})"),
        ));
        let batched = splice(source, get.node.byte_range(), rewrites);
        return Ok((Shape::InBulk, batched, name.to_string()));
    }
    rewrites.push((method.byte_range(), "filter".to_string()));
    rewrites.push((
        get.condition.node.byte_range(),
        format!("{name}__in={{chunk}}"),
    ));
    let batched = splice(source, get.node.byte_range(), rewrites);
    Ok((Shape::One, batched, get.attribute.clone()))
}

const TERMINAL_NAMES: &[&str] = &[
    "all",
    "first",
    "one",
    "one_or_none",
    "get",
    "count",
    "exists",
    "scalar",
    "scalar_one",
    "scalar_one_or_none",
    "scalars",
    "unique",
    "last",
    "values",
    "values_list",
];

enum ConditionKind<'a> {
    /// `filter_by(col=key)` / Django `filter(col=key)`; `others` are the remaining keyword arguments.
    Keyword { name: String, others: Vec<String> },
    /// `M.col == key`
    Comparison { column: Node<'a> },
    /// `M.query.get(key)`, `session.get(M, key)`
    Positional,
}

struct KeyCondition<'s, 'a> {
    kind: ConditionKind<'a>,
    /// The argument or comparison that holds the key.
    node: Node<'a>,
    value: Node<'a>,
    segment: Option<&'s Segment<'a>>,
}

impl KeyCondition<'_, '_> {
    /// From the name of the key's method to the end of its call: `filter_by(user_id=uid)` in
    /// `M.query.filter_by(user_id=uid)`.
    fn method_call_range(&self) -> Result<TextRange, String> {
        let segment = self.segment.ok_or("no segment")?;
        let method = method_node(segment.node).ok_or("no method")?;
        Ok(method.start_byte()..segment.node.end_byte())
    }
}

/// Replaces the key's `filter_by(col=key, ...)` with `batched`, which selects by `{chunk}`; the
/// keyword arguments other than the key stay in a `filter_by` before it.
fn keyword_rewrite(
    condition: &KeyCondition<'_, '_>,
    others: &[String],
    batched: String,
) -> Result<(TextRange, String), String> {
    let text = if others.is_empty() {
        batched
    } else {
        format!("filter_by({}).{batched}", others.join(", "))
    };
    Ok((condition.method_call_range()?, text))
}

fn find_key_condition<'s, 'a>(
    file: &SourceFile,
    lp: &Loop<'_>,
    query: &Query<'a>,
    chain: &'s Chain<'a>,
    from: usize,
    api: QueryApi,
) -> Result<KeyCondition<'s, 'a>, String> {
    let source = file.text();
    let varies = |node: Node<'_>| node_varies(node, source, lp);
    let mut found: Option<KeyCondition<'s, 'a>> = None;
    if api == QueryApi::SessionGet {
        let arguments = chain.segments[from].arguments.ok_or("no arguments")?;
        let key = named_children(arguments)
            .nth(1)
            .ok_or("`get` without a key")?;
        return Ok(KeyCondition {
            kind: ConditionKind::Positional,
            node: key,
            value: key,
            segment: None,
        });
    }
    for segment in chain.segments.iter().skip(from) {
        let Some(arguments) = segment.arguments else {
            continue;
        };
        for argument in named_children(arguments) {
            if !varies(argument) {
                continue;
            }
            if found.is_some() {
                return Err(
                    "the query uses the loop variable in more than one condition".to_string(),
                );
            }
            let condition = match argument.kind() {
                "keyword_argument" => {
                    let name = field(argument, "name")
                        .map(|n| source[n.byte_range()].to_string())
                        .unwrap_or_default();
                    let value = field(argument, "value").ok_or("no value")?;
                    let others = named_children(arguments)
                        .filter(|other| *other != argument)
                        .map(|other| source[other.byte_range()].to_string())
                        .collect();
                    if name.contains("__") {
                        return Err(format!("the lookup `{name}` is not a plain equality"));
                    }
                    KeyCondition {
                        kind: ConditionKind::Keyword { name, others },
                        node: argument,
                        value,
                        segment: Some(segment),
                    }
                }
                "comparison_operator" => {
                    let mut cursor = argument.walk();
                    let operators: Vec<&str> = argument
                        .children(&mut cursor)
                        .filter(|c| !c.is_named())
                        .map(|c| c.kind())
                        .collect();
                    let operands: Vec<Node<'a>> = named_children(argument).collect();
                    if operators != ["=="] || operands.len() != 2 {
                        return Err(
                            "only an equality with the loop variable is batched".to_string()
                        );
                    }
                    let (column, value) = if varies(operands[1]) {
                        (operands[0], operands[1])
                    } else {
                        (operands[1], operands[0])
                    };
                    if varies(column) || column.kind() != "attribute" {
                        return Err("only `Model.column == key` is batched".to_string());
                    }
                    KeyCondition {
                        kind: ConditionKind::Comparison { column },
                        node: argument,
                        value,
                        segment: Some(segment),
                    }
                }
                _ if segment.name == "get" && api == QueryApi::ModelQuery => KeyCondition {
                    kind: ConditionKind::Positional,
                    node: argument,
                    value: argument,
                    segment: Some(segment),
                },
                _ => {
                    return Err(
                        "the loop variable reaches the query in a form that is not batched"
                            .to_string(),
                    )
                }
            };
            if !matches!(segment.name, "filter" | "filter_by" | "where" | "get") {
                return Err(format!(
                    "the loop variable reaches `.{}()`, which is not a plain filter",
                    segment.name
                ));
            }
            found = Some(condition);
        }
    }
    let condition = found.ok_or("the loop variable reaches the query outside its filters")?;
    // Every varying name the query reads must sit inside the key.
    let key_range = condition.value.byte_range();
    let stray = query.call.refs.iter().any(|reference| {
        reference.context == RefContext::Key
            && lp.varying.contains(&reference.name)
            && !(key_range.start <= reference.range.start && reference.range.end <= key_range.end)
    });
    if stray {
        return Err("the query uses the loop variable outside its key condition".to_string());
    }
    Ok(condition)
}

fn node_varies(node: Node<'_>, source: &str, lp: &Loop<'_>) -> bool {
    crate::engine::syntax::with_stack(|| {
        if node.kind() == "identifier" && lp.varying.contains(&source[node.byte_range()]) {
            return true;
        }
        if node.kind() == "keyword_argument" {
            return field(node, "value").is_some_and(|value| node_varies(value, source, lp));
        }
        if node.kind() == "attribute" {
            return field(node, "object").is_some_and(|object| node_varies(object, source, lp));
        }
        named_children(node).any(|child| node_varies(child, source, lp))
    })
}

/// The value of a key that is a name the `for` loop's body assigns once, in a statement of the
/// body's leading run of plain assignments (nothing before it can skip the iteration), and
/// nowhere else in the loop: `for mention in mentions: user_id = mention["user"]; ...get(pk=user_id)`.
fn leading_assignment<'a>(
    lp: &Loop<'_>,
    body: Node<'a>,
    key: Node<'a>,
    source: &str,
) -> Option<Node<'a>> {
    if lp.kind != LoopKind::For || key.kind() != "identifier" || body.kind() != "block" {
        return None;
    }
    let name = &source[key.byte_range()];
    let mut value = None;
    for statement in named_children(body) {
        if statement.start_byte() >= key.start_byte() {
            break;
        }
        let assignment = named_children(statement)
            .next()
            .filter(|a| statement.kind() == "expression_statement" && a.kind() == "assignment")?;
        let left = field(assignment, "left")?;
        if left.kind() == "identifier" && &source[left.byte_range()] == name {
            value = field(assignment, "right");
        }
    }
    let value = value?;
    (binding_count(body, name, source) == 1).then_some(value)
}

/// How many times `name` is bound inside `node`: assignment targets (also augmented and
/// unpacking), `for` targets, `:=`, `as` names, `del`.
fn binding_count(node: Node<'_>, name: &str, source: &str) -> usize {
    crate::engine::syntax::with_stack(|| {
        let target = match node.kind() {
            "assignment" | "augmented_assignment" | "for_statement" | "for_in_clause" => {
                field(node, "left")
            }
            "named_expression" => field(node, "name"),
            "as_pattern_target" | "delete_statement" => Some(node),
            _ => None,
        };
        let own = target.map_or(0, |target| {
            let mut names = Vec::new();
            bound_names(target, source, &mut names);
            if target.kind() == "as_pattern_target" || target.kind() == "delete_statement" {
                named_children(target).for_each(|child| bound_names(child, source, &mut names));
            }
            names.iter().filter(|bound| bound.as_str() == name).count()
        });
        own + named_children(node)
            .map(|child| binding_count(child, name, source))
            .sum::<usize>()
    })
}

/// The key must read only the loop target (`uid`, `u.id`, `row["id"]`), with no calls but
/// `int`/`str`, so that computing it once more before the loop changes nothing.
fn check_key(node: Node<'_>, source: &str, targets: &HashSet<String>) -> Result<(), String> {
    crate::engine::syntax::with_stack(|| match node.kind() {
        "identifier" => {
            let name = &source[node.byte_range()];
            if targets.contains(name) {
                Ok(())
            } else {
                Err(format!("the key `{name}` is computed inside the loop; compute the keys before the loop to get a fix"))
            }
        }
        "attribute" => check_key(field(node, "object").ok_or("no object")?, source, targets),
        // `record.get("issue_id")`: a mapping's lookup by a literal key reads, it changes nothing.
        "call" if literal_get(node, source) => check_key(
            field(field(node, "function").ok_or("no function")?, "object").ok_or("no object")?,
            source,
            targets,
        ),
        "call" => {
            let function = field(node, "function")
                .map(|f| &source[f.byte_range()])
                .unwrap_or("");
            if !matches!(function, "int" | "str") {
                return Err(format!(
                    "the key calls `{function}()`, which would run twice"
                ));
            }
            check_key(
                field(node, "arguments").ok_or("no arguments")?,
                source,
                targets,
            )
        }
        "string" | "integer" | "comment" | "string_start" | "string_end" | "string_content" => {
            Ok(())
        }
        _ => named_children(node).try_for_each(|child| check_key(child, source, targets)),
    })
}

/// `x.get("name")` or `x.get("name", <literal>)`.
fn literal_get(call: Node<'_>, source: &str) -> bool {
    let is_get = field(call, "function").is_some_and(|f| {
        f.kind() == "attribute"
            && field(f, "attribute").is_some_and(|a| &source[a.byte_range()] == "get")
    });
    let literal = |n: Node<'_>| {
        matches!(
            n.kind(),
            "string" | "integer" | "none" | "true" | "false" | "float"
        ) && !(n.kind() == "string" && named_children(n).any(|c| c.kind() == "interpolation"))
    };
    let arguments: Vec<Node<'_>> = field(call, "arguments")
        .map(|a| named_children(a).collect())
        .unwrap_or_default();
    is_get
        && matches!(arguments.len(), 1 | 2)
        && arguments[0].kind() == "string"
        && arguments.iter().all(|a| literal(*a))
}

/// The batched shape for a query's terminal; no terminal means the rows themselves.
fn terminal_shape(terminal: Option<&str>, node: Node<'_>, source: &str) -> Result<Shape, String> {
    Ok(match terminal {
        None => {
            require_row_context(node, source)?;
            Shape::List
        }
        Some("all") => Shape::List,
        Some("first") => Shape::First,
        Some("one") => Shape::One,
        Some("one_or_none") => Shape::OneOrNone,
        Some("get") => Shape::Optional,
        Some("count") => Shape::Count,
        Some("exists") => Shape::Exists,
        Some(other) => return Err(format!("`.{other}()` has no batched form")),
    })
}

/// A query without a terminal returns a query object; only where its rows are all that is read
/// (iterated, or passed to `list()`/`len()`) may a list replace it.
fn require_row_context(node: Node<'_>, source: &str) -> Result<(), String> {
    let parent = node.parent().ok_or("no parent")?;
    let ok = match parent.kind() {
        "for_statement" | "for_in_clause" => field(parent, "right") == Some(node),
        "argument_list" => {
            parent
                .parent()
                .and_then(|call| field(call, "function"))
                .is_some_and(|f| {
                    matches!(
                        &source[f.byte_range()],
                        "list" | "len" | "sorted" | "tuple" | "set"
                    )
                })
                && named_children(parent).count() == 1
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("the query object itself is used (not only its rows); end it with `.all()` to get a fix".to_string())
    }
}

fn count_query(
    batched: &str,
    api: QueryApi,
    model: &str,
    column: &str,
    chain: &Chain<'_>,
    first_call: usize,
    source: &str,
) -> Result<String, String> {
    let grouped = match api {
        QueryApi::LegacyQuery => {
            // `session.query(M)` becomes `session.query(M.col, func.count())`.
            let arguments = chain.segments[first_call].arguments.ok_or("no arguments")?;
            let start = arguments.start_byte() - chain.root.start_byte();
            let end = arguments.end_byte() - chain.root.start_byte();
            if source[arguments.byte_range()] != format!("({model})") {
                return Err("only `session.query(Model).count()` is batched".to_string());
            }
            format!(
                "{}({column}, func.count()){}",
                &batched[..start],
                &batched[end..]
            )
        }
        _ => {
            let query_end = field(chain.segments[first_call].node, "function")
                .and_then(|f| field(f, "object"))
                .ok_or("no receiver")?
                .end_byte()
                - chain.root.start_byte();
            format!(
                "{}.with_entities({column}, func.count()){}",
                &batched[..query_end],
                &batched[query_end..]
            )
        }
    };
    Ok(format!("{grouped}.group_by({column})"))
}

/// An awaited query and what surrounds it: `await q` or `(await q).all()`.
#[derive(Clone, Copy)]
struct Awaited<'a> {
    outer: Node<'a>,
    terminal: Option<&'static str>,
}

fn awaited_expression<'a>(node: Node<'a>, source: &str) -> Result<Option<Awaited<'a>>, String> {
    let Some(await_node) = node.parent().filter(|p| p.kind() == "await") else {
        return Ok(None);
    };
    let Some(parenthesized) = await_node
        .parent()
        .filter(|p| p.kind() == "parenthesized_expression")
    else {
        return Ok(Some(Awaited {
            outer: await_node,
            terminal: None,
        }));
    };
    let call = parenthesized
        .parent()
        .filter(|p| p.kind() == "attribute")
        .and_then(|attribute| {
            attribute
                .parent()
                .filter(|c| c.kind() == "call")
                .map(|call| (attribute, call))
        });
    let Some((attribute, call)) = call else {
        return Ok(Some(Awaited {
            outer: parenthesized,
            terminal: None,
        }));
    };
    let method = field(attribute, "attribute")
        .map(|a| &source[a.byte_range()])
        .unwrap_or("");
    let terminal = match method {
        "all" => "all",
        "first" => "first",
        "one" => "one",
        "one_or_none" => "one_or_none",
        "scalar_one" => "scalar_one",
        "scalar_one_or_none" => "scalar_one_or_none",
        "scalar" => "scalar",
        other => return Err(format!("`(await ...).{other}()` has no batched form")),
    };
    Ok(Some(Awaited {
        outer: call,
        terminal: Some(terminal),
    }))
}

/// The `scalars()` terminal a `Result`'s first-column reader stands for.
fn scalar_terminal(method: &str) -> &'static str {
    match method {
        "scalar_one" => "one",
        "scalar_one_or_none" => "one_or_none",
        _ => "first",
    }
}

/// Whether the statement is `select(Model)`, `sa.select(Model)` or an alias such as SQLModel's
/// `sqlmodel_select(Model)` (with any `.where()` or `.order_by()` after it).
fn selects_entity(statement: &Chain<'_>, model: &str, source: &str) -> bool {
    // `select(M)` is the chain's root; `sa.select(M)` its first call segment.
    let arguments = if statement.root.kind() == "call" {
        field(statement.root, "function")
            .filter(|function| source[function.byte_range()].ends_with("select"))
            .and_then(|_| field(statement.root, "arguments"))
    } else {
        statement
            .segments
            .iter()
            .find(|segment| segment.is_call())
            .filter(|segment| segment.name == "select")
            .and_then(|segment| segment.arguments)
    };
    arguments.is_some_and(|arguments| {
        let mut entities = named_children(arguments);
        let first = entities.next().map(|a| &source[a.byte_range()]);
        entities.next().is_none()
            && first.is_some_and(|text| text == model || text.rsplit('.').next() == Some(model))
    })
}

fn statement_chain_node<'a>(chain: &Chain<'a>) -> Option<Node<'a>> {
    chain
        .segments
        .last()
        .map(|segment| segment.node)
        .or(Some(chain.root))
}

fn method_node(call: Node<'_>) -> Option<Node<'_>> {
    field(field(call, "function")?, "attribute")
}

/// The name a query is assigned to, as in `sessions = Session.query...`.
fn assigned_name(node: Node<'_>, source: &str) -> Option<String> {
    let parent = node.parent()?;
    (parent.kind() == "assignment" && field(parent, "right") == Some(node))
        .then(|| field(parent, "left"))
        .flatten()
        .filter(|left| left.kind() == "identifier")
        .map(|left| source[left.byte_range()].to_string())
}

/// The text of `range` with `rewrites` applied and comments dropped; code that spans lines is
/// parenthesised, so that it stays one expression wherever it lands.
fn splice(source: &str, range: TextRange, mut rewrites: Vec<(TextRange, String)>) -> String {
    rewrites.sort_by_key(|(r, _)| r.start);
    let mut out = String::new();
    let mut cursor = range.start;
    for (r, text) in rewrites {
        if r.start < cursor {
            continue;
        }
        out.push_str(&source[cursor..r.start]);
        out.push_str(&text);
        cursor = r.end;
    }
    out.push_str(&source[cursor..range.end]);
    if out.contains('\n') {
        out = format!("({out})");
    }
    out
}

/// The comments of a node as deletions for [`splice`].
fn without_comments(node: Node<'_>) -> Vec<(TextRange, String)> {
    comment_ranges(node)
        .into_iter()
        .map(|range| (range, String::new()))
        .collect()
}

/// A batched query runs before the loop, where the names bound by loops nested inside it do not
/// exist: `for uid in ids: for status in STATUSES: ...filter(user_id=uid, status=status)` cannot
/// move `status` out.
fn refuse_inner_loop_names(
    model: &SemanticModel<'_>,
    loop_id: LoopId,
    query: &Query<'_>,
) -> Result<(), String> {
    let inner = query.loops.iter().skip_while(|&&id| id != loop_id).skip(1);
    for &id in inner {
        let inner_loop = model.loop_(id);
        if let Some(name) = query
            .call
            .refs
            .iter()
            .find(|reference| inner_loop.varying.contains(&reference.name))
        {
            return Err(format!(
                "the query also reads `{}`, which changes with the inner loop over `{}`",
                name.name,
                crate::engine::syntax::display_code(&inner_loop.iterable, 40)
            ));
        }
    }
    Ok(())
}

fn mutates(node: Node<'_>, source: &str, name: &str) -> bool {
    crate::engine::syntax::with_stack(|| {
        let is_name = |n: Node<'_>| n.kind() == "identifier" && &source[n.byte_range()] == name;
        let hit = match node.kind() {
            "call" => field(node, "function").is_some_and(|f| {
                f.kind() == "attribute"
                    && field(f, "object").is_some_and(is_name)
                    && field(f, "attribute")
                        .is_some_and(|a| MUTATING_METHODS.contains(&&source[a.byte_range()]))
            }),
            "augmented_assignment" => field(node, "left").is_some_and(is_name),
            "assignment" => field(node, "left")
                .is_some_and(|l| l.kind() == "subscript" && field(l, "value").is_some_and(is_name)),
            "delete_statement" => named_children(node)
                .any(|c| c.kind() == "subscript" && field(c, "value").is_some_and(is_name)),
            _ => false,
        };
        hit || named_children(node).any(|child| mutates(child, source, name))
    })
}

/// Whether iterating the expression twice gives the same items: literals, `range()`, names bound
/// to a list/tuple/set/dict (by annotation or by assignment) in the enclosing function.
fn is_reiterable(iterable: Node<'_>, file: &SourceFile) -> bool {
    let source = file.text();
    match iterable.kind() {
        kind if builds_collection(kind) => true,
        "call" => field(iterable, "function").is_some_and(|f| {
            matches!(
                &source[f.byte_range()],
                "range" | "list" | "sorted" | "tuple" | "set" | "dict"
            )
        }),
        "identifier" => {
            let name = &source[iterable.byte_range()];
            let mut scope = iterable.parent();
            while let Some(node) = scope {
                if node.kind() == "function_definition" {
                    break;
                }
                scope = node.parent();
            }
            let Some(function) = scope else { return false };
            let annotated = field(function, "parameters").is_some_and(|parameters| {
                named_children(parameters).any(|parameter| {
                    let has_name = named_children(parameter)
                        .next()
                        .is_some_and(|n| &source[n.byte_range()] == name);
                    let annotation = field(parameter, "type")
                        .map(|t| &source[t.byte_range()])
                        .unwrap_or("");
                    has_name
                        && COLLECTION_ANNOTATIONS
                            .iter()
                            .any(|prefix| annotation.starts_with(prefix))
                })
            });
            annotated || assigned_collection(function, name, source, iterable.start_byte())
        }
        _ => false,
    }
}

const COLLECTION_ANNOTATIONS: &[&str] = &[
    "list",
    "List",
    "tuple",
    "Tuple",
    "set",
    "Set",
    "frozenset",
    "FrozenSet",
    "dict",
    "Dict",
    "Sequence",
    "typing.List",
    "typing.Sequence",
    "abc.Sequence",
    "collections.abc.Sequence",
];

/// Node kinds that build a new list, tuple, set or dict: a literal or a comprehension.
fn builds_collection(kind: &str) -> bool {
    matches!(
        kind,
        "list"
            | "tuple"
            | "set"
            | "dictionary"
            | "list_comprehension"
            | "set_comprehension"
            | "dictionary_comprehension"
    )
}

fn assigned_collection(node: Node<'_>, name: &str, source: &str, before: usize) -> bool {
    crate::engine::syntax::with_stack(|| {
        if node.start_byte() >= before {
            return false;
        }
        if node.kind() == "assignment"
            && field(node, "left").is_some_and(|l| &source[l.byte_range()] == name)
            && field(node, "right").is_some_and(|r| {
                builds_collection(r.kind())
                    || (r.kind() == "call"
                        && field(r, "function").is_some_and(|f| {
                            matches!(
                                &source[f.byte_range()],
                                "list" | "sorted" | "tuple" | "set" | "dict"
                            )
                        }))
            })
        {
            return true;
        }
        named_children(node).any(|child| {
            child.kind() != "function_definition"
                && assigned_collection(child, name, source, before)
        })
    })
}
