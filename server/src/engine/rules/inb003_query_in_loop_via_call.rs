//! INB003 query-in-loop-via-call.

use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Related, Severity};
use crate::engine::orm::{Access, RefContext};
use crate::engine::semantic::calls::{collect_identifiers, Callee};
use crate::engine::semantic::LoopKind;
use crate::engine::syntax::display_code;

pub static RULE: RuleInfo = RuleInfo {
    code: "INB003",
    name: "query-in-loop-via-call",
    severity: Severity::Warning,
    summary: "A call in a loop passes the loop variable to a function that queries with it",
    documentation: DOCUMENTATION,
    fix: FixAvailability::None,
    enabled_by_default: true,
    category: Category::Performance,
};

const DOCUMENTATION: &str = r#"## What it does
Flags a call inside a loop whose argument depends on the loop variable, when the called function
uses that parameter as a key of an ORM query: directly, or by passing it on to further functions
(up to `max-call-depth` hops, 3 by default). Calls are followed across files through imports:
module-level functions called by name (`load_stats(uid)`, defined in the same file or imported
with `from .helpers import load_stats`, also under an alias), functions of an imported module
(`import app.helpers as h; h.load_stats(uid)`, `from app import helpers;
helpers.load_stats(uid)`), and methods called as `self.method(...)` or `cls.method(...)` from
their own class. A call that cannot be resolved (a method of another object, a module outside the
project, a name the caller rebinds) is skipped, never guessed. The related information points at
each call on the way and at the query, in whichever file they are.

## Why is this bad?
It is the same N+1 as INB001, hidden behind a helper: a loop over N keys runs N queries, and nothing
at the call site says so.

## Example
```python
def load_stats(user_id):
    return session.query(Stat).filter_by(user_id=user_id).all()

def report(user_ids):
    return [summarise(load_stats(uid)) for uid in user_ids]
```

## Use instead
A batched variant of the helper that loads every key with one `IN` query, called once:
```python
def load_stats_many(user_ids):
    by_user = defaultdict(list)
    for stat in session.query(Stat).filter(Stat.user_id.in_(user_ids)):
        by_user[stat.user_id].append(stat)
    return by_user

def report(user_ids):
    stats = load_stats_many(user_ids)
    return [summarise(stats.get(uid, [])) for uid in user_ids]
```

Not flagged: a helper whose query takes the parameter inside `.in_()`/`__in` (already batched); an
argument that does not change with the loop; a call that runs at most once per loop; a call whose
argument already holds a query that INB001 reports.

## Fix safety
There is no fix: the batched helper has to be written, and where its results go is a design choice.
"#;

pub fn check(context: &Context<'_, '_>, diagnostics: &mut Vec<Diagnostic>) {
    let model = context.model;
    let source = model.file.text();
    let Some(summaries) = context.summaries else {
        return;
    };
    if summaries.reaches.iter().all(Vec::is_empty)
        && summaries.external.iter().all(|f| f.reaches.is_empty())
    {
        return;
    }
    for (index, call) in model.calls.iter().enumerate() {
        if call.loops.is_empty() {
            continue;
        }
        let reaching = summaries.reaching_arguments(model, index, |_| true);
        // The innermost loop whose varying names reach a querying parameter.
        let found = call
            .loops
            .iter()
            .rev()
            .filter(|&&id| model.grows(id))
            .find_map(|&id| {
                let varying = &model.loop_(id).varying;
                reaching
                    .iter()
                    .find(|(argument, _)| {
                        let mut names = Vec::new();
                        collect_identifiers(*argument, source, &mut names);
                        names.iter().any(|name| varying.contains(name))
                    })
                    .map(|(argument, reach)| (id, *argument, *reach))
            });
        let Some((id, argument, reach)) = found else {
            continue;
        };
        if model.runs_at_most_once(call.node, id)
            || model.is_memoised(call.node, id)
            || model.exits_on_result(call.node, id)
            || holds_flagged_query(context, call.node, id)
        {
            continue;
        }
        let lp = model.loop_(id);
        let callee = match &call.callee {
            Callee::Name(name) => name.clone(),
            Callee::Method { receiver, method } => format!("{receiver}.{method}"),
        };
        let function = match &call.callee {
            Callee::Name(name) | Callee::Method { method: name, .. } => name.as_str(),
        };
        let on_model = reach
            .model
            .as_deref()
            .map(|m| format!(" on `{m}`"))
            .unwrap_or_default();
        let query = reach.path.last().expect("a reach ends at its query");
        let message = format!(
            "`{}` runs a query{on_model} once per {}: `{callee}` uses `{}` as a query key",
            display_code(&source[call.node.byte_range()], 60),
            lp.iteration_phrase(),
            display_code(&source[argument.byte_range()], 40),
        );
        let mut diagnostic = Diagnostic::new(&RULE, message, call.node.byte_range()).with_related(
            format!(
                "the loop over `{}` repeats the call",
                display_code(&lp.iterable, 40)
            ),
            lp.header.clone(),
        );
        for hop in &reach.path[..reach.path.len() - 1] {
            diagnostic.related.push(Related {
                message: format!("`{}` calls `{}`", hop.function, hop.display),
                range: hop.range.clone(),
                file: hop.file.clone(),
            });
        }
        diagnostic.related.push(Related {
            message: format!(
                "the query in `{}`: `{}`",
                query.function,
                display_code(&query.display, 60)
            ),
            range: query.range.clone(),
            file: query.file.clone(),
        });
        let keys = if lp.kind == LoopKind::While {
            "the keys".to_string()
        } else {
            display_code(&lp.iterable, 40)
        };
        context.offer_fix(&mut diagnostic, || {
            Err(format!(
                "the helper must be batched by hand: write `{function}_many({keys})`, which loads every key with one \
                 `IN` query (`.in_()` / `__in`) and returns the rows grouped by key, call it once before the loop and \
                 look each key up inside it"
            ))
        });
        diagnostics.push(diagnostic);
    }
}

/// A query INB001 reports in the same loop, inside the call's own arguments.
fn holds_flagged_query(context: &Context<'_, '_>, call: tree_sitter::Node<'_>, id: usize) -> bool {
    let varying = &context.model.loop_(id).varying;
    context.model.queries.iter().any(|query| {
        query.call.access == Access::Read
            && call.start_byte() <= query.call.node.start_byte()
            && query.call.node.end_byte() <= call.end_byte()
            && query.loops.contains(&id)
            && query
                .call
                .refs
                .iter()
                .any(|r| r.context == RefContext::Key && varying.contains(&r.name))
    })
}
