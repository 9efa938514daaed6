//! Fixes as data: edits in byte offsets plus an applicability, applied without overlap.

pub mod edit_support;
pub mod imports;
mod stdlib;

use super::diagnostic::Diagnostic;
use super::source::{SourceFile, TextRange};

/// Whether a fix may be applied without review, as in ruff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Applicability {
    /// Behaviour is provably unchanged: `--fix` and `source.fixAll` apply it.
    Safe,
    /// Behaviour may change (row order, error semantics): only `--unsafe-fixes` or an explicit
    /// quick fix applies it.
    Unsafe,
}

impl Applicability {
    pub fn as_str(self) -> &'static str {
        match self {
            Applicability::Safe => "safe",
            Applicability::Unsafe => "unsafe",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub range: TextRange,
    pub content: String,
}

impl Edit {
    pub fn replace(range: TextRange, content: impl Into<String>) -> Edit {
        Edit {
            range,
            content: content.into(),
        }
    }

    pub fn insert(offset: usize, content: impl Into<String>) -> Edit {
        Edit::replace(offset..offset, content)
    }

    pub fn delete(range: TextRange) -> Edit {
        Edit::replace(range, String::new())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// The title shown in editors and `--diff` output.
    pub message: String,
    pub applicability: Applicability,
    /// Sorted by start offset, non-overlapping.
    pub edits: Vec<Edit>,
}

impl Fix {
    pub fn new(
        message: impl Into<String>,
        applicability: Applicability,
        mut edits: Vec<Edit>,
    ) -> Fix {
        edits.sort_by_key(|edit| (edit.range.start, edit.range.end));
        Fix {
            message: message.into(),
            applicability,
            edits,
        }
    }

    fn overlaps(&self, taken: &[TextRange]) -> bool {
        self.edits.iter().any(|edit| {
            taken.iter().any(|range| {
                edit.range.start < range.end && range.start < edit.range.end
                    || edit.range.start == range.start && edit.range.is_empty() == range.is_empty()
            })
        })
    }
}

/// Applies as many fixes as fit without overlapping, in order; returns the new text and how many
/// fixes were applied. Fixes left out are picked up by the next pass of apply-until-stable.
pub fn apply_fixes<'f>(text: &str, fixes: impl IntoIterator<Item = &'f Fix>) -> (String, usize) {
    let mut taken: Vec<TextRange> = Vec::new();
    let mut edits: Vec<&Edit> = Vec::new();
    let mut applied = 0;
    for fix in fixes {
        let in_bounds = fix.edits.iter().all(|e| {
            e.range.start <= e.range.end
                && e.range.end <= text.len()
                && text.is_char_boundary(e.range.start)
                && text.is_char_boundary(e.range.end)
        });
        // Edits are sorted: a fix whose own edits overlap cannot be applied either.
        let self_overlapping = fix
            .edits
            .windows(2)
            .any(|pair| pair[1].range.start < pair[0].range.end);
        if !in_bounds || self_overlapping || fix.overlaps(&taken) {
            continue;
        }
        taken.extend(fix.edits.iter().map(|edit| edit.range.clone()));
        edits.extend(fix.edits.iter());
        applied += 1;
    }
    edits.sort_by_key(|edit| (edit.range.start, edit.range.end));
    let mut output = String::with_capacity(text.len());
    let mut cursor = 0;
    for edit in edits {
        output.push_str(&text[cursor..edit.range.start]);
        output.push_str(&edit.content);
        cursor = edit.range.end;
    }
    output.push_str(&text[cursor..]);
    (output, applied)
}

/// Which fixes a run may apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixMode {
    pub unsafe_fixes: bool,
}

impl FixMode {
    pub fn allows(self, fix: &Fix) -> bool {
        fix.applicability == Applicability::Safe || self.unsafe_fixes
    }
}

/// The result of fixing one text until no applicable fix is left.
pub struct FixOutcome {
    /// The fixed text (the original when nothing applied).
    pub text: String,
    /// How many fixes were applied over all passes.
    pub applied: usize,
    /// Set when a pass produced text that does not parse: the file must be left as it was.
    pub error: Option<String>,
}

