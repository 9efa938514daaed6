//! A parsed Python file: its text, its tree-sitter tree and a line index.
//!
//! Parsing never fails: tree-sitter always returns a tree, with `ERROR` and `MISSING` nodes where
//! the text does not parse. Rules skip those regions and analyse the rest.

use std::ops::Range;

use tree_sitter::{InputEdit, Node, ParseOptions, ParseState, Parser, Point, Tree};

use super::cancel;

/// A byte range in a source file. The engine speaks only in byte offsets; the shells convert.
pub type TextRange = Range<usize>;

pub struct SourceFile {
    text: String,
    /// The tree of `text` as parsed: what an incremental reparse must start from.
    tree: Tree,
    /// The tree the rules read: `tree`, or, when a top-level statement does not parse, the tree of
    /// the text with that statement blanked out (see [`repair`]).
    analysis_tree: Option<Tree>,
    line_index: LineIndex,
    /// Runs of comment lines the parser was not shown (see [`long_comment_runs`]).
    skipped_comments: Vec<CommentRun>,
}

impl SourceFile {
    /// Parses `text` from scratch.
    pub fn parse(text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let runs = long_comment_runs(&text);
        let tree = parse_with_runs(&text, None, &runs);
        SourceFile::with_runs(text, tree, runs, true)
    }

    /// Wraps a tree the caller already parsed with [`parse_tree`] (the language server reparses
    /// incrementally).
    pub fn from_tree(text: String, tree: Tree) -> SourceFile {
        let runs = long_comment_runs(&text);
        SourceFile::with_runs(text, tree, runs, false)
    }

    /// `fresh`: `tree` was parsed from scratch (not from an edited tree).
    fn with_runs(
        text: String,
        tree: Tree,
        skipped_comments: Vec<CommentRun>,
        fresh: bool,
    ) -> SourceFile {
        let line_index = LineIndex::new(&text);
        let check_depth = may_nest_too_deep(&text);
        let analysis_tree = if tree.root_node().has_error() || check_depth {
            repair(
                &text,
                &tree,
                check_depth,
                skipped_comments.is_empty(),
                fresh,
            )
        } else {
            None
        };
        SourceFile {
            text,
            tree,
            analysis_tree,
            line_index,
            skipped_comments,
        }
    }

    /// The runs of comment lines that were blanked before parsing: the tree has no `comment`
    /// nodes there (suppression comments excepted), and a tree of this text is not reused by an
    /// incremental reparse (see [`SourceFile::reuses_tree`]).
    pub fn skipped_comments(&self) -> &[CommentRun] {
        &self.skipped_comments
    }

    /// Whether an incremental reparse may start from this file's tree (edited). Not when comment
    /// runs were blanked: the next text may blank different lines, and tree-sitter would reuse
    /// subtrees parsed from text that is not there.
    pub fn reuses_tree(&self) -> bool {
        self.skipped_comments.is_empty()
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The tree as parsed, for incremental reparsing. Rules read [`SourceFile::root`] instead.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The root of the tree the rules analyse.
    pub fn root(&self) -> Node<'_> {
        self.analysis_tree
            .as_ref()
            .unwrap_or(&self.tree)
            .root_node()
    }

    pub fn line_index(&self) -> &LineIndex {
        &self.line_index
    }

