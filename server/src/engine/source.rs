//! A parsed Python file: its text, its tree-sitter tree and a line index.
//!
//! Parsing never fails: tree-sitter always returns a tree, with `ERROR` and `MISSING` nodes where
//! the text does not parse. Rules skip those regions and analyse the rest.

use std::ops::Range;

use tree_sitter::{Node, Parser, Tree};

/// A byte range in a source file. The engine speaks only in byte offsets; the shells convert.
pub type TextRange = Range<usize>;

pub struct SourceFile {
    text: String,
    tree: Tree,
    line_index: LineIndex,
}

impl SourceFile {
    /// Parses `text` from scratch.
    pub fn parse(text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let tree = parse_tree(&text, None);
        SourceFile::from_tree(text, tree)
    }

    /// Wraps a tree the caller already parsed (the language server reparses incrementally).
    pub fn from_tree(text: String, tree: Tree) -> SourceFile {
        let line_index = LineIndex::new(&text);
        SourceFile {
            text,
            tree,
            line_index,
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    pub fn root(&self) -> Node<'_> {
        self.tree.root_node()
    }

    pub fn line_index(&self) -> &LineIndex {
        &self.line_index
    }

    /// The source text a node covers.
    pub fn node_text(&self, node: Node<'_>) -> &str {
        &self.text[node.byte_range()]
    }

    pub fn slice(&self, range: TextRange) -> &str {
        &self.text[range]
    }

    pub fn has_syntax_errors(&self) -> bool {
        self.tree.root_node().has_error()
    }
}

/// Parses Python text, reusing `old_tree` (already `edit`ed) when given.
pub fn parse_tree(text: &str, old_tree: Option<&Tree>) -> Tree {
    let mut parser = new_parser();
    parser
        .parse(text, old_tree)
        .expect("a parser with a language and no timeout always returns a tree")
}

pub fn new_parser() -> Parser {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("tree-sitter-python matches the tree-sitter ABI this crate is built against");
    parser
}

/// Maps byte offsets to lines and back. Lines end at `\n`, `\r\n` or a lone `\r`.
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Byte offset at which each line starts; `line_starts[0] == 0`.
    line_starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => line_starts.push(i + 1),
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => line_starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        LineIndex {
            line_starts,
            len: text.len(),
        }
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The 0-based line holding `offset` (clamped to the text).
    pub fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.len);
        match self.line_starts.binary_search(&offset) {
            Ok(line) => line,
            Err(next) => next - 1,
        }
    }

    /// Byte offset where a 0-based line starts; past the last line, the end of the text.
    pub fn line_start(&self, line: usize) -> usize {
        self.line_starts.get(line).copied().unwrap_or(self.len)
    }

    /// Byte range of a line's content, without its line terminator.
    pub fn line_range(&self, line: usize, text: &str) -> TextRange {
        let start = self.line_start(line);
        let mut end = self.line_start(line + 1);
        let bytes = text.as_bytes();
        while end > start && matches!(bytes[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        start..end
    }

    /// 0-based line and the byte column within it.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.len);
        let line = self.line_of(offset);
        (line, offset - self.line_starts[line])
    }

    pub fn text_len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_handles_every_line_ending() {
        let text = "a\nb\r\nc\rd";
        let index = LineIndex::new(text);
        assert_eq!(index.line_count(), 4);
        assert_eq!(index.line_col(0), (0, 0));
        assert_eq!(index.line_col(2), (1, 0));
        assert_eq!(index.line_col(5), (2, 0));
        assert_eq!(index.line_col(7), (3, 0));
        assert_eq!(index.line_col(100), (3, 1));
        assert_eq!(&text[index.line_range(1, text)], "b");
    }

    #[test]
    fn parse_never_fails_on_broken_code() {
        let file = SourceFile::parse("for x in :\n    pass\n");
        assert!(file.has_syntax_errors());
        assert_eq!(file.root().kind(), "module");
    }
}
