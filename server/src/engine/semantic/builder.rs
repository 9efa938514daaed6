//! The single traversal that builds the [`SemanticModel`].

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use tree_sitter::{Node, TreeCursor};

use super::calls;
use super::types::{annotation_type, grouping_append, infer, RowType, TypeEnv};
use super::{
    header_range, AttributeRead, KeyedStore, Loop, LoopId, LoopKind, Origin, Query, ScanCandidate,
    ScopeRecord, SemanticModel, SumSite,
};
use crate::engine::index::ModelResolver;
use crate::engine::orm::{self, continues_chain, continues_chain_in, last_component};
use crate::engine::source::SourceFile;
use crate::engine::syntax::{
    bound_names, callee_name, dotted_path, field, is_literal, named_children,
};

/// Stack space kept free before recursing deeper; deeper trees continue on a heap-allocated stack.
const STACK_RED_ZONE: usize = 64 * 1024;
const STACK_GROWTH: usize = 1024 * 1024;

pub(super) fn build<'a>(file: &'a SourceFile, index: &ModelResolver<'_>) -> SemanticModel<'a> {
    let mut builder = Builder {
        source: file.text(),
        index,
        loops: Vec::new(),
        loop_assignments: Vec::new(),
        queries: Vec::new(),
        scopes: vec![FunctionScope::new(file.root())],
        records: Vec::new(),
        keyed_stores: Vec::new(),
        sums: Vec::new(),
        scans: Vec::new(),
        calls: Vec::new(),
        reads: Vec::new(),
        ancestors: Vec::new(),
        errors_on_path: 0,
        cursors: Vec::new(),
    };
    builder.visit(file.root());
    let module_scope = builder.scopes.pop().expect("the module scope");
    builder.records.push(module_scope.into_record());
    let Builder {
        mut loops,
        loop_assignments,
        queries,
        records,
        keyed_stores,
        sums,
        scans,
        calls,
        reads,
        ..
    } = builder;
    let loop_bound = loop_assignments
        .iter()
        .map(|body| {
            body.iter()
                .flat_map(|a| a.targets.iter().cloned())
                .collect()
        })
        .collect();
    for (body, lp) in loop_assignments.iter().zip(loops.iter_mut()) {
        propagate_varying(lp, body);
    }
    let (scope_order, scope_parent) = scope_nesting(&records);
    SemanticModel {
        file,
        reads,
        loops,
        queries,
        scopes: records,
        keyed_stores,
        sums,
        scans,
        calls,
        loop_bound,
        scope_order,
        scope_parent,
    }
}

/// The records by start, outer first (on equal ranges the later record, which encloses: the
/// module comes last), and each record's enclosing record.
fn scope_nesting(records: &[ScopeRecord<'_>]) -> (Vec<usize>, Vec<Option<usize>>) {
    let range = |at: usize| records[at].node.byte_range();
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by_key(|&at| (range(at).start, Reverse(range(at).end), Reverse(at)));
    let mut parent = vec![None; records.len()];
    let mut open: Vec<usize> = Vec::new();
    for &at in &order {
        while open
            .last()
            .is_some_and(|&top| range(top).end < range(at).end)
        {
            open.pop();
        }
        parent[at] = open.last().copied();
        open.push(at);
    }
    (order, parent)
}

/// `targets = f(sources)` somewhere inside a loop body.
struct Assignment {
    targets: Vec<String>,
    sources: Vec<String>,
    /// The value is a literal, the same on every iteration (`count = 0`).
    constant: bool,
}

struct FunctionScope<'a> {
    node: Node<'a>,
    /// Loops of this function around the node being visited, innermost last.
    loop_stack: Vec<LoopId>,
    /// Names bound to a session or connection (`with Session(engine) as s`, `s: Session`).
    sessions: HashSet<String>,
    /// The expression last assigned to each plain name.
    values: HashMap<String, Node<'a>>,
    /// What rows each name holds, where known.
    types: HashMap<String, RowType>,
    parameters: HashSet<String>,
    /// The query each name's rows came from.
    origins: HashMap<String, Origin<'a>>,
}

