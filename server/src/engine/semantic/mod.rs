//! The semantic model: one traversal of the tree builds what every rule reads.
//!
//! It records each loop (`for`, `async for`, `while`, and every `for` clause of a comprehension),
//! which names vary with each loop's iterations, and every ORM call with the loops around it.
//! Rules read this model; they never walk the tree on their own.

mod builder;

pub(crate) use builder::fixed_returns;
pub mod calls;
pub mod classes;
pub mod types;

use std::collections::{HashMap, HashSet};

use tree_sitter::Node;

use super::index::ModelResolver;
use super::orm::{OrmCall, OrmSet, SessionBinding};
use super::source::{SourceFile, TextRange};
use super::syntax::{field, named_children, path_between};

pub type LoopId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopKind {
    For,
    AsyncFor,
    While,
    ListComprehension,
    SetComprehension,
    DictComprehension,
    Generator,
}

impl Loop<'_> {
    /// What one iteration is, for messages: "`uid` of `user_ids`", "iteration of `while q`".
    pub fn iteration_phrase(&self) -> String {
        match self.kind {
            LoopKind::While => format!(
                "iteration of `while {}`",
                super::syntax::display_code(&self.target, 40)
            ),
            _ => format!(
                "`{}` of `{}`",
                super::syntax::display_code(&self.target, 40),
                super::syntax::display_code(&self.iterable, 40)
            ),
        }
    }
}

impl LoopKind {
    pub fn is_comprehension(self) -> bool {
        !matches!(self, LoopKind::For | LoopKind::AsyncFor | LoopKind::While)
    }
}

#[derive(Debug)]
pub struct Loop<'a> {
    pub kind: LoopKind,
    /// The `for`/`while` statement, or the `for_in_clause` of a comprehension.
    pub node: Node<'a>,
    /// `for uid in user_ids` / `while queue`: where related information points.
    pub header: TextRange,
    /// The target as written (`uid`, `i, user`); for `while`, the condition.
    pub target: String,
    /// The iterable as written; empty for `while`.
    pub iterable: String,
    /// The enclosing loop in the same function, if any.
    pub parent: Option<LoopId>,
    /// Names (and dotted paths such as `self.cursor`) whose value changes from one iteration to
    /// the next: the targets and everything assigned from them inside the loop.
    pub varying: HashSet<String>,
    /// Whether the loop's N can grow with data.
    pub cardinality: Cardinality,
}

/// An ORM call and the loops (innermost last) of its function that surround it.
#[derive(Debug)]
pub struct Query<'a> {
    pub call: OrmCall<'a>,
    pub loops: Vec<LoopId>,
    /// The query runs: where it stands (a method that sends SQL, iteration, `list()`, `len()`,
    /// a truth test, an index), or later through the name it is assigned to. A Django queryset
    /// or legacy `Query` that is only built (assigned to a form field, passed on, used as a
    /// subquery) never ran here.
    pub evaluated: bool,
    /// The query is what its function returns: its caller decides whether it runs.
    pub returned: bool,
    /// The names the statement holding the query assigns (`node = Node.objects.get(...)`).
    pub assigned_to: Vec<String>,
}

/// Where rows that no query of the function produced come from (see
/// [`SemanticModel::rows_source`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsSource {
    /// A parameter, or a query refining one (`for c in customers.filter(active=True)`).
    Parameter,
    /// A helper's call or an attribute (`form.get_field_options()`, `self.rows`): it may have
    /// loaded them with a prefetch this function cannot see.
    HandedOver,
    /// Built here: a literal, a comprehension, a constructor (`[Customer(pk=k) for k in ids]`).
    Built,
}

/// Whether the number of iterations of a loop can grow with data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// Fixed by the code: a literal collection, `range(3)`, enum members, a constant
    /// (`STATUSES`, `settings.LANGUAGES`), a name bound to a literal. Not an N+1: its queries
    /// may still be loop-invariant (INB004).
    Bounded,
    /// Anything else: a parameter, query results, request or file input, or unknown.
    Unbounded,
}

