//! Small helpers over tree-sitter nodes shared by the semantic model and the ORM recognisers.

use tree_sitter::{Node, TreeCursor};

/// The named children of a node, walked with one cursor (no `Vec` per call: the traversal calls
/// this for every node of every file).
pub fn named_children<'a>(node: Node<'a>) -> NamedChildren<'a> {
    let mut cursor = node.walk();
    let done = !cursor.goto_first_child();
    NamedChildren { cursor, done }
}

pub struct NamedChildren<'a> {
    cursor: TreeCursor<'a>,
    done: bool,
}

impl<'a> Iterator for NamedChildren<'a> {
    type Item = Node<'a>;

    fn next(&mut self) -> Option<Node<'a>> {
        while !self.done {
            let node = self.cursor.node();
            self.done = !self.cursor.goto_next_sibling();
            if node.is_named() {
                return Some(node);
            }
        }
        None
    }
}

/// The fields the engine reads, by id: `child_by_field_name` compares the name with every field
/// name of the grammar on each call, and field reads are among the commonest steps of a check.
const FIELD_NAMES: [&str; 21] = [
    "object",
    "attribute",
    "function",
    "right",
    "left",
    "value",
    "name",
    "body",
    "arguments",
    "alias",
    "type",
    "parameters",
    "condition",
    "alternative",
    "subscript",
    "module_name",
    "key",
    "superclasses",
    "definition",
    "operator",
    "operators",
];

static FIELD_IDS: std::sync::LazyLock<[Option<u16>; FIELD_NAMES.len()]> =
    std::sync::LazyLock::new(|| {
        let language = tree_sitter::Language::new(tree_sitter_python::LANGUAGE);
        FIELD_NAMES.map(|name| language.field_id_for_name(name).map(|id| id.get()))
    });

pub fn field<'a>(node: Node<'a>, name: &str) -> Option<Node<'a>> {
    match FIELD_NAMES.iter().position(|known| *known == name) {
        Some(at) => node.child_by_field_id(FIELD_IDS[at]?),
        None => node.child_by_field_name(name),
    }
}

/// The nodes from `ancestor` down to `node`, both included; `None` when `node` is not inside
/// `ancestor`. One walk down instead of one `Node::parent` (itself a walk from the root) per level.
pub fn path_between<'a>(ancestor: Node<'a>, node: Node<'a>) -> Option<Vec<Node<'a>>> {
    let mut path = vec![ancestor];
    let mut current = ancestor;
    while current != node {
        current = current.child_with_descendant(node)?;
        path.push(current);
    }
    Some(path)
}

/// Names bound by an assignment or loop target: `a`, `a, b`, `(a, [b, *c])`, `self.x`.
pub fn bound_names(target: Node<'_>, source: &str, out: &mut Vec<String>) {
    match target.kind() {
        "identifier" => out.push(source[target.byte_range()].to_string()),
        "attribute" => {
            if let Some(path) = dotted_path(target, source) {
                out.push(path);
            }
        }
        "list_splat_pattern"
        | "list_splat"
        | "pattern_list"
        | "tuple_pattern"
        | "list_pattern"
        | "expression_list"
        | "tuple"
        | "list"
        | "parenthesized_expression" => {
            for child in named_children(target) {
                bound_names(child, source, out);
            }
        }
        _ => {}
    }
}

/// `a.b.c` as text when every part is a plain name; `None` for `f().x` or `a[0].x`.
pub fn dotted_path(node: Node<'_>, source: &str) -> Option<String> {
    match node.kind() {
        "identifier" => Some(source[node.byte_range()].to_string()),
        "attribute" => {
            let object = field(node, "object")?;
            let attribute = field(node, "attribute")?;
            let base = with_stack(|| dotted_path(object, source))?;
            Some(format!("{base}.{}", &source[attribute.byte_range()]))
        }
        _ => None,
    }
}

/// The last component of a dotted callee: `Session` for `orm.Session`, `select` for `sa.select`.
pub fn callee_name<'s>(call: Node<'_>, source: &'s str) -> Option<&'s str> {
    let function = field(call, "function")?;
    match function.kind() {
        "identifier" => Some(&source[function.byte_range()]),
        "attribute" => field(function, "attribute").map(|a| &source[a.byte_range()]),
        _ => None,
    }
}

/// Runs a recursive tree walk with room to recurse: past the red zone the stack continues on the
/// heap, so 5,000-deep nesting cannot overflow a thread's stack.
pub fn with_stack<R>(walk: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(64 * 1024, 1024 * 1024, walk)
}