/// A file fixed until no applicable fix is left.
pub struct FixedFile {
    /// The fixed file, parsed (the original when nothing applied).
    pub file: SourceFile,
    /// How many fixes were applied over all passes.
    pub applied: usize,
}

/// Most passes `fix_until_stable` makes; a fix that keeps re-firing stops here.
pub const MAX_FIX_PASSES: usize = 10;

/// [`fix_file_until_stable`] for a text (the language server's `source.fixAll`).
pub fn fix_until_stable(
    original: &str,
    mode: FixMode,
    check: impl FnMut(&SourceFile) -> Vec<Diagnostic>,
) -> FixOutcome {
    match fix_file_until_stable(SourceFile::parse(original), mode, check) {
        Ok(fixed) => FixOutcome {
            text: fixed.file.into_text().0,
            applied: fixed.applied,
            error: None,
        },
        Err(error) => FixOutcome {
            text: original.to_string(),
            applied: 0,
            error: Some(error),
        },
    }
}

/// Applies fixes, re-checking after each pass, until none applies (at most [`MAX_FIX_PASSES`]).
/// `check` returns the diagnostics for a file. A pass whose result does not parse (when the input
/// did), or that CPython would refuse or read differently ([`CompileFacts`]), aborts the whole
/// run with an error, and the caller keeps the original text.
///
/// One tree is alive at a time: a 20 MB module's tree takes hundreds of megabytes, so the tree of
/// a pass is dropped before the next text is parsed, and each text is parsed once.
pub fn fix_file_until_stable(
    original: SourceFile,
    mode: FixMode,
    mut check: impl FnMut(&SourceFile) -> Vec<Diagnostic>,
) -> Result<FixedFile, String> {
    let original_parses = !original.has_syntax_errors();
    let original_facts = CompileFacts::of(&original);
    let mut file = original;
    let mut applied_total = 0;
    for _ in 0..MAX_FIX_PASSES {
        let diagnostics = check(&file);
        let fixes: Vec<&Fix> = diagnostics
            .iter()
            .filter_map(|d| d.fix.as_ref())
            .filter(|fix| mode.allows(fix))
            .collect();
        if fixes.is_empty() {
            break;
        }
        let (fixed, applied) = apply_fixes(file.text(), fixes);
        if applied == 0 || fixed == file.text() {
            break;
        }
        drop(diagnostics);
        drop(file);
        let next = SourceFile::parse(fixed);
        if original_parses && next.has_syntax_errors() {
            return Err(
                "a fix produced code that does not parse; the file was left unchanged".to_string(),
            );
        }
        if let Some(hazard) = CompileFacts::of(&next).lost_from(&original_facts) {
            return Err(format!(
                "a fix would {hazard}, which CPython refuses; the file was left unchanged"
            ));
        }
        file = next;
        applied_total += applied;
    }
    Ok(FixedFile {
        file,
        applied: applied_total,
    })
}

/// What CPython requires of a module's start and tree-sitter does not check: `from __future__`
/// imports before any other statement (after the docstring), a docstring that is the first
/// statement, a byte order mark and an encoding declaration on the first two lines. A fix that
/// inserts an import above them breaks one of these while the tree still parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileFacts {
    future_imports_first: bool,
    docstring_first: bool,
    byte_order_mark: bool,
    encoding_declaration: Option<(usize, String)>,
}

