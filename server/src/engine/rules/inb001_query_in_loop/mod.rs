//! INB001 query-in-loop.

mod batch_fix;

use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::orm::{Access, RefContext};
use crate::engine::semantic::{Loop, LoopId, LoopKind, Query, SemanticModel};
use crate::engine::syntax::display_code;

pub static RULE: RuleInfo = RuleInfo {
    code: "INB001",
    name: "query-in-loop",
    severity: Severity::Warning,
    summary: "An ORM query runs once per loop iteration with an argument taken from the loop",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Sometimes,
    enabled_by_default: false,
    category: Category::Performance,
};

const DOCUMENTATION: &str = r#"## What it does
Flags an ORM query that runs once per iteration of a loop and whose arguments depend on the loop
variable: SQLAlchemy `session.query(M).filter(...)`, `M.query.filter_by(...)`,
`session.execute(select(M).where(...))`, `session.scalars(...)`, `session.get(M, key)`, SQLModel
`session.exec(...)`, async `await session.execute(...)`, and Django `M.objects.filter(...)`/`get(...)`
or a related manager such as `order.item_set.all()`. Every loop form counts: `for`, `async for`,
`while`, and list, set and dict comprehensions and generator expressions.

## Why is this bad?
Each iteration is a round trip to the database: a loop over N keys issues N queries (the "N+1
problem"). Latency grows linearly with the input, and the database parses, plans and runs the same
statement N times. One query with `IN (...)` per chunk of keys does the same work in
`ceil(N / batch-size)` round trips.

## Example
```python
def get_user_analytics(user_ids):
    result = {}
    for uid in user_ids:
        sessions = Session.query.filter_by(user_id=uid).all()
        result[uid] = len(sessions)
    return result
```

## Use instead
```python
from collections import defaultdict

def get_user_analytics(user_ids):
    sessions_by_user_id = defaultdict(list)
    keys = list(dict.fromkeys(user_ids))
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        for row in Session.query.filter(Session.user_id.in_(chunk)).all():
            sessions_by_user_id[row.user_id].append(row)
    result = {}
    for uid in user_ids:
        sessions = sessions_by_user_id.get(uid, [])
        result[uid] = len(sessions)
    return result
```

Queries are recognised by evidence: what the receiver is bound to (a `Session` annotation, a
session factory, `Model.objects`, a related manager) or what the call's arguments prove (a model
class for `.query()`/`.get()`, a SQLAlchemy statement for `.execute()`), never by a method name.
Only queries that run count: a Django queryset or legacy `Query` that is only built (assigned to a
form field, passed on, used as a subquery) is not a query until it is iterated or consumed.

Not flagged: a loop whose N the code fixes (a literal list, `range(3)`, enum members, a constant
such as `STATUSES`, a helper that returns a literal list or data bundled with the code such as
`read_seed_file("projects.json")`, the schema: tables, constraints, registered models,
`ContentType` rows, a query pinned to one primary key); a query only the iteration whose key
equals one value runs (`if name == "inventory":`); a query that runs once before the loop; a relation read whole (`row.items.all()`, `.count()`,
`.exists()`) on rows a helper or an attribute hands over, which may carry its prefetch (rows of
a parameter are still checked; rows of the function's own queries are INB002's); a loop over the results of one query;
a chunk loop that runs one `.in_()`/`__in` query per slice of the keys; pagination (`offset`/`limit`,
slices, keyset `where(M.id > last)`, a `while` loop that stops when a page comes back empty); a
loop that unconditionally `break`s or `return`s right after the query; a retry loop that a query's
answer ends; a walk along rows whose next key comes from the row just loaded (also a `while stack:` walk of a
graph that pushes the rows' keys back onto `stack`); memoised lookups (an
`if key not in cache:` guard, `functools.cache` helpers, `ContentType.objects.get_for_model`); DDL;
calls whose receiver is not an ORM object (`cache.get(k)`, `requests.get(url)`); test code, unless
`check-tests = true`.

