//! Incremental analysis: after an edit, only the top-level functions the edit touched are
//! analysed again; every other diagnostic and the file's summary are taken from the previous
//! text's analysis, moved by the edit.
//!
//! The result is the one a whole-file analysis gives (`server/tests/properties.rs` and the unit
//! tests below compare the two after random edits); where that cannot be shown cheaply the
//! analysis is made whole. The procedure, for a previous text `O` (with its raw diagnostics and
//! summary, [`Prior`]) and a new text `N`:
//!
//! 1. The edit is the span between the longest common prefix and suffix of `O` and `N`.
//! 2. The top-level statements of both analysis trees that the edit does not touch must be the
//!    same statements (kind and range, moved by the edit); those it touches must be functions
//!    (`def`, decorated or not) or comments. Anything else (a class, an import, a module-level
//!    assignment, a statement tree-sitter could not parse) makes the analysis whole.
//! 3. What the rest of the file knows of a function that does not come through its summary must
//!    not depend on the touched functions: their text (old and new) holds none of the markers of
//!    a model declaration ([`may_declare_models`]), and names no function that is left out, nor
//!    any name of a module-level statement that names one (the partial model would not resolve
//!    the call). The functions whose calls bound a loop (a literal list or bundled data
//!    returned, `semantic::fixed_returns`) must say the same of the touched functions before and
//!    after.
//! 4. The model of the module's own statements plus the touched functions (every other
//!    top-level function left out, [`crate::engine::semantic::FileContext::skip`]) is built for
//!    `O` and for `N`, and their summaries compared, with `O`'s positions moved by the edit. A
//!    difference (a parameter now reaches a query, a call moved inside the edit) makes the
//!    analysis whole: other functions, and other files, may see it.
//! 5. Otherwise the diagnostics are `N`'s partial model's inside the touched functions and the
//!    previous ones elsewhere, moved; the summary is the previous one, moved. Suppression
//!    comments are applied to the whole list afterwards, as for a whole-file analysis.
//!
//! Work is then proportional to the touched functions and the module's own statements, plus a
//! scan of the text for the common prefix and suffix.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::diagnostic::Diagnostic;
use super::index::calls::{self as index_calls, FileSummary, Hop};
use super::index::{may_declare_models, ProjectIndex};
use super::rules::{Fixes, RuleSet};
use super::semantic::fixed_returns;
use super::settings::Settings;
use super::source::{SourceFile, TextRange};
use super::suppression::Suppressions;
use super::syntax::field;
use super::{analyse, finish, FileCheck, FileOrigin, RawCheck};

/// What an incremental analysis keeps of the previous text's analysis.
#[derive(Debug, Clone)]
pub struct Prior {
    /// Diagnostics before suppressions, without fixes, and the summary.
    pub raw: RawCheck,
    /// The rules it ran and the module it was analysed as: another selection or module makes the
    /// next analysis whole.
    pub rules: RuleSet,
    pub module: Option<String>,
    pub path: Option<Arc<Path>>,
    /// The summary of the last partial model (the module's statements and the functions the
    /// edit touched, by range): the next edit in the same functions compares with it instead
    /// of building it again.
    pub partial: Option<(Vec<TextRange>, Option<FileSummary>)>,
}

/// An analysis made incrementally (or whole, when it had to be).
pub struct Incremental {
    pub check: FileCheck,
    /// What the next analysis may start from; `None` when the file is not analysed (ignored, or
    /// no rule selected).
    pub prior: Option<Prior>,
    /// Whether the previous analysis was reused (for logs and benchmarks).
    pub reused: bool,
}

/// Analyses `file` without fixes, reusing `previous` (the previous text and what its analysis
/// kept) where the edit between them allows. The caller guarantees that `previous` was made with
/// the same settings and project index.
pub fn check_file_incremental(
    previous: Option<(&SourceFile, &Prior)>,
    file: &SourceFile,
    settings: &Settings,
    rules: RuleSet,
    index: &ProjectIndex,
    origin: Option<&FileOrigin<'_>>,
) -> Incremental {
    let suppressions = Suppressions::parse(file);
    if suppressions.file_ignored || rules.is_empty() {
        return Incremental {
            check: FileCheck::nothing(),
            prior: None,
            reused: false,
        };
    }
    let same_origin = |prior: &Prior| {
        prior.rules == rules
            && prior.module.as_deref() == origin.map(|o| o.module.as_str())
            && prior.path.as_deref() == origin.map(|o| o.path.as_ref())
    };
    let reused = previous
        .filter(|(_, prior)| same_origin(prior))
        .and_then(|(old, prior)| reuse(old, prior, file, settings, rules, index, origin));
    let was_reused = reused.is_some();
    let (raw, partial) = match reused {
        Some((raw, partial)) => (raw, Some(partial)),
        None => (
            analyse(file, settings, rules, index, origin, Fixes::Skip, &[]),
            None,
        ),
    };
    let prior = Prior {
        raw: raw.clone(),
        rules,
        module: origin.map(|o| o.module.clone()),
        path: origin.map(|o| o.path.clone()),
        partial,
    };
    Incremental {
        check: finish(file, &suppressions, rules, raw),
        prior: Some(prior),
        reused: was_reused,
    }
}