/// What one function (or the module) knows about its names once fully visited.
#[derive(Debug)]
pub struct ScopeRecord<'a> {
    /// The `function_definition` (or the module).
    pub node: Node<'a>,
    /// What each name bound in the scope says about being a session (`s: Session`,
    /// `with Session(engine) as s`, `http = requests.Session()`).
    pub sessions: HashMap<String, SessionBinding>,
    pub values: HashMap<String, Node<'a>>,
    pub types: HashMap<String, types::RowType>,
    pub parameters: HashSet<String>,
    /// The query each name's rows came from.
    pub origins: HashMap<String, Origin<'a>>,
    /// The annotation of each plain name annotated in the scope (`repo: CustomerRepository = ...`).
    pub annotations: HashMap<String, Node<'a>>,
}

/// A comprehension, with what the traversal knew of the rows each clause iterates.
#[derive(Debug)]
pub struct Comprehension<'a> {
    pub node: Node<'a>,
    pub kind: LoopKind,
    /// The loops its `for` clauses open, in order.
    pub clauses: Vec<LoopId>,
    /// Per `for` clause, the row type of its iterable.
    pub iterated: Vec<Option<types::RowType>>,
    /// Loops of the function around the comprehension (its own excluded), innermost last.
    pub loops: Vec<LoopId>,
    /// The name it is assigned to (`by_key = {...}`).
    pub assigned_to: Option<String>,
}

/// An assignment (`target = value`, `target += value`), with what the traversal knew of the
/// value's rows.
#[derive(Debug)]
pub struct Store<'a> {
    pub node: Node<'a>,
    pub left: Node<'a>,
    pub right: Node<'a>,
    pub augmented: bool,
    /// The row type of the value.
    pub value_type: Option<types::RowType>,
    /// For a value `x.attr`, the row type of `x`.
    pub object_type: Option<types::RowType>,
    /// Loops of the function around it, innermost last.
    pub loops: Vec<LoopId>,
}

/// Where rows came from: the query that produced them, then the relationships followed from its
/// rows (`users` → `u.sessions` → path `["sessions"]`).
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub query: Node<'a>,
    pub path: Vec<String>,
    pub api: super::orm::QueryApi,
    pub orm: super::orm::Orm,
    /// The query's model as written.
    pub model: Option<String>,
    /// The queries it refines, newest first: `orders.filter(...)` after `orders =
    /// Order.objects.select_related("customer")` was built from that one.
    pub earlier: Vec<Node<'a>>,
}

/// `x.attr` where `x` is a row of a known model: a possible relationship load.
#[derive(Debug)]
pub struct AttributeRead<'a> {
    /// The `x.attr` expression.
    pub node: Node<'a>,
    pub object: String,
    pub model: String,
    pub attribute: String,
    /// Loops of the function around the read, innermost last.
    pub loops: Vec<LoopId>,
    pub origin: Option<Origin<'a>>,
    /// `id` or `pk` when the read continues as `x.attr.id`.
    pub then: Option<String>,
}

pub struct SemanticModel<'a> {
    pub file: &'a SourceFile,
    pub reads: Vec<AttributeRead<'a>>,
    pub loops: Vec<Loop<'a>>,
    pub queries: Vec<Query<'a>>,
    /// Every function's record, then the module's (last).
    pub scopes: Vec<ScopeRecord<'a>>,
    /// Every comprehension and generator expression.
    pub comprehensions: Vec<Comprehension<'a>>,
    /// Every assignment.
    pub stores: Vec<Store<'a>>,
    /// Calls of names and methods, and attribute reads inside functions and loops (a property
    /// runs when read), with their loops (see [`calls`]).
    pub calls: Vec<calls::CallSite<'a>>,
    /// Every class definition, in order.
    pub classes: Vec<Node<'a>>,
    /// Per loop (by [`LoopId`]), every name and dotted path its body assigns, its own targets and
    /// those of nested loops included.
    pub loop_bound: Vec<HashSet<String>>,
    /// Per loop, its body's assignments as (targets, names the value reads).
    pub loop_flows: Vec<Vec<(Vec<String>, Vec<String>)>>,
    /// Indices of `scopes` by start (outer first on a tie), and each record's enclosing record:
    /// [`SemanticModel::scope_of`] then costs a binary search and a walk up the nesting.
    scope_order: Vec<usize>,
    scope_parent: Vec<Option<usize>>,
}

