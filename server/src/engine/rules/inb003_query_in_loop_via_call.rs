//! INB003 query-in-loop-via-call.

use super::{Category, Context, FixAvailability, RuleInfo};
use crate::engine::diagnostic::{Diagnostic, Related, Severity};
use crate::engine::index::calls::{CallValue, FunctionKind};
use crate::engine::orm::loaders::covers;
use crate::engine::orm::{Access, RefContext};
use crate::engine::semantic::calls::{collect_identifiers, Reach};
use crate::engine::semantic::{LoopKind, RowsSource};
use crate::engine::syntax::{callee_name, display_code, field, named_children};
use tree_sitter::Node;

pub static RULE: RuleInfo = RuleInfo {
    code: "INB003",
    name: "query-in-loop-via-call",
    severity: Severity::Warning,
    summary: "A call in a loop passes the loop variable to a function that queries with it",
    documentation: DOCUMENTATION,
    fix: FixAvailability::None,
    enabled_by_default: false,
    category: Category::Performance,
};

const DOCUMENTATION: &str = r#"## What it does
Flags a call inside a loop whose argument depends on the loop variable, when the called function
uses that parameter as a key of an ORM query: directly, or by passing it on to further functions
(up to `max-call-depth` hops, 3 by default). Calls are followed across files through imports:
module-level functions called by name (`load_stats(uid)`, defined in the same file or imported
with `from .helpers import load_stats`, also under an alias), functions of an imported module
(`import app.helpers as h; h.load_stats(uid)`, `from app import helpers;
helpers.load_stats(uid)`), and methods.

A method is found from what its receiver holds, as the code binds it: `self`/`cls` in a method;
an instance the code constructs (`repo = CustomerRepository(session)`) or gets from a classmethod
that returns `cls(...)` (`CustomerRepository.from_session(session)`); a parameter or variable
annotated with a class (`repo: CustomerRepository`, also `Optional[...]`, `... | None`,
`Annotated[...]`); an attribute every method of the class sets to one (`self.customers =
CustomerRepository(session)` in `__init__`); a module-level instance (`product_service =
ProductService()`), also imported from another module; the class itself
(`StatsService.load_static(uid)`); a row of a model (`for device in devices:
device.vc_interfaces()`). The method is looked up in that class and then its bases, depth first
and left to right, in the same file or another one (a generic base `Repository[Customer]` is
`Repository`): a subclass's override wins, and a base the project cannot show (a library's class)
ends the search unanswered. Reading a `@property` (or `cached_property`) runs it. The receiver is
the method's `self`: a method of the loop's rows whose query filters by `self`
(`Interface.objects.filter(device=self)`, `self.children.count()`) runs once per row.

A call it cannot resolve (an unannotated parameter, a name bound to something else, a module
outside the project) is skipped, never guessed. Also not reported: memoised callees
(`functools.cache`, `lru_cache`, a query under `if value is None:` after `value = cache.get(key)`
that stores it with `cache.set`), a relation of `self` read whole that the loop's query already
prefetches (or on rows a helper or an attribute hands over, whose loaders this function cannot
see; rows of a parameter are still checked), a function calling itself for each row it loaded (a tree walk: the next keys come from
the rows), a query the callee returns unevaluated that the loop only combines into a larger one
(`qs |= row.interfaces()`), and the methods of a Django migration's historical models
(`apps.get_model(...)`), which have none of the project's methods.

When the call is the default of a lookup, `cache.get(key, repo.get_by_email(key))`, the message
says so: Python evaluates the default before every lookup, so the cache saves no query.

