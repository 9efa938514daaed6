//! Property-based tests (proptest) of the engine, the language server's incremental document path
//! and the fixes:
//!
//! - the engine never panics on arbitrary bytes, Python-ish strings or mutated real Python, and
//!   every range it reports (diagnostic, related location, fix edit) lies within the text, on char
//!   boundaries, and survives the LSP position round trip in both encodings;
//! - random sequences of `didChange` edits applied through the server's own `Document` give the
//!   text a naive oracle computes, the same tree (`to_sexp`) and the same diagnostics as a fresh
//!   parse of the final text;
//! - fixes applied to generated N+1 loops and to the fixtures give code that parses, and a second
//!   fix pass changes nothing.
//!
//! Case counts are scaled by `INBATCH_PROPTEST_SCALE` (default 1) for longer campaigns, e.g.
//! `INBATCH_PROPTEST_SCALE=50 cargo test --release --test properties`.

mod common;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use inbatch::engine::diagnostic::Diagnostic;
use inbatch::engine::fix::{fix_until_stable, FixMode};
use inbatch::engine::settings::Settings;
use inbatch::engine::source::SourceFile;
use inbatch::engine::{self};
use inbatch::lsp::document::Document;
use inbatch::lsp::position::{self, PositionEncoding};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use ropey::Rope;
use tower_lsp_server::ls_types::{Position, Range as LspRange, TextDocumentContentChangeEvent};

/// How many cases a property runs: `base` times `INBATCH_PROPTEST_SCALE`.
fn config(base: u32) -> Config {
    let scale = std::env::var("INBATCH_PROPTEST_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    Config {
        cases: base.saturating_mul(scale),
        // Failures are turned into named regression tests in robustness.rs, not files.
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    }
}

fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(common::settings_with_n_plus_one_rules)
}

/// Every Python file of the fixture corpus and the examples, read once.
fn corpus() -> &'static [(PathBuf, String)] {
    static CORPUS: OnceLock<Vec<(PathBuf, String)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = common::repo_root();
        let mut files = Vec::new();
        let mut folders = vec![
            root.join("tests/fixtures/rules"),
            root.join("tests/fixtures/fixes"),
            root.join("examples"),
        ];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "py") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    files.push((path, text));
                }
            }
        }
        files.sort();
        assert!(
            files.len() >= 20,
            "the fixture corpus is where it should be"
        );
        files
    })
}

fn check_range(text: &str, range: &Range<usize>, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        range.start <= range.end && range.end <= text.len(),
        "{what} {range:?} outside a text of {} bytes",
        text.len()
    );
    prop_assert!(
        text.is_char_boundary(range.start) && text.is_char_boundary(range.end),
        "{what} {range:?} not on char boundaries"
    );
    Ok(())
}

/// Every range is inside the text and on char boundaries, fixes' edits are sorted and disjoint,
/// and LSP positions computed from the ranges convert back to the same bytes in both encodings.
fn check_diagnostics(text: &str, diagnostics: &[Diagnostic]) -> Result<(), TestCaseError> {
    let rope = Rope::from_str(text);
    for diagnostic in diagnostics {
        check_range(text, &diagnostic.range, "diagnostic range")?;
        let mut ranges = vec![diagnostic.range.clone()];
        for related in &diagnostic.related {
            check_range(text, &related.range, "related range")?;
            ranges.push(related.range.clone());
        }
        if let Some(fix) = &diagnostic.fix {
            for edit in &fix.edits {
                check_range(text, &edit.range, "fix edit")?;
                ranges.push(edit.range.clone());
            }
            for pair in fix.edits.windows(2) {
                prop_assert!(
                    pair[0].range.end <= pair[1].range.start,
                    "fix edits overlap or are unsorted: {:?} {:?}",
                    pair[0].range,
                    pair[1].range
                );
            }
        }
        for range in ranges {
            for encoding in [PositionEncoding::Utf8, PositionEncoding::Utf16] {
                let lsp = position::range(&rope, &range, encoding);
                prop_assert_eq!(
                    position::text_range(&rope, lsp, encoding),
                    Some(range.clone()),
                    "LSP round trip of {:?} in {:?}",
                    range,
                    encoding
                );
            }
        }
    }
    Ok(())
}

fn analyse(text: String) -> Result<Vec<Diagnostic>, TestCaseError> {
    let file = SourceFile::parse(text);
    let diagnostics = engine::check(&file, settings(), None);
    check_diagnostics(file.text(), &diagnostics)?;
    Ok(diagnostics)
}

