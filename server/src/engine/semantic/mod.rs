//! The semantic model: one traversal of the tree builds what every rule reads.
//!
//! It records each loop (`for`, `async for`, `while`, and every `for` clause of a comprehension),
//! which names vary with each loop's iterations, and every ORM call with the loops around it.
//! Rules read this model; they never walk the tree on their own.

mod builder;

use std::collections::HashSet;

use tree_sitter::Node;

use super::orm::OrmCall;
use super::source::{SourceFile, TextRange};
use super::syntax::field;

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
}

/// An ORM call and the loops (innermost last) of its function that surround it.
#[derive(Debug)]
pub struct Query<'a> {
    pub call: OrmCall<'a>,
    pub loops: Vec<LoopId>,
}

pub struct SemanticModel<'a> {
    pub file: &'a SourceFile,
    pub loops: Vec<Loop<'a>>,
    pub queries: Vec<Query<'a>>,
}

impl<'a> SemanticModel<'a> {
    pub fn build(file: &'a SourceFile) -> SemanticModel<'a> {
        builder::build(file)
    }

    pub fn loop_(&self, id: LoopId) -> &Loop<'a> {
        &self.loops[id]
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
        let mut crossed_inner_loop = false;
        let mut current = node;
        while let Some(parent) = current.parent() {
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
                let mut sibling = current.next_named_sibling();
                while let Some(statement) = sibling {
                    match statement.kind() {
                        "return_statement" | "raise_statement" => return true,
                        "break_statement" if !crossed_inner_loop => return true,
                        _ => {}
                    }
                    sibling = statement.next_named_sibling();
                }
            }
            current = parent;
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