/// The edit between two texts: the old span `old` became `new` (both start at the same byte).
#[derive(Debug, Clone)]
struct Edit {
    old: TextRange,
    new: TextRange,
}

impl Edit {
    fn between(old: &str, new: &str) -> Edit {
        let (a, b) = (old.as_bytes(), new.as_bytes());
        let prefix = common_prefix(a, b);
        let room = a.len().min(b.len()) - prefix;
        let suffix = common_prefix_rev(&a[prefix..], &b[prefix..]).min(room);
        Edit {
            old: prefix..a.len() - suffix,
            new: prefix..b.len() - suffix,
        }
    }

    /// Where an old offset outside the edited span is in the new text.
    fn map(&self, offset: usize) -> Option<usize> {
        if offset <= self.old.start {
            Some(offset)
        } else if offset >= self.old.end {
            Some(offset - self.old.end + self.new.end)
        } else {
            None
        }
    }

    /// An old range that does not overlap the edited span, in the new text.
    fn map_range(&self, range: &TextRange) -> Option<TextRange> {
        if range.end <= self.old.start || range.start >= self.old.end {
            Some(self.map(range.start)?..self.map(range.end)?)
        } else {
            None
        }
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 64;
    let mut at = 0;
    while at + CHUNK <= a.len().min(b.len()) && a[at..at + CHUNK] == b[at..at + CHUNK] {
        at += CHUNK;
    }
    at + a[at..]
        .iter()
        .zip(&b[at..])
        .take_while(|(x, y)| x == y)
        .count()
}

fn common_prefix_rev(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 64;
    let (mut i, mut j) = (a.len(), b.len());
    while i >= CHUNK && j >= CHUNK && a[i - CHUNK..i] == b[j - CHUNK..j] {
        i -= CHUNK;
        j -= CHUNK;
    }
    a.len() - i
        + a[..i]
            .iter()
            .rev()
            .zip(b[..j].iter().rev())
            .take_while(|(x, y)| x == y)
            .count()
}

/// A top-level statement of an analysis tree.
struct Statement {
    kind: &'static str,
    range: TextRange,
    /// A function definition (decorated or not): its name.
    function: Option<String>,
}

fn statements(file: &SourceFile) -> Vec<Statement> {
    let root = file.root();
    let mut cursor = root.walk();
    let mut out = Vec::with_capacity(root.child_count());
    if cursor.goto_first_child() {
        loop {
            let node = cursor.node();
            if node.is_named() {
                let definition = match node.kind() {
                    "decorated_definition" => field(node, "definition"),
                    _ => Some(node),
                };
                let function = definition
                    .filter(|d| d.kind() == "function_definition" && !node.has_error())
                    .and_then(|d| field(d, "name"))
                    .map(|name| file.node_text(name).to_string());
                out.push(Statement {
                    kind: node.kind(),
                    range: node.byte_range(),
                    function,
                });
            }
            if !cursor.goto_next_sibling() {
                break;
            }
        }
    }
    out
}

/// Whether `range` touches `span` (overlaps it or ends or starts at its bounds).
fn touches(range: &TextRange, span: &TextRange) -> bool {
    range.start <= span.end && span.start <= range.end
}

/// The statements of one text, split by the edit.
struct Split<'s> {
    before: &'s [Statement],
    touched: &'s [Statement],
    after: &'s [Statement],
    /// The touched statements and the edited span together.
    dirty: TextRange,
}

fn split<'s>(statements: &'s [Statement], span: &TextRange) -> Split<'s> {
    let first = statements.partition_point(|s| s.range.end < span.start);
    let last = first + statements[first..].partition_point(|s| touches(&s.range, span));
    let touched = &statements[first..last];
    let dirty = touched.iter().fold(span.clone(), |dirty, s| {
        dirty.start.min(s.range.start)..dirty.end.max(s.range.end)
    });
    Split {
        before: &statements[..first],
        touched,
        after: &statements[last..],
        dirty,
    }
}

