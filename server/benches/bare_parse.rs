//! The floor for `inbatch check`: read and parse every file with tree-sitter-python, nothing else,
//! across a rayon pool with the same number of threads. Uses the very `tree-sitter` and
//! `tree-sitter-python` crates inbatch is built with (this bench is part of the same package).
//!
//! Run by `tests/bench/run`; by hand:
//!
//! ```text
//! cargo bench --bench bare_parse -- --files <list of paths, one a line> [--runs 5] [--threads N]
//! ```
//!
//! Prints one JSON object: files, bytes, threads, and the wall time of each run in seconds. Without
//! `--files` (as under `cargo test --all-targets`) it parses one small module and exits.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use tree_sitter::Parser;

thread_local! {
    static PARSER: RefCell<Parser> = RefCell::new(new_parser());
}

fn new_parser() -> Parser {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("tree-sitter-python matches tree-sitter's ABI");
    parser
}

/// Reads and parses one file; returns its size and the node count of its root (so the parse is
/// not optimised away).
fn parse_file(path: &Path) -> (usize, usize) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (0, 0);
    };
    PARSER.with(|parser| {
        let tree = parser.borrow_mut().parse(&text, None);
        (text.len(), tree.map_or(0, |t| t.root_node().child_count()))
    })
}

fn main() {
    let mut files: Option<PathBuf> = None;
    let mut runs = 5usize;
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--files" => files = args.next().map(PathBuf::from),
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).unwrap_or(runs),
            "--threads" => threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(threads),
            _ => {} // `--bench` and filters passed by cargo
        }
    }
    let Some(list) = files else {
        let tree = new_parser().parse("for x in y:\n    f(x)\n", None);
        assert!(tree.is_some_and(|t| !t.root_node().has_error()));
        eprintln!("bare_parse: no --files given; parsed a smoke-test module only");
        return;
    };
    let paths: Vec<PathBuf> = std::fs::read_to_string(&list)
        .expect("the --files list is readable")
        .lines()
        .filter(|line| !line.is_empty())
        .map(PathBuf::from)
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool");
    let mut seconds = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let (total, _nodes) = pool.install(|| {
            paths
                .par_iter()
                .map(|path| parse_file(path.as_path()))
                .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        });
        seconds.push(start.elapsed().as_secs_f64());
        bytes = total;
    }
    let runs: Vec<String> = seconds.iter().map(|s| format!("{s:.6}")).collect();
    println!(
        "{{\"files\": {}, \"bytes\": {bytes}, \"threads\": {threads}, \"seconds\": [{}]}}",
        paths.len(),
        runs.join(", ")
    );
}
