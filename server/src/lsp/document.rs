//! An open document: its rope, its version and, once parsed, its file (text, tree, line index).
//!
//! Edits go to the rope and, as tree-sitter `InputEdit`s, to the tree the next parse starts from,
//! so that tree-sitter reuses every subtree the edits did not touch. Applying a change is cheap
//! and synchronous: the caller runs it under the session lock, before any `.await`, so edits are
//! applied in the order they arrive. Parsing is not: [`Document::parse_job`] hands out what a
//! parse needs, the parse runs off the lock ([`ParseJob::run`], cancellable), and
//! [`Document::store_parse`] keeps its result if the text has not changed meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ropey::Rope;
use tower_lsp_server::ls_types::TextDocumentContentChangeEvent;
use tree_sitter::{InputEdit, Tree};

use super::position::{self, PositionEncoding};
use crate::engine::source::{parse_tree, SourceFile};

/// Numbers documents as they are opened: a document closed and opened again is another one, even
/// when its versions start again at the same number.
static OPENED: AtomicU64 = AtomicU64::new(0);

pub struct Document {
    rope: Rope,
    version: i32,
    /// False after a change that could not be applied: the text may then differ from the
    /// client's, so nothing is analysed until a full-text change replaces it.
    in_sync: bool,
    text: TextId,
    /// The parse of the current text, once made; shared with analyses running off the lock.
    file: Option<Arc<SourceFile>>,
    /// What the next parse starts from: the last parse's tree with every edit made since (`None`:
    /// from scratch).
    base: Option<Tree>,
}

/// Names one text of one opened document exactly: which opening, and how many changes since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextId {
    pub opened: u64,
    pub changes: u64,
}

/// A change the document could not apply; the document waits for a full text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidChange(pub String);

/// What parsing one text of a document needs, taken under the lock and run without it.
pub struct ParseJob {
    pub text: TextId,
    rope: Rope,
    base: Option<Tree>,
}

impl ParseJob {
    /// Parses the text, incrementally from the edited tree when there is one. Inside
    /// `engine::cancel::run`, a cancellation stops it.
    pub fn run(self) -> Arc<SourceFile> {
        let text = self.rope.to_string();
        // tree-sitter's error recovery after an incremental edit can differ from a fresh parse
        // of the same text (found by fuzz/ `incremental_edits`: an inserted `"""`); the rules
        // never read that recovery, but the repaired tree (see `engine::source`), which is the
        // same either way: a broken document is not parsed afresh.
        let tree = parse_tree(&text, self.base.as_ref());
        Arc::new(SourceFile::from_tree(text, tree))
    }
}

impl Document {
    pub fn new(text: String, version: i32) -> Document {
        Document {
            rope: Rope::from_str(&text),
            version,
            in_sync: true,
            text: TextId {
                opened: OPENED.fetch_add(1, Ordering::Relaxed) + 1,
                changes: 0,
            },
            file: None,
            base: None,
        }
    }

    pub fn rope(&self) -> &Rope {
        &self.rope
    }

    pub fn version(&self) -> i32 {
        self.version
    }

    pub fn in_sync(&self) -> bool {
        self.in_sync
    }

    /// Which text the document holds now.
    pub fn text_id(&self) -> TextId {
        self.text
    }

    /// The parse of the current text, if made.
    pub fn parsed(&self) -> Option<Arc<SourceFile>> {
        self.file.clone()
    }

    /// What parsing the current text needs; `None` when it is parsed already.
    pub fn parse_job(&self) -> Option<ParseJob> {
        self.file.is_none().then(|| ParseJob {
            text: self.text,
            rope: self.rope.clone(),
            base: self.base.clone(),
        })
    }

    /// Keeps a parse made off the lock if the document still holds the text it parsed.
    pub fn store_parse(&mut self, text: TextId, file: Arc<SourceFile>) -> bool {
        if text != self.text || self.file.is_some() {
            return false;
        }
        self.base = file.reuses_tree().then(|| file.tree().clone());
        self.file = Some(file);
        true
    }

