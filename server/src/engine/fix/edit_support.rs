//! Building blocks shared by fixes: fresh names, imports, indentation, and the parse check.

use std::collections::HashSet;

use tree_sitter::Node;

use super::imports::import_entries;
use super::Edit;
use crate::engine::source::{SourceFile, TextRange};
use crate::engine::syntax::named_children;

/// Names taken in a scope: a fresh name must shadow nothing the code there can see.
pub struct NameTable {
    taken: HashSet<String>,
}

impl NameTable {
    /// The names a fresh name placed at `node` must avoid: every identifier of the enclosing
    /// function (or of the module outside functions, at module level) and of the module's own
    /// top-level code, which the function can read.
    pub fn new(file: &SourceFile, node: Node<'_>) -> NameTable {
        let mut scope = node;
        while let Some(parent) = scope.parent() {
            if scope.kind() == "function_definition" {
                break;
            }
            scope = parent;
        }
        let mut taken = HashSet::new();
        collect_identifiers(file, scope, false, &mut taken);
        collect_identifiers(file, file.root(), true, &mut taken);
        NameTable { taken }
    }

    /// Whether code in the scope already uses `name`.
    pub fn is_taken(&self, name: &str) -> bool {
        self.taken.contains(name)
    }

    /// `base`, or `base_2`, `base_3`, ... whichever is not yet taken; the result is then taken.
    pub fn fresh(&mut self, base: &str) -> String {
        let mut candidate = base.to_string();
        let mut n = 2;
        while self.taken.contains(&candidate) {
            candidate = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(candidate.clone());
        candidate
    }
}

fn collect_identifiers(
    file: &SourceFile,
    node: Node<'_>,
    skip_functions: bool,
    taken: &mut HashSet<String>,
) {
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        if node.kind() == "identifier" {
            taken.insert(file.node_text(node).to_string());
        }
        // `from itertools import chain` binds `chain`, not `itertools`.
        let module_name = (node.kind() == "import_from_statement")
            .then(|| node.child_by_field_name("module_name"))
            .flatten();
        let mut cursor = node.walk();
        stack.extend(node.named_children(&mut cursor).filter(|child| {
            !(skip_functions && child.kind() == "function_definition")
                && Some(*child) != module_name
        }));
    }
}

/// The whitespace before the first non-blank character of the line holding `offset`.
pub fn indentation_at(file: &SourceFile, offset: usize) -> &str {
    let line = file.line_index().line_of(offset);
    let range = file.line_index().line_range(line, file.text());
    let text = &file.text()[range];
    &text[..text.len() - text.trim_start().len()]
}

/// The indentation one level deeper than `statement`, as its own body uses it.
pub fn body_indent_unit(file: &SourceFile, statement: Node<'_>) -> String {
    let outer = indentation_at(file, statement.start_byte()).len();
    let body = statement
        .child_by_field_name("body")
        .map(|body| indentation_at(file, body.start_byte()));
    match body {
        Some(inner) if inner.len() > outer => inner[outer..].to_string(),
        _ => file_indent_unit(file.text()),
    }
}

/// The file's indentation step: what the first block (a line ending in `:`) adds to the line that
/// opens it; four spaces in a file without blocks. A tab-indented file gets tabs.
pub fn file_indent_unit(text: &str) -> String {
    let mut opener: Option<&str> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        if let Some(outer) = opener {
            if indent.len() > outer.len() && indent.starts_with(outer) {
                return indent[outer.len()..].to_string();
            }
        }
        let code = line.split('#').next().unwrap_or(line).trim_end();
        opener = code.ends_with(':').then_some(indent);
    }
    "    ".to_string()
}

/// An edit that makes `from MODULE import NAME` available, or `None` when `NAME` is already
/// imported from that module; placed as isort would (see [`super::imports`]). A fix needing several
/// imports asks [`super::imports::ensure_imports`] for all at once, so that two names from one
/// module share a statement.
pub fn ensure_import(file: &SourceFile, module: &str, name: &str) -> Option<Edit> {
    super::imports::ensure_imports(file, &[super::imports::Needed::from(module, name)]).pop()
}

