//! The project layer, shared by `inbatch check` and the server (as ruff_workspace serves ruff's
//! CLI and server): which Python files a run or a workspace holds (`discovery`), the folders
//! their module names start from (`roots`), and the project's model and call indexes built from
//! the files on disk (`models`, `calls`). Nothing else walks the file system for Python files,
//! so the two shells check the same files with the same module names and the same exclusions.
//!
//! It reads files and folders but knows neither shell: no terminal, no protocol, no tokio
//! (`server/tests/layering.rs`). Settings come in from the caller, which knows where to find
//! them (`crate::config` for the CLI, the editor's options layered over it for the server).

pub mod calls;
pub mod discovery;
pub mod models;
pub mod roots;

pub use roots::{has_marker, ProjectRoots, MARKERS};