impl CompileFacts {
    pub fn of(file: &SourceFile) -> CompileFacts {
        let text = file.text();
        let mut statements = crate::engine::syntax::named_children(file.root())
            .filter(|node| node.kind() != "comment")
            .peekable();
        let docstring_first = statements.peek().is_some_and(|first| {
            first.kind() == "expression_statement"
                && first.named_child_count() == 1
                && first.named_child(0).is_some_and(|e| e.kind() == "string")
        });
        if docstring_first {
            statements.next();
        }
        let mut other_seen = false;
        let mut future_imports_first = true;
        for statement in statements {
            if statement.kind() == "future_import_statement" {
                future_imports_first &= !other_seen;
            } else {
                other_seen = true;
            }
        }
        let index = file.line_index();
        let encoding_declaration = (0..2.min(index.line_count())).find_map(|line| {
            let content = &text[index.line_range(line, text)];
            imports::is_encoding_declaration(content.trim_start_matches('\u{feff}'))
                .then(|| (line, content.trim_end().to_string()))
        });
        CompileFacts {
            future_imports_first,
            docstring_first,
            byte_order_mark: text.starts_with('\u{feff}'),
            encoding_declaration,
        }
    }

    /// What `self` (after a fix) lost that `before` had, in words.
    pub fn lost_from(&self, before: &CompileFacts) -> Option<&'static str> {
        if before.future_imports_first && !self.future_imports_first {
            Some("put a `from __future__` import after other code")
        } else if before.docstring_first && !self.docstring_first {
            Some("move the module docstring from the top")
        } else if before.byte_order_mark && !self.byte_order_mark {
            Some("move the byte order mark from the start of the file")
        } else if before.encoding_declaration.is_some()
            && before.encoding_declaration != self.encoding_declaration
        {
            Some("move the encoding declaration off the first two lines")
        } else {
            None
        }
    }
}

/// A file's line break. Fix builders write `\n`; [`conform_fixes`] gives fixes the file's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    Lf,
    CrLf,
    Cr,
}

impl LineEnding {
    /// The line break the text uses most (`\n` when it has none).
    pub fn of(text: &str) -> LineEnding {
        let bytes = text.as_bytes();
        if !bytes.contains(&b'\r') {
            return LineEnding::Lf;
        }
        let (mut lf, mut crlf, mut cr) = (0usize, 0usize, 0usize);
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => lf += 1,
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    crlf += 1;
                    i += 1;
                }
                b'\r' => cr += 1,
                _ => {}
            }
            i += 1;
        }
        if crlf > 0 && crlf >= lf && crlf >= cr {
            LineEnding::CrLf
        } else if cr > lf {
            LineEnding::Cr
        } else {
            LineEnding::Lf
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
            LineEnding::Cr => "\r",
        }
    }
}

/// Gives every fix of `diagnostics` the line endings of `text`, the file they were found in:
/// each `\n` a fix builder wrote (one not already part of a `\r\n` copied from the file) becomes
/// the file's line break. Done here, once for every rule, so that `--fix`, quick fixes and
/// `source.fixAll` all keep a CRLF (or CR) file's endings.
pub fn conform_fixes(text: &str, diagnostics: &mut [Diagnostic]) {
    let mut fixes = diagnostics
        .iter_mut()
        .filter_map(|diagnostic| diagnostic.fix.as_mut())
        .peekable();
    if fixes.peek().is_none() {
        return;
    }
    let ending = LineEnding::of(text);
    if ending == LineEnding::Lf {
        return;
    }
    for fix in fixes {
        for edit in &mut fix.edits {
            if edit.content.contains('\n') {
                edit.content = with_line_ending(&edit.content, ending);
            }
        }
    }
}