    /// The text and its line index, dropping the trees.
    pub fn into_text(self) -> (String, LineIndex) {
        (self.text, self.line_index)
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

    /// The tree of `after`, a changed copy of this file's text, parsed incrementally from this
    /// file's tree: only what the change touches is parsed again (a fix's parse check costs a
    /// fraction of a parse of the file).
    pub fn reparse(&self, after: &str) -> Tree {
        if !self.reuses_tree() {
            return parse_tree(after, None);
        }
        let (old, new) = (self.text.as_bytes(), after.as_bytes());
        let mut prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
        while !(self.text.is_char_boundary(prefix) && after.is_char_boundary(prefix)) {
            prefix -= 1;
        }
        let room = old.len().min(new.len()) - prefix;
        let mut suffix = old
            .iter()
            .rev()
            .zip(new.iter().rev())
            .take(room)
            .take_while(|(a, b)| a == b)
            .count();
        while !(self.text.is_char_boundary(old.len() - suffix)
            && after.is_char_boundary(new.len() - suffix))
        {
            suffix -= 1;
        }
        let mut tree = self.tree.clone();
        // Front to back: before each hunk, the edited tree's text is already `after`'s.
        for (old_range, new_range) in
            hunks(old, new, prefix, old.len() - suffix, new.len() - suffix)
        {
            let start_position = point_at(new, new_range.start);
            tree.edit(&InputEdit {
                start_byte: new_range.start,
                old_end_byte: new_range.start + old_range.len(),
                new_end_byte: new_range.end,
                start_position,
                old_end_position: advance(start_position, &old[old_range]),
                new_end_position: point_at(new, new_range.end),
            });
        }
        parse_tree(after, Some(&tree))
    }
}

/// The changed byte ranges (old, new) between a common prefix and suffix. A fix often touches two
/// places far apart (an import at the top, the loop below): one edit spanning both would make
/// tree-sitter reparse everything in between, so a large span is split along a line diff.
fn hunks(
    old: &[u8],
    new: &[u8],
    prefix: usize,
    old_end: usize,
    new_end: usize,
) -> Vec<(TextRange, TextRange)> {
    let whole = vec![(prefix..old_end, prefix..new_end)];
    if (old_end - prefix) + (new_end - prefix) < 8192 {
        return whole;
    }
    let (old_lines, old_offsets) = lines(old, prefix, old_end);
    let (new_lines, new_offsets) = lines(new, prefix, new_end);
    let mut hunks: Vec<(TextRange, TextRange)> = Vec::new();
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, &old_lines, &new_lines) {
        let (tag, old_lines, new_lines) = op.as_tag_tuple();
        if tag == similar::DiffTag::Equal {
            continue;
        }
        let old_range = old_offsets[old_lines.start]..old_offsets[old_lines.end];
        let new_range = new_offsets[new_lines.start]..new_offsets[new_lines.end];
        match hunks.last_mut() {
            Some(last) if last.0.end == old_range.start && last.1.end == new_range.start => {
                last.0.end = old_range.end;
                last.1.end = new_range.end;
            }
            _ => hunks.push((old_range, new_range)),
        }
    }
    if hunks.is_empty() || hunks.len() > 16 {
        return whole;
    }
    hunks
}

/// The lines of `text[start..end]` and the byte offset where each starts (plus `end`).
fn lines(text: &[u8], start: usize, end: usize) -> (Vec<&[u8]>, Vec<usize>) {
    let lines: Vec<&[u8]> = text[start..end].split_inclusive(|&b| b == b'\n').collect();
    let mut offsets = Vec::with_capacity(lines.len() + 1);
    let mut offset = start;
    offsets.push(offset);
    for line in &lines {
        offset += line.len();
        offsets.push(offset);
    }
    (lines, offsets)
}

/// A point moved past `text`.
fn advance(start: Point, text: &[u8]) -> Point {
    match text.iter().rposition(|&b| b == b'\n') {
        Some(last) => Point {
            row: start.row + text.iter().filter(|&&b| b == b'\n').count(),
            column: text.len() - last - 1,
        },
        None => Point {
            row: start.row,
            column: start.column + text.len(),
        },
    }
}

/// tree-sitter's row and byte column of a byte offset.
fn point_at(text: &[u8], offset: usize) -> Point {
    let head = &text[..offset];
    let row = head.iter().filter(|&&b| b == b'\n').count();
    let line_start = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    Point {
        row,
        column: offset - line_start,
    }
}

