//! INB901 unused-suppression.
//!
//! Unlike the other rules, this one reads the other rules' results: the engine filters
//! suppressed diagnostics with [`filter_suppressed`], which records which suppression codes were
//! used, then reports the unused ones.

use std::collections::HashSet;

use super::{Category, Context, FixAvailability, RuleInfo, RuleSet};
use crate::engine::diagnostic::Diagnostic;
use crate::engine::diagnostic::Severity;
use crate::engine::fix::{Applicability, Edit, Fix};
use crate::engine::source::{SourceFile, TextRange};
use crate::engine::suppression::Suppressions;

pub static RULE: RuleInfo = RuleInfo {
    code: "INB901",
    name: "unused-suppression",
    severity: Severity::Information,
    summary: "A `# noqa: INB…` or `# inbatch: ignore[…]` code suppresses nothing",
    documentation: DOCUMENTATION,
    fix: FixAvailability::Always,
    enabled_by_default: true,
    category: Category::Suppression,
};

const DOCUMENTATION: &str = r#"## What it does
Flags an inbatch code in a `# noqa: INB001` or `# inbatch: ignore[INB001]` comment when no
diagnostic of that rule on the line was suppressed in this run. Only codes of rules that ran are
judged: with `--select INB001`, a `# noqa: INB201` is left alone. A bare `# noqa` (which belongs to
every linter) and codes of other tools (`E501`) are never flagged.

## Why is this bad?
A suppression that no longer suppresses anything is noise, and worse, it hides the next real
finding on that line: when the code changes and a genuine N+1 appears there, nobody hears of it.

## Example
```python
config = session.get(Config, 1)  # noqa: INB001, E501
```

## Use instead
```python
config = session.get(Config, 1)  # noqa: E501
```

## Fix safety
The fix removes the unused inbatch codes only, keeping other tools' codes in a shared `noqa`, and
the whole comment when nothing is left. It is safe: comments do not change behaviour. Findings
that need the project's other files (models declared elsewhere) are judged with what the run
indexed, so check with the same index the comment was written for.
"#;

/// INB901 is reported by [`filter_suppressed`]; its registry check does nothing.
pub fn check(_context: &Context<'_, '_>, _diagnostics: &mut Vec<Diagnostic>) {}

/// Drops suppressed diagnostics; when INB901 is in `rules`, adds one diagnostic per suppression
/// directive holding enabled inbatch codes that suppressed nothing.
pub fn filter_suppressed(
    file: &SourceFile,
    suppressions: &Suppressions,
    rules: RuleSet,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let index = file.line_index();
    // (line, code) pairs that suppressed something.
    let mut used: HashSet<(usize, String)> = HashSet::new();
    diagnostics.retain(|diagnostic| {
        let mut suppressed = false;
        for suppression in suppressions.suppressing(diagnostic, file) {
            suppressed = true;
            // A bare `# noqa` is never reported unused: only listed codes are tracked.
            if suppression.codes.is_some() {
                used.insert((suppression.line, diagnostic.rule.code.to_string()));
            }
        }
        !suppressed
    });
    if !rules.contains(&RULE) {
        return;
    }
    let enabled = |code: &str| {
        super::find(code).is_some_and(|rule| rules.contains(rule) && rule.code != RULE.code)
    };
    let mut seen: Vec<TextRange> = Vec::new();
    let mut found = Vec::new();
    for suppression in &suppressions.lines {
        if suppression.codes.is_none() || seen.contains(&suppression.range) {
            continue;
        }
        seen.push(suppression.range.clone());
        let comment = &file.text()[suppression.range.clone()];
        for directive in directives(comment) {
            if directive
                .codes
                .iter()
                .any(|(code, _)| code.eq_ignore_ascii_case(RULE.code))
            {
                continue;
            }
            let unused: Vec<usize> = directive
                .codes
                .iter()
                .enumerate()
                .filter(|(_, (code, _))| {
                    let code = code.to_ascii_uppercase();
                    enabled(&code) && !used.contains(&(suppression.line, code))
                })
                .map(|(i, _)| i)
                .collect();
            if unused.is_empty() {
                continue;
            }
            let base = suppression.range.start;
            let names: Vec<String> = unused
                .iter()
                .map(|&i| format!("`{}`", directive.codes[i].0))
                .collect();
            let (noun, verb) = if names.len() == 1 {
                ("code", "suppresses")
            } else {
                ("codes", "suppress")
            };
            let message = format!(
                "Unused suppression {noun} {}: {verb} nothing on this line",
                names.join(", ")
            );
            let range = base + directive.start..base + directive.end;
            let mut diagnostic = Diagnostic::new(&RULE, message, range);
            let edits = removal(comment, &directive, &unused)
                .into_iter()
                .map(|(range, text)| {
                    let (mut start, mut end) = (base + range.start, base + range.end);
                    if range.start == 0 && range.end == comment.len() {
                        // The whole comment goes, with the blanks before it; a line holding
                        // nothing else goes entirely.
                        let line_start = index.line_start(suppression.line);
                        let before = &file.text()[line_start..start];
                        start -= before.len() - before.trim_end_matches([' ', '\t']).len();
                        if start == line_start {
                            end = index.line_start(suppression.line + 1);
                        }
                    }
                    Edit::replace(start..end, text)
                })
                .collect();
            diagnostic.fix = Some(Fix::new(
                format!("Remove unused {noun} {}", names.join(", ")),
                Applicability::Safe,
                edits,
            ));
            found.push(diagnostic);
        }
    }
    // A suppression of INB901 itself on the line silences the report.
    found.retain(|diagnostic| {
        let line = index.line_of(diagnostic.range.start);
        !suppressions.lines.iter().any(|s| {
            s.line == line
                && s.codes
                    .as_ref()
                    .is_some_and(|codes| codes.iter().any(|c| c.eq_ignore_ascii_case(RULE.code)))
        })
    });
    diagnostics.extend(found);
}