/// Where a file sits and what the check recognises: the semantic model needs the file's module
/// to resolve its relative imports.
#[derive(Debug, Clone, Copy)]
pub struct FileContext<'c> {
    /// The file's module name (`app.views`), empty when unknown.
    pub module: &'c str,
    /// The file is a package's `__init__.py`.
    pub package: bool,
    /// The ORMs the check recognises (the `orm` setting).
    pub orms: OrmSet,
    /// Top-level statements (byte ranges of children of the root, in order) the traversal leaves
    /// out: an incremental analysis builds the model of the edited functions and the module's
    /// own statements only (see `engine::incremental`). Empty for a whole-file analysis.
    pub skip: &'c [TextRange],
}

impl Default for FileContext<'_> {
    fn default() -> Self {
        FileContext {
            module: "",
            package: false,
            orms: OrmSet::ALL,
            skip: &[],
        }
    }
}

impl<'a> SemanticModel<'a> {
    pub fn build(
        file: &'a SourceFile,
        index: &ModelResolver<'_>,
        context: &FileContext<'_>,
    ) -> SemanticModel<'a> {
        builder::build(file, index, context)
    }

    /// The innermost function (or module) record that encloses `node`.
    pub fn scope_of(&self, node: Node<'_>) -> &ScopeRecord<'a> {
        // The last record starting at or before `node` is the innermost enclosing one or nested
        // in it (scopes nest), so the answer is it or one of its ancestors.
        let starts_before = self
            .scope_order
            .partition_point(|&at| self.scopes[at].node.start_byte() <= node.start_byte());
        let mut candidate = starts_before.checked_sub(1).map(|at| self.scope_order[at]);
        while let Some(at) = candidate {
            if node.end_byte() <= self.scopes[at].node.end_byte() {
                return &self.scopes[at];
            }
            candidate = self.scope_parent[at];
        }
        self.scopes
            .last()
            .expect("the module record is always there")
    }

    /// The comprehension at `node`, if it is one.
    pub fn comprehension(&self, node: Node<'_>) -> Option<&Comprehension<'a>> {
        self.comprehensions
            .iter()
            .find(|comprehension| comprehension.node.id() == node.id())
    }

    pub fn loop_(&self, id: LoopId) -> &Loop<'a> {
        &self.loops[id]
    }

    /// Whether loop `id` repeats with data: its N can grow (see [`Cardinality`]).
    pub fn grows(&self, id: LoopId) -> bool {
        self.loops[id].cardinality == Cardinality::Unbounded
    }

    /// A Django related manager read whole (`customer.orders.all()`, `.count()`, `.exists()`)
    /// from a row whose query is known: a prefetch on that query serves it, so it is a lazy
    /// load of the relationship (INB002) rather than a query of its own (INB001).
    pub fn prefetchable_relation(&self, query: &Query<'a>) -> Option<&AttributeRead<'a>> {
        if query.call.api != super::orm::QueryApi::DjangoRelated {
            return None;
        }
        let node = query.call.node;
        let read = self.reads.iter().find(|read| {
            read.origin.is_some()
                && field(node, "function").is_some_and(|function| {
                    node.start_byte() <= read.node.start_byte()
                        && read.node.end_byte() <= function.end_byte()
                })
        })?;
        let source = self.file.text();
        let chain = super::orm::Chain::flatten(node, source);
        let after = chain
            .segments
            .iter()
            .skip_while(|segment| segment.node != read.node)
            .skip(1);
        let mut whole = true;
        for segment in after {
            let plain = segment
                .arguments
                .is_some_and(|a| named_children(a).next().is_none());
            whole &= plain && matches!(segment.name, "all" | "count" | "exists");
        }
        whole.then_some(read)
    }

    /// A related manager read whole (`node.credentials.all()`, `.count()`, `.exists()`) that a
    /// prefetch of the rows would serve, where the rows come from something this function cannot
    /// see into (a helper's result, an attribute) or from a query it sees prefetch the relation.
    /// Rows of a parameter are still judged: they are the function's input.
    pub fn relation_possibly_prefetched(&self, query: &Query<'a>) -> bool {
        if query.call.api != super::orm::QueryApi::DjangoRelated {
            return false;
        }
        let source = self.file.text();
        let chain = super::orm::Chain::flatten(query.call.node, source);
        let [manager, rest @ ..] = chain.segments.as_slice() else {
            return false;
        };
        let whole = !rest.is_empty()
            && rest.iter().all(|segment| {
                segment
                    .arguments
                    .is_some_and(|a| named_children(a).next().is_none())
                    && matches!(segment.name, "all" | "count" | "exists")
            });
        if manager.is_call() || !whole || chain.root.kind() != "identifier" {
            return false;
        }
        let owner = &source[chain.root.byte_range()];
        let scope = self.scope_of(query.call.node);
        match scope.origins.get(owner) {
            // A parameter's rows are the function's input and rows it builds have no prefetch:
            // only rows a helper's call or an attribute hands over may carry one.
            None => self.rows_source(owner, query.call.node) == Some(RowsSource::HandedOver),
            Some(origin) => {
                let mut path = origin.path.clone();
                path.push(manager.name.to_string());
                super::orm::loaders::covers(&self.loader_options(origin), &path)
            }
        }
    }

    /// Where the rows that loop target `name` holds at `at` come from, when no query of the
    /// function produced them: the loop around `at` binding `name`, its iterable followed
    /// through one assignment.
    pub fn rows_source(&self, name: &str, at: Node<'_>) -> Option<RowsSource> {
        let source = self.file.text();
        let scope = self.scope_of(at);
        let id = (0..self.loops.len()).rev().find(|&id| {
            let extent = self.loop_extent(id);
            self.loops[id].target == name
                && extent.start <= at.start_byte()
                && at.end_byte() <= extent.end
        })?;
        let lp = &self.loops[id];
        let mut iterable = field(lp.node, "right")?;
        // `customers`, `customers.filter(...)`: the parameter's rows. A method of a parameter
        // (`form.get_field_options()`) or a query that loads relations itself is something else.
        let parameter = |node: Node<'_>| {
            let chain = super::orm::Chain::flatten(node, source);
            chain.root.kind() == "identifier"
                && scope.parameters.contains(&source[chain.root.byte_range()])
                && chain.segments.iter().all(|segment| {
                    segment.is_call()
                        && matches!(
                            segment.name,
                            "all" | "filter" | "exclude" | "order_by" | "distinct" | "iterator"
                        )
                })
        };
        if parameter(iterable) {
            return Some(RowsSource::Parameter);
        }
        if iterable.kind() == "identifier" {
            iterable = *scope.values.get(&source[iterable.byte_range()])?;
            if parameter(iterable) {
                return Some(RowsSource::Parameter);
            }
        }
        Some(match iterable.kind() {
            "attribute" => RowsSource::HandedOver,
            "call" => {
                let callee = field(iterable, "function").map_or("", |f| &source[f.byte_range()]);
                let last = callee.rsplit('.').next().unwrap_or(callee);
                if last.starts_with(|c: char| c.is_ascii_uppercase()) {
                    RowsSource::Built
                } else {
                    RowsSource::HandedOver
                }
            }
            _ => RowsSource::Built,
        })
    }

    /// The eager-loading options of the query rows came from and of the queries it refines
    /// (`orders = Order.objects.select_related("customer")`, later `orders.filter(...)`).
    pub fn loader_options(&self, origin: &Origin<'a>) -> Vec<super::orm::loaders::LoaderOption> {
        let mut options = super::orm::loaders::loader_options(self.file, origin.query);
        for earlier in &origin.earlier {
            options.extend(super::orm::loaders::loader_options(self.file, *earlier));
        }
        options
    }

    /// The code a loop repeats: a statement, or a whole comprehension.
    pub fn loop_extent(&self, id: LoopId) -> TextRange {
        let lp = &self.loops[id];
        if lp.kind.is_comprehension() {
            lp.node.parent().unwrap_or(lp.node).byte_range()
        } else {
            lp.node.byte_range()
        }
    }

    /// The first database write inside loop `id` (its body, nested loops, comprehensions): a
    /// write query (`M.objects.create(...)`, `session.execute(update(M))`), a session write
    /// (`add`, `commit`, `flush`, ...), or a model instance's `save()`/`delete()`. The one table
    /// every rule asks: a batched read before such a loop would miss what it writes.
    pub fn loop_writes(&self, id: LoopId) -> Option<Node<'a>> {
        let extent = self.loop_extent(id);
        let inside =
            |node: Node<'_>| extent.start <= node.start_byte() && node.end_byte() <= extent.end;
        let query = self
            .queries
            .iter()
            .find(|q| q.call.access == super::orm::Access::Write && inside(q.call.node))
            .map(|q| q.call.node);
        let call = self
            .calls
            .iter()
            .find(|call| inside(call.node) && call.writes())
            .map(|call| call.node);
        match (query, call) {
            (Some(a), Some(b)) => Some(if a.start_byte() <= b.start_byte() {
                a
            } else {
                b
            }),
            (a, b) => a.or(b),
        }
    }

    /// A lookup the loop memoises: it sits under `if key not in cache:` (or `cache.get(key) is
    /// None`) whose body stores into that cache, so it runs once per distinct key, not per
    /// iteration.
    pub fn is_memoised(&self, node: Node<'a>, id: LoopId) -> bool {
        self.runs_on_cache_miss(self.loops[id].node, node)
    }

    /// Whether `node`, inside `within` (a loop, a function), runs only when a cache lookup
    /// missed: under `if key not in cache:` or `if cache.get(key) is None:` whose body stores
    /// into that cache, or under `if value is None:` after `value = cache.get(key)`, whose body
    /// stores the value with `cache.set(key, value)`.
    pub fn runs_on_cache_miss(&self, within: Node<'a>, node: Node<'a>) -> bool {
        let source = self.file.text();
        let Some(path) = path_between(within, node) else {
            return false;
        };
        path.iter().any(|statement| {
            if statement.kind() != "if_statement" {
                return false;
            }
            let (Some(condition), Some(body)) = (
                field(*statement, "condition"),
                field(*statement, "consequence"),
            ) else {
                return false;
            };
            let body_text = &source[body.byte_range()];
            if let Some(cache) = cache_tested(condition, source) {
                return body_text.contains(&format!("{cache}["))
                    || body_text.contains(&format!("{cache}.setdefault("))
                    || body_text.contains(&format!("{cache}.update("))
                    || body_text.contains(&format!("{cache}.add("));
            }
            missing_value_tested(condition, source).is_some_and(|value| {
                body_text
                    .split_once(".set(")
                    .is_some_and(|(_, stored)| stored.contains(value))
            })
        })
    }

    /// A walk along rows (a linked list, a tree's parents): the query's key comes from the row
    /// the previous iteration loaded, so the keys cannot be known up front and batched.
    pub fn walks_own_result(&self, query: &Query<'a>, id: LoopId) -> bool {
        if query.assigned_to.is_empty() {
            return false;
        }
        let derived = self.derived_in_loop(&query.assigned_to, id);
        query.call.refs.iter().any(|reference| {
            reference.context == super::orm::RefContext::Key
                && derived.contains(root_name(&reference.name))
        }) || self.walks_a_worklist(query, id, &derived)
    }

    /// `while stack: current = stack.pop()` and the query's rows pushed back onto `stack`: a
    /// walk of a graph, whose next keys are only known once this query has run.
    fn walks_a_worklist(&self, query: &Query<'a>, id: LoopId, derived: &HashSet<&str>) -> bool {
        if self.loops[id].kind != LoopKind::While {
            return false;
        }
        let source = self.file.text();
        let extent = self.loop_extent(id);
        let worklists: HashSet<&str> = self
            .calls
            .iter()
            .filter(|call| {
                extent.start <= call.node.start_byte() && call.node.end_byte() <= extent.end
            })
            .filter_map(|call| match &call.callee {
                calls::Callee::Method { receiver, method }
                    if matches!(
                        method.as_str(),
                        "append" | "appendleft" | "extend" | "add" | "put" | "put_nowait"
                    ) =>
                {
                    let pushes_rows = field(call.node, "arguments").is_some_and(|arguments| {
                        named_children(arguments).any(|argument| {
                            derived.contains(root_name(&source[argument.byte_range()]))
                        })
                    });
                    pushes_rows.then_some(receiver.as_str())
                }
                _ => None,
            })
            .collect();
        // A walk from one start (`stack = [root]`), not a queue of the input's keys
        // (`queue = list(pending_ids)`), whose size is known up front.
        let values = &self.scope_of(query.call.node).values;
        let one_start = |worklist: &&str| {
            values.get(*worklist).is_some_and(|value| {
                let value = match value.kind() {
                    "call" => field(*value, "arguments")
                        .and_then(|arguments| named_children(arguments).next())
                        .unwrap_or(*value),
                    _ => *value,
                };
                matches!(value.kind(), "list" | "set" | "tuple")
                    && named_children(value).count() == 1
                    && named_children(value).all(|item| item.kind() != "list_splat")
            })
        };
        let worklists: HashSet<&str> = worklists.into_iter().filter(one_start).collect();
        let popped: HashSet<&str> = self.loop_flows[id]
            .iter()
            .filter(|(_, sources)| {
                sources
                    .iter()
                    .any(|source| worklists.contains(root_name(source)))
            })
            .flat_map(|(targets, _)| targets.iter().map(String::as_str))
            .collect();
        query.call.refs.iter().any(|reference| {
            reference.context == super::orm::RefContext::Key
                && popped.contains(root_name(&reference.name))
        })
    }

    /// A `while` loop that a query's answer ends: `while True: email = new(); if not
    /// User.objects.filter(email=email).exists(): break` retries until a free value is found.
    pub fn exits_on_result(&self, node: Node<'a>, id: LoopId) -> bool {
        let lp = &self.loops[id];
        if lp.kind != LoopKind::While {
            return false;
        }
        let Some(path) = path_between(lp.node, node) else {
            return false;
        };
        path.windows(2).any(|pair| {
            let (statement, child) = (pair[0], pair[1]);
            statement.kind() == "if_statement"
                && field(statement, "condition") == Some(child)
                && field(statement, "consequence").is_some_and(exits_block)
        })
    }

    /// A query in a `while` loop's own condition: the loop re-asks it until the answer changes
    /// (polling, probing for a free value), one query per check by design.
    pub fn in_loop_condition(&self, node: Node<'a>, id: LoopId) -> bool {
        let lp = &self.loops[id];
        lp.kind == LoopKind::While
            && field(lp.node, "condition").is_some_and(|condition| {
                condition.start_byte() <= node.start_byte()
                    && node.end_byte() <= condition.end_byte()
            })
    }

    /// Code in an `except` handler inside loop `id`: it runs when something failed, not per
    /// iteration.
    pub fn on_error_path(&self, node: Node<'a>, id: LoopId) -> bool {
        let Some(path) = path_between(self.loops[id].node, node) else {
            return false;
        };
        path.iter().any(|step| step.kind() == "except_clause")
    }

    /// Whether loop `id` writes rows of `model_name` after `read` in its body
    /// (`M.objects.create(...)`, `row.save()` on a row of `M`, `session.add(M(...))`): the next
    /// iterations' reads of that model see what earlier ones wrote (find-or-create), so the keys
    /// cannot be read in one batch up front. Saving the very row the read returned
    /// (`pref = M.objects.filter(key=k).first(); pref.flag = x; pref.save()`) creates nothing a
    /// later iteration's read could find: an update, not find-or-create.
    pub fn writes_model_after(&self, id: LoopId, model_name: &str, read: &Query<'a>) -> bool {
        let extent = self.loop_extent(id);
        let read_rows = &read.assigned_to;
        let read = read.call.node;
        let inside =
            |node: Node<'_>| read.end_byte() <= node.start_byte() && node.end_byte() <= extent.end;
        self.queries.iter().any(|q| {
            q.call.access == super::orm::Access::Write
                && inside(q.call.node)
                && q.call.model.as_deref() == Some(model_name)
        }) || self.calls.iter().any(|call| {
            inside(call.node)
                && call.writes()
                && self.creates_rows_of(id, call, read_rows, model_name)
        })
    }

    /// Whether a writing call in loop `id` may create rows of `model_name`: `session.add(M(...))`,
    /// `row.save()` on a row built in the loop as `row = M(...)`, another write on a receiver of
    /// that model. Saving the row the read returned, the loop's own row or any row not built in the
    /// loop updates it: nothing a later iteration's read could newly find.
    fn creates_rows_of(
        &self,
        id: LoopId,
        call: &calls::CallSite<'a>,
        read_rows: &[String],
        model_name: &str,
    ) -> bool {
        let source = self.file.text();
        let class = super::index::display_model(model_name);
        let builds = |node: Node<'_>| {
            node.kind() == "call" && super::syntax::callee_name(node, source) == Some(class)
        };
        if field(call.node, "arguments")
            .is_some_and(|arguments| named_children(arguments).any(builds))
        {
            return true;
        }
        let calls::Callee::Method { receiver, method } = &call.callee else {
            return false;
        };
        if read_rows.contains(receiver) {
            return false;
        }
        if !matches!(method.as_str(), "save" | "asave") {
            return call
                .receiver_type
                .as_ref()
                .is_some_and(|t| t.model() == model_name);
        }
        let Some(body) = field(self.loops[id].node, "body") else {
            return false;
        };
        let mut stack = vec![body];
        while let Some(node) = stack.pop() {
            if node.kind() == "assignment"
                && field(node, "left").is_some_and(|left| self.file.node_text(left) == receiver)
                && field(node, "right").is_some_and(builds)
            {
                return true;
            }
            stack.extend(named_children(node));
        }
        false
    }

    /// A `while` loop that runs until a query's rows say stop: `rows = conn.execute(page).all();
    /// if not rows: break`, `if result.rowcount < size: break`. Pagination or batched writes: N is
    /// the number of pages, each one a query by design.
    pub fn stops_on_rows(&self, query: &Query<'a>, id: LoopId) -> bool {
        let lp = &self.loops[id];
        if lp.kind != LoopKind::While || query.assigned_to.is_empty() {
            return false;
        }
        let derived = self.derived_in_loop(&query.assigned_to, id);
        let source = self.file.text();
        let Some(body) = field(lp.node, "body") else {
            return false;
        };
        let mut stack = vec![body];
        while let Some(node) = stack.pop() {
            match node.kind() {
                "if_statement" => {
                    let reads_rows = field(node, "condition").is_some_and(|condition| {
                        let mut names = Vec::new();
                        calls::collect_identifiers(condition, source, &mut names);
                        names.iter().any(|name| derived.contains(root_name(name)))
                    });
                    if reads_rows && field(node, "consequence").is_some_and(exits_block) {
                        return true;
                    }
                    stack.extend(named_children(node));
                }
                "function_definition"
                | "lambda"
                | "class_definition"
                | "for_statement"
                | "while_statement" => {}
                _ => stack.extend(named_children(node)),
            }
        }
        false
    }

    /// `names` and every name loop `id`'s body assigns from them, transitively.
    fn derived_in_loop<'n>(&'n self, names: &'n [String], id: LoopId) -> HashSet<&'n str> {
        let mut derived: HashSet<&str> = names.iter().map(String::as_str).collect();
        let flows = &self.loop_flows[id];
        loop {
            let before = derived.len();
            for (targets, sources) in flows {
                if sources.iter().any(|s| derived.contains(root_name(s))) {
                    derived.extend(targets.iter().map(String::as_str));
                }
            }
            if derived.len() == before {
                return derived;
            }
        }
    }

    /// The node runs only in the iteration whose key equals one value: `if field_name ==
    /// "credentials":` (or `== wanted`, `elif`, `in ("a", "b")`) around it, inside loop `id`,
    /// where `field_name` is the loop's target over distinct keys. That is once per loop.
    pub fn runs_for_one_key(&self, node: Node<'a>, id: LoopId) -> bool {
        let lp = &self.loops[id];
        if lp.kind.is_comprehension() {
            return false;
        }
        // Only the loop's own key, over keys known to be distinct (`mapping.keys()`, the keys of
        // `.items()`, a set, a literal, `.distinct()`): a column of the rows (`kind`,
        // `row.status`) repeats across them.
        let iterable = lp.iterable.trim();
        let (key, distinct) = if iterable.ends_with(".items()") {
            let key = lp.target.split(',').next().unwrap_or("").trim();
            (key.to_string(), true)
        } else {
            let distinct = iterable.ends_with(".keys()")
                || iterable.starts_with("set(")
                || iterable.starts_with('{')
                || iterable.contains(".distinct(")
                || lp.cardinality == Cardinality::Bounded;
            (lp.target.trim().to_string(), distinct)
        };
        if !distinct || key.is_empty() || !key.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return false;
        }
        let source = self.file.text();
        let Some(path) = path_between(lp.node, node) else {
            return false;
        };
        path.windows(2).any(|pair| {
            let (parent, current) = (pair[0], pair[1]);
            let condition = match parent.kind() {
                "if_statement" | "elif_clause" => field(parent, "condition"),
                _ => None,
            };
            // Only the branch the condition guards, not the condition itself or an `else`.
            let guarded = field(parent, "consequence") == Some(current);
            guarded
                && condition.is_some_and(|condition| {
                    compares_to_invariant(condition, source, &key, &lp.varying)
                })
        })
    }

    /// True when, once `node` has run inside loop `id`, the loop cannot start another iteration:
    /// a `break`, `return` or `raise` follows it unconditionally (a retry or search loop).
    pub fn runs_at_most_once(&self, node: Node<'a>, id: LoopId) -> bool {
        let loop_node = self.loops[id].node;
        let loop_statement = if self.loops[id].kind.is_comprehension() {
            return false;
        } else {
            loop_node
        };
        // Walked down from the loop: `Node::parent` and `next_named_sibling` would each walk
        // down from the root.
        let Some(path) = path_between(loop_statement, node) else {
            return false;
        };
        let mut crossed_inner_loop = false;
        for pair in path.windows(2).rev() {
            let (parent, current) = (pair[0], pair[1]);
            if parent == loop_statement {
                return false;
            }
            match current.kind() {
                "return_statement" | "raise_statement" => return true,
                "for_statement" | "while_statement" => crossed_inner_loop = true,
                "function_definition" | "lambda" => return false,
                _ => {}
            }
            if parent.kind() == "block" {
                let following = named_children(parent)
                    .skip_while(|statement| *statement != current)
                    .skip(1);
                for statement in following {
                    match statement.kind() {
                        "return_statement" | "raise_statement" => return true,
                        "break_statement" if !crossed_inner_loop => return true,
                        _ => {}
                    }
                }
            }
        }
        false
    }
}