## Fix safety
The batched rewrite is unsafe: rows of different keys may come back in a different order, and a
loop body that writes to the database could observe different data. Lookups that raise keep their
exceptions: `.one()`, `.scalar_one()` and Django `get()` become a lookup in the batch that runs the
original query for a key without exactly one row, so `NoResultFound`/`DoesNotExist` (or the
"multiple rows" error) is raised at the same iteration as before. A `.first()` per key on a column
that may hold many rows reads every row of the batch's keys; the fix title says so.
"#;

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let model = context.model;
    // Queries flagged per loop, in source order: one fix rewrites a loop's queries together.
    let mut by_loop: Vec<(LoopId, Vec<&Query<'_>>)> = Vec::new();
    for query in &model.queries {
        if query.call.access == Access::Write
            || !query.evaluated
            || model.prefetchable_relation(query).is_some()
            || model.relation_possibly_prefetched(query)
        {
            continue;
        }
        let Some(loop_id) = varying_loop(model, query) else {
            continue;
        };
        let node = query.call.node;
        if model.runs_at_most_once(node, loop_id)
            || model.runs_for_one_key(node, loop_id)
            || model.is_memoised(node, loop_id)
            || model.exits_on_result(node, loop_id)
            || model.in_loop_condition(node, loop_id)
            || model.stops_on_rows(query, loop_id)
            || model.walks_own_result(query, loop_id)
            || model.on_error_path(node, loop_id)
            || is_batch_fallback(node, model.file.text())
            || prefetched_before(model, loop_id, query)
            || runs_a_list_of_statements(model, query, loop_id)
            || query
                .call
                .model
                .as_deref()
                .is_some_and(|name| model.writes_model_after(loop_id, name, query))
        {
            continue;
        }
        match by_loop.iter_mut().find(|(id, _)| *id == loop_id) {
            Some((_, queries)) => queries.push(query),
            None => by_loop.push((loop_id, vec![query])),
        }
    }
    for (loop_id, queries) in by_loop {
        let lp = model.loop_(loop_id);
        // One rewrite serves every query of the loop: built once, when fixes are built.
        let mut fix = None;
        for query in &queries {
            let on_model = query
                .call
                .model
                .as_deref()
                .map(|model| format!(" on `{model}`"))
                .unwrap_or_default();
            let message = format!(
                "`{}` runs once per {}: N+1 queries{on_model}",
                query.call.display,
                lp.iteration_phrase()
            );
            let mut diagnostic = Diagnostic::new(&RULE, message, query.call.node.byte_range())
                .with_related(loop_phrase(lp), lp.header.clone());
            context.offer_fix(&mut diagnostic, || {
                fix.get_or_insert_with(|| {
                    batch_fix::build(
                        model,
                        loop_id,
                        &queries,
                        context.options.batch_size,
                        context.index,
                    )
                })
                .clone()
            });
            diagnostics.push(diagnostic);
        }
    }
}

/// The innermost loop whose varying names reach the query as a key, or as the list of an `IN`
/// that changes per iteration of a loop that is not itself a chunk loop (`for u in users:
/// Group.query.filter(Group.id.in_(u.group_ids))` is still one query per user). Page bounds never
/// count.
fn varying_loop(model: &SemanticModel<'_>, query: &Query<'_>) -> Option<LoopId> {
    query.loops.iter().rev().copied().find(|&id| {
        let lp = model.loop_(id);
        // A chunk loop's query is the batching itself.
        if !model.grows(id) || is_chunk_loop(lp) {
            return false;
        }
        // `for ct, pks in by_type.items(): ...filter(type=ct, id__in=pks)`: one IN query per
        // group of keys, already batched.
        let groups = iterates_groups(lp);
        if groups
            && query.call.refs.iter().any(|reference| {
                reference.context == RefContext::Batch && lp.varying.contains(&reference.name)
            })
        {
            return false;
        }
        query.call.refs.iter().any(|reference| {
            let counts = match reference.context {
                RefContext::Key => true,
                // An IN list counts for the innermost loop it changes with only: a list sliced
                // per chunk inside this loop is that chunk loop's batching.
                RefContext::Batch => {
                    !groups
                        && lp.kind != LoopKind::While
                        && !varies_in_inner_loop(model, query, id, &reference.name)
                }
                RefContext::Page => false,
            };
            counts && lp.varying.contains(&reference.name)
        })
    })
}

/// Whether `name` changes with a loop of the query nested inside loop `id`.
fn varies_in_inner_loop(
    model: &SemanticModel<'_>,
    query: &Query<'_>,
    id: LoopId,
    name: &str,
) -> bool {
    query
        .loops
        .iter()
        .skip_while(|&&outer| outer != id)
        .skip(1)
        .any(|&inner| model.loop_(inner).varying.contains(name))
}

/// The `else` branch of a batched lookup, `(by_pk[k] if k in by_pk else M.objects.get(pk=k))`
/// or `(rows[k][0] if len(rows.get(k, ())) == 1 else q.one())`, as the INB001 fix writes it: the
/// original query runs only for a key the batch did not answer, to raise (or return) what it
/// did, so it is not one query per iteration.
fn is_batch_fallback(node: tree_sitter::Node<'_>, source: &str) -> bool {
    use crate::engine::syntax::named_children;
    let mut child = node;
    while let Some(parent) = child.parent() {
        match parent.kind() {
            "conditional_expression" => {
                let parts: Vec<_> = named_children(parent).collect();
                if let [_, condition, alternative] = parts.as_slice() {
                    if *alternative == child && is_batch_hit_test(*condition, source) {
                        return true;
                    }
                }
            }
            "expression_statement" | "block" | "module" | "function_definition" | "lambda" => {
                return false
            }
            _ => {}
        }
        child = parent;
    }
    false
}

