//! The process exit codes of both shells (`inbatch check` and `inbatch server`).

/// Nothing to report.
pub const CLEAN: u8 = 0;
/// `check` found diagnostics.
pub const DIAGNOSTICS: u8 = 1;
/// A usage, configuration or I/O error (and a server that could not run).
pub const ERROR: u8 = 2;
