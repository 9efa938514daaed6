//! What both shells agree a project is: the folders module names start from. A folder holding
//! `pyproject.toml`, `setup.py`, `setup.cfg`, `.git` or `inbatch.toml` is a project's root; a
//! file's modules are named from the nearest one above it. `inbatch check` and the server use
//! these same markers, so that the same files get the same module names (and so the same
//! findings) in both.

use std::path::Path;

/// The files whose folder is a project's root.
pub const MARKERS: [&str; 5] = [
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    ".git",
    "inbatch.toml",
];

/// Whether a folder holds a file that marks a project's root.
pub fn has_marker(dir: &Path) -> bool {
    MARKERS.iter().any(|marker| dir.join(marker).exists())
}
