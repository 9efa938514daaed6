//! Hover text for a diagnostic: what it means, what it costs and what its fix does.
//!
//! Pure functions from diagnostics to Markdown, so that every shell shows the same words; the
//! language server only wraps the result in its protocol types.

use std::fmt::Write;

use super::diagnostic::Diagnostic;
use super::fix::{apply_fixes, Fix};
use super::rules::{self, FixAvailability, RuleInfo};
use super::source::{SourceFile, TextRange};
use super::suppression::Suppressions;

/// The input size the cost line speaks of: large enough to hurt, round enough to read.
pub const EXAMPLE_KEYS: usize = 1000;

/// Rules whose every diagnostic is one more query per loop iteration.
const PER_ITERATION_RULES: &[&str] = &["INB001", "INB002", "INB003", "INB005"];

/// Diff previews longer than this are cut: a hover is a glance, the code action shows the rest.
const MAX_PREVIEW_LINES: usize = 24;

/// How many queries run per iteration of the loop `diagnostic` points at: every per-iteration
/// diagnostic in `all` that names the same loop header. `None` for rules that are not about a
/// query per iteration, or without a loop header.
pub fn queries_per_iteration(diagnostic: &Diagnostic, all: &[Diagnostic]) -> Option<usize> {
    if !PER_ITERATION_RULES.contains(&diagnostic.rule.code) {
        return None;
    }
    let header = &diagnostic.related.first()?.range;
    let count = all
        .iter()
        .filter(|other| PER_ITERATION_RULES.contains(&other.rule.code))
        .filter(|other| other.related.first().is_some_and(|r| &r.range == header))
        .count();
    // `all` may be a different analysis than the one `diagnostic` came from; it still counts.
    Some(count.max(1))
}

/// The per-iteration findings of `all` (one more query per iteration each) at the loop whose
/// header is `header`.
pub fn loop_findings<'d>(all: &'d [Diagnostic], header: &TextRange) -> Vec<&'d Diagnostic> {
    all.iter()
        .filter(|d| PER_ITERATION_RULES.contains(&d.rule.code))
        .filter(|d| d.related.first().is_some_and(|r| &r.range == header))
        .collect()
}

/// Each loop header with per-iteration findings, and how many queries per iteration they are,
/// in the order the headers appear: what inlay hints show at the loop.
pub fn loop_costs(all: &[Diagnostic]) -> Vec<(TextRange, usize)> {
    let mut costs: Vec<(TextRange, usize)> = Vec::new();
    let headers = all
        .iter()
        .filter(|d| PER_ITERATION_RULES.contains(&d.rule.code))
        .filter_map(|d| d.related.first());
    for header in headers {
        match costs.iter_mut().find(|(range, _)| *range == header.range) {
            Some((_, count)) => *count += 1,
            None => costs.push((header.range.clone(), 1)),
        }
    }
    costs.sort_by_key(|(range, _)| (range.start, range.end));
    costs
}

/// `2 queries per iteration`.
pub fn per_iteration(queries: usize) -> String {
    let noun = if queries == 1 { "query" } else { "queries" };
    format!("{queries} {noun} per iteration")
}

/// `2 queries per iteration; for 1,000 ids: 2,000 round trips, after the fix: 2`, where
/// `batched` of the loop's `queries` are the ones the fix batches (one query per chunk of
/// `batch_size` keys each); without a fix (`batched` 0) the line promises nothing after it.
pub fn cost_line(queries: usize, batched: usize, batch_size: usize) -> String {
    let now = format!(
        "{}; for {} ids: {} round trips",
        per_iteration(queries),
        thousands(EXAMPLE_KEYS),
        thousands(queries * EXAMPLE_KEYS),
    );
    if batched == 0 {
        return now;
    }
    let batches = EXAMPLE_KEYS.div_ceil(batch_size.max(1));
    let batched = batched.min(queries);
    let after = (queries - batched) * EXAMPLE_KEYS + batched * batches;
    format!("{now}, after the fix: {}", thousands(after))
}

/// How many of the per-iteration findings of `diagnostic`'s loop its fix batches: those of the
/// same rule whose query the fix's edits replace (one rewrite may serve every query of a loop).
/// 0 without a fix.
fn batched_by_fix(diagnostic: &Diagnostic, all: &[Diagnostic]) -> usize {
    let (Some(fix), Some(header)) = (&diagnostic.fix, diagnostic.related.first()) else {
        return 0;
    };
    let covered = |range: &TextRange| {
        fix.edits
            .iter()
            .any(|edit| edit.range.start <= range.start && range.end <= edit.range.end)
    };
    let batched = all
        .iter()
        .filter(|other| other.rule.code == diagnostic.rule.code)
        .filter(|other| {
            other
                .related
                .first()
                .is_some_and(|r| r.range == header.range)
        })
        .filter(|other| covered(&other.range))
        .count();
    // The fix always batches its own query, wherever `all` came from.
    batched.max(1)
}

