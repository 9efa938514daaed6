//! inbatch: finds N+1 query patterns in Python ORM code and rewrites them into batched queries.
//!
//! `engine` is pure analysis; `cli` and `lsp` are thin shells around it; `project` finds a
//! project's files, roots and indexes for both shells; `config` finds and reads configuration
//! files for both; `exit` holds their exit codes. `cli` dispatches to `lsp`
//! for `inbatch server`; `lsp` never depends on `cli` (see `tests/layering.rs`).

pub mod cli;
pub mod config;
pub mod engine;
pub mod exit;
pub mod lsp;
pub mod project;
