//! Helpers shared by the integration tests: running the built binary.
// Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// One loop with one `session.get` keyed by the loop variable: a single INB001 at row 3.
pub const N_PLUS_ONE: &str =
    "def f(session, ids):\n    for uid in ids:\n        print(session.get(User, uid))\n";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("server/ sits in the repository")
        .to_path_buf()
}

pub fn inbatch() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_inbatch"));
    command.env_remove("NO_COLOR").current_dir(repo_root());
    command
}

pub fn run(args: &[&str]) -> Output {
    inbatch()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the inbatch binary runs")
}

/// `inbatch check <args>` run in `dir`, with nothing on standard input.
pub fn check_in(dir: &Path, args: &[&str]) -> Output {
    inbatch()
        .current_dir(dir)
        .arg("check")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the inbatch binary runs")
}

/// `inbatch check <args>` with `input` on standard input (`args` name `-` or `--stdin-filename`).
/// The input is written from a thread while the output is read, so an input larger than the
/// pipe's buffer cannot deadlock against an output larger than its own.
pub fn check_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut command = inbatch();
    command.arg("check").args(args);
    output_with_stdin(command, input)
}

/// Runs `command` with `input` on standard input (see [`check_stdin`]).
pub fn output_with_stdin(mut command: Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the inbatch binary runs");
    let mut stdin = child.stdin.take().expect("standard input is piped");
    let input = input.to_vec();
    // The binary may exit before reading all of its input (a usage error): not this helper's failure.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("the inbatch binary runs");
    writer.join().expect("the writer thread does not panic");
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// The N+1 rules: off by default (under 90 % precise on real code), selected by the tests that
/// probe them.
pub const N_PLUS_ONE_RULES: [&str; 4] = ["INB001", "INB002", "INB003", "INB005"];

/// The default settings with the N+1 rules selected, as `extend-select` does: the rules that ran
/// without configuration before they were turned off by default.
pub fn settings_with_n_plus_one_rules() -> inbatch::engine::settings::Settings {
    let mut settings = inbatch::engine::settings::Settings::default();
    for code in N_PLUS_ONE_RULES {
        settings
            .rules
            .insert(inbatch::engine::rules::find(code).expect("a rule of the registry"));
    }
    settings
}