/// `row.rel.all()` in a loop over `items` after the INB001 fix's own
/// `prefetch_related_objects(items[start:start + 1000], "rel")` in a statement before the loop:
/// the manager reads the prefetch cache.
fn prefetched_before(model: &SemanticModel<'_>, loop_id: LoopId, query: &Query<'_>) -> bool {
    if query.call.api != crate::engine::orm::QueryApi::DjangoRelated {
        return false;
    }
    let source = model.file.text();
    let lp = model.loop_(loop_id);
    let chain = crate::engine::orm::Chain::flatten(query.call.node, source);
    let Some(relation) = chain.segments.first().filter(|segment| !segment.is_call()) else {
        return false;
    };
    let call = format!("prefetch_related_objects({}[", lp.iterable.trim());
    let lookup = format!("\"{}\"", relation.name);
    let mut statement = lp.node.prev_named_sibling();
    while let Some(earlier) = statement {
        let text = &source[earlier.byte_range()];
        if text.contains(&call) && text.contains(&lookup) {
            return true;
        }
        statement = earlier.prev_named_sibling();
    }
    false
}

/// `k in by_key` or `len(by_key.get(k, ())) == 1`.
fn is_batch_hit_test(condition: tree_sitter::Node<'_>, source: &str) -> bool {
    use crate::engine::syntax::{field, named_children};
    if condition.kind() != "comparison_operator" {
        return false;
    }
    let operands: Vec<_> = named_children(condition).collect();
    let [left, right] = operands.as_slice() else {
        return false;
    };
    let mut cursor = condition.walk();
    let operator = condition
        .children(&mut cursor)
        .find(|c| !c.is_named())
        .map(|c| c.kind());
    match operator {
        Some("in") => right.kind() == "identifier",
        Some("==") => {
            &source[right.byte_range()] == "1"
                && left.kind() == "call"
                && field(*left, "function").is_some_and(|f| &source[f.byte_range()] == "len")
                && field(*left, "arguments")
                    .and_then(|a| named_children(a).next())
                    .and_then(|get| field(get, "function"))
                    .is_some_and(|f| {
                        f.kind() == "attribute"
                            && field(f, "object").is_some_and(|o| o.kind() == "identifier")
                            && field(f, "attribute")
                                .is_some_and(|a| &source[a.byte_range()] == "get")
                    })
        }
        _ => false,
    }
}

/// `for key, values in d.items()`: a loop over groups of a mapping.
fn iterates_groups(lp: &Loop<'_>) -> bool {
    lp.iterable.trim_end().ends_with(".items()") && lp.target.contains(',')
}

/// `for statement in statements: conn.execute(text(statement))`: the SQL itself changes per
/// iteration, so the loop runs a list of different statements, not one query per key.
fn runs_a_list_of_statements(model: &SemanticModel<'_>, query: &Query<'_>, id: LoopId) -> bool {
    if query.call.api != crate::engine::orm::QueryApi::Statement {
        return false;
    }
    let source = model.file.text();
    let Some(arguments) = crate::engine::syntax::field(query.call.node, "arguments") else {
        return false;
    };
    let Some(mut statement) = crate::engine::syntax::named_children(arguments).next() else {
        return false;
    };
    // `text(statement)`
    if statement.kind() == "call" {
        if let Some(inner) = crate::engine::syntax::field(statement, "arguments")
            .and_then(|a| crate::engine::syntax::named_children(a).next())
        {
            statement = inner;
        }
    }
    statement.kind() == "identifier"
        && model
            .loop_(id)
            .varying
            .contains(&source[statement.byte_range()])
}

/// A loop over slices of the keys: `range(0, len(ids), 1000)` with a step, or a loop whose
/// iterable or target names chunks, batches, segments or partitions.
fn is_chunk_loop(lp: &Loop<'_>) -> bool {
    const CHUNK_WORDS: &[&str] = &[
        "chunk",
        "batch",
        "slice",
        "partition",
        "segment",
        "window",
        "split",
        "bulk",
    ];
    let iterable = lp.iterable.trim();
    // A step of 1 walks the keys one by one.
    let stepped_range = iterable.strip_prefix("range(").is_some_and(|arguments| {
        let arguments = arguments.trim_end().trim_end_matches(')');
        arguments.matches(',').count() >= 2
            && arguments.rsplit(',').next().map(str::trim) != Some("1")
    });
    let says_chunk = |text: &str| {
        let lower = text.to_ascii_lowercase();
        CHUNK_WORDS.iter().any(|word| lower.contains(word))
    };
    stepped_range || says_chunk(iterable) || says_chunk(&lp.target)
}

fn loop_phrase(lp: &Loop<'_>) -> String {
    let what = match lp.kind {
        LoopKind::For | LoopKind::While => "loop",
        LoopKind::AsyncFor => "async loop",
        LoopKind::ListComprehension => "list comprehension",
        LoopKind::SetComprehension => "set comprehension",
        LoopKind::DictComprehension => "dict comprehension",
        LoopKind::Generator => "generator expression",
    };
    match lp.kind {
        LoopKind::While => format!(
            "{what} `while {}` repeats the query",
            display_code(&lp.target, 40)
        ),
        _ => format!(
            "{what} over `{}` of `{}` repeats the query",
            display_code(&lp.target, 40),
            display_code(&lp.iterable, 40)
        ),
    }
}