impl<'a> FunctionScope<'a> {
    fn new(node: Node<'a>) -> FunctionScope<'a> {
        FunctionScope {
            node,
            loop_stack: Vec::new(),
            sessions: HashSet::new(),
            values: HashMap::new(),
            types: HashMap::new(),
            parameters: HashSet::new(),
            origins: HashMap::new(),
        }
    }

    fn into_record(self) -> ScopeRecord<'a> {
        ScopeRecord {
            node: self.node,
            sessions: self.sessions,
            values: self.values,
            types: self.types,
            parameters: self.parameters,
            origins: self.origins,
        }
    }
}

struct Builder<'a, 'i> {
    source: &'a str,
    index: &'i ModelResolver<'i>,
    loops: Vec<Loop<'a>>,
    loop_assignments: Vec<Vec<Assignment>>,
    queries: Vec<Query<'a>>,
    scopes: Vec<FunctionScope<'a>>,
    records: Vec<ScopeRecord<'a>>,
    keyed_stores: Vec<KeyedStore<'a>>,
    sums: Vec<SumSite<'a>>,
    scans: Vec<ScanCandidate<'a>>,
    calls: Vec<calls::CallSite<'a>>,
    reads: Vec<AttributeRead<'a>>,
    /// The path from the root to the node being visited, itself included: `Node::parent` walks
    /// down from the root every time, so the walk keeps the path instead.
    ancestors: Vec<Node<'a>>,
    /// How many nodes of `ancestors` are ERROR nodes.
    errors_on_path: usize,
    /// Cursors for walking children, one per level in use: a new cursor allocates, and the walk
    /// goes through every node of the file.
    cursors: Vec<TreeCursor<'a>>,
}

impl<'a> orm::Scope<'a> for Builder<'a, '_> {
    fn is_session(&self, name: &str) -> bool {
        looks_like_session_name(last_component(name))
            || self
                .scopes
                .iter()
                .rev()
                .any(|scope| scope.sessions.contains(name))
    }

    fn value_of(&self, name: &str) -> Option<Node<'a>> {
        self.scopes
            .last()
            .and_then(|scope| scope.values.get(name).copied())
    }
}

fn looks_like_session_name(name: &str) -> bool {
    // `db_session`, `dbsession`, `session`, but not `sessions_by_user`, `session_id` or `sessions`.
    let lower = name.to_ascii_lowercase();
    lower.ends_with("session")
        || matches!(
            lower.as_str(),
            "sess" | "conn" | "connection" | "db_conn" | "dbconn"
        )
}

/// Whether a call creates a session or connection: `Session(engine)`, `SessionLocal()`,
/// `async_session()`, `sessionmaker(...)()`, `engine.connect()`.
fn creates_session(value: Node<'_>, source: &str) -> bool {
    let mut value = value;
    if value.kind() == "await" {
        match named_children(value).next() {
            Some(inner) => value = inner,
            None => return false,
        }
    }
    if value.kind() != "call" {
        return false;
    }
    let Some(function) = field(value, "function") else {
        return false;
    };
    if function.kind() == "call" {
        return creates_session(function, source);
    }
    callee_name(value, source).is_some_and(|name| {
        name.to_ascii_lowercase().contains("session") || matches!(name, "connect" | "begin")
    })
}

