//! Rendering results as text (with source excerpts), concise lines, JSON and statistics.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
use serde::Serialize;

use super::location::{location, Location, SourceText};
use super::OutputFormat;
use crate::engine::diagnostic::{Diagnostic, FilePosition, Severity};
use crate::engine::fix::Fix;

/// One checked file: the path as shown to the user, its parsed source and what was found.
pub struct Checked {
    pub path: PathBuf,
    /// The file as analysed: after fixes, when fixes were applied.
    pub file: SourceText,
    /// Diagnostics left in `file`.
    pub diagnostics: Vec<Diagnostic>,
    /// The text before fixes, when fixes changed it.
    pub original: Option<String>,
    pub fixes_applied: usize,
}

/// Unified diffs of every fixed file, as `--diff` prints them.
pub fn diff(results: &[Checked]) -> String {
    let mut out = String::new();
    for checked in results {
        let Some(original) = &checked.original else {
            continue;
        };
        let path = checked.path.display().to_string();
        let diff = similar::TextDiff::from_lines(original.as_str(), checked.file.text());
        let _ = write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(3)
                .header(&format!("a/{path}"), &format!("b/{path}"))
        );
    }
    out
}

fn level(severity: Severity) -> Level<'static> {
    match severity {
        Severity::Warning => Level::WARNING,
        Severity::Information => Level::INFO,
    }
}

/// `errors`: how many files or paths could not be checked (reported on stderr); with any, the
/// summary does not claim that all checks passed.
pub fn text(results: &[Checked], color: bool, errors: usize) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    let mut total = 0;
    let mut fixable = 0;
    let fixed: usize = results.iter().map(|checked| checked.fixes_applied).sum();
    for checked in results {
        let path = checked.path.display().to_string();
        let source = checked.file.text();
        for diagnostic in &checked.diagnostics {
            total += 1;
            fixable += usize::from(diagnostic.fix.is_some());
            let code = diagnostic.rule.code;
            let mut snippet = Snippet::source(source)
                .line_start(1)
                .path(&path)
                .fold(true)
                .annotation(
                    AnnotationKind::Primary
                        .span(clamp(source, &diagnostic.range))
                        .label(code),
                );
            // A location in another file is a note with its path: that file's text is not here.
            let mut elsewhere = Vec::new();
            for related in &diagnostic.related {
                match &related.file {
                    None => {
                        snippet = snippet.annotation(
                            AnnotationKind::Context
                                .span(clamp(source, &related.range))
                                .label(&related.message),
                        );
                    }
                    Some(other) => {
                        let start = other_location(&other.start);
                        elsewhere.push(format!(
                            "{}:{}:{}: {}",
                            other.path.display(),
                            start.row,
                            start.column,
                            related.message
                        ));
                    }
                }
            }
            let help = help_line(diagnostic);
            let mut group = level(diagnostic.severity())
                .primary_title(&diagnostic.message)
                .id(code)
                .element(snippet);
            for note in &elsewhere {
                group = group.element(Level::NOTE.message(note));
            }
            let message = &[group.element(Level::HELP.message(&help))];
            let _ = writeln!(out, "{}\n", renderer.render(message));
        }
    }
    if fixed > 0 {
        let noun = if fixed == 1 { "finding" } else { "findings" };
        let _ = writeln!(out, "Fixed {fixed} {noun}.");
    }
    if total == 0 {
        if errors == 0 {
            out.push_str("All checks passed!\n");
        }
    } else {
        let noun = if total == 1 {
            "diagnostic"
        } else {
            "diagnostics"
        };
        let _ = writeln!(out, "Found {total} {noun}.");
        if fixable > 0 {
            let _ = writeln!(out, "[*] {fixable} fixable with `inbatch check --fix` (some only with `--unsafe-fixes`).");
        }
    }
    out
}

/// A position in another file, computed by the engine there: 1-based row, character column.
pub fn other_location(position: &FilePosition) -> Location {
    Location {
        row: position.line + 1,
        column: position.chars + 1,
    }
}

fn help_line(diagnostic: &Diagnostic) -> String {
    match (&diagnostic.fix, &diagnostic.no_fix_reason) {
        (Some(fix), _) => format!(
            "{} ({} fix); see `inbatch rule {}`",
            fix.message,
            fix.applicability.as_str(),
            diagnostic.rule.code
        ),
        (None, Some(reason)) => format!(
            "no fix: {reason}; see `inbatch rule {}`",
            diagnostic.rule.code
        ),
        (None, None) => format!("see `inbatch rule {}`", diagnostic.rule.code),
    }
}

