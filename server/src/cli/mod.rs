//! The command-line shell: argument parsing and dispatch. No rule logic lives here.

mod check;
mod github;
mod location;
mod output;
mod rule;
mod sarif;
mod write;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "inbatch",
    version,
    about = "Finds N+1 query patterns in Python ORM code and rewrites them into batched queries"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check Python files for N+1 query patterns.
    Check(CheckArgs),
    /// Show a rule's documentation.
    Rule(RuleArgs),
    /// Run the language server (LSP over standard input and output).
    Server(crate::lsp::ServerArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Diagnostics with a source excerpt, like rustc and ruff.
    Text,
    /// One line per diagnostic: `path:row:col: CODE message`.
    Concise,
    /// A JSON list of diagnostics.
    Json,
    /// A SARIF 2.1.0 log, for code scanning (GitHub, Azure DevOps).
    Sarif,
    /// GitHub Actions annotations (`::warning file=...,line=...::message`).
    Github,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files or folders to check; `-` reads standard input. Defaults to the current folder.
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Only these rules (comma-separated codes or prefixes, `ALL`); replaces the configured `select`.
    #[arg(long, value_delimiter = ',')]
    pub select: Option<Vec<String>>,
    /// Also these rules (comma-separated codes or prefixes): turns on rules that are off by
    /// default, such as the N+1 rules (`--extend-select INB001,INB002,INB003,INB005`).
    #[arg(long, value_delimiter = ',')]
    pub extend_select: Vec<String>,
    /// Skip these rules (comma-separated codes or prefixes).
    #[arg(long, value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// Use this configuration file instead of discovering `inbatch.toml`/`pyproject.toml`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The file name to report (and to find configuration for) when reading standard input.
    #[arg(long)]
    pub stdin_filename: Option<PathBuf>,
    /// Print the number of diagnostics per rule instead of the diagnostics.
    #[arg(long)]
    pub statistics: bool,
    /// Apply `exclude` settings even to files named on the command line (for pre-commit).
    #[arg(long)]
    pub force_exclude: bool,
    /// Apply safe fixes in place (with `-`, print the fixed text to standard output).
    #[arg(long)]
    pub fix: bool,
    /// Also apply unsafe fixes (batched loop rewrites); implies nothing without `--fix` or `--diff`.
    #[arg(long)]
    pub unsafe_fixes: bool,
    /// Print the fixes as a unified diff instead of writing them; exit 1 if there is any.
    #[arg(long, conflicts_with = "statistics")]
    pub diff: bool,
    /// Never colour the output (also when `NO_COLOR` is set or output is not a terminal).
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Debug, Args)]
pub struct RuleArgs {
    /// Rule code (`INB001`) or name (`query-in-loop`).
    #[arg(required_unless_present = "all")]
    pub code: Option<String>,
    /// Show every rule.
    #[arg(long, conflicts_with = "code")]
    pub all: bool,
}

/// Exit codes of SPEC §4.
pub use crate::exit;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Rule(args) => rule::run(&args),
        Command::Server(args) => crate::lsp::run(&args),
    };
    ExitCode::from(code)
}

/// Writes to standard output. A reader that stops early (`inbatch check . | head -1`) is a normal
/// end: the rest of the output is dropped and the exit code stays the run's. Any other failure
/// (a full disk behind a redirection) is an error.
pub(crate) fn print_stdout(text: &str) -> Result<(), String> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the output: {error}"))
        }
        _ => Ok(()),
    }
}

/// Writes to standard error; a closed standard error loses the message, never the run.
pub(crate) fn print_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}
