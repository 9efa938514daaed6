//! Fixes as data: edits in byte offsets plus an applicability, applied without overlap.

pub mod edit_support;

use super::source::TextRange;

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

/// The result of fixing one file until no applicable fix is left.
pub struct FixOutcome {
    /// The fixed text (the original when nothing applied).
    pub text: String,
    /// How many fixes were applied over all passes.
    pub applied: usize,
    /// Set when a pass produced text that does not parse: the file must be left as it was.
    pub error: Option<String>,
}

/// Most passes `fix_until_stable` makes; a fix that keeps re-firing stops here.
pub const MAX_FIX_PASSES: usize = 10;

/// Applies fixes, re-checking after each pass, until none applies (at most [`MAX_FIX_PASSES`]).
/// `check` returns the diagnostics for a text. A pass whose result does not parse (when the input
/// did) aborts the whole run with an error, and the caller keeps the original text.
pub fn fix_until_stable(
    original: &str,
    mode: FixMode,
    mut check: impl FnMut(&super::source::SourceFile) -> Vec<super::diagnostic::Diagnostic>,
) -> FixOutcome {
    let mut text = original.to_string();
    let mut applied_total = 0;
    let original_parses = !super::source::SourceFile::parse(original).has_syntax_errors();
    for _ in 0..MAX_FIX_PASSES {
        let file = super::source::SourceFile::parse(text.clone());
        let diagnostics = check(&file);
        let fixes: Vec<&Fix> = diagnostics
            .iter()
            .filter_map(|d| d.fix.as_ref())
            .filter(|fix| mode.allows(fix))
            .collect();
        if fixes.is_empty() {
            break;
        }
        let (fixed, applied) = apply_fixes(&text, fixes);
        if applied == 0 || fixed == text {
            break;
        }
        if original_parses && super::source::SourceFile::parse(fixed.as_str()).has_syntax_errors() {
            return FixOutcome {
                text: original.to_string(),
                applied: 0,
                error: Some(
                    "a fix produced code that does not parse; the file was left unchanged"
                        .to_string(),
                ),
            };
        }
        text = fixed;
        applied_total += applied;
    }
    FixOutcome {
        text,
        applied: applied_total,
        error: None,
    }
}