/// annotate-snippets needs a range on character boundaries inside the text; an empty range gets
/// one character so that the caret is visible.
fn clamp(source: &str, range: &std::ops::Range<usize>) -> std::ops::Range<usize> {
    let mut start = range.start.min(source.len());
    let mut end = range.end.clamp(start, source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    while !source.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

pub fn concise(results: &[Checked]) -> String {
    let mut out = String::new();
    for checked in results {
        for diagnostic in &checked.diagnostics {
            let start = location(&checked.file, diagnostic.range.start);
            let _ = writeln!(
                out,
                "{}:{}:{}: {} {}",
                checked.path.display(),
                start.row,
                start.column,
                diagnostic.rule.code,
                diagnostic.message
            );
        }
    }
    out
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'static str,
    name: &'static str,
    message: &'a str,
    severity: &'static str,
    filename: String,
    location: Location,
    end_location: Location,
    related: Vec<JsonRelated<'a>>,
    fix: Option<JsonFix<'a>>,
}

#[derive(Serialize)]
struct JsonRelated<'a> {
    message: &'a str,
    filename: String,
    location: Location,
    end_location: Location,
}

#[derive(Serialize)]
struct JsonFix<'a> {
    applicability: &'static str,
    message: &'a str,
    edits: Vec<JsonEdit<'a>>,
}

#[derive(Serialize)]
struct JsonEdit<'a> {
    content: &'a str,
    location: Location,
    end_location: Location,
}

fn json_fix<'a>(fix: &'a Fix, file: &SourceText) -> JsonFix<'a> {
    JsonFix {
        applicability: fix.applicability.as_str(),
        message: &fix.message,
        edits: fix
            .edits
            .iter()
            .map(|edit| JsonEdit {
                content: &edit.content,
                location: location(file, edit.range.start),
                end_location: location(file, edit.range.end),
            })
            .collect(),
    }
}

pub fn json(results: &[Checked]) -> String {
    let mut list = Vec::new();
    for checked in results {
        let filename = checked.path.display().to_string();
        for diagnostic in &checked.diagnostics {
            list.push(JsonDiagnostic {
                code: diagnostic.rule.code,
                name: diagnostic.rule.name,
                message: &diagnostic.message,
                severity: diagnostic.severity().as_str(),
                filename: filename.clone(),
                location: location(&checked.file, diagnostic.range.start),
                end_location: location(&checked.file, diagnostic.range.end),
                related: diagnostic
                    .related
                    .iter()
                    .map(|related| match &related.file {
                        None => JsonRelated {
                            message: &related.message,
                            filename: filename.clone(),
                            location: location(&checked.file, related.range.start),
                            end_location: location(&checked.file, related.range.end),
                        },
                        Some(other) => JsonRelated {
                            message: &related.message,
                            filename: other.path.display().to_string(),
                            location: other_location(&other.start),
                            end_location: other_location(&other.end),
                        },
                    })
                    .collect(),
                fix: diagnostic
                    .fix
                    .as_ref()
                    .map(|fix| json_fix(fix, &checked.file)),
            });
        }
    }
    let mut out = serde_json::to_string_pretty(&list).expect("diagnostics serialise");
    out.push('\n');
    out
}

#[derive(Serialize)]
struct Statistic {
    code: &'static str,
    name: &'static str,
    count: usize,
    fixable: usize,
}

pub fn statistics(results: &[Checked], format: OutputFormat) -> String {
    let mut by_code: BTreeMap<&'static str, Statistic> = BTreeMap::new();
    for diagnostic in results.iter().flat_map(|checked| &checked.diagnostics) {
        let entry = by_code.entry(diagnostic.rule.code).or_insert(Statistic {
            code: diagnostic.rule.code,
            name: diagnostic.rule.name,
            count: 0,
            fixable: 0,
        });
        entry.count += 1;
        entry.fixable += usize::from(diagnostic.fix.is_some());
    }
    let mut stats: Vec<Statistic> = by_code.into_values().collect();
    stats.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(b.code)));
    if format == OutputFormat::Json {
        let mut out = serde_json::to_string_pretty(&stats).expect("statistics serialise");
        out.push('\n');
        return out;
    }
    let mut out = String::new();
    for stat in &stats {
        let marker = if stat.fixable > 0 { "[*]" } else { "[ ]" };
        let _ = writeln!(
            out,
            "{:>5}\t{}\t{marker} {}",
            stat.count, stat.code, stat.name
        );
    }
    out
}