/// Recovers the statements after a syntax error.
///
/// tree-sitter's error recovery often swallows everything after a broken top-level statement into
/// one `ERROR` node, which would hide every later function from the rules. Each top-level statement
/// (a line starting at column 0, decorators kept with their definition) that overlaps an error is
/// parsed on its own; in those that still fail, the lines of their syntax errors are replaced by
/// spaces, byte for byte, so that offsets stay valid for the original text — or the whole
/// statement, when that is not enough for it to parse alone ([`error_lines`]) — and the result
/// is parsed again. `None` when nothing changes.
///
/// The language server gets here with the tree of an incremental reparse, the CLI with a fresh
/// parse: what is blanked is decided by parsing statements alone, from scratch, and the blanked
/// text has no error left to recover from, so both get the same tree without the server parsing
/// the document from scratch.
///
/// Statements nested deeper than [`MAX_NESTING`] are blanked the same way: CPython refuses them
/// (200 nested brackets, 100 indentation levels, about 3,000 levels in its compiler), and walks
/// over them would cost time for nothing.
/// `check_depth` is [`may_nest_too_deep`] of `text`.
/// `incremental`: whether `tree` may be reused ([`SourceFile::reuses_tree`]); `fresh`: whether
/// it was parsed from scratch.
fn repair(
    text: &str,
    tree: &Tree,
    check_depth: bool,
    incremental: bool,
    fresh: bool,
) -> Option<Tree> {
    let unusable =
        |node: Node<'_>| node.has_error() || (check_depth && nests_deeper_than(node, MAX_NESTING));
    let root = tree.root_node();
    let mut cursor = root.walk();
    let broken: Vec<TextRange> = root
        .children(&mut cursor)
        .filter(|child| child.is_error() || unusable(*child))
        .map(|child| child.byte_range())
        .collect();
    if broken.is_empty() {
        return None;
    }
    // What to blank: within each broken statement, only the lines of its syntax errors when
    // the statement then parses alone (a half-typed line in a function leaves the rest of the
    // function to the rules); the whole statement otherwise. Each statement is parsed on its
    // own, from scratch, so what is blanked depends on the text of the statement alone, not on
    // how the tree of the whole file was reached (incrementally or not).
    let mut blanks: Vec<TextRange> = Vec::new();
    for chunk in top_level_chunks(text) {
        let overlaps_error = broken
            .iter()
            .any(|error| error.start < chunk.end && chunk.start < error.end);
        if !overlaps_error {
            continue;
        }
        let alone = parse_tree(&text[chunk.clone()], None);
        if !unusable(alone.root_node()) {
            continue;
        }
        let lines = (!(check_depth && nests_deeper_than(alone.root_node(), MAX_NESTING)))
            .then(|| error_lines(&text[chunk.clone()], &alone))
            .flatten();
        match lines {
            Some(lines) => blanks.extend(
                lines
                    .into_iter()
                    .map(|line| chunk.start + line.start..chunk.start + line.end),
            ),
            None => blanks.push(chunk),
        }
    }
    let mut blanked = text.as_bytes().to_vec();
    let changed = !blanks.is_empty();
    // The blanking as edits of the tree, so that the statements between are not parsed again.
    let mut edited = tree.clone();
    for range in blanks {
        let (start, end) = (
            point_at(text.as_bytes(), range.start),
            point_at(text.as_bytes(), range.end),
        );
        edited.edit(&InputEdit {
            start_byte: range.start,
            old_end_byte: range.end,
            new_end_byte: range.end,
            start_position: start,
            old_end_position: end,
            new_end_position: end,
        });
        for byte in &mut blanked[range] {
            if !matches!(*byte, b'\n' | b'\r') {
                *byte = b' ';
            }
        }
    }
    if !changed {
        // Errors no statement alone shows (an `else:` whose `if` broke): the rules read the
        // recovery itself, which must then be a fresh parse's (rare: the server pays a parse).
        let recovered = !fresh && root.has_error();
        return recovered.then(|| parse_tree(text, None));
    }
    let blanked =
        String::from_utf8(blanked).expect("only whole statements are blanked, with ASCII spaces");
    // An incremental parse that recovers from nothing is the tree a fresh parse gives; error
    // recovery may differ between the two, so a tree with errors is parsed afresh.
    if incremental {
        let reparsed = parse_tree(&blanked, Some(&edited));
        if !reparsed.root_node().has_error() {
            return Some(reparsed);
        }
    }
    Some(parse_tree(&blanked, None))
}