/// The summary of a partial model: the touched statements' ranges and what it said.
type Partial = (Vec<TextRange>, Option<FileSummary>);

/// The analysis of `file` from `prior` (of `old`), with the summary of its partial model; `None`
/// when it must be made whole.
fn reuse(
    old: &SourceFile,
    prior: &Prior,
    file: &SourceFile,
    settings: &Settings,
    rules: RuleSet,
    index: &ProjectIndex,
    origin: Option<&FileOrigin<'_>>,
) -> Option<(RawCheck, Partial)> {
    let edit = Edit::between(old.text(), file.text());
    if edit.old.is_empty() && edit.new.is_empty() {
        let partial = prior.partial.clone().unwrap_or_default();
        return Some((prior.raw.clone(), partial));
    }
    let (old_statements, new_statements) = (statements(old), statements(file));
    let (o, n) = (
        split(&old_statements, &edit.old),
        split(&new_statements, &edit.new),
    );
    // 2. The same statements around the edit, and only functions (or comments) in it.
    let same = |a: &Statement, b: &Statement, moved: bool| {
        let range = if moved {
            edit.map_range(&a.range)
        } else {
            Some(a.range.clone())
        };
        a.kind == b.kind && range == Some(b.range.clone()) && a.function == b.function
    };
    if o.before.len() != n.before.len()
        || o.after.len() != n.after.len()
        || !o
            .before
            .iter()
            .zip(n.before)
            .all(|(a, b)| same(a, b, false))
        || !o.after.iter().zip(n.after).all(|(a, b)| same(a, b, true))
    {
        return None;
    }
    let unit = |s: &Statement| s.function.is_some() || s.kind == "comment";
    if !o.touched.iter().chain(n.touched).all(unit) {
        return None;
    }
    // 3. Nothing outside the touched functions depends on them but through their summaries.
    let (old_dirty, new_dirty) = (&old.text()[o.dirty.clone()], &file.text()[n.dirty.clone()]);
    if may_declare_models(old_dirty) || may_declare_models(new_dirty) {
        return None;
    }
    // A helper that returns a literal list or bundled data bounds the loops over its calls: only
    // the touched functions can have changed what they return.
    let ranges = |statements: &[Statement]| -> Vec<TextRange> {
        statements.iter().map(|s| s.range.clone()).collect()
    };
    if fixed_returns(old.root(), old.text(), &ranges(o.touched))
        != fixed_returns(file.root(), file.text(), &ranges(n.touched))
    {
        return None;
    }
    let left_out: Vec<&Statement> = n
        .before
        .iter()
        .chain(n.after)
        .filter(|s| s.function.is_some())
        .collect();
    let mut tainted: HashSet<&str> = left_out
        .iter()
        .filter_map(|s| s.function.as_deref())
        .collect();
    if !tainted.is_empty() {
        for statement in n.before.iter().chain(n.after) {
            if statement.function.is_some() || statement.kind == "comment" {
                continue;
            }
            let text = &file.text()[statement.range.clone()];
            let names: Vec<&str> = identifiers(text).collect();
            if names.iter().any(|name| tainted.contains(name)) {
                tainted.extend(names);
            }
        }
        let named = |text: &str| identifiers(text).any(|name| tainted.contains(name));
        if named(old_dirty) || named(new_dirty) {
            return None;
        }
    }
    // 4. The touched functions' summaries, before and after.
    let old_skip: Vec<TextRange> = o
        .before
        .iter()
        .chain(o.after)
        .filter(|s| s.function.is_some())
        .map(|s| s.range.clone())
        .collect();
    let new_skip: Vec<TextRange> = left_out.iter().map(|s| s.range.clone()).collect();
    let touched = |split: &Split<'_>| -> Vec<TextRange> {
        split.touched.iter().map(|s| s.range.clone()).collect()
    };
    let old_summary = match &prior.partial {
        // The last analysis built this very partial model of `old`.
        Some((ranges, summary)) if *ranges == touched(&o) => summary.clone(),
        _ => analyse(old, settings, rules, index, origin, Fixes::Skip, &old_skip).summary,
    };
    let partial_new = analyse(file, settings, rules, index, origin, Fixes::Skip, &new_skip);
    let path = origin.map(|o| o.path.as_ref());
    let moved_old = match old_summary {
        Some(summary) => Some(move_summary(summary, &edit, file, path)?),
        None => None,
    };
    if moved_old != partial_new.summary {
        return None;
    }
    // 5. The previous diagnostics outside the touched functions, the new ones inside.
    let summary = match &prior.raw.summary {
        Some(summary) => Some(move_summary(summary.clone(), &edit, file, path)?),
        None => None,
    };
    let mut diagnostics = Vec::with_capacity(prior.raw.diagnostics.len());
    for diagnostic in &prior.raw.diagnostics {
        if inside(&diagnostic.range, &o.dirty) {
            continue;
        }
        if touches_inside(&diagnostic.range, &o.dirty) {
            return None;
        }
        diagnostics.push(move_diagnostic(diagnostic, &edit)?);
    }
    diagnostics.extend(
        partial_new
            .diagnostics
            .into_iter()
            .filter(|d| inside(&d.range, &n.dirty) && !n.dirty.is_empty()),
    );
    let raw = RawCheck {
        diagnostics,
        summary,
    };
    Some((raw, (touched(&n), partial_new.summary)))
}