The related information points at the loop, the method a receiver's class resolved to, each call
on the way and the query, in whichever file they are.

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
        if reaching.is_empty() {
            continue;
        }
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
            // A function calling itself for each row it loaded walks a tree or graph: the next
            // keys come from the rows, so they cannot be batched up front.
            || summaries.is_recursive(index)
            // The callee returns the query for this call to combine into a larger one.
            || (reach.returned && call.value == CallValue::Combined)
            || relation_prefetched(context, argument, reach)
        {
            continue;
        }
        let Some(callee) = summaries.callee(index) else {
            continue;
        };
        let lp = model.loop_(id);
        let on_model = reach
            .model
            .as_deref()
            .map(|m| format!(" on `{m}`"))
            .unwrap_or_default();
        let property = if callee.kind == FunctionKind::Property {
            "the property "
        } else {
            ""
        };
        // `device.vc_interfaces()`: the method's query is keyed by the row it is called on.
        let as_self = if call.receiver == Some(argument) {
            " (its `self`)"
        } else {
            ""
        };
        let defaulted = default_of_lookup(call.node, source)
            .and_then(|lookup| field(lookup, "function"))
            .map(|lookup| {
                format!(
                    "; as the default of `{}(...)` it runs before every lookup, also for a key \
                     that is cached, so the cache saves no query",
                    display_code(&source[lookup.byte_range()], 40)
                )
            })
            .unwrap_or_default();
        // A function as the call names it (`ls`, `h.load_stats`); a method as the receiver's
        // class resolved it (`Repository.get_by_id`).
        let named = if callee.kind == FunctionKind::Function {
            call.callee.display()
        } else {
            callee.name.clone()
        };
        let query = reach.path.last().expect("a reach ends at its query");
        let message = format!(
            "`{}` runs a query{on_model} once per {}: {property}`{}` uses `{}`{as_self} as a \
             query key{defaulted}",
            display_code(&source[call.node.byte_range()], 60),
            lp.iteration_phrase(),
            named,
            display_code(&source[argument.byte_range()], 40),
        );
        let mut diagnostic = Diagnostic::new(&RULE, message, call.node.byte_range()).with_related(
            format!(
                "the loop over `{}` repeats the call",
                display_code(&lp.iterable, 40)
            ),
            lp.header.clone(),
        );
        // Which method a receiver's class resolved to is the step a reader cannot see (for
        // `self.`/`cls.`, only when it is inherited from another file).
        let own_class = matches!(call.callee.receiver(), Some("self" | "cls"));
        let as_written = call.callee.display() == callee.name;
        if callee.kind != FunctionKind::Function
            && !as_written
            && (!own_class || callee.file.is_some())
        {
            diagnostic.related.push(Related {
                message: format!(
                    "`{}` runs {property}`{}`",
                    call.callee.display(),
                    callee.name
                ),
                range: callee.definition.clone(),
                file: callee.file.clone(),
            });
        }
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
        let function = call.callee.member();
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

/// `credential.has_input(...)` whose query is `self.input_sources.all()`, in a loop over
/// `job.credentials.prefetch_related("input_sources")`: the prefetch serves the read.
fn relation_prefetched(context: &Context<'_, '_>, argument: Node<'_>, reach: &Reach) -> bool {
    let Some(relation) = &reach.relation else {
        return false;
    };
    let model = context.model;
    let source = model.file.text();
    let name = &source[argument.byte_range()];
    let Some(origin) = model.scope_of(argument).origins.get(name) else {
        // A parameter's rows are the function's own input, judged as such (as INB001); rows
        // from anywhere else may carry a prefetch this function cannot see.
        return model.rows_source(name, argument) != Some(RowsSource::Parameter);
    };
    let mut path = origin.path.clone();
    path.push(relation.clone());
    covers(&model.loader_options(origin), &path)
}

/// Lookups whose default argument Python evaluates before looking the key up.
const LOOKUPS_WITH_DEFAULT: &[&str] = &["get", "setdefault", "pop", "getattr"];

/// `cache.get(key, repo.get_by_email(key))`: the lookup whose default the call is. The default
/// is computed on every lookup, so a cache in front of it saves nothing.
fn default_of_lookup<'a>(call: Node<'a>, source: &str) -> Option<Node<'a>> {
    let mut argument = call;
    let mut parent = call.parent()?;
    while matches!(parent.kind(), "await" | "parenthesized_expression") {
        argument = parent;
        parent = parent.parent()?;
    }
    let by_keyword = parent.kind() == "keyword_argument";
    if by_keyword {
        if field(parent, "name").map(|name| &source[name.byte_range()]) != Some("default") {
            return None;
        }
        argument = parent;
        parent = parent.parent()?;
    }
    if parent.kind() != "argument_list" {
        return None;
    }
    let lookup = parent.parent()?;
    let method = callee_name(lookup, source)?;
    if !LOOKUPS_WITH_DEFAULT.contains(&method) {
        return None;
    }
    let is_default = by_keyword || {
        // The default follows the key (`getattr(obj, name, default)` follows two).
        let default_at = if method == "getattr" { 2 } else { 1 };
        named_children(parent)
            .filter(|a| !matches!(a.kind(), "keyword_argument" | "comment"))
            .position(|a| a == argument)
            == Some(default_at)
    };
    is_default.then_some(lookup)
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
