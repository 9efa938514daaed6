//! The language server's incremental path: random `didChange` edits through its own `Document`
//! must give the same text, tree and diagnostics as a fresh parse of the final text.
#![no_main]

use arbitrary::Unstructured;
use inbatch::engine::source::SourceFile;
use inbatch::lsp::document::Document;
use inbatch::lsp::position::PositionEncoding;
use libfuzzer_sys::fuzz_target;
use tower_lsp_server::ls_types::{Position, Range, TextDocumentContentChangeEvent};

const PIECES: &[&str] = &[
    "",
    "x",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "    ",
    "🎉",
    "é",
    "(",
    ")",
    ":",
    "\"",
    "\"\"\"",
    "#",
    "uid",
    "for uid in ids:\n",
    "    rows = Session.query.filter_by(user_id=uid).all()\n",
    "session.get(User, uid)",
    "def f(ids):\n",
    "# noqa",
    "[session.get(M, i) for i in ids]",
];

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(fixture) = u.choose(inbatch_fuzz::FIXTURES) else {
        return;
    };
    let encoding = if u.arbitrary::<bool>().unwrap_or(false) {
        PositionEncoding::Utf8
    } else {
        PositionEncoding::Utf16
    };
    let mut document = Document::new(fixture.to_string(), 0);
    let mut version = 0;
    // Unstructured keeps answering once its bytes run out: stop there, and after 64 versions.
    while !u.is_empty() && version < 64 {
        let Ok(count) = u.int_in_range(1..=3u8) else {
            break;
        };
        let mut changes = Vec::new();
        for _ in 0..count {
            let (Ok(a), Ok(b), Ok(c), Ok(d)) = (
                u.int_in_range(0..=80u32),
                u.int_in_range(0..=60u32),
                u.int_in_range(0..=80u32),
                u.int_in_range(0..=60u32),
            ) else {
                break;
            };
            let text = if u.ratio(1, 4).unwrap_or(false) {
                u.arbitrary::<&str>().unwrap_or("").to_string()
            } else {
                u.choose(PIECES).map(|s| s.to_string()).unwrap_or_default()
            };
            let (mut start, mut end) = (Position::new(a, b), Position::new(c, d));
            if (c, d) < (a, b) {
                std::mem::swap(&mut start, &mut end);
            }
            changes.push(TextDocumentContentChangeEvent {
                range: Some(Range::new(start, end)),
                range_length: None,
                text,
            });
        }
        version += 1;
        // A reversed range (same line order but clamped differently) may be refused: the
        // document then waits for a full text, which is part of the contract, not a failure.
        if std::env::var_os("INBATCH_FUZZ_TRACE").is_some() {
            eprintln!("version {version}: {changes:?}");
        }
        let _ = document.apply_changes(&changes, version, encoding);
        if !document.in_sync() {
            return;
        }
        let text = document.file().text().to_string();
        assert_eq!(document.rope().to_string(), text);
        // The raw incremental tree may recover from a syntax error differently from a fresh
        // parse (the server keeps it, issue #21); the tree the analysis reads must not.
        let fresh = SourceFile::parse(text.clone());
        assert_eq!(document.file().root().to_sexp(), fresh.root().to_sexp());
        let incremental = inbatch_fuzz::analyse(text.clone());
        let settings = inbatch_fuzz::settings();
        let ours = inbatch::engine::check(document.file(), settings, None);
        let ranges = |d: &[inbatch::engine::diagnostic::Diagnostic]| {
            d.iter()
                .map(|d| (d.rule.code, d.range.clone(), d.message.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ranges(&ours), ranges(&incremental));
    }
});