/// A block that leaves the loop: it holds a `break`, `return` or `raise` of its own.
fn exits_block(block: Node<'_>) -> bool {
    named_children(block).any(|statement| {
        matches!(
            statement.kind(),
            "break_statement" | "return_statement" | "raise_statement"
        )
    })
}

/// The first name of a dotted path: `node` of `node.parent_id`.
fn root_name(path: &str) -> &str {
    path.split('.').next().unwrap_or(path)
}

/// The cache a condition tests for a missing key: `key not in cache`, `cache.get(key) is None`,
/// `not cache.get(key)`.
fn cache_tested<'s>(condition: Node<'_>, source: &'s str) -> Option<&'s str> {
    let text = source[condition.byte_range()].trim();
    if let Some((_, cache)) = text.split_once(" not in ") {
        let cache = cache.trim();
        return is_dotted_name(cache).then_some(cache);
    }
    let getter = text
        .strip_prefix("not ")
        .or_else(|| text.strip_suffix(" is None"))?
        .trim();
    let (cache, _) = getter.split_once(".get(")?;
    is_dotted_name(cache).then_some(cache)
}

/// The name a condition tests for a missing value: `value is None`, `not value`.
fn missing_value_tested<'s>(condition: Node<'_>, source: &'s str) -> Option<&'s str> {
    let text = source[condition.byte_range()].trim();
    let value = text
        .strip_suffix(" is None")
        .or_else(|| text.strip_prefix("not "))?
        .trim();
    (is_dotted_name(value) && !value.is_empty()).then_some(value)
}