    /// The current text parsed, parsing it now if needed: for tests and tools that own the
    /// document. The server parses off the lock ([`Document::parse_job`]).
    pub fn file(&mut self) -> &SourceFile {
        if let Some(job) = self.parse_job() {
            let text = job.text;
            let file = job.run();
            self.store_parse(text, file);
        }
        self.file.as_ref().expect("parsed just now")
    }

    /// Applies one `didChange` notification's changes in order, to the rope and to the tree the
    /// next parse starts from; nothing is parsed here. Positions out of range are clamped; a
    /// reversed range desynchronises the document (reported as the error) until a later
    /// full-text change.
    pub fn apply_changes(
        &mut self,
        changes: &[TextDocumentContentChangeEvent],
        version: i32,
        encoding: PositionEncoding,
    ) -> Result<(), InvalidChange> {
        if let Some(file) = self.file.take() {
            self.base = file.reuses_tree().then(|| file.tree().clone());
        }
        let mut error = None;
        for change in changes {
            let Some(range) = change.range else {
                self.rope = Rope::from_str(&change.text);
                self.base = None;
                self.in_sync = true;
                continue;
            };
            if !self.in_sync {
                continue;
            }
            let Some(bytes) = position::text_range(&self.rope, range, encoding) else {
                self.in_sync = false;
                error = Some(InvalidChange(format!(
                    "change range ends before it starts: {range:?}"
                )));
                continue;
            };
            let input = self.replace(bytes, &change.text);
            if let Some(tree) = self.base.as_mut() {
                tree.edit(&input);
            }
        }
        self.version = version;
        self.text.changes += 1;
        error.map_or(Ok(()), Err)
    }

