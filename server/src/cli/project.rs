//! Building the model index for a run of `inbatch check`: the checked files plus every file of
//! their projects that may declare models (a cheap text test decides which files are parsed).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::engine::index::{extract_declarations, may_declare_models, module_name, ProjectIndex};
use crate::engine::settings::Settings;
use crate::engine::source::SourceFile;
pub use crate::project::has_marker;

/// More files than this under a project root and only the checked files are indexed.
const MAX_INDEXED_FILES: usize = 50_000;

/// The folder a file's imports are relative to: the nearest ancestor holding `pyproject.toml`,
/// `setup.py`, `setup.cfg` or `.git`; else the folder the run started in, when the file is in
/// it (every file of the run then names its modules from one root), else the file's own folder.
pub fn project_root(path: &Path) -> PathBuf {
    let start = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(path)
    };
    root_of_folder(start)
}

fn root_of_folder(start: &Path) -> PathBuf {
    let mut current = Some(start);
    while let Some(dir) = current {
        if has_marker(dir) {
            return dir.to_path_buf();
        }
        current = dir.parent();
    }
    without_marker(start)
}

/// The root of a folder no project marker covers: the current folder when it holds it.
pub(super) fn without_marker(folder: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .filter(|cwd| folder.starts_with(cwd))
        .unwrap_or_else(|| folder.to_path_buf())
}

/// Whether a file is a package's `__init__.py`.
fn is_package(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name == "__init__.py")
}

/// [`project_root`] of many files, looking each folder up once.
#[derive(Default)]
struct Roots(HashMap<PathBuf, PathBuf>);

impl Roots {
    fn of_file(&mut self, path: &Path) -> PathBuf {
        let folder = path.parent().unwrap_or(path);
        if let Some(root) = self.0.get(folder) {
            return root.clone();
        }
        let root = root_of_folder(folder);
        self.0.insert(folder.to_path_buf(), root.clone());
        root
    }
}

/// Indexes the models of `checked` files and of the projects they belong to.
pub fn build_index(
    checked: &[PathBuf],
    settings: &Settings,
    extra_text: Option<(&Path, &str)>,
) -> ProjectIndex {
    let mut index = build_index_parsed(checked, &[], settings);
    if let Some((path, text)) = extra_text {
        if may_declare_models(text) {
            let root = project_root(path);
            index.replace_file(
                path,
                extract_declarations(
                    &SourceFile::parse(text),
                    &module_name(path, &root),
                    is_package(path),
                ),
            );
        }
    }
    index
}

/// Indexes the models of `checked` files and of the projects they belong to. `read` holds the
/// checked files the caller has already read (sorted by path), with their tree when their text
/// may declare models and `None` when it cannot: a file is never read or parsed twice in one run.
pub fn build_index_parsed(
    checked: &[PathBuf],
    read: &[(&Path, Option<&SourceFile>)],
    settings: &Settings,
) -> ProjectIndex {
    let mut roots = Roots::default();
    let project_roots: BTreeSet<PathBuf> = checked
        .iter()
        .map(|path| {
            if path.is_dir() {
                project_root(path)
            } else {
                roots.of_file(path)
            }
        })
        .collect();
    let mut files: BTreeSet<PathBuf> = checked.iter().cloned().collect();
    for root in &project_roots {
        let mut found = Vec::new();
        let walker = ignore::WalkBuilder::new(root)
            .hidden(false)
            .require_git(false)
            .filter_entry({
                let settings = settings.clone();
                let root = root.clone();
                move |entry| {
                    let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
                    !(is_dir
                        && entry.depth() > 0
                        && (settings.is_excluded_below(entry.path(), &root)
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
    let files: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|path| {
            let module = module_name(&path, &roots.of_file(&path));
            (path, module)
        })
        .collect();
    let extracted: Vec<(PathBuf, crate::engine::index::Declarations)> = files
        .into_par_iter()
        .filter_map(|(path, module)| {
            if let Ok(at) = read.binary_search_by(|(read_path, _)| (*read_path).cmp(&path)) {
                let file = read[at].1?;
                let package = is_package(&path);
                return Some((path, extract_declarations(file, &module, package)));
            }
            let text = std::fs::read_to_string(&path).ok()?;
            if !may_declare_models(&text) {
                return None;
            }
            let models = extract_declarations(&SourceFile::parse(text), &module, is_package(&path));
            Some((path, models))
        })
        .collect();
    let mut index = ProjectIndex::new();
    for (path, models) in extracted {
        index.replace_file(&path, models);
    }
    index
}