impl<'a> Builder<'a, '_> {
    fn scope(&mut self) -> &mut FunctionScope<'a> {
        self.scopes
            .last_mut()
            .expect("the module scope is never popped")
    }

    fn text(&self, node: Node<'_>) -> &'a str {
        &self.source[node.byte_range()]
    }

    fn visit(&mut self, node: Node<'a>) {
        // A shell may stop the walk (a newer edit made it useless): see `engine::cancel`.
        crate::engine::cancel::check();
        let is_error = node.is_error();
        self.ancestors.push(node);
        self.errors_on_path += usize::from(is_error);
        stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || self.visit_node(node));
        self.errors_on_path -= usize::from(is_error);
        self.ancestors.pop();
    }

    /// Visits `node`, a child of `parent`, a child of the node being visited.
    fn visit_grandchild(&mut self, parent: Node<'a>, node: Node<'a>) {
        self.ancestors.push(parent);
        self.visit(node);
        self.ancestors.pop();
    }

    /// The parent of the node being visited.
    fn parent(&self) -> Option<Node<'a>> {
        let parent = self
            .ancestors
            .len()
            .checked_sub(2)
            .map(|at| self.ancestors[at]);
        debug_assert_eq!(
            parent,
            self.ancestors.last().and_then(|node| node.parent()),
            "the visit skipped a level of the tree"
        );
        parent
    }

    /// The enclosing nodes of the node being visited, innermost first.
    fn enclosing(&self) -> impl Iterator<Item = Node<'a>> + '_ {
        self.ancestors.iter().rev().skip(1).copied()
    }

    /// Whether the node being visited is, or sits inside, a region tree-sitter could not parse.
    fn visiting_error_region(&self, node: Node<'a>) -> bool {
        debug_assert_eq!(self.ancestors.last(), Some(&node));
        node.has_error() || node.is_missing() || self.errors_on_path > 0
    }

    fn visit_children(&mut self, node: Node<'a>) {
        let mut cursor = match self.cursors.pop() {
            Some(mut cursor) => {
                cursor.reset(node);
                cursor
            }
            None => node.walk(),
        };
        if cursor.goto_first_child() {
            loop {
                let child = cursor.node();
                if child.is_named() {
                    self.visit(child);
                }
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
        }
        self.cursors.push(cursor);
    }

    fn visit_node(&mut self, node: Node<'a>) {
        match node.kind() {
            "function_definition" | "lambda" => self.visit_function(node),
            "for_statement" => self.visit_for(node),
            "while_statement" => self.visit_while(node),
            "list_comprehension"
            | "set_comprehension"
            | "dictionary_comprehension"
            | "generator_expression" => self.visit_comprehension(node),
            "assignment" | "augmented_assignment" => self.visit_assignment(node),
            "named_expression" => {
                if let (Some(name), Some(value)) = (field(node, "name"), field(node, "value")) {
                    self.visit(value);
                    self.record_assignment(name, value, false);
                }
            }
            "with_item" => self.visit_with_item(node),
            "call" | "subscript" => {
                self.record_query(node);
                if node.kind() == "call" {
                    self.record_call_facts(node);
                    self.record_call_site(node);
                }
                self.visit_children(node);
            }
            "attribute" => {
                self.record_attribute_read(node);
                self.visit_children(node);
            }
            "comment" | "string_content" | "escape_sequence" => {}
            _ => self.visit_children(node),
        }
    }

    fn visit_function(&mut self, node: Node<'a>) {
        let mut scope = FunctionScope::new(node);
        if let Some(parameters) = field(node, "parameters") {
            for parameter in named_children(parameters) {
                let name = if parameter.kind() == "identifier" {
                    Some(parameter)
                } else {
                    named_children(parameter).find(|c| c.kind() == "identifier")
                };
                let Some(name) = name else { continue };
                let name = self.text(name).to_string();
                let annotation = field(parameter, "type")
                    .map(|t| self.text(t).trim_matches(['"', '\'']))
                    .unwrap_or("");
                let annotated_type = last_component(annotation);
                if !annotation.contains('[')
                    && (annotated_type.ends_with("Session")
                        || annotated_type.ends_with("Connection"))
                {
                    scope.sessions.insert(name.clone());
                }
                if let Some(row_type) = annotation_type(annotation, self.index) {
                    scope.types.insert(name.clone(), row_type);
                }
                scope.parameters.insert(name);
            }
        }
        // Decorators and defaults run where the function is defined; the body runs later.
        for child in named_children(node) {
            if child.kind() == "decorator" {
                self.visit(child);
            }
        }
        self.scopes.push(scope);
        if let Some(body) = field(node, "body") {
            self.visit(body);
        }
        let scope = self.scopes.pop().expect("pushed above");
        self.records.push(scope.into_record());
    }

    /// The row type of an expression in the current scope.
    fn row_type(&self, node: Node<'a>) -> Option<RowType> {
        let scopes = &self.scopes;
        let names = |name: &str| {
            scopes
                .iter()
                .rev()
                .find_map(|scope| scope.types.get(name).cloned())
        };
        let env = TypeEnv {
            source: self.source,
            index: self.index,
            names: &names,
            scope: self,
        };
        infer(node, &env)
    }

    /// Types the names a `for` target binds from what its iterable yields.
    fn type_loop_target(&mut self, left: Node<'a>, right: Node<'a>) {
        if left.kind() == "identifier" {
            if let Some(origin) = self.origin_of(right) {
                let name = self.text(left).to_string();
                self.scope().origins.insert(name, origin);
            }
        }
        let iterated = self.row_type(right);
        let element = match iterated {
            Some(RowType::Rows(model)) => Some(RowType::Row(model)),
            _ => None,
        };
        if left.kind() == "identifier" {
            if let Some(element) = element {
                let name = self.text(left).to_string();
                self.scope().types.insert(name, element);
            }
            return;
        }
        // `for key, rows in by_key.items()`
        let items_of = field(right, "function")
            .filter(|f| {
                f.kind() == "attribute"
                    && field(*f, "attribute").is_some_and(|a| self.text(a) == "items")
            })
            .and_then(|f| field(f, "object"))
            .and_then(|object| self.row_type(object));
        let value_type = match items_of {
            Some(RowType::RowByKey { model, .. }) => RowType::Row(model),
            Some(RowType::RowsByKey { model, .. }) => RowType::Rows(model),
            _ => return,
        };
        if let Some(value) = named_children(left)
            .nth(1)
            .filter(|v| v.kind() == "identifier")
        {
            let name = self.text(value).to_string();
            self.scope().types.insert(name, value_type);
        }
    }

    fn visit_for(&mut self, node: Node<'a>) {
        let (Some(left), Some(right)) = (field(node, "left"), field(node, "right")) else {
            return self.visit_children(node);
        };
        self.visit(right);
        self.type_loop_target(left, right);
        let is_async = node.child(0).is_some_and(|first| first.kind() == "async");
        let kind = if is_async {
            LoopKind::AsyncFor
        } else {
            LoopKind::For
        };
        let id = self.open_loop(kind, node, left, right);
        if let Some(body) = field(node, "body") {
            self.visit(body);
        }
        self.close_loop(id);
        if let Some(alternative) = field(node, "alternative") {
            self.visit(alternative);
        }
    }

    fn visit_while(&mut self, node: Node<'a>) {
        let Some(condition) = field(node, "condition") else {
            return self.visit_children(node);
        };
        let id = self.new_loop(
            LoopKind::While,
            node,
            self.text(condition).to_string(),
            String::new(),
        );
        self.push_loop(id);
        self.visit(condition);
        if let Some(body) = field(node, "body") {
            self.visit(body);
        }
        self.close_loop(id);
        if let Some(alternative) = field(node, "alternative") {
            self.visit(alternative);
        }
    }

    /// `[body for a in xs if c for b in f(a)]`: each `for` clause is a loop nested in the previous
    /// one; the first iterable runs once, outside them all.
    fn visit_comprehension(&mut self, node: Node<'a>) {
        let kind = match node.kind() {
            "list_comprehension" => LoopKind::ListComprehension,
            "set_comprehension" => LoopKind::SetComprehension,
            "dictionary_comprehension" => LoopKind::DictComprehension,
            _ => LoopKind::Generator,
        };
        let mut opened = Vec::new();
        for clause in named_children(node) {
            match clause.kind() {
                "for_in_clause" => {
                    let (Some(left), Some(right)) = (field(clause, "left"), field(clause, "right"))
                    else {
                        continue;
                    };
                    self.visit_grandchild(clause, right);
                    self.type_loop_target(left, right);
                    opened.push(self.open_loop(kind, clause, left, right));
                }
                "if_clause" => self.visit(clause),
                _ => {}
            }
        }
        if let Some(body) = field(node, "body") {
            self.visit(body);
        }
        self.record_comprehension_facts(node, kind);
        for id in opened.into_iter().rev() {
            self.close_loop(id);
        }
    }

    fn visit_assignment(&mut self, node: Node<'a>) {
        let Some(left) = field(node, "left") else {
            return self.visit_children(node);
        };
        let Some(right) = field(node, "right") else {
            return self.visit_children(node);
        };
        self.visit(right);
        self.visit(left);
        let augmented = node.kind() == "augmented_assignment";
        if augmented {
            self.record_running_sum(node, right);
        } else if left.kind() == "subscript" {
            self.record_keyed_assignment(node, left, right);
        }
        if !augmented && left.kind() == "identifier" {
            let name = self.text(left).to_string();
            if let Some(row_type) = self.row_type(right) {
                self.scope().types.insert(name.clone(), row_type);
            }
            if let Some(origin) = self.origin_of(right) {
                self.scope().origins.insert(name.clone(), origin);
            }
            if creates_session(right, self.source) {
                self.scope().sessions.insert(name.clone());
            }
            self.scope().values.insert(name, right);
        }
        self.record_assignment(left, right, augmented);
    }

    fn visit_with_item(&mut self, node: Node<'a>) {
        let Some(value) = field(node, "value") else {
            return self.visit_children(node);
        };
        if value.kind() == "as_pattern" {
            let expression = named_children(value).next();
            let alias = field(value, "alias");
            if let Some(expression) = expression {
                self.visit_grandchild(value, expression);
                if let Some(alias) = alias {
                    let target = named_children(alias).next().unwrap_or(alias);
                    if target.kind() == "identifier" && creates_session(expression, self.source) {
                        let name = self.text(target).to_string();
                        self.scope().sessions.insert(name);
                    }
                    self.record_assignment(target, expression, false);
                }
            }
        } else {
            self.visit(value);
        }
    }

    /// `sum(p.amount for p in rows)`, `sum([...])`, `math.fsum(...)`; `by_key[x.k].append(x)`.
    fn record_call_facts(&mut self, call: Node<'a>) {
        if let Some((dict, appended, key, _)) = grouping_append(call, self.source) {
            if let Some(RowType::Row(model)) = self.row_type(appended) {
                self.scope()
                    .types
                    .insert(dict, RowType::RowsByKey { model, key });
            }
            return;
        }
        let Some(function) = field(call, "function") else {
            return;
        };
        if !matches!(self.text(function), "sum" | "math.fsum" | "fsum") {
            return;
        }
        // `sum(x for x in rows)` has the generator as its whole argument list.
        let Some(arguments) = field(call, "arguments") else {
            return;
        };
        let argument = if arguments.kind() == "generator_expression" {
            arguments
        } else {
            match named_children(arguments).next() {
                Some(argument) => argument,
                None => return,
            }
        };
        let comprehension = match argument.kind() {
            "generator_expression" | "list_comprehension" => argument,
            _ => return,
        };
        let (Some(body), Some(clause)) = (
            field(comprehension, "body"),
            named_children(comprehension).find(|c| c.kind() == "for_in_clause"),
        ) else {
            return;
        };
        let (Some(left), Some(right)) = (field(clause, "left"), field(clause, "right")) else {
            return;
        };
        // `sum(p.amount for p in rows if p.amount is not None)` already keeps NULLs out.
        let element = self.text(body);
        if named_children(comprehension)
            .any(|c| c.kind() == "if_clause" && self.text(c).contains(element))
        {
            return;
        }
        let Some(RowType::Rows(model)) = self.row_type(right) else {
            return;
        };
        if let Some(column) = self.column_of(body, left) {
            self.sums.push(SumSite {
                call,
                element: body,
                model,
                column,
            });
        }
    }

    /// `total += p.amount` where `p` is a row.
    fn record_running_sum(&mut self, node: Node<'a>, right: Node<'a>) {
        let is_plus = field(node, "operator").is_some_and(|o| self.text(o) == "+=");
        if !is_plus || right.kind() != "attribute" {
            return;
        }
        let Some(object) = field(right, "object") else {
            return;
        };
        if self.guarded_by_condition(node, self.text(right)) {
            return;
        }
        let Some(RowType::Row(model)) = self.row_type(object) else {
            return;
        };
        if let Some(column) = field(right, "attribute").map(|a| self.text(a).to_string()) {
            self.sums.push(SumSite {
                call: node,
                element: right,
                model,
                column,
            });
        }
    }

    /// Whether an `if` around `node` (inside its function) tests `expression`, as in
    /// `if p.amount is not None: total += p.amount`.
    fn guarded_by_condition(&self, node: Node<'a>, expression: &str) -> bool {
        debug_assert_eq!(self.ancestors.last(), Some(&node));
        for parent in self.enclosing() {
            match parent.kind() {
                "if_statement" | "elif_clause"
                    if field(parent, "condition")
                        .is_some_and(|c| self.text(c).contains(expression)) =>
                {
                    return true;
                }
                "function_definition" | "lambda" => return false,
                _ => {}
            }
        }
        false
    }

    /// `row.column` where `row` is the comprehension's variable.
    fn column_of(&self, body: Node<'a>, variable: Node<'a>) -> Option<String> {
        (body.kind() == "attribute"
            && field(body, "object").is_some_and(|o| self.text(o) == self.text(variable)))
        .then(|| field(body, "attribute").map(|a| self.text(a).to_string()))
        .flatten()
    }

    /// `by_key[row.key] = row` inside a loop over rows.
    fn record_keyed_assignment(&mut self, node: Node<'a>, left: Node<'a>, right: Node<'a>) {
        let (Some(dict), Some(key)) = (field(left, "value"), field(left, "subscript")) else {
            return;
        };
        if dict.kind() != "identifier" || key.kind() != "attribute" || right.kind() != "identifier"
        {
            return;
        }
        if field(key, "object").map(|o| self.text(o)) != Some(self.text(right)) {
            return;
        }
        let Some(RowType::Row(model)) = self.row_type(right) else {
            return;
        };
        let Some(key_name) = field(key, "attribute").map(|a| self.text(a).to_string()) else {
            return;
        };
        let dict_name = self.text(dict).to_string();
        self.scope().types.insert(
            dict_name.clone(),
            RowType::RowByKey {
                model: model.clone(),
                key: key_name.clone(),
            },
        );
        self.keyed_stores.push(KeyedStore {
            node,
            dict: Some(dict_name),
            model,
            key: key_name,
            key_node: key,
        });
    }

    /// Dict comprehensions keyed by a row attribute (INB102) and scans that filter a whole
    /// collection by a key (INB101).
    fn record_comprehension_facts(&mut self, node: Node<'a>, kind: LoopKind) {
        let clauses: Vec<Node<'a>> = named_children(node)
            .filter(|c| c.kind() == "for_in_clause")
            .collect();
        let [clause] = clauses.as_slice() else { return };
        let (Some(left), Some(right), Some(body)) = (
            field(*clause, "left"),
            field(*clause, "right"),
            field(node, "body"),
        ) else {
            return;
        };
        if kind == LoopKind::DictComprehension {
            let (Some(key), Some(value)) = (field(body, "key"), field(body, "value")) else {
                return;
            };
            if self.text(value) != self.text(left) || key.kind() != "attribute" {
                return;
            }
            if field(key, "object").map(|o| self.text(o)) != Some(self.text(left)) {
                return;
            }
            let Some(RowType::Rows(model)) = self.row_type(right) else {
                return;
            };
            let Some(key_name) = field(key, "attribute").map(|a| self.text(a).to_string()) else {
                return;
            };
            let dict = self
                .parent()
                .filter(|p| p.kind() == "assignment")
                .and_then(|p| field(p, "left"))
                .filter(|l| l.kind() == "identifier")
                .map(|l| self.text(l).to_string());
            self.keyed_stores.push(KeyedStore {
                node,
                dict,
                model,
                key: key_name,
                key_node: key,
            });
            return;
        }
        // `[x for x in collection if x.attr == key]`
        let conditions: Vec<Node<'a>> = named_children(node)
            .filter(|c| c.kind() == "if_clause")
            .collect();
        let [condition] = conditions.as_slice() else {
            return;
        };
        let Some(comparison) = named_children(*condition)
            .next()
            .filter(|c| c.kind() == "comparison_operator")
        else {
            return;
        };
        let mut cursor = comparison.walk();
        let is_equality = comparison
            .children(&mut cursor)
            .filter(|c| !c.is_named())
            .map(|c| c.kind())
            .eq(["=="]);
        let operands: Vec<Node<'a>> = named_children(comparison).collect();
        if !is_equality || operands.len() != 2 || left.kind() != "identifier" {
            return;
        }
        let variable = self.text(left);
        let is_attribute_of_variable = |n: Node<'a>| {
            n.kind() == "attribute" && field(n, "object").is_some_and(|o| self.text(o) == variable)
        };
        let (attribute, key) = if is_attribute_of_variable(operands[0]) {
            (operands[0], operands[1])
        } else if is_attribute_of_variable(operands[1]) {
            (operands[1], operands[0])
        } else {
            return;
        };
        let Some(attribute_name) = field(attribute, "attribute").map(|a| self.text(a).to_string())
        else {
            return;
        };
        let loops = self
            .scopes
            .last()
            .map(|s| s.loop_stack.clone())
            .unwrap_or_default();
        // The comprehension's own loop is on the stack too; the scan repeats per enclosing loop.
        let enclosing: Vec<LoopId> = loops
            .into_iter()
            .filter(|id| self.loops[*id].node != *clause)
            .collect();
        self.scans.push(ScanCandidate {
            node,
            variable: variable.to_string(),
            iterable: right,
            attribute: attribute_name,
            key,
            body,
            loops: enclosing,
        });
    }

    /// The query that produced an expression's rows, and the relationships followed since.
    fn origin_of(&self, node: Node<'a>) -> Option<Origin<'a>> {
        // Recursive over nested expressions: guarded like the traversal.
        stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || self.origin_of_nested(node))
    }

    fn origin_of_nested(&self, node: Node<'a>) -> Option<Origin<'a>> {
        match node.kind() {
            "identifier" => {
                let name = self.text(node);
                self.scopes
                    .iter()
                    .rev()
                    .find_map(|scope| scope.origins.get(name).cloned())
            }
            "parenthesized_expression" | "await" => named_children(node)
                .next()
                .and_then(|inner| self.origin_of(inner)),
            "call" | "subscript" => {
                if !continues_chain(node) {
                    if let Some(call) = orm::recognize(node, self.source, self) {
                        return Some(Origin {
                            query: node,
                            path: Vec::new(),
                            api: call.api,
                            orm: call.orm,
                            model: call.model,
                        });
                    }
                }
                let function = field(node, "function")?;
                let argument = field(node, "arguments").and_then(|a| named_children(a).next());
                match function.kind() {
                    "identifier"
                        if matches!(
                            self.text(function),
                            "list" | "sorted" | "tuple" | "reversed" | "set"
                        ) =>
                    {
                        self.origin_of(argument?)
                    }
                    // `by_key.values()`, `rows.all()`
                    "attribute" => self.origin_of(field(function, "object")?),
                    _ => None,
                }
            }
            "attribute" => {
                let object = field(node, "object")?;
                let mut origin = self.origin_of(object)?;
                origin
                    .path
                    .push(self.text(field(node, "attribute")?).to_string());
                Some(origin)
            }
            "list_comprehension" | "generator_expression" | "set_comprehension" => {
                let body = field(node, "body")?;
                let clause = named_children(node)
                    .filter(|c| c.kind() == "for_in_clause")
                    .find(|c| {
                        field(*c, "left").is_some_and(|left| self.text(left) == self.text(body))
                    })?;
                self.origin_of(field(clause, "right")?)
            }
            _ => None,
        }
    }

    /// `x.attr` read from a row of a known model.
    fn record_attribute_read(&mut self, node: Node<'a>) {
        let (Some(object), Some(attribute)) = (field(node, "object"), field(node, "attribute"))
        else {
            return;
        };
        if object.kind() != "identifier" {
            return;
        }
        // Assigning `x.attr = ...` is a write, not a load.
        let parent = self.parent();
        if parent.is_some_and(|p| p.kind() == "assignment" && field(p, "left") == Some(node)) {
            return;
        }
        let Some(RowType::Row(model)) = self.row_type(object) else {
            return;
        };
        let attribute = self.text(attribute).to_string();
        if self.index.relationship(&model, &attribute).is_none() {
            return;
        }
        let then = parent
            .filter(|p| p.kind() == "attribute" && field(*p, "object") == Some(node))
            .and_then(|p| field(p, "attribute"))
            .map(|a| self.text(a).to_string());
        let loops = self
            .scopes
            .last()
            .map(|s| s.loop_stack.clone())
            .unwrap_or_default();
        let origin = self.origin_of(object);
        self.reads.push(AttributeRead {
            node,
            object: self.text(object).to_string(),
            model,
            attribute,
            loops,
            origin,
            then,
        });
    }

    /// A call of a name or of a method, for function summaries (INB003) and writes (INB004/5).
    fn record_call_site(&mut self, node: Node<'a>) {
        let scope = self.scopes.last().expect("the module scope");
        let site = calls::call_site(
            node,
            self.source,
            self,
            scope.loop_stack.clone(),
            scope.node,
            |object| self.row_type(object),
        );
        self.calls.extend(site);
    }

    fn record_query(&mut self, node: Node<'a>) {
        if self
            .parent()
            .is_some_and(|parent| continues_chain_in(node, parent))
            || self.visiting_error_region(node)
        {
            return;
        }
        if let Some(call) = orm::recognize(node, self.source, self) {
            let loops = self
                .scopes
                .last()
                .map(|s| s.loop_stack.clone())
                .unwrap_or_default();
            self.queries.push(Query { call, loops });
        }
    }

    fn new_loop(
        &mut self,
        kind: LoopKind,
        node: Node<'a>,
        target: String,
        iterable: String,
    ) -> LoopId {
        let parent = self
            .scopes
            .last()
            .and_then(|scope| scope.loop_stack.last().copied());
        let id = self.loops.len();
        self.loops.push(Loop {
            kind,
            node,
            header: header_range(node),
            target,
            iterable,
            parent,
            varying: HashSet::new(),
        });
        self.loop_assignments.push(Vec::new());
        id
    }

    /// A `for` loop or clause: its targets vary by definition, and, seen from enclosing loops, are
    /// assigned from the iterable.
    fn open_loop(
        &mut self,
        kind: LoopKind,
        node: Node<'a>,
        left: Node<'a>,
        right: Node<'a>,
    ) -> LoopId {
        self.record_assignment(left, right, false);
        let id = self.new_loop(
            kind,
            node,
            self.text(left).to_string(),
            self.text(right).to_string(),
        );
        let mut targets = Vec::new();
        bound_names(left, self.source, &mut targets);
        self.loops[id].varying.extend(targets);
        self.push_loop(id);
        id
    }

    fn push_loop(&mut self, id: LoopId) {
        self.scope().loop_stack.push(id);
    }

    fn close_loop(&mut self, id: LoopId) {
        let stack = &mut self.scope().loop_stack;
        if let Some(position) = stack.iter().rposition(|&open| open == id) {
            stack.truncate(position);
        }
    }

    /// Records `left = right` in every loop of this function that encloses it.
    fn record_assignment(&mut self, left: Node<'a>, right: Node<'a>, augmented: bool) {
        let Some(scope) = self.scopes.last() else {
            return;
        };
        if scope.loop_stack.is_empty() {
            return;
        }
        let mut targets = Vec::new();
        bound_names(left, self.source, &mut targets);
        if targets.is_empty() {
            return;
        }
        let mut sources = Vec::new();
        collect_names(right, self.source, &mut sources);
        if augmented {
            sources.extend(targets.iter().cloned());
        }
        let constant = !augmented && is_literal(right);
        let loop_ids = scope.loop_stack.clone();
        for id in loop_ids {
            self.loop_assignments[id].push(Assignment {
                targets: targets.clone(),
                sources: sources.clone(),
                constant,
            });
        }
    }
}

