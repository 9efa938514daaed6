//! inbatch: finds N+1 query patterns in Python ORM code and rewrites them into batched queries.
//!
//! `engine` is pure analysis; `cli` and (later) `lsp` are thin shells around it; `config` finds
//! and reads configuration files for both shells.

pub mod cli;
pub mod config;
pub mod engine;
pub mod lsp;
