//! The single traversal that builds the [`SemanticModel`].

use std::collections::{HashMap, HashSet};

use tree_sitter::Node;

use super::{header_range, Loop, LoopId, LoopKind, Query, SemanticModel};
use crate::engine::orm::{self, continues_chain, last_component};
use crate::engine::source::SourceFile;
use crate::engine::syntax::{
    bound_names, callee_name, dotted_path, field, in_error_region, is_literal, named_children,
};

/// Stack space kept free before recursing deeper; deeper trees continue on a heap-allocated stack.
const STACK_RED_ZONE: usize = 64 * 1024;
const STACK_GROWTH: usize = 1024 * 1024;

pub(super) fn build(file: &SourceFile) -> SemanticModel<'_> {
    let mut builder = Builder {
        source: file.text(),
        loops: Vec::new(),
        loop_assignments: Vec::new(),
        queries: Vec::new(),
        scopes: vec![FunctionScope::default()],
    };
    builder.visit(file.root());
    let Builder {
        mut loops,
        loop_assignments,
        queries,
        ..
    } = builder;
    for (body, lp) in loop_assignments.iter().zip(loops.iter_mut()) {
        propagate_varying(lp, body);
    }
    SemanticModel {
        file,
        loops,
        queries,
    }
}

/// `targets = f(sources)` somewhere inside a loop body.
struct Assignment {
    targets: Vec<String>,
    sources: Vec<String>,
    /// The value is a literal, the same on every iteration (`count = 0`).
    constant: bool,
}

#[derive(Default)]
struct FunctionScope<'a> {
    /// Loops of this function around the node being visited, innermost last.
    loop_stack: Vec<LoopId>,
    /// Names bound to a session or connection (`with Session(engine) as s`, `s: Session`).
    sessions: HashSet<String>,
    /// The expression last assigned to each plain name.
    values: HashMap<String, Node<'a>>,
}

struct Builder<'a> {
    source: &'a str,
    loops: Vec<Loop<'a>>,
    loop_assignments: Vec<Vec<Assignment>>,
    queries: Vec<Query<'a>>,
    scopes: Vec<FunctionScope<'a>>,
}

impl<'a> orm::Scope<'a> for Builder<'a> {
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
        || matches!(lower.as_str(), "sess" | "conn" | "connection" | "db_conn" | "dbconn")
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

impl<'a> Builder<'a> {
    fn scope(&mut self) -> &mut FunctionScope<'a> {
        self.scopes
            .last_mut()
            .expect("the module scope is never popped")
    }

    fn text(&self, node: Node<'_>) -> &'a str {
        &self.source[node.byte_range()]
    }

    fn visit(&mut self, node: Node<'a>) {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || self.visit_node(node));
    }

    fn visit_children(&mut self, node: Node<'a>) {
        for child in named_children(node) {
            self.visit(child);
        }
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
                self.visit_children(node);
            }
            "comment" | "string_content" | "escape_sequence" => {}
            _ => self.visit_children(node),
        }
    }

    fn visit_function(&mut self, node: Node<'a>) {
        let mut scope = FunctionScope::default();
        if let Some(parameters) = field(node, "parameters") {
            for parameter in named_children(parameters) {
                let annotation = field(parameter, "type").map(|t| self.text(t)).unwrap_or("");
                if annotation.contains("Session") || annotation.contains("Connection") {
                    if let Some(name) = named_children(parameter).find(|c| c.kind() == "identifier")
                    {
                        scope.sessions.insert(self.text(name).to_string());
                    }
                }
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
        self.scopes.pop();
    }

    fn visit_for(&mut self, node: Node<'a>) {
        let (Some(left), Some(right)) = (field(node, "left"), field(node, "right")) else {
            return self.visit_children(node);
        };
        self.visit(right);
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
                    self.visit(right);
                    opened.push(self.open_loop(kind, clause, left, right));
                }
                "if_clause" => self.visit_children(clause),
                _ => {}
            }
        }
        if let Some(body) = field(node, "body") {
            self.visit(body);
        }
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
        if !augmented && left.kind() == "identifier" {
            let name = self.text(left).to_string();
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
                self.visit(expression);
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

    fn record_query(&mut self, node: Node<'a>) {
        if continues_chain(node) || in_error_region(node) {
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