/// Every name and dotted path an expression reads (attribute and keyword names excluded).
fn collect_names(node: Node<'_>, source: &str, out: &mut Vec<String>) {
    stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || match node.kind() {
        "identifier" => out.push(source[node.byte_range()].to_string()),
        "attribute" => {
            if let Some(path) = dotted_path(node, source) {
                out.push(path);
            }
            if let Some(object) = field(node, "object") {
                collect_names(object, source, out);
            }
        }
        "keyword_argument" => {
            if let Some(value) = field(node, "value") {
                collect_names(value, source, out);
            }
        }
        "comment" | "string_content" => {}
        _ => {
            for child in named_children(node) {
                collect_names(child, source, out);
            }
        }
    })
}

/// Everything assigned, directly or transitively, from a varying name also varies. A `while` loop
/// has no target: what its body reassigns (other than to a constant) is what varies.
fn propagate_varying(lp: &mut Loop<'_>, body: &[Assignment]) {
    if lp.kind == LoopKind::While {
        for assignment in body.iter().filter(|a| !a.constant) {
            lp.varying.extend(assignment.targets.iter().cloned());
        }
    }
    loop {
        let before = lp.varying.len();
        for assignment in body {
            if assignment
                .sources
                .iter()
                .any(|source| lp.varying.contains(source))
            {
                lp.varying.extend(assignment.targets.iter().cloned());
            }
        }
        if lp.varying.len() == before {
            break;
        }
    }
}