/// The lines of `statement` (a top-level statement parsed alone as `tree`) to blank so that it
/// parses: every line of its outermost syntax errors. `None` when blanking them is not enough
/// (the statement is then blanked whole).
fn error_lines(statement: &str, tree: &Tree) -> Option<Vec<TextRange>> {
    let bytes = statement.as_bytes();
    let mut errors: Vec<TextRange> = Vec::new();
    let mut cursor = tree.walk();
    // The simple statements on the path to the node (`value = uid *` swallows the next line as
    // `value = uid * total = ...`: the error sits in the next line, the statement spans both).
    let mut simple: Vec<Option<TextRange>> = Vec::new();
    loop {
        let node = cursor.node();
        if node.is_error() || node.is_missing() {
            let statement = simple.iter().rev().flatten().next();
            errors.push(match statement {
                Some(statement) => {
                    statement.start.min(node.start_byte())..statement.end.max(node.end_byte())
                }
                None => node.byte_range(),
            });
        } else if node.has_error() && cursor.goto_first_child() {
            simple.push(is_simple_statement(node.kind()).then(|| node.byte_range()));
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                return lines_parse(bytes, errors);
            }
            simple.pop();
        }
    }
}

/// A statement that holds no block.
fn is_simple_statement(kind: &str) -> bool {
    matches!(
        kind,
        "expression_statement"
            | "return_statement"
            | "delete_statement"
            | "raise_statement"
            | "assert_statement"
            | "global_statement"
            | "nonlocal_statement"
            | "import_statement"
            | "import_from_statement"
            | "future_import_statement"
            | "print_statement"
            | "exec_statement"
            | "type_alias_statement"
            | "pass_statement"
            | "break_statement"
            | "continue_statement"
    )
}