/// The edit that removes `name` from the top-level `from ... import` that brings it in, when
/// nothing outside `removed` (the code a fix deletes) reads it any more: the import a removed
/// `selectinload(...)` leaves behind. `None` when the name is still read, is not imported that way
/// (aliased, `import module`), or is imported more than once.
pub fn remove_unused_import(file: &SourceFile, name: &str, removed: &TextRange) -> Option<Edit> {
    let source = file.text();
    let root = file.root();
    let mut importers = Vec::new();
    let mut cursor = root.walk();
    'walk: loop {
        let node = cursor.node();
        let inside_removed = removed.start <= node.start_byte() && node.end_byte() <= removed.end;
        let descend = if node.kind() == "import_from_statement" {
            if imported_names(node).any(|imported| &source[imported.byte_range()] == name) {
                importers.push(node);
            }
            false
        } else if inside_removed {
            false
        } else {
            if node.kind() == "identifier" && &source[node.byte_range()] == name {
                return None;
            }
            true
        };
        if descend && cursor.goto_first_child() {
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    let [statement] = importers.as_slice() else {
        return None;
    };
    if statement.parent() != Some(root) {
        return None;
    }
    // Every entry of the list, aliased ones included: the deleted range is measured on them all.
    let entries: Vec<Node<'_>> = import_entries(*statement).collect();
    let at = entries
        .iter()
        .position(|entry| entry.kind() == "dotted_name" && &source[entry.byte_range()] == name)?;
    let range = match (entries.len(), at) {
        (1, _) => {
            // The whole statement with its line, when nothing else shares the line.
            let index = file.line_index();
            let first_line = index.line_of(statement.start_byte());
            let last_line = index.line_of(statement.end_byte());
            let start = index.line_start(first_line);
            let end = index.line_start(last_line + 1);
            let before = &source[start..statement.start_byte()];
            let after = source[statement.end_byte()..end.max(statement.end_byte())].trim_start();
            if !before.trim().is_empty() || !(after.is_empty() || after.starts_with('#')) {
                return None;
            }
            start..end.max(statement.end_byte())
        }
        (_, 0) => entries[0].start_byte()..entries[1].start_byte(),
        (_, at) => entries[at - 1].end_byte()..entries[at].end_byte(),
    };
    let overlaps = range.start < removed.end && removed.start < range.end;
    (!overlaps).then(|| Edit::delete(range))
}

/// The plainly imported names of a `from ... import` (not the aliased ones).
fn imported_names<'t>(statement: Node<'t>) -> impl Iterator<Item = Node<'t>> {
    import_entries(statement).filter(|entry| entry.kind() == "dotted_name")
}

/// Joins insertions at the same offset into one edit (two imports landing on the same line), so
/// that the fix's edits do not overlap.
pub fn merge_insertions(edits: &mut Vec<Edit>) {
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    let mut merged: Vec<Edit> = Vec::new();
    for edit in edits.drain(..) {
        match merged.last_mut() {
            Some(last)
                if last.range.is_empty()
                    && edit.range.is_empty()
                    && last.range.start == edit.range.start =>
            {
                last.content.push_str(&edit.content);
            }
            _ => merged.push(edit),
        }
    }
    *edits = merged;
}