/// The diagnostic a position is on: of those whose range holds `offset`, the narrowest (a query
/// nested in another call's arguments is the inner one's), then one that `offset` is strictly
/// inside over one it only touches at an end.
pub fn diagnostic_at(diagnostics: &[Diagnostic], offset: usize) -> Option<&Diagnostic> {
    diagnostics
        .iter()
        .filter(|d| d.range.start <= offset && offset <= d.range.end)
        .min_by_key(|d| {
            (
                d.range.end - d.range.start,
                d.range.end == offset,
                d.range.start,
            )
        })
}

/// The rule whose code is under `offset` in a suppression comment (`# noqa: INB001`,
/// `# inbatch: ignore[INB001]`), for hover on the comment.
pub fn suppressed_rule_at(file: &SourceFile, offset: usize) -> Option<&'static RuleInfo> {
    let text = file.text();
    Suppressions::parse(file)
        .lines
        .iter()
        .find(|s| s.range.start <= offset && offset <= s.range.end)?;
    let is_code = |c: char| c.is_ascii_alphanumeric();
    let start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_code(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = text[offset..]
        .char_indices()
        .find(|(_, c)| !is_code(*c))
        .map_or(text.len(), |(i, _)| offset + i);
    let word = &text[start..end];
    rules::all().find(|rule| rule.code.eq_ignore_ascii_case(word))
}

/// The hover for a rule named by code (in a suppression comment): what it is and its
/// documentation.
pub fn rule_markdown(rule: &RuleInfo) -> String {
    let default = if rule.enabled_by_default {
        "on by default"
    } else {
        "off by default (select it)"
    };
    format!(
        "**{}** `{}` ({}, {default}): {}\n\n---\n\n{}\n",
        rule.code,
        rule.name,
        rule.severity.as_str(),
        rule.summary,
        rule.documentation.trim_end()
    )
}

/// The full hover for `diagnostic`: headline, cost, what the fix does to `text`, and the rule's
/// documentation.
pub fn markdown(
    diagnostic: &Diagnostic,
    all: &[Diagnostic],
    text: &str,
    batch_size: usize,
) -> String {
    let rule = diagnostic.rule;
    let mut out = format!(
        "**{}** `{}`: {}\n\n",
        rule.code,
        rule.name,
        one_line(&diagnostic.message)
    );
    if let Some(queries) = queries_per_iteration(diagnostic, all) {
        let batched = batched_by_fix(diagnostic, all);
        let _ = write!(out, "{}\n\n", cost_line(queries, batched, batch_size));
    }
    match (&diagnostic.fix, &diagnostic.no_fix_reason) {
        (Some(fix), _) => {
            let _ = write!(
                out,
                "**Fix ({}):** {}\n\n",
                fix.applicability.as_str(),
                one_line(&fix.message)
            );
            if let Some(preview) = fix_preview(text, fix) {
                let _ = write!(out, "```diff\n{preview}```\n\n");
            }
        }
        (None, Some(reason)) => {
            let _ = write!(out, "**No fix:** {}\n\n", one_line(reason));
        }
        (None, None) if rule.fix != FixAvailability::None => {
            out.push_str("**No fix** is offered for this code.\n\n");
        }
        (None, None) => {}
    }
    out.push_str("---\n\n");
    out.push_str(rule.documentation.trim_end());
    out.push('\n');
    out
}

/// The lines the fix changes, as a unified-diff body (`-old`/`+new`), or `None` when the fix
/// does not apply to `text`.
pub fn fix_preview(text: &str, fix: &Fix) -> Option<String> {
    let (fixed, applied) = apply_fixes(text, [fix]);
    if applied == 0 {
        return None;
    }
    let old: Vec<&str> = text.lines().collect();
    let new: Vec<&str> = fixed.lines().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let removed = &old[prefix..old.len() - suffix];
    let added = &new[prefix..new.len() - suffix];
    let mut out = String::new();
    let lines = removed
        .iter()
        .map(|line| ('-', line))
        .chain(added.iter().map(|line| ('+', line)));
    for (shown, (sign, line)) in lines.enumerate() {
        if shown == MAX_PREVIEW_LINES {
            out.push_str("…\n");
            break;
        }
        let _ = writeln!(out, "{sign}{line}");
    }
    Some(out)
}