/// Pieces of Python, broken Python and awkward characters for generated and inserted text.
const SNIPPETS: &[&str] = &[
    "",
    "x",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "    ",
    "\0",
    "\u{feff}",
    "🎉",
    "𝔘𝔦𝔡",
    "é",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ":",
    ",",
    ".",
    "\\",
    "'",
    "\"",
    "\"\"\"",
    "f\"{",
    "#",
    "# noqa: INB001",
    "# inbatch: ignore[INB001]",
    "uid",
    "for uid in user_ids:\n",
    "async for uid in ids:\n",
    "while uid:\n",
    "    rows = Session.query.filter_by(user_id=uid).all()\n",
    "session.get(User, uid)",
    "session.scalars(select(M).where(M.id == uid)).all()",
    "M.objects.filter(user_id=uid)",
    "[session.get(M, i) for i in ids]",
    "def f(ids, session):\n",
    "class C:\n",
    "with Session(engine) as s:\n",
    "lambda: ",
    "return ",
    "break\n",
    "await ",
    "if x:\n",
    "else:\n",
    "@decorator\n",
    ".in_(chunk)",
    "[start:start + 1000]",
];

fn snippet() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(SNIPPETS).prop_map(str::to_string),
        1 => "[ -~\t\n\r]{0,12}",
        1 => any::<String>().prop_map(|s| s.chars().take(6).collect()),
    ]
}

proptest! {
    #![proptest_config(config(1_500))]

    /// Arbitrary bytes, decoded the way the server decodes what it cannot read as UTF-8.
    #[test]
    fn engine_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        analyse(String::from_utf8_lossy(&bytes).into_owned())?;
    }

    /// Arbitrary strings built from Python-ish pieces, so that the rules actually run.
    #[test]
    fn engine_survives_python_shaped_strings(pieces in prop::collection::vec(snippet(), 0..40)) {
        analyse(pieces.concat())?;
    }
}