/// One `# noqa: A, B` or `# inbatch: ignore[A, B]` inside a comment, in offsets of the comment.
#[derive(Debug)]
struct Directive {
    /// The `#`.
    start: usize,
    /// After the last code (`noqa`) or the `]` (`ignore[...]`).
    end: usize,
    codes: Vec<(String, TextRange)>,
}

fn directives(comment: &str) -> Vec<Directive> {
    let mut found = Vec::new();
    for (hash, _) in comment.match_indices('#') {
        let after = &comment[hash + 1..];
        let directive_start = hash + 1 + (after.len() - after.trim_start().len());
        let directive = &comment[directive_start..];
        let is_noqa = directive
            .get(..4)
            .is_some_and(|d| d.eq_ignore_ascii_case("noqa"));
        if is_noqa && directive[4..].starts_with(':') {
            let list_start = directive_start + "noqa:".len();
            let mut codes = Vec::new();
            let mut cursor = list_start;
            for token in comment[list_start..].split_inclusive([',', ' ', '\t']) {
                let word = token.trim_end_matches([',', ' ', '\t']);
                if !word.chars().all(|c| c.is_ascii_alphanumeric()) {
                    break;
                }
                if !word.is_empty() {
                    codes.push((word.to_string(), cursor..cursor + word.len()));
                }
                cursor += token.len();
            }
            let end = codes.last().map(|(_, r)| r.end).unwrap_or(list_start);
            found.push(Directive {
                start: hash,
                end,
                codes,
            });
        } else if let Some(rest) = directive.strip_prefix("inbatch:") {
            let rest_start = directive_start + "inbatch:".len();
            let trimmed = rest.trim_start();
            let Some(list) = trimmed.strip_prefix("ignore[") else {
                continue;
            };
            let Some(close) = list.find(']') else {
                continue;
            };
            let list_start = rest_start + (rest.len() - trimmed.len()) + "ignore[".len();
            let mut codes = Vec::new();
            let mut cursor = list_start;
            for token in list[..close].split_inclusive([',', ' ', '\t']) {
                let word = token.trim_end_matches([',', ' ', '\t']);
                if !word.is_empty() {
                    codes.push((word.to_string(), cursor..cursor + word.len()));
                }
                cursor += token.len();
            }
            found.push(Directive {
                start: hash,
                end: list_start + close + 1,
                codes,
            });
        }
    }
    found
}

/// The edits (in comment offsets) that remove the codes at `unused` from a directive, or the
/// whole directive when no code is left.
fn removal(comment: &str, directive: &Directive, unused: &[usize]) -> Vec<(TextRange, String)> {
    let kept: Vec<&str> = directive
        .codes
        .iter()
        .enumerate()
        .filter(|(i, _)| !unused.contains(i))
        .map(|(_, (code, _))| code.as_str())
        .collect();
    if !kept.is_empty() {
        let first = directive.codes.first().expect("has codes").1.start;
        let last = directive.codes.last().expect("has codes").1.end;
        return vec![(first..last, kept.join(", "))];
    }
    let rest = &comment[directive.end..];
    let trimmed = rest.trim_start();
    if trimmed.is_empty() {
        // The caller widens this to the blanks before the comment.
        return vec![(directive.start..comment.len(), String::new())];
    }
    if trimmed.starts_with('#') {
        return vec![(
            directive.start..directive.end + (rest.len() - trimmed.len()),
            String::new(),
        )];
    }
    // `# noqa: INB001 -- why`: keep the explanation as a plain comment.
    vec![(directive.start..directive.end, "#".to_string())]
}
