//! Building the model index for a run of `inbatch check`: the checked files plus every file of
//! their projects that may declare models (a cheap text test decides which files are parsed).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::engine::index::{extract_models, may_declare_models, module_name, ProjectIndex};
use crate::engine::settings::Settings;
use crate::engine::source::SourceFile;

/// More files than this under a project root and only the checked files are indexed.
const MAX_INDEXED_FILES: usize = 50_000;

/// The folder a file's imports are relative to: the nearest ancestor holding `pyproject.toml`,
/// `setup.py`, `setup.cfg` or `.git`; else the file's own folder.
pub fn project_root(path: &Path) -> PathBuf {
    let start = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(path)
    };
    let mut current = Some(start);
    while let Some(dir) = current {
        if [
            "pyproject.toml",
            "setup.py",
            "setup.cfg",
            ".git",
            "inbatch.toml",
        ]
        .iter()
        .any(|marker| dir.join(marker).exists())
        {
            return dir.to_path_buf();
        }
        current = dir.parent();
    }
    start.to_path_buf()
}

/// Indexes the models of `checked` files and of the projects they belong to.
pub fn build_index(
    checked: &[PathBuf],
    settings: &Settings,
    extra_text: Option<(&Path, &str)>,
) -> ProjectIndex {
    let roots: BTreeSet<PathBuf> = checked.iter().map(|path| project_root(path)).collect();
    let mut files: BTreeSet<PathBuf> = checked.iter().cloned().collect();
    for root in &roots {
        let mut found = Vec::new();
        let walker = ignore::WalkBuilder::new(root)
            .hidden(false)
            .require_git(false)
            .filter_entry({
                let settings = settings.clone();
                move |entry| {
                    let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
                    !(is_dir
                        && entry.depth() > 0
                        && (settings.is_excluded(entry.path())
                            || entry.path().join("pyvenv.cfg").is_file()))
                }
            })
            .build();
        for entry in walker.flatten() {
            if entry.file_type().is_some_and(|t| t.is_file())
                && entry.path().extension().is_some_and(|e| e == "py")
            {
                found.push(entry.into_path());
                if found.len() > MAX_INDEXED_FILES {
                    break;
                }
            }
        }
        if found.len() <= MAX_INDEXED_FILES {
            files.extend(found);
        }
    }
    let files: Vec<PathBuf> = files.into_iter().collect();
    let extracted: Vec<(PathBuf, Vec<crate::engine::index::Model>)> = files
        .par_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            if !may_declare_models(&text) {
                return None;
            }
            let root = project_root(path);
            let models = extract_models(&SourceFile::parse(text), &module_name(path, &root));
            Some((path.clone(), models))
        })
        .collect();
    let mut index = ProjectIndex::new();
    for (path, models) in extracted {
        index.replace_file(&path, models);
    }
    if let Some((path, text)) = extra_text {
        if may_declare_models(text) {
            let root = project_root(path);
            index.replace_file(
                path,
                extract_models(&SourceFile::parse(text), &module_name(path, &root)),
            );
        }
    }
    index
}