/// One mutation of a byte string: where (as a fraction of its length), how much, what.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteBytes { at: f64, len: usize },
    DeleteLine { at: f64 },
    DuplicateLine { at: f64 },
    Insert { at: f64, text: String },
    SwapLines { a: f64, b: f64 },
    ReplaceByte { at: f64, byte: u8 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..=1.0f64;
    prop_oneof![
        (at.clone(), 1..16usize).prop_map(|(at, len)| Mutation::DeleteBytes { at, len }),
        at.clone().prop_map(|at| Mutation::DeleteLine { at }),
        at.clone().prop_map(|at| Mutation::DuplicateLine { at }),
        (at.clone(), snippet()).prop_map(|(at, text)| Mutation::Insert { at, text }),
        (at.clone(), at.clone()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        (at, any::<u8>()).prop_map(|(at, byte)| Mutation::ReplaceByte { at, byte }),
    ]
}

fn index(at: f64, len: usize) -> usize {
    ((at * len as f64) as usize).min(len)
}

fn line_bounds(bytes: &[u8], at: f64) -> Range<usize> {
    let i = index(at, bytes.len());
    let start = bytes[..i]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let end = bytes[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| i + p + 1);
    start..end
}

fn mutate(text: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for mutation in mutations {
        match mutation {
            Mutation::DeleteBytes { at, len } => {
                let start = index(*at, bytes.len());
                let end = (start + len).min(bytes.len());
                bytes.drain(start..end);
            }
            Mutation::DeleteLine { at } => {
                let line = line_bounds(&bytes, *at);
                bytes.drain(line);
            }
            Mutation::DuplicateLine { at } => {
                let line = line_bounds(&bytes, *at);
                let copy = bytes[line.clone()].to_vec();
                bytes.splice(line.start..line.start, copy);
            }
            Mutation::Insert { at, text } => {
                let i = index(*at, bytes.len());
                bytes.splice(i..i, text.bytes());
            }
            Mutation::SwapLines { a, b } => {
                let (first, second) = (line_bounds(&bytes, *a), line_bounds(&bytes, *b));
                let (first, second) = if first.start <= second.start {
                    (first, second)
                } else {
                    (second, first)
                };
                if first.end <= second.start {
                    let mut out = bytes[..first.start].to_vec();
                    out.extend_from_slice(&bytes[second.clone()]);
                    out.extend_from_slice(&bytes[first.end..second.start]);
                    out.extend_from_slice(&bytes[first.clone()]);
                    out.extend_from_slice(&bytes[second.end..]);
                    bytes = out;
                }
            }
            Mutation::ReplaceByte { at, byte } => {
                if !bytes.is_empty() {
                    let i = index(*at, bytes.len() - 1);
                    bytes[i] = *byte;
                }
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(config(1_000))]

    /// Real Python from the fixtures with random deletions, insertions, duplications and swaps.
    #[test]
    fn engine_survives_mutated_fixtures(
        file in 0..1_000usize,
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let corpus = corpus();
        let (_, text) = &corpus[file % corpus.len()];
        let bytes = mutate(text, &mutations);
        analyse(String::from_utf8_lossy(&bytes).into_owned())?;
    }

    /// Every prefix of the mutation is half-typed code too: cut the mutated file anywhere.
    #[test]
    fn engine_survives_truncated_mutations(
        file in 0..1_000usize,
        mutations in prop::collection::vec(mutation(), 0..4),
        cut in 0.0..=1.0f64,
    ) {
        let corpus = corpus();
        let (_, text) = &corpus[file % corpus.len()];
        let mut bytes = mutate(text, &mutations);
        bytes.truncate(index(cut, bytes.len()));
        analyse(String::from_utf8_lossy(&bytes).into_owned())?;
    }
}

include!("oracles/naive_offset.rs");

#[derive(Debug, Clone)]
struct EditSpec {
    start: (u32, u32),
    end: (u32, u32),
    text: String,
    /// A full-text replacement instead of a ranged change.
    full: bool,
}

fn edit_spec() -> impl Strategy<Value = EditSpec> {
    // Lines and columns reach past the end of the document on purpose: they must clamp.
    let point = (0..70u32, prop_oneof![4 => 0..30u32, 1 => 0..200u32]);
    (point.clone(), point, snippet(), prop::bool::weighted(0.02)).prop_map(
        |(start, end, text, full)| EditSpec {
            start,
            end,
            text,
            full,
        },
    )
}

fn nodes_sexp(file: &SourceFile) -> (String, String) {
    (file.tree().root_node().to_sexp(), file.root().to_sexp())
}

/// A diagnostic as compared between the incremental and the fresh parse.
type Finding = (&'static str, Range<usize>, Vec<Range<usize>>, String);

fn codes(file: &SourceFile) -> Vec<Finding> {
    engine::check(file, settings(), None)
        .into_iter()
        .map(|d| {
            (
                d.rule.code,
                d.range,
                d.related.into_iter().map(|r| r.range).collect(),
                d.message,
            )
        })
        .collect()
}

/// Random `didChange` notifications through the server's own document code: the text is the
/// oracle's, and the tree and diagnostics are those of a fresh parse, after every version.
#[test]
fn incremental_edits_match_a_fresh_parse() {
    let strategy = (
        0..1_000usize,
        any::<bool>(),
        prop::collection::vec(prop::collection::vec(edit_spec(), 1..4), 1..25),
    );
    let edits = AtomicUsize::new(0);
    let mut runner = TestRunner::new(config(300));
    let result = runner.run(&strategy, |(file, utf8, notifications)| {
        let encoding = if utf8 {
            PositionEncoding::Utf8
        } else {
            PositionEncoding::Utf16
        };
        let corpus = corpus();
        let (_, start) = &corpus[file % corpus.len()];
        let mut expected = start.clone();
        let mut document = Document::new(expected.clone(), 0);
        for (version, specs) in notifications.iter().enumerate() {
            let version = version as i32 + 1;
            let mut changes = Vec::new();
            for spec in specs {
                edits.fetch_add(1, Ordering::Relaxed);
                if spec.full {
                    expected = spec.text.clone();
                    changes.push(TextDocumentContentChangeEvent {
                        range: None,
                        range_length: None,
                        text: spec.text.clone(),
                    });
                    continue;
                }
                let mut start = Position::new(spec.start.0, spec.start.1);
                let mut end = Position::new(spec.end.0, spec.end.1);
                let mut a = naive_offset(&expected, start, encoding);
                let mut b = naive_offset(&expected, end, encoding);
                if a > b {
                    std::mem::swap(&mut start, &mut end);
                    std::mem::swap(&mut a, &mut b);
                }
                expected.replace_range(a..b, &spec.text);
                changes.push(TextDocumentContentChangeEvent {
                    range: Some(LspRange::new(start, end)),
                    range_length: None,
                    text: spec.text.clone(),
                });
            }
            prop_assert!(document.apply_changes(&changes, version, encoding).is_ok());
            prop_assert_eq!(document.version(), version);
            prop_assert_eq!(document.file().text(), expected.as_str());
            prop_assert_eq!(document.rope().to_string(), expected.clone());
            let fresh = SourceFile::parse(expected.clone());
            prop_assert_eq!(
                nodes_sexp(document.file()),
                nodes_sexp(&fresh),
                "version {}",
                version
            );
            let diagnostics = engine::check(document.file(), settings(), None);
            check_diagnostics(&expected, &diagnostics)?;
            prop_assert_eq!(codes(document.file()), codes(&fresh), "version {}", version);
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    eprintln!(
        "incremental: {} edit sequences, {} edits",
        config(300).cases,
        edits.load(Ordering::Relaxed)
    );
}

/// A generated N+1 loop: random names, ORM, query shape, key expression and loop form.
#[derive(Debug, Clone)]
struct LoopCase {
    model: String,
    column: String,
    var: String,
    iterable: String,
    result: String,
    function: String,
    shape: usize,
    key: usize,
    form: usize,
    indent: &'static str,
    queries: usize,
    tail: bool,
}

fn identifier() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z][a-z0-9_]{0,8}",
        1 => prop::sample::select(&["ùid", "𝔲𝔦𝔡", "ключ", "_", "row", "keys", "chunk", "start"][..])
            .prop_map(str::to_string),
    ]
    .prop_filter("not a keyword", |name| {
        !matches!(
            name.as_str(),
            "if" | "in"
                | "is"
                | "or"
                | "and"
                | "as"
                | "def"
                | "for"
                | "del"
                | "not"
                | "try"
                | "with"
                | "else"
                | "elif"
                | "pass"
                | "from"
                | "None"
                | "True"
                | "False"
                | "while"
                | "break"
                | "class"
                | "raise"
                | "yield"
                | "async"
                | "await"
                | "assert"
                | "global"
                | "lambda"
                | "return"
                | "import"
                | "except"
                | "finally"
                | "continue"
                | "nonlocal"
                | "match"
                | "case"
                | "type"
                | "print"
                | "exec"
        )
    })
}

prop_compose! {
    fn loop_case()(
        model in "[A-Z][a-z]{0,6}",
        column in identifier(),
        var in identifier(),
        iterable in identifier(),
        result in identifier(),
        function in identifier(),
        shape in 0..QUERY_SHAPES,
        key in 0..3usize,
        form in 0..4usize,
        indent in prop::sample::select(&["    ", "  ", "\t", "        "][..]),
        queries in 1..4usize,
        tail in any::<bool>(),
    ) -> LoopCase {
        LoopCase {
            model,
            column,
            var,
            iterable,
            result,
            function,
            shape,
            key,
            form,
            indent,
            queries,
            tail,
        }
    }
}

const QUERY_SHAPES: usize = 16;

fn query(shape: usize, model: &str, column: &str, key: &str) -> String {
    match shape {
        0 => format!("session.query({model}).filter({model}.{column} == {key}).all()"),
        1 => format!("session.query({model}).filter_by({column}={key}).all()"),
        2 => format!("{model}.query.filter_by({column}={key}).first()"),
        3 => format!("session.query({model}).filter({model}.{column} == {key}).one()"),
        4 => format!("session.query({model}).filter_by({column}={key}).one_or_none()"),
        5 => format!("session.query({model}).filter_by({column}={key}).count()"),
        6 => format!("session.get({model}, {key})"),
        7 => format!("{model}.query.get({key})"),
        8 => format!("session.scalars(select({model}).where({model}.{column} == {key})).all()"),
        9 => format!(
            "session.execute(select({model}).where({model}.{column} == {key})).scalars().all()"
        ),
        10 => format!("list({model}.objects.filter({column}_id={key}))"),
        11 => format!("{model}.objects.get(pk={key})"),
        12 => format!("{model}.objects.filter({column}_id={key}).exists()"),
        13 => format!("{model}.objects.filter({column}_id={key}).count()"),
        14 => format!(
            "session.query({model}).filter({model}.{column} == {key}).order_by({model}.id).first()"
        ),
        _ => format!("db.session.query({model}).filter({model}.{column} == {key}).all()"),
    }
}

impl LoopCase {
    fn source(&self) -> String {
        let i = self.indent;
        let (var, model, column) = (&self.var, &self.model, &self.column);
        let key = match self.key {
            0 => var.clone(),
            1 => format!("{var}.id"),
            _ => format!("{var}[\"id\"]"),
        };
        let iterable = format!("{}_", self.iterable);
        let result = format!("{}_", self.result);
        let mut out = format!(
            "from collections import defaultdict\nfrom sqlalchemy import select\n\
             from app.models import {model}\n\n\ndef {}(session, {iterable}):\n",
            self.function
        );
        match self.form {
            // for loop building a dict
            0 | 1 => {
                out += &format!("{i}{result} = {{}}\n{i}for {var} in {iterable}:\n");
                let mut names = Vec::new();
                for q in 0..self.queries {
                    let name = format!("{result}{q}");
                    let shape = (self.shape + q * 5) % QUERY_SHAPES;
                    out += &format!("{i}{i}{name} = {}\n", query(shape, model, column, &key));
                    names.push(name);
                }
                out += &format!("{i}{i}{result}[{key}] = ({},)\n", names.join(", "));
                if self.form == 1 {
                    out += &format!("{i}{i}print({key})\n");
                }
            }
            // list comprehension
            2 => {
                out += &format!(
                    "{i}{result} = [{} for {var} in {iterable}]\n",
                    query(self.shape, model, column, &key)
                );
            }
            // method on a class, with a loop-derived key and nested function after it
            _ => {
                out = format!(
                    "from sqlalchemy import select\nfrom app.models import {model}\n\n\n\
                     class {model}Service:\n{i}def {}(self, session, {iterable}):\n\
                     {i}{i}{result} = []\n{i}{i}for {var} in {iterable}:\n\
                     {i}{i}{i}{result}.append({})\n{i}{i}return {result}\n",
                    self.function,
                    query(self.shape, model, column, &key)
                );
                return out;
            }
        }
        out += &format!("{i}return {result}\n");
        if self.tail {
            out += "\n\ndef after():\n    return [x for x in range(3)]\n";
        }
        out
    }
}

fn unsafe_fixes() -> FixMode {
    FixMode { unsafe_fixes: true }
}

/// Fixes `text` until stable; checks the result parses and that another pass changes nothing.
fn check_fix_is_stable(text: &str) -> Result<usize, TestCaseError> {
    let check =
        |file: &SourceFile| engine::diagnostic::fixes_of(engine::check(file, settings(), None));
    let outcome = fix_until_stable(text, unsafe_fixes(), check);
    prop_assert!(
        outcome.error.is_none(),
        "{:?} for:\n{}",
        outcome.error,
        text
    );
    let fixed = SourceFile::parse(outcome.text.clone());
    prop_assert!(
        !fixed.has_syntax_errors(),
        "the fixed text does not parse:\n{}\n--- from:\n{}",
        outcome.text,
        text
    );
    check_diagnostics(fixed.text(), &engine::check(&fixed, settings(), None))?;
    let again = fix_until_stable(&outcome.text, unsafe_fixes(), check);
    prop_assert_eq!(
        again.applied,
        0,
        "a second pass still fixes:\n{}",
        outcome.text
    );
    prop_assert_eq!(&again.text, &outcome.text);
    Ok(outcome.applied)
}

/// Generated N+1 loops of every query shape: the fixed code parses and is stable.
#[test]
fn fixes_of_generated_loops_parse_and_are_stable() {
    let applied_total = AtomicUsize::new(0);
    let mut runner = TestRunner::new(config(400));
    let result = runner.run(&loop_case(), |case| {
        let text = case.source();
        prop_assume!(!SourceFile::parse(text.clone()).has_syntax_errors());
        let applied = check_fix_is_stable(&text)?;
        applied_total.fetch_add(applied, Ordering::Relaxed);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    eprintln!(
        "fixes: {} generated loops, {} fixes applied",
        config(400).cases,
        applied_total.load(Ordering::Relaxed)
    );
}

#[test]
fn fixes_of_every_fixture_parse_and_are_stable() {
    let mut applied = 0;
    for (path, text) in corpus() {
        if SourceFile::parse(text.clone()).has_syntax_errors() {
            continue;
        }
        applied +=
            check_fix_is_stable(text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    }
    assert!(applied >= 20, "the fixtures are mostly fixable: {applied}");
}

/// The generator really produces N+1s the rules flag and fix; otherwise the fix property would
/// be vacuous.
#[test]
fn generated_loops_are_flagged_and_fixed() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = loop_case();
    let (mut flagged, mut fixed, mut total) = (0, 0, 0);
    for _ in 0..200 {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let file = SourceFile::parse(case.source());
        if file.has_syntax_errors() {
            continue;
        }
        total += 1;
        let diagnostics = engine::check(&file, settings(), None);
        if !diagnostics.is_empty() {
            flagged += 1;
        }
        if diagnostics.iter().any(|d| d.fix.is_some()) {
            fixed += 1;
        }
    }
    assert!(
        flagged * 10 >= total * 8,
        "{flagged} of {total} generated loops flagged"
    );
    assert!(
        fixed * 2 >= total,
        "{fixed} of {total} generated loops fixed"
    );
    eprintln!("generated loops: {total}, flagged {flagged}, with a fix {fixed}");
}
