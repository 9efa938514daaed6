//! Helpers shared by the integration tests: running the built binary.
// Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}