/// The whole lines covering `errors`, if the statement parses with them blanked.
fn lines_parse(bytes: &[u8], errors: Vec<TextRange>) -> Option<Vec<TextRange>> {
    if errors.is_empty() {
        return None;
    }
    let mut lines: Vec<TextRange> = Vec::new();
    for error in errors {
        let start = bytes[..error.start]
            .iter()
            .rposition(|&b| b == b'\n' || b == b'\r')
            .map_or(0, |at| at + 1);
        let end = bytes[error.end.max(start)..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .map_or(bytes.len(), |at| error.end.max(start) + at);
        match lines.last_mut() {
            Some(last) if last.end >= start => last.end = last.end.max(end),
            _ => lines.push(start..end),
        }
    }
    // The first line of a statement holds its header: blanking it is blanking the statement.
    if lines.first().is_some_and(|line| line.start == 0) {
        return None;
    }
    let mut blanked = bytes.to_vec();
    for line in &lines {
        for byte in &mut blanked[line.clone()] {
            if !matches!(*byte, b'\n' | b'\r') {
                *byte = b' ';
            }
        }
    }
    let blanked = String::from_utf8(blanked).ok()?;
    (!parse_tree(&blanked, None).root_node().has_error()).then_some(lines)
}

/// Tree levels beyond which a statement is not analysed (see [`repair`]); real code stays far below.
pub const MAX_NESTING: usize = 1_000;

/// A cheap look at the text for what could nest deeper than [`MAX_NESTING`]: many open brackets,
/// deep indentation, or a very long line (`a.b.b.b...`, `x + x + ...`). Only then are the trees
/// measured.
fn may_nest_too_deep(text: &str) -> bool {
    const LIMIT: usize = 200;
    let mut brackets: usize = 0;
    for line in text.as_bytes().split(|&b| b == b'\n') {
        if line.len() > 4 * LIMIT {
            return true;
        }
        let indent = line
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if indent > LIMIT {
            return true;
        }
        for &byte in line {
            match byte {
                b'(' | b'[' | b'{' => brackets += 1,
                b')' | b']' | b'}' => brackets = brackets.saturating_sub(1),
                _ => {}
            }
        }
        if brackets > LIMIT {
            return true;
        }
    }
    false
}

/// Whether the subtree of `node` is more than `limit` levels deep (one cursor, no recursion).
fn nests_deeper_than(node: Node<'_>, limit: usize) -> bool {
    let mut cursor = node.walk();
    let mut depth = 0;
    loop {
        if depth > limit {
            return true;
        }
        if cursor.goto_first_child() {
            depth += 1;
            continue;
        }
        loop {
            if depth == 0 {
                return false;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            cursor.goto_parent();
            depth -= 1;
        }
    }
}

/// Byte ranges of top-level statements: each starts on a line beginning at column 0 with something
/// other than a comment or a closing bracket; decorators stay with what they decorate.
fn top_level_chunks(text: &str) -> Vec<TextRange> {
    let mut starts = Vec::new();
    let mut offset = 0;
    let mut previous_was_decorator = false;
    for line in text.split_inclusive('\n') {
        let first = line.as_bytes().first().copied().unwrap_or(b' ');
        let starts_statement = !matches!(
            first,
            b' ' | b'\t' | b'\r' | b'\n' | b'#' | b')' | b']' | b'}'
        );
        if starts_statement && !previous_was_decorator {
            starts.push(offset);
        }
        if starts_statement {
            previous_was_decorator = first == b'@';
        }
        offset += line.len();
    }
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| start..starts.get(i + 1).copied().unwrap_or(text.len()))
        .collect()
}

thread_local! {
    /// One parser per thread, reused: creating a parser allocates its stacks and lexer.
    static PARSER: std::cell::RefCell<Parser> = std::cell::RefCell::new(new_parser());
}

/// Parses Python text, reusing `old_tree` (already `edit`ed) when given.
///
/// Runs of more than [`MAX_COMMENT_RUN`] comment lines are blanked first (see
/// [`long_comment_runs`]); `old_tree` is then not reused. Inside [`cancel::run`], a cancellation
/// stops the parse and unwinds there.
///
/// CPython reads a lone `\r` as a line break (old Mac files, some generators); tree-sitter-python
/// does not, and would see one long broken line. Such text is parsed with each lone `\r` read as
/// `\n`: the same length, so every byte offset of the tree is one of `text`.
pub fn parse_tree(text: &str, old_tree: Option<&Tree>) -> Tree {
    parse_with_runs(text, old_tree, &long_comment_runs(text))
}

/// [`parse_tree`] with the comment runs of `text` already found.
fn parse_with_runs(text: &str, old_tree: Option<&Tree>, runs: &[CommentRun]) -> Tree {
    if runs.is_empty() {
        return parse_bytes(text.as_bytes(), old_tree);
    }
    let mut blanked = text.as_bytes().to_vec();
    for comment in runs.iter().flat_map(|run| &run.blanked) {
        blanked[comment.clone()].fill(b' ');
    }
    parse_bytes(&blanked, None)
}

/// CPython reads a lone `\r` as a line break (old Mac files, some generators); tree-sitter-python
/// does not, and would see one long broken line. Such text is parsed with each lone `\r` read as
/// `\n`: the same length, so every byte offset of the tree is one of `text`.
fn parse_bytes(text: &[u8], old_tree: Option<&Tree>) -> Tree {
    let lone_cr_as_lf;
    let text = if has_lone_cr(text) {
        lone_cr_as_lf = with_lone_cr_as_lf(text);
        lone_cr_as_lf.as_slice()
    } else {
        text
    };
    let parsed = PARSER.with(|parser| match parser.try_borrow_mut() {
        Ok(mut parser) => parse_cancellable(&mut parser, text, old_tree),
        // Re-entered (cannot happen today): a parser of its own.
        Err(_) => parse_cancellable(&mut new_parser(), text, old_tree),
    });
    // A parser with a language and no timeout returns a tree unless the progress callback
    // stopped it.
    parsed.unwrap_or_else(|| cancel::stop())
}

/// `None` when the analysis this parse belongs to was cancelled ([`cancel::is_cancelled`]).
fn parse_cancellable(parser: &mut Parser, text: &[u8], old_tree: Option<&Tree>) -> Option<Tree> {
    let mut progress = |_: &ParseState| cancel::is_cancelled();
    let options = ParseOptions::new().progress_callback(&mut progress);
    let tree = parser.parse_with_options(
        &mut |at, _| text.get(at..).unwrap_or_default(),
        old_tree,
        Some(options),
    );
    if tree.is_none() {
        // A stopped parse would otherwise resume where it left off, on the next text.
        parser.reset();
    }
    tree
}

/// Runs of comment lines longer than this (in comment lines) are blanked before parsing.
///
/// tree-sitter-python's external scanner, at each line end, skips ahead over every following
/// comment line to find the next line's indentation, and does so again at the next line: a run of
/// `n` comment lines costs `n²` line scans (1 MB of comments after an indented block took 44 s).
/// Comments never matter to the analysis except suppression comments, which are kept; so long
/// runs are replaced by spaces, byte for byte, and every offset stays valid.
pub const MAX_COMMENT_RUN: usize = 64;

/// A run of consecutive comment lines (blank lines between them included) longer than
/// [`MAX_COMMENT_RUN`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRun {
    /// From the first comment's `#` to the end of the last comment.
    pub range: TextRange,
    /// The comments blanked: every comment of the run but the suppression comments (`noqa`,
    /// `inbatch:`), from `#` to the end of the line.
    pub blanked: Vec<TextRange>,
}

