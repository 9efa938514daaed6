//! The semantic model: one traversal of the tree builds what every rule reads.
//!
//! It records each loop (`for`, `async for`, `while`, and every `for` clause of a comprehension),
//! which names vary with each loop's iterations, and every ORM call with the loops around it.
//! Rules read this model; they never walk the tree on their own.

mod builder;
pub mod calls;
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
}

/// A dict keyed by a row attribute: `{s.user_id: s for s in rows}` or `by_key[s.user_id] = s`.
#[derive(Debug)]
pub struct KeyedStore<'a> {
    /// The dict comprehension, or the assignment statement.
    pub node: Node<'a>,
    /// The name the dict is bound to, when it is.
    pub dict: Option<String>,
    pub model: String,
    pub key: String,
    /// The `s.user_id` expression.
    pub key_node: Node<'a>,
}

/// `sum(p.amount for p in rows)` or `total += p.amount` over rows of a model.
#[derive(Debug)]
pub struct SumSite<'a> {
    /// The `sum(...)` call or the augmented assignment.
    pub call: Node<'a>,
    /// The summed `p.amount`.
    pub element: Node<'a>,
    pub model: String,
    pub column: String,
}

/// `[x for x in collection if x.attr == key]`: a scan that, inside a loop over keys, is O(N·M).
#[derive(Debug)]
pub struct ScanCandidate<'a> {
    pub node: Node<'a>,
    pub variable: String,
    pub iterable: Node<'a>,
    pub attribute: String,
    pub key: Node<'a>,
    pub body: Node<'a>,
    /// Enclosing loops of the function, innermost last.
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
    pub keyed_stores: Vec<KeyedStore<'a>>,
    pub sums: Vec<SumSite<'a>>,
    pub scans: Vec<ScanCandidate<'a>>,
    /// Calls of names and methods, with their loops (see [`calls`]).
    pub calls: Vec<calls::CallSite<'a>>,
    /// Per loop (by [`LoopId`]), every name and dotted path its body assigns, its own targets and
    /// those of nested loops included.
    pub loop_bound: Vec<HashSet<String>>,
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
}

impl Default for FileContext<'_> {
    fn default() -> Self {
        FileContext {
            module: "",
            package: false,
            orms: OrmSet::ALL,
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

/// The header of a loop statement or comprehension clause, up to and excluding the body.
pub(crate) fn header_range(node: Node<'_>) -> TextRange {
    let end = field(node, "right")
        .or_else(|| field(node, "condition"))
        .map(|n| n.end_byte())
        .unwrap_or(node.end_byte());
    node.start_byte()..end
}