/// `2000` → `2,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Messages are one line in every other output; a stray newline would start a new Markdown block.
fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fix::{Applicability, Edit};
    use crate::engine::rules::inb001_query_in_loop::RULE;

    fn diagnostic(range: std::ops::Range<usize>, header: std::ops::Range<usize>) -> Diagnostic {
        Diagnostic::new(&RULE, "runs once per `uid`", range).with_related("loop", header)
    }

    #[test]
    fn cost_line_counts_queries_sharing_a_loop_header() {
        let a = diagnostic(10..20, 0..5);
        let b = diagnostic(30..40, 0..5);
        let other_loop = diagnostic(60..70, 50..55);
        let all = [a.clone(), b, other_loop];
        assert_eq!(queries_per_iteration(&a, &all), Some(2));
        assert_eq!(loop_costs(&all), vec![(0..5, 2), (50..55, 1)]);
        assert_eq!(
            cost_line(2, 2, 1000),
            "2 queries per iteration; for 1,000 ids: 2,000 round trips, after the fix: 2"
        );
        assert_eq!(
            cost_line(1, 1, 300),
            "1 query per iteration; for 1,000 ids: 1,000 round trips, after the fix: 4"
        );
        // The fix batches one of the two queries: the other still runs per iteration.
        assert_eq!(
            cost_line(2, 1, 1000),
            "2 queries per iteration; for 1,000 ids: 2,000 round trips, after the fix: 1,001"
        );
        // No fix: nothing is promised after one.
        assert_eq!(
            cost_line(2, 0, 1000),
            "2 queries per iteration; for 1,000 ids: 2,000 round trips"
        );
    }

    #[test]
    fn hover_without_a_fix_promises_nothing_after_it() {
        let text = "for uid in ids:\n    rows = q(uid)\n";
        let mut without = diagnostic(27..33, 0..15);
        without.no_fix_reason = Some("the loop body writes".to_string());
        let hover = markdown(&without, std::slice::from_ref(&without), text, 1000);
        assert!(hover.contains("1,000 round trips\n"), "{hover}");
        assert!(!hover.contains("after the fix"), "{hover}");
    }

    #[test]
    fn the_narrowest_diagnostic_under_the_cursor_wins() {
        let outer = diagnostic(0..40, 50..55);
        let inner = diagnostic(10..20, 50..55);
        let next = diagnostic(20..30, 50..55);
        let all = [outer, inner.clone(), next.clone()];
        assert_eq!(
            diagnostic_at(&all, 15).map(|d| &d.range),
            Some(&inner.range)
        );
        // At the boundary of two ranges, the one the position starts.
        assert_eq!(diagnostic_at(&all, 20).map(|d| &d.range), Some(&next.range));
        assert!(diagnostic_at(&all, 45).is_none());
    }

    #[test]
    fn codes_of_suppression_comments_have_a_rule() {
        let text = "x = q(u)  # noqa: E501, INB001\ny = 1  # inbatch: ignore[inb201]\n";
        let file = SourceFile::parse(text);
        let at = |needle: &str, into: usize| text.find(needle).unwrap() + into;
        assert_eq!(
            suppressed_rule_at(&file, at("INB001", 3)).map(|r| r.code),
            Some("INB001")
        );
        assert_eq!(
            suppressed_rule_at(&file, at("INB001", 6)).map(|r| r.code),
            Some("INB001")
        );
        assert_eq!(
            suppressed_rule_at(&file, at("inb201", 0)).map(|r| r.code),
            Some("INB201")
        );
        assert_eq!(suppressed_rule_at(&file, at("E501", 1)), None);
        assert_eq!(suppressed_rule_at(&file, at("q(u)", 0)), None);
        let hover = rule_markdown(&crate::engine::rules::inb001_query_in_loop::RULE);
        assert!(
            hover.starts_with("**INB001** `query-in-loop` (warning, off by default (select it))"),
            "{hover}"
        );
        let on = rule_markdown(&crate::engine::rules::inb201_sum_over_nullable::RULE);
        assert!(
            on.starts_with("**INB201** `sum-over-nullable` (warning, on by default)"),
            "{on}"
        );
        assert!(hover.contains("## What it does"), "{hover}");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn hover_shows_fix_preview_or_reason() {
        let text = "for uid in ids:\n    rows = q(uid)\n";
        let mut with_fix = diagnostic(27..33, 0..15);
        with_fix.fix = Some(Fix::new(
            "Batch the query",
            Applicability::Unsafe,
            vec![Edit::replace(27..33, "rows_by_uid[uid]")],
        ));
        let hover = markdown(&with_fix, std::slice::from_ref(&with_fix), text, 1000);
        assert!(hover.starts_with("**INB001** `query-in-loop`"), "{hover}");
        assert!(hover.contains("1 query per iteration"), "{hover}");
        assert!(
            hover.contains("**Fix (unsafe):** Batch the query"),
            "{hover}"
        );
        assert!(
            hover.contains("```diff\n-    rows = q(uid)\n+    rows = rows_by_uid[uid]\n```"),
            "{hover}"
        );
        assert!(hover.contains("## What it does"), "{hover}");

        let mut without = diagnostic(27..33, 0..15);
        without.no_fix_reason = Some("the loop body writes".to_string());
        let hover = markdown(&without, &[], text, 1000);
        assert!(
            hover.contains("**No fix:** the loop body writes"),
            "{hover}"
        );
    }
}