/// The runs of comment lines that [`parse_tree`] blanks. Comment lines are lines holding nothing
/// but a comment, outside strings.
pub fn long_comment_runs(text: &str) -> Vec<CommentRun> {
    if !may_have_long_comment_run(text.as_bytes()) {
        return Vec::new();
    }
    let mut runs = Vec::new();
    let mut run: Vec<TextRange> = Vec::new();
    let mut flush = |run: &mut Vec<TextRange>| {
        if run.len() > MAX_COMMENT_RUN {
            let range = run[0].start..run[run.len() - 1].end;
            let blanked = run
                .drain(..)
                .filter(|comment| !is_suppression(&text.as_bytes()[comment.clone()]))
                .collect();
            runs.push(CommentRun { range, blanked });
        }
        run.clear();
    };
    for line in classify_lines(text.as_bytes()) {
        match line {
            LineKind::Comment(comment) => run.push(comment),
            LineKind::Blank => {}
            LineKind::Code => flush(&mut run),
        }
    }
    flush(&mut run);
    runs
}

/// A cheap look for a long run of lines starting with `#`, strings ignored: only then are the
/// lines classified properly.
fn may_have_long_comment_run(text: &[u8]) -> bool {
    let mut count = 0;
    for line in text.split(|&b| b == b'\n' || b == b'\r') {
        match line.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\x0c')) {
            Some(b'#') => {
                count += 1;
                if count > MAX_COMMENT_RUN {
                    return true;
                }
            }
            None => {}
            Some(_) => count = 0,
        }
    }
    false
}

fn is_suppression(comment: &[u8]) -> bool {
    let lower = comment.to_ascii_lowercase();
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|window| window == needle);
    has(b"noqa") || has(b"inbatch")
}

#[derive(Debug, PartialEq)]
enum LineKind {
    /// Only a comment (its range, `#` to the end of the line), maybe indented.
    Comment(TextRange),
    /// Nothing but spaces.
    Blank,
    /// Anything else, including a line that starts inside a string or continues one.
    Code,
}