fn is_dotted_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
}

/// The header of a loop statement or comprehension clause, up to and excluding the body.
pub(crate) fn header_range(node: Node<'_>) -> TextRange {
    let end = field(node, "right")
        .or_else(|| field(node, "condition"))
        .map(|n| n.end_byte())
        .unwrap_or(node.end_byte());
    node.start_byte()..end
}

/// `key == "x"`, `"x" == key`, `key == wanted`, `key is Kind.A`, `key in ("a", "b")`: what `key`
/// is compared to is none of `varying`, so it stays the same through the loop.
fn compares_to_invariant(
    condition: Node<'_>,
    source: &str,
    key: &str,
    varying: &HashSet<String>,
) -> bool {
    if condition.kind() != "comparison_operator" {
        return false;
    }
    let operands: Vec<Node<'_>> = named_children(condition).collect();
    let [left, right] = operands.as_slice() else {
        return false;
    };
    let operator = condition
        .child_by_field_name("operators")
        .map(|o| &source[o.byte_range()])
        .unwrap_or("");
    let varies = |n: &Node<'_>| &source[n.byte_range()] == key;
    let invariant = |n: &Node<'_>| {
        crate::engine::syntax::is_literal(*n)
            || (matches!(n.kind(), "identifier" | "attribute")
                && crate::engine::syntax::dotted_path(*n, source).is_some_and(|path| {
                    let root = path.split('.').next().unwrap_or(&path);
                    !varying.contains(root) && !varying.contains(&path)
                }))
    };
    match operator {
        "==" | "is" => (varies(left) && invariant(right)) || (invariant(left) && varies(right)),
        "in" => varies(left) && crate::engine::syntax::is_literal(*right),
        _ => false,
    }
}
