//! Project roots: the folders module names start from. A folder holding `pyproject.toml`,
//! `setup.py`, `setup.cfg`, `.git` or `inbatch.toml` is a project's root; a file's modules are
//! named from the nearest one at or above its folder. `inbatch check` and the server use these
//! same markers, so that the same files get the same module names (and so the same findings) in
//! both.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::engine::index::module_name;

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

/// The project roots of many files, each folder looked at once: the one cache of a run.
#[derive(Debug, Default)]
pub struct ProjectRoots {
    /// Where a file no marker covers names its modules from: the innermost of these holding it
    /// (the folder `inbatch check` runs in, the server's workspace folders), else its own folder.
    fallbacks: Vec<PathBuf>,
    /// Each folder looked at, with the nearest folder at or above it that holds a marker.
    marked: HashMap<PathBuf, Option<PathBuf>>,
}

impl ProjectRoots {
    pub fn new(fallbacks: Vec<PathBuf>) -> ProjectRoots {
        ProjectRoots {
            fallbacks,
            marked: HashMap::new(),
        }
    }

    /// The root a file's absolute imports start from.
    pub fn root_of_file(&mut self, path: &Path) -> PathBuf {
        self.root_of_folder(path.parent().unwrap_or(path))
    }

    /// The root of the files of `folder`.
    pub fn root_of_folder(&mut self, folder: &Path) -> PathBuf {
        if let Some(marked) = self.marked_root(folder) {
            return marked;
        }
        self.fallbacks
            .iter()
            .filter(|fallback| folder.starts_with(fallback))
            .max_by_key(|fallback| fallback.as_os_str().len())
            .unwrap_or(&folder.to_path_buf())
            .clone()
    }

    /// The dotted module name of a file: `app/models.py` under its root → `app.models`.
    pub fn module(&mut self, path: &Path) -> String {
        let root = self.root_of_file(path);
        module_name(path, &root)
    }

    /// The marked roots found so far, sorted: where the modules a run imports are looked for.
    pub fn marked_roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = self.marked.values().flatten().cloned().collect();
        roots.sort();
        roots.dedup();
        roots
    }

    /// The nearest folder at or above `folder` holding a marker, if any.
    fn marked_root(&mut self, folder: &Path) -> Option<PathBuf> {
        if let Some(found) = self.marked.get(folder) {
            return found.clone();
        }
        let found = if has_marker(folder) {
            Some(folder.to_path_buf())
        } else {
            folder.parent().and_then(|parent| self.marked_root(parent))
        };
        self.marked.insert(folder.to_path_buf(), found.clone());
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_marker_wins_then_the_innermost_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("svc/app")).unwrap();
        std::fs::create_dir_all(root.join("loose/pkg")).unwrap();
        std::fs::write(root.join("svc/pyproject.toml"), "").unwrap();
        let mut roots = ProjectRoots::new(vec![root.to_path_buf(), root.join("loose")]);
        assert_eq!(
            roots.root_of_file(&root.join("svc/app/views.py")),
            root.join("svc")
        );
        assert_eq!(roots.module(&root.join("svc/app/views.py")), "app.views");
        assert_eq!(roots.module(&root.join("loose/pkg/mod.py")), "pkg.mod");
        assert_eq!(roots.marked_roots(), vec![root.join("svc")]);
        let mut alone = ProjectRoots::default();
        assert_eq!(
            alone.root_of_folder(&root.join("loose/pkg")),
            root.join("loose/pkg")
        );
    }
}