/// Each physical line's kind, following strings (single, triple, escapes) and `\` continuations
/// across lines. A lexer's approximation: an f-string nesting its own quotes (PEP 701) may make a
/// line's kind wrong, which costs only speed.
fn classify_lines(text: &[u8]) -> Vec<LineKind> {
    let mut kinds = Vec::new();
    // The open string: its quote and whether it is triple-quoted.
    let mut string: Option<(u8, bool)> = None;
    let mut continued = false;
    let mut at = 0;
    while at < text.len() {
        let mut kind = if string.is_some() || continued {
            LineKind::Code
        } else {
            LineKind::Blank
        };
        continued = false;
        if kind == LineKind::Blank {
            while at < text.len() && matches!(text[at], b' ' | b'\t' | b'\x0c') {
                at += 1;
            }
        }
        // One line: up to and including its terminator.
        while let Some(&byte) = text.get(at) {
            match (byte, string) {
                (b'\n', _) | (b'\r', _) => {
                    at += if byte == b'\r' && text.get(at + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                    if matches!(string, Some((_, false))) {
                        string = None; // An unterminated single-quoted string ends here.
                    }
                    break;
                }
                (b'#', None) => {
                    let end = text[at..]
                        .iter()
                        .position(|&b| b == b'\n' || b == b'\r')
                        .map_or(text.len(), |length| at + length);
                    if kind == LineKind::Blank {
                        kind = LineKind::Comment(at..end);
                    }
                    at = end;
                }
                (b'\\', _) => {
                    kind = LineKind::Code;
                    match text.get(at + 1) {
                        Some(b'\r') if text.get(at + 2) == Some(&b'\n') => at += 3,
                        Some(b'\n' | b'\r') => at += 2,
                        _ => {
                            at += 2;
                            continue;
                        }
                    }
                    // A line joined to the next: inside a string or not, the next line goes on.
                    continued = string.is_none();
                    break;
                }
                (b'\'' | b'"', None) => {
                    kind = LineKind::Code;
                    let triple = text[at..].starts_with(&[byte; 3]);
                    string = Some((byte, triple));
                    at += if triple { 3 } else { 1 };
                }
                (quote, Some((open, triple))) if quote == open => {
                    if !triple {
                        string = None;
                        at += 1;
                    } else if text[at..].starts_with(&[quote; 3]) {
                        string = None;
                        at += 3;
                    } else {
                        at += 1;
                    }
                }
                _ => {
                    if !matches!(byte, b' ' | b'\t' | b'\x0c') {
                        kind = LineKind::Code;
                    }
                    at += 1;
                }
            }
        }
        kinds.push(kind);
    }
    kinds
}

/// Whether `text` has a `\r` that is not part of `\r\n`.
fn has_lone_cr(bytes: &[u8]) -> bool {
    // `contains` on bytes is a memchr: the usual text without any `\r` costs one fast scan.
    bytes.contains(&b'\r')
        && bytes
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
}

fn with_lone_cr_as_lf(text: &[u8]) -> Vec<u8> {
    let mut bytes = text.to_vec();
    for i in 0..bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
            bytes[i] = b'\n';
        }
    }
    bytes
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
    fn statements_after_a_broken_one_are_recovered() {
        let text = "def a(:\n    for x in y\n        pass\n\ndef b():\n    return 1\n";
        let file = SourceFile::parse(text);
        assert!(file.has_syntax_errors());
        let root = file.root();
        let mut cursor = root.walk();
        let functions: Vec<&str> = root
            .children(&mut cursor)
            .filter(|child| child.kind() == "function_definition")
            .map(|function| file.node_text(function.child_by_field_name("name").unwrap()))
            .collect();
        assert_eq!(functions, ["b"]);
    }

    #[test]
    fn reparse_matches_a_fresh_parse() {
        let file =
            SourceFile::parse("def f(xs):\n    for x in xs:\n        g(x)  # é\n    return 1\n");
        for after in [
            "def f(xs):\n    for x in xs:\n        g(x, y)  # é\n    return 1\n",
            "def f(xs):\n    for x in xs:\n        g(x  # é\n    return 1\n",
            "import os\ndef f(xs):\n    for x in xs:\n        g(x)  # è\n    return 1\n",
            "def f(xs):\n    return 1\n",
            "",
        ] {
            let incremental = file.reparse(after);
            let fresh = parse_tree(after, None);
            assert_eq!(
                incremental.root_node().to_sexp(),
                fresh.root_node().to_sexp(),
                "{after:?}"
            );
        }
    }

    #[test]
    fn reparse_of_edits_far_apart_matches_a_fresh_parse() {
        let body: String = (0..400)
            .map(|i| format!("def f{i}(xs):\n    for x in xs:\n        g(x, {i})  # é\n"))
            .collect();
        let file = SourceFile::parse(body.clone());
        let fixed = format!(
            "import os\n{}",
            body.replace("g(x, 300)", "h(\n  [x for x in xs], 300)")
        );
        for after in [
            fixed.clone(),
            fixed.replace("h(\n", "h(("),
            format!("{body}x = (\n"),
        ] {
            assert_eq!(
                file.reparse(&after).root_node().to_sexp(),
                parse_tree(&after, None).root_node().to_sexp()
            );
        }
    }

    /// `n` comment lines indented in a function, then code that reads the loop.
    fn commented_block(n: usize) -> String {
        let mut text = String::from("def f(ids):\n    for i in ids:\n        g(i)\n");
        for line in 0..n {
            text.push_str(&format!("        # commented out {line}: é\n"));
            if line % 10 == 0 {
                text.push('\n');
            }
        }
        text.push_str("        # noqa: INB001 kept\n    return 1\n");
        text
    }

    fn comments(file: &SourceFile) -> Vec<&str> {
        let mut found = Vec::new();
        let mut cursor = file.root().walk();
        'walk: loop {
            if cursor.node().kind() == "comment" {
                found.push(file.node_text(cursor.node()));
            }
            if cursor.goto_first_child() || cursor.goto_next_sibling() {
                continue;
            }
            while cursor.goto_parent() {
                if cursor.goto_next_sibling() {
                    continue 'walk;
                }
            }
            return found;
        }
    }

    #[test]
    fn short_comment_runs_are_parsed_as_they_are() {
        let file = SourceFile::parse(commented_block(MAX_COMMENT_RUN - 1));
        assert!(file.skipped_comments().is_empty());
        assert!(file.reuses_tree());
        assert_eq!(comments(&file).len(), MAX_COMMENT_RUN);
    }

    #[test]
    fn long_comment_runs_are_blanked_but_suppressions_kept() {
        let text = commented_block(MAX_COMMENT_RUN);
        let file = SourceFile::parse(text.clone());
        let [run] = file.skipped_comments() else {
            panic!("one run: {:?}", file.skipped_comments());
        };
        assert_eq!(
            &text[run.range.start..run.range.start + 18],
            "# commented out 0:"
        );
        assert!(text[..run.range.end].ends_with("# noqa: INB001 kept"));
        assert_eq!(run.blanked.len(), MAX_COMMENT_RUN);
        assert_eq!(comments(&file), ["# noqa: INB001 kept"]);
        assert!(!file.has_syntax_errors());
        assert!(!file.reuses_tree());
        // The text is untouched; the tree's offsets are the text's.
        assert_eq!(file.text(), text);
        let ret = file
            .root()
            .named_child(0)
            .unwrap()
            .child_by_field_name("body")
            .unwrap();
        assert_eq!(file.node_text(ret.named_child(1).unwrap()), "return 1");
        // Reparsing from such a file is a fresh parse of the new text.
        let after = text.replace("return 1", "return 2");
        assert_eq!(
            file.reparse(&after).root_node().to_sexp(),
            parse_tree(&after, None).root_node().to_sexp()
        );
    }

    #[test]
    fn comment_lines_are_told_from_strings() {
        let text = "x = \"\"\"\n# in a string\n\"\"\"\n# a comment\ny = '#' \\\n    # after a continuation\n\n  # indented\r\nz = 'a\\\n# still a string'\n";
        let kinds = classify_lines(text.as_bytes());
        let comment = |needle: &str| {
            let at = text.find(needle).unwrap();
            LineKind::Comment(at..at + needle.len())
        };
        assert_eq!(
            kinds,
            [
                LineKind::Code,
                LineKind::Code,
                LineKind::Code,
                comment("# a comment"),
                LineKind::Code,
                LineKind::Code,
                LineKind::Blank,
                comment("# indented"),
                LineKind::Code,
                LineKind::Code,
            ]
        );
    }

    #[test]
    fn a_cancelled_parse_stops_and_the_parser_starts_afresh_next_time() {
        let token = cancel::Cancellation::new();
        let text = "for x in y:\n    f(x, [1, 2, 3])\n".repeat(500);
        let outcome = cancel::run(&token, || {
            token.cancel();
            parse_tree(&text, None)
        });
        assert_eq!(outcome.err(), Some(cancel::Cancelled));
        let again = cancel::run(&cancel::Cancellation::new(), || {
            SourceFile::parse("x = 1\n")
        });
        assert_eq!(
            again.unwrap().root().to_sexp(),
            "(module (expression_statement (assignment left: (identifier) right: (integer))))"
        );
    }

    #[test]
    fn parse_never_fails_on_broken_code() {
        let file = SourceFile::parse("for x in :\n    pass\n");
        assert!(file.has_syntax_errors());
        assert_eq!(file.root().kind(), "module");
    }
}