fn with_line_ending(text: &str, ending: LineEnding) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut previous = None;
    for c in text.chars() {
        if c == '\n' && previous != Some('\r') {
            out.push_str(ending.as_str());
        } else {
            out.push(c);
        }
        previous = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fix_whose_own_edits_overlap_is_skipped() {
        let broken = Fix::new(
            "a",
            Applicability::Safe,
            vec![Edit::delete(0..6), Edit::replace(2..4, "x")],
        );
        let fine = Fix::new("b", Applicability::Safe, vec![Edit::replace(7..8, "Z")]);
        assert_eq!(
            apply_fixes("abcdef gh", [&broken, &fine]),
            ("abcdef Zh".to_string(), 1)
        );
    }

    #[test]
    fn overlapping_fixes_are_deferred() {
        let first = Fix::new("a", Applicability::Safe, vec![Edit::replace(0..3, "xyz")]);
        let second = Fix::new("b", Applicability::Safe, vec![Edit::replace(2..5, "!")]);
        let third = Fix::new("c", Applicability::Safe, vec![Edit::insert(6, "+")]);
        let (text, applied) = apply_fixes("abcdefg", [&first, &second, &third]);
        assert_eq!(text, "xyzdef+g");
        assert_eq!(applied, 2);
    }

    /// A diagnostic with a safe fix made of `edits`.
    fn with_fix(edits: Vec<Edit>) -> Diagnostic {
        let mut diagnostic = Diagnostic::new(
            &crate::engine::rules::inb901_unused_suppression::RULE,
            "test",
            0..0,
        );
        diagnostic.fix = Some(Fix::new("test", Applicability::Safe, edits));
        diagnostic
    }

    /// A check that offers one safe fix inserting `insertion` at `offset`, once.
    fn one_fix(offset: usize, insertion: &str) -> impl FnMut(&SourceFile) -> Vec<Diagnostic> + '_ {
        let mut offered = false;
        move |_| {
            if std::mem::replace(&mut offered, true) {
                return Vec::new();
            }
            vec![with_fix(vec![Edit::insert(offset, insertion)])]
        }
    }

    #[test]
    fn a_fix_that_cpython_would_refuse_is_not_applied() {
        let safe = FixMode {
            unsafe_fixes: false,
        };
        let future = "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\n\nx = 1\n";
        let after_docstring = future.find("from").unwrap();
        let cases = [
            (
                future,
                after_docstring,
                "a `from __future__` import after other code",
            ),
            ("\"\"\"Doc.\"\"\"\nx = 1\n", 0, "move the module docstring"),
            ("\u{feff}x = 1\n", 0, "byte order mark"),
            (
                "# -*- coding: latin-1 -*-\nx = 1\n",
                0,
                "encoding declaration",
            ),
            (
                "#!/usr/bin/env python\n# coding: utf-8\nx = 1\n",
                0,
                "encoding declaration",
            ),
        ];
        for (text, offset, hazard) in cases {
            let outcome = fix_until_stable(text, safe, one_fix(offset, "import os\n"));
            let error = outcome.error.unwrap_or_default();
            assert!(error.contains(hazard), "{text:?}: {error:?}");
            assert!(error.contains("CPython refuses"), "{error}");
            assert_eq!(outcome.text, text);
        }
        // Below them, the same insertion is fine.
        let below = future.find("x = 1").unwrap();
        let outcome = fix_until_stable(future, safe, one_fix(below, "import os\n"));
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.applied, 1);
    }

    #[test]
    fn the_line_ending_is_the_one_a_file_uses_most() {
        let cases = [
            ("", LineEnding::Lf),
            ("a\nb\n", LineEnding::Lf),
            ("a\r\nb\r\n", LineEnding::CrLf),
            ("a\r\nb\r\nc\n", LineEnding::CrLf),
            ("a\rb\rc\n", LineEnding::Cr),
            ("a\nb\nc\r\n", LineEnding::Lf),
        ];
        for (text, ending) in cases {
            assert_eq!(LineEnding::of(text), ending, "{text:?}");
        }
    }

    #[test]
    fn fixes_get_the_files_line_endings() {
        let conformed = |text: &str, content: &str| {
            let mut diagnostics = vec![with_fix(vec![
                Edit::insert(0, content),
                Edit::replace(1..2, "no break"),
            ])];
            conform_fixes(text, &mut diagnostics);
            let edits = &diagnostics[0].fix.as_ref().unwrap().edits;
            assert_eq!(edits[1].content, "no break");
            edits[0].content.clone()
        };
        // Written `\n`s become the file's break; `\r\n`s copied from the file stay as they are.
        assert_eq!(conformed("a\r\nb\r\n", "x\ny\r\nz\n"), "x\r\ny\r\nz\r\n");
        assert_eq!(conformed("a\rb\r", "x\ny\n"), "x\ry\r");
        assert_eq!(conformed("a\nb\n", "x\ny\n"), "x\ny\n");
    }
}