/// Whether `range` lies in the non-empty span `dirty`.
fn inside(range: &TextRange, dirty: &TextRange) -> bool {
    !dirty.is_empty() && dirty.start <= range.start && range.end <= dirty.end
}

/// Whether `range` overlaps the inside of `dirty` without lying in it.
fn touches_inside(range: &TextRange, dirty: &TextRange) -> bool {
    range.start < dirty.end && dirty.start < range.end
}

fn move_diagnostic(diagnostic: &Diagnostic, edit: &Edit) -> Option<Diagnostic> {
    let mut moved = diagnostic.clone();
    moved.range = edit.map_range(&diagnostic.range)?;
    for related in &mut moved.related {
        if related.file.is_none() {
            related.range = edit.map_range(&related.range)?;
        }
    }
    if let Some(fix) = &mut moved.fix {
        for change in &mut fix.edits {
            change.range = edit.map_range(&change.range)?;
        }
    }
    Some(moved)
}

/// A summary of the old text with its hops in this file moved into the new text (and located
/// there again); `None` when a hop overlaps the edit.
fn move_summary(
    mut summary: FileSummary,
    edit: &Edit,
    file: &SourceFile,
    path: Option<&Path>,
) -> Option<FileSummary> {
    let mut ok = true;
    let mut move_hop = |hop: &mut Hop| {
        let local = match &hop.file {
            None => true,
            Some(other) => Some(other.path.as_ref()) == path,
        };
        if !local || !ok {
            return;
        }
        match edit.map_range(&hop.range) {
            // After the edit, its line may change even where its bytes do not.
            Some(range) => {
                if hop.range.start >= edit.old.end {
                    if let Some(other) = &hop.file {
                        hop.file = Some(index_calls::locate(file, &other.path, &range));
                    }
                    hop.range = range;
                }
            }
            None => ok = false,
        }
    };
    summary.for_each_hop(&mut move_hop);
    ok.then_some(summary)
}

/// The identifiers of a text, read lexically (in strings and comments too: a superset).
fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| word.chars().next().is_some_and(|c| !c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::index::calls::CallIndex;
    use crate::engine::settings::{ConfigFormat, Settings};

    fn settings() -> Settings {
        Settings::from_toml(
            "extend-select = [\"INB001\", \"INB002\", \"INB003\", \"INB004\", \"INB005\", \
             \"INB101\", \"INB102\", \"INB301\"]\n",
            ConfigFormat::InbatchToml,
            Path::new("/project/inbatch.toml"),
        )
        .expect("valid")
        .expect("settings")
    }

    type View<'d> = (
        &'static str,
        &'d str,
        TextRange,
        &'d [crate::engine::diagnostic::Related],
        &'d Option<String>,
    );

    fn view(diagnostics: &[Diagnostic]) -> Vec<View<'_>> {
        diagnostics
            .iter()
            .map(|d| {
                (
                    d.rule.code,
                    d.message.as_str(),
                    d.range.clone(),
                    d.related.as_slice(),
                    &d.no_fix_reason,
                )
            })
            .collect()
    }

    /// Analyses `texts` in turn incrementally and checks each against a whole analysis.
    fn check_sequence(texts: &[String]) -> usize {
        let settings = settings();
        let index = ProjectIndex::new();
        let calls = CallIndex::new();
        let path: Arc<Path> = Arc::from(Path::new("/project/app/views.py"));
        let origin = FileOrigin {
            path: path.clone(),
            module: "app.views".to_string(),
            calls: &calls,
        };
        let rules = settings.rules_for(Some(&path));
        let mut previous: Option<(SourceFile, Prior)> = None;
        let mut reused = 0;
        for (step, text) in texts.iter().enumerate() {
            let file = SourceFile::parse(text.clone());
            let incremental = check_file_incremental(
                previous.as_ref().map(|(f, p)| (f, p)),
                &file,
                &settings,
                rules,
                &index,
                Some(&origin),
            );
            let whole = crate::engine::check_file_with(
                &file,
                &settings,
                rules,
                &index,
                Some(&origin),
                Fixes::Skip,
            );
            assert_eq!(
                view(&incremental.check.diagnostics),
                view(&whole.diagnostics),
                "diagnostics at step {step}:\n{text}"
            );
            assert_eq!(
                incremental.check.summary, whole.summary,
                "summary at step {step}:\n{text}"
            );
            reused += usize::from(incremental.reused);
            previous = incremental.prior.map(|prior| (file, prior));
        }
        reused
    }

    const START: &str = r#"from app.models import Payment, Session
