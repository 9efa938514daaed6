use std::process::ExitCode;

fn main() -> ExitCode {
    inbatch::cli::main()
}