/// The byte ranges of the comments inside a node.
pub fn comment_ranges(node: Node<'_>) -> Vec<std::ops::Range<usize>> {
    let mut comments = Vec::new();
    collect_comments(node, &mut comments);
    comments
}

/// The code a node covers with its comments left out, for messages.
pub fn code_without_comments(node: Node<'_>, source: &str) -> String {
    let comments = comment_ranges(node);
    let mut code = String::new();
    let mut cursor = node.start_byte();
    for comment in comments {
        code.push_str(&source[cursor..comment.start]);
        cursor = comment.end;
    }
    code.push_str(&source[cursor..node.end_byte()]);
    code
}

fn collect_comments(node: Node<'_>, out: &mut Vec<std::ops::Range<usize>>) {
    crate::engine::syntax::with_stack(|| {
        for child in named_children(node) {
            if child.kind() == "comment" {
                out.push(child.byte_range());
            } else if child.named_child_count() > 0 {
                collect_comments(child, out);
            }
        }
    })
}

/// Collapses runs of whitespace and shortens long code for messages.
/// The source of `node` with its comments left out, for quoting code in a message: a
/// comprehension written over several lines with a comment on each would otherwise be quoted with
/// the comments collapsed into it.
pub fn text_without_comments(source: &str, node: Node<'_>) -> String {
    let range = node.byte_range();
    let mut comments = Vec::new();
    let mut stack = vec![node];
    while let Some(current) = stack.pop() {
        if current.kind() == "comment" {
            comments.push(current.byte_range());
            continue;
        }
        let mut cursor = current.walk();
        stack.extend(current.children(&mut cursor));
    }
    comments.sort_by_key(|c| c.start);
    let mut out = String::with_capacity(range.len());
    let mut at = range.start;
    for comment in comments {
        out.push_str(&source[at..comment.start.max(at)]);
        at = at.max(comment.end);
    }
    out.push_str(&source[at..range.end]);
    out
}

pub fn display_code(code: &str, max_chars: usize) -> String {
    let mut collapsed = String::with_capacity(code.len());
    let mut last_space = false;
    for ch in code.chars() {
        if ch.is_whitespace() {
            if !last_space {
                collapsed.push(' ');
            }
            last_space = true;
        } else {
            collapsed.push(ch);
            last_space = false;
        }
    }
    let collapsed = collapsed
        .replace("( ", "(")
        .replace(" )", ")")
        .replace("[ ", "[")
        .replace(" ]", "]")
        .replace("{ ", "{")
        .replace(" }", "}")
        .replace(" .", ".");
    if collapsed.chars().count() <= max_chars {
        collapsed
    } else {
        let mut short: String = collapsed
            .chars()
            .take(max_chars.saturating_sub(1))
            .collect();
        short.push('…');
        short
    }
}

/// `OrderItem` → `order_item`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

pub fn is_literal(node: Node<'_>) -> bool {
    matches!(
        node.kind(),
        "integer" | "float" | "string" | "true" | "false" | "none" | "concatenated_string"
    ) && !has_interpolation(node)
        || matches!(node.kind(), "list" | "tuple" | "dictionary" | "set")
            && with_stack(|| {
                named_children(node).all(|child| child.kind() != "comment" && is_literal(child))
            })
}

fn has_interpolation(node: Node<'_>) -> bool {
    node.kind() == "interpolation" || with_stack(|| named_children(node).any(has_interpolation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_code_collapses_and_truncates() {
        assert_eq!(
            display_code("a.filter(\n    x == 1\n)", 80),
            "a.filter(x == 1)"
        );
        assert_eq!(display_code("abcdefghij", 5), "abcd…");
    }

    #[test]
    fn every_known_field_is_a_field_of_the_grammar() {
        let missing: Vec<&str> = FIELD_NAMES
            .iter()
            .zip(FIELD_IDS.iter())
            .filter(|(_, id)| id.is_none())
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(missing, Vec::<&str>::new());
    }

    #[test]
    fn field_by_id_finds_what_field_by_name_finds() {
        let file = crate::engine::source::SourceFile::parse("x = a.b(c)[d]\nfor k in v: pass\n");
        let mut stack = vec![file.root()];
        let mut compared = 0;
        while let Some(node) = stack.pop() {
            for name in FIELD_NAMES {
                assert_eq!(field(node, name), node.child_by_field_name(name), "{name}");
                compared += 1;
            }
            stack.extend(named_children(node));
        }
        assert!(compared > 100);
    }
}