    /// Replaces a byte range of the rope and describes the edit for tree-sitter.
    fn replace(&mut self, bytes: std::ops::Range<usize>, text: &str) -> InputEdit {
        let start_position = position::point(&self.rope, bytes.start);
        let old_end_position = position::point(&self.rope, bytes.end);
        let start_char = self.rope.byte_to_char(bytes.start);
        let end_char = self.rope.byte_to_char(bytes.end);
        self.rope.remove(start_char..end_char);
        self.rope.insert(start_char, text);
        let new_end_byte = bytes.start + text.len();
        InputEdit {
            start_byte: bytes.start,
            old_end_byte: bytes.end,
            new_end_byte,
            start_position,
            old_end_position,
            new_end_position: position::point(&self.rope, new_end_byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use tower_lsp_server::ls_types::{Position, Range};

    use super::*;
    use crate::engine::settings::Settings;

    /// A small deterministic generator: the test must not depend on a crate or on luck.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const SNIPPETS: &[&str] = &[
        "",
        "x",
        "\n",
        "\r\n",
        "    ",
        "🎉",
        "é",
        "(",
        ")",
        ":",
        "uid",
        "for uid in user_ids:\n",
        "    rows = Session.query.filter_by(user_id=uid).all()\n",
        "\"\"\"",
        "# noqa: INB001",
        "def f(ids):\n",
    ];

    const START: &str = "from app import Session\n\ndef f(user_ids):\n    for uid in user_ids:  # 🎉 é\r\n        rows = Session.query.filter_by(user_id=uid).all()\n    return rows\n";

    include!("../../tests/oracles/naive_offset.rs");

    fn random_position(rng: &mut XorShift, text: &str) -> Position {
        let lines = text.split('\n').count() as u32;
        let line = rng.below(lines as usize + 2) as u32;
        let character = rng.below(40) as u32;
        Position::new(line, character)
    }

    fn nodes(file: &SourceFile) -> Vec<(String, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        let mut cursor = file.root().walk();
        loop {
            let node = cursor.node();
            out.push((node.kind().to_string(), node.byte_range()));
            if cursor.goto_first_child() || cursor.goto_next_sibling() {
                continue;
            }
            loop {
                if !cursor.goto_parent() {
                    return out;
                }
                if cursor.goto_next_sibling() {
                    break;
                }
            }
        }
    }

    fn codes(file: &SourceFile) -> Vec<(&'static str, std::ops::Range<usize>)> {
        crate::engine::check(file, &Settings::default(), None)
            .into_iter()
            .map(|d| (d.rule.code, d.range))
            .collect()
    }

    fn random_edits_match_a_fresh_parse(encoding: PositionEncoding, seed: u64) {
        let mut rng = XorShift(seed);
        let mut document = Document::new(START.to_string(), 0);
        let mut expected = START.to_string();
        for version in 1..=300 {
            let count = 1 + rng.below(3);
            let mut changes = Vec::new();
            for _ in 0..count {
                let mut start = random_position(&mut rng, &expected);
                let mut end = random_position(&mut rng, &expected);
                let (mut a, mut b) = (
                    naive_offset(&expected, start, encoding),
                    naive_offset(&expected, end, encoding),
                );
                if a > b {
                    std::mem::swap(&mut start, &mut end);
                    std::mem::swap(&mut a, &mut b);
                }
                let text = SNIPPETS[rng.below(SNIPPETS.len())];
                expected.replace_range(a..b, text);
                changes.push(TextDocumentContentChangeEvent {
                    range: Some(Range::new(start, end)),
                    range_length: None,
                    text: text.to_string(),
                });
            }
            document
                .apply_changes(&changes, version, encoding)
                .expect("ordered ranges always apply");
            assert_eq!(document.file().text(), expected, "version {version}");
            assert_eq!(document.rope().to_string(), expected);
            let fresh = SourceFile::parse(expected.clone());
            assert_eq!(nodes(document.file()), nodes(&fresh), "version {version}");
            assert_eq!(codes(document.file()), codes(&fresh), "version {version}");
        }
        assert_eq!(document.version(), 300);
    }

    #[test]
    fn random_utf16_edits_match_a_fresh_parse() {
        random_edits_match_a_fresh_parse(PositionEncoding::Utf16, 0x9E37_79B9_7F4A_7C15);
    }

    #[test]
    fn random_utf8_edits_match_a_fresh_parse() {
        random_edits_match_a_fresh_parse(PositionEncoding::Utf8, 0xD1B5_4A32_D192_ED03);
    }

    #[test]
    fn incremental_points_match_tree_sitter_rows() {
        let mut document = Document::new("a = 1\nb = 2\n".to_string(), 0);
        let change = TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(1, 0), Position::new(1, 0))),
            range_length: None,
            text: "for x in y:\n    q(x)\n".to_string(),
        };
        document
            .apply_changes(&[change], 1, PositionEncoding::Utf16)
            .unwrap();
        let fresh = SourceFile::parse(document.file().text().to_string());
        assert_eq!(document.file().root().to_sexp(), fresh.root().to_sexp());
        let last = document.file().root().named_child(2).unwrap();
        assert_eq!(last.start_position(), tree_sitter::Point::new(3, 0));
    }

    #[test]
    fn reversed_range_waits_for_full_text() {
        let mut document = Document::new("abc\n".to_string(), 0);
        let reversed = TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(0, 2), Position::new(0, 1))),
            range_length: None,
            text: "x".to_string(),
        };
        assert!(document
            .apply_changes(std::slice::from_ref(&reversed), 1, PositionEncoding::Utf8)
            .is_err());
        assert!(!document.in_sync());
        let insert = TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(0, 0), Position::new(0, 0))),
            range_length: None,
            text: "y".to_string(),
        };
        document
            .apply_changes(&[insert], 2, PositionEncoding::Utf8)
            .unwrap();
        assert_eq!(document.file().text(), "abc\n");
        let full = TextDocumentContentChangeEvent {
            range: None,
            range_length: None,
            text: "def\n".to_string(),
        };
        document
            .apply_changes(&[full], 3, PositionEncoding::Utf8)
            .unwrap();
        assert!(document.in_sync());
        assert_eq!(document.file().text(), "def\n");
    }
}