from app.db import session

LIMIT = 10


def helper(uid):
    return Session.query.filter_by(user_id=uid).first()


def analytics(user_ids):
    result = {}
    for uid in user_ids:
        sessions = Session.query.filter_by(user_id=uid).all()
        result[uid] = helper(uid)
    return result


def totals(user_ids):
    out = []
    for uid in user_ids:
        payments = Payment.query.filter_by(user_id=uid).all()  # noqa: INB001
        out.append(sum(p.amount for p in payments))
    return out


class Report:
    def rows(self, ids):
        return [session.get(Payment, i) for i in ids]


def kinds():
    return ["card", "cash"]


def per_kind():
    for kind in kinds():
        print(Payment.query.filter_by(kind=kind).all())
"#;

    #[test]
    fn typing_in_a_function_reuses_the_rest() {
        let at = START.find("    return result").expect("in START");
        let typed = "value = uid * 2 + len(result)\n    ";
        let texts: Vec<String> = (0..=typed.len())
            .filter(|&n| typed.is_char_boundary(n))
            .map(|n| {
                let mut text = START.to_string();
                text.insert_str(at, &typed[..n]);
                text
            })
            .collect();
        let reused = check_sequence(&texts);
        assert!(
            reused > texts.len() / 2,
            "reused {reused} of {}",
            texts.len()
        );
    }

    #[test]
    fn edits_that_change_summaries_or_the_module_match_a_whole_analysis() {
        let edits: &[(&str, &str)] = &[
            // The helper stops reaching a query: `analytics`'s INB003 goes.
            (
                "filter_by(user_id=uid).first()",
                "filter_by(user_id=7).first()",
            ),
            // A module-level statement.
            ("LIMIT = 10", "LIMIT = 11"),
            // A function renamed.
            ("def totals(", "def total("),
            // A half-typed statement in a function.
            ("    return out", "    x = (\n    return out"),
            // A suppression typed.
            (
                "sessions = Session",
                "sessions = Session  # noqa\n        s = Session",
            ),
            // A new function between two others.
            (
                "\n\nclass Report",
                "\n\ndef more(ids):\n    return [helper(i) for i in ids]\n\n\nclass Report",
            ),
            // The method of a class.
            ("return [session.get", "return [ session.get"),
            // A helper stops returning a literal list: the loop over it in another function
            // can grow now.
            ("return [\"card\", \"cash\"]", "return list_kinds()"),
        ];
        for (from, to) in edits {
            let edited = START.replacen(from, to, 1);
            assert_ne!(edited, START, "{from}");
            check_sequence(&[START.to_string(), edited.clone(), START.to_string()]);
        }
    }

    const SNIPPETS: &[&str] = &[
        "x",
        "uid",
        "(",
        ")",
        ":",
        " ",
        "\n",
        "\n        ",
        "é",
        "Session.query.filter_by(user_id=uid).all()",
        "helper(uid)",
        "for k in user_ids:\n            ",
        "\n\ndef extra(ids):\n    return [helper(i) for i in ids]\n",
        "\n\nclass C:\n    pass\n",
        "import os\n",
        "  # noqa",
        "\"\"\"",
        "return ",
        "session.get(Payment, uid)",
    ];

    fn floor_boundary(text: &str, mut at: usize) -> usize {
        at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// After any sequence of edits, the incremental analysis is the whole-file analysis of
        /// the same text (diagnostics and summary).
        #[test]
        fn random_edits_match_a_whole_analysis(
            edits in proptest::collection::vec(
                (0.0f64..1.0, 0usize..12, 0..SNIPPETS.len()),
                1..24,
            )
        ) {
            let mut text = START.to_string();
            let mut texts = vec![text.clone()];
            for (at, removed, snippet) in edits {
                let start = floor_boundary(&text, (at * text.len() as f64) as usize);
                let end = floor_boundary(&text, start + removed);
                text.replace_range(start..end, SNIPPETS[snippet]);
                texts.push(text.clone());
            }
            check_sequence(&texts);
        }
    }
}