/// Whether the text after `fix` (`after`) still parses at least as well as before it.
///
/// Each top-level statement the fix touches is parsed on its own, with its edits: a fix changes a
/// few statements of a module that may hold a hundred thousand, and an incremental reparse of the
/// whole module still walks all of them (over a second per fix in a 20 MB module). A statement
/// that parses alone parses in the module too: it starts and ends where the module's top level
/// does. Only when one does not (or an edit spans statements) is `after` reparsed whole,
/// incrementally from `before`'s tree, and an error confirmed by a fresh parse.
pub fn parses_cleanly(before: &SourceFile, fix: &super::Fix, after: &str) -> bool {
    if before.has_syntax_errors() {
        return true;
    }
    let text = before.text();
    // Top-level chunks: each statement (or comment) with the gap before it; then the tail.
    let mut ends: Vec<usize> = named_children(before.tree().root_node())
        .map(|node| node.end_byte())
        .collect();
    ends.push(text.len());
    let statement_parses_alone = || {
        let mut edits = fix.edits.iter().peekable();
        while let Some(first) = edits.peek() {
            let chunk = ends.partition_point(|&end| end < first.range.start);
            let start = if chunk == 0 { 0 } else { ends[chunk - 1] };
            let end = ends[chunk];
            let mut piece = String::new();
            let mut cursor = start;
            while let Some(edit) = edits.next_if(|e| e.range.start >= start && e.range.start <= end)
            {
                if edit.range.end > end || edit.range.start < cursor {
                    return false;
                }
                piece.push_str(&text[cursor..edit.range.start]);
                piece.push_str(&edit.content);
                cursor = edit.range.end;
            }
            piece.push_str(&text[cursor..end]);
            if crate::engine::source::parse_tree(&piece, None)
                .root_node()
                .has_error()
            {
                return false;
            }
        }
        true
    };
    statement_parses_alone()
        || !before.reparse(after).root_node().has_error()
        || !crate::engine::source::parse_tree(after, None)
            .root_node()
            .has_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unused_imports_go_with_the_code_that_read_them() {
        let remove = |text: &str, name: &str, removed: &str| {
            let file = SourceFile::parse(text);
            let start = text.find(removed).unwrap();
            remove_unused_import(&file, name, &(start..start + removed.len())).map(|edit| {
                let mut after = text.to_string();
                after.replace_range(edit.range, &edit.content);
                after
            })
        };
        let query = "q = select(A).options(selectinload(A.b))\n";
        let cases: [(&str, &str, Option<&str>); 10] = [
            ("from sqlalchemy.orm import selectinload\n", "", Some("")),
            (
                "from sqlalchemy.orm import joinedload, selectinload\n",
                "",
                Some("from sqlalchemy.orm import joinedload\n"),
            ),
            (
                "from sqlalchemy.orm import selectinload, joinedload\n",
                "",
                Some("from sqlalchemy.orm import joinedload\n"),
            ),
            (
                "from sqlalchemy.orm import (\n    joinedload,\n    selectinload,\n)\n",
                "",
                Some("from sqlalchemy.orm import (\n    joinedload,\n)\n"),
            ),
            // Still read elsewhere: kept.
            (
                "from sqlalchemy.orm import selectinload\n",
                "r = selectinload(A.c)\n",
                None,
            ),
            // Aliased: not touched.
            ("from sqlalchemy.orm import selectinload as s\n", "", None),
            // Aliased neighbours stay.
            (
                "from sqlalchemy.orm import relationship as rel, selectinload\n",
                "",
                Some("from sqlalchemy.orm import relationship as rel\n"),
            ),
            (
                "from sqlalchemy.orm import selectinload, mapped_column as mc, Mapped\n",
                "",
                Some("from sqlalchemy.orm import mapped_column as mc, Mapped\n"),
            ),
            // Another statement on the line: left alone.
            (
                "import os; from sqlalchemy.orm import selectinload\n",
                "",
                None,
            ),
            // A comment after it goes with the line.
            (
                "from sqlalchemy.orm import selectinload  # eager\n",
                "",
                Some(""),
            ),
        ];
        for (import, rest, expected) in cases {
            let text = format!("{import}{query}{rest}");
            let after = remove(&text, "selectinload", "selectinload(A.b)");
            assert_eq!(
                after,
                expected.map(|import| format!("{import}{query}{rest}")),
                "{import}"
            );
        }
    }

    #[test]
    fn a_fix_is_checked_by_parsing_the_statements_it_touches() {
        let text =
            "import os\n\n\ndef f(xs):\n    for x in xs:\n        g(x)\n\n\ndef h():\n    pass\n";
        let file = SourceFile::parse(text);
        let check = |edits: Vec<Edit>| {
            let fix = super::super::Fix::new("t", super::super::Applicability::Safe, edits);
            let (after, _) = super::super::apply_fixes(text, [&fix]);
            parses_cleanly(&file, &fix, &after)
        };
        let loop_at = text.find("    for").unwrap();
        let call = text.find("g(x)").unwrap();
        // An import and a prelude: two statements, each fine.
        assert!(check(vec![
            Edit::insert(0, "from collections import defaultdict\n"),
            Edit::insert(loop_at, "    keys = list(xs)\n"),
        ]));
        // An unclosed bracket breaks its statement (and would swallow the next one).
        assert!(!check(vec![Edit::replace(call..call + 4, "g((x)")]));
        // A broken body line, and an edit across two statements, are found by the whole parse.
        assert!(!check(vec![Edit::insert(loop_at, "    )\n")]));
        let across = text.find("g(x)").unwrap()..text.find("pass").unwrap();
        assert!(check(vec![Edit::replace(
            across,
            "g(x)\n\n\ndef h():\n    "
        )]));
    }

    #[test]
    fn the_indentation_step_is_the_files_own() {
        let cases = [
            ("def f():\n\treturn 1\n", "\t"),
            ("X = {\n  'a': 1,\n}\nif x:\n    pass\n", "    "),
            ("class A:\n  def f(self):  # note\n      pass\n", "  "),
            ("x = 1\n", "    "),
        ];
        for (text, unit) in cases {
            assert_eq!(file_indent_unit(text), unit, "{text:?}");
        }
    }

    #[test]
    fn fresh_names_avoid_every_identifier() {
        let file = SourceFile::parse("keys = 1\nkeys_2 = 2\n");
        let mut names = NameTable::new(&file, file.root());
        assert_eq!(names.fresh("keys"), "keys_3");
        assert_eq!(names.fresh("chunk"), "chunk");
        assert_eq!(names.fresh("chunk"), "chunk_2");
    }
}
