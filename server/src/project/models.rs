//! Building the model index of a run of `inbatch check`: the checked files plus every file of
//! their projects that may declare models (a cheap text test decides which files are parsed).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use super::discovery::{self, Found};
use super::roots::ProjectRoots;
use crate::engine::index::{
    extract_declarations, may_declare_models, module_name, Declarations, ProjectIndex,
};
use crate::engine::settings::Settings;
use crate::engine::source::SourceFile;

/// More files than this under a project root and only the checked files are indexed.
const MAX_INDEXED_FILES: usize = 50_000;

/// Whether a file is a package's `__init__.py`.
fn is_package(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name == "__init__.py")
}

/// The models a file declares, read from disk, its modules named `module`; `None` when it cannot
/// be read or its text cannot declare any (then it is not parsed). The CLI's index and the
/// server's both read files this way.
pub fn read_declarations(path: &Path, module: &str) -> Option<Declarations> {
    let text = std::fs::read_to_string(path).ok()?;
    if !may_declare_models(&text) {
        return None;
    }
    Some(extract_declarations(
        &SourceFile::parse(text),
        module,
        is_package(path),
    ))
}

/// Indexes the models of `checked` files and of the projects they belong to.
/// `extra_text` is a checked file's text that is not on disk (standard input).
pub fn build_index(
    checked: &[PathBuf],
    roots: &mut ProjectRoots,
    settings_for: &mut dyn FnMut(&Path) -> Arc<Settings>,
    extra_text: Option<(&Path, &str)>,
) -> ProjectIndex {
    let mut index = build_index_parsed(checked, &[], roots, settings_for);
    if let Some((path, text)) = extra_text {
        if may_declare_models(text) {
            let root = roots.root_of_file(path);
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
/// The projects' other files are found by [`discovery::walk`], as the server finds them, with
/// the settings `settings_for` gives: what the settings exclude is not the project's, and its
/// models must not resolve the names of the checked files.
pub fn build_index_parsed(
    checked: &[PathBuf],
    read: &[(&Path, Option<&SourceFile>)],
    roots: &mut ProjectRoots,
    settings_for: &mut dyn FnMut(&Path) -> Arc<Settings>,
) -> ProjectIndex {
    let project_roots: BTreeSet<PathBuf> = checked
        .iter()
        .map(|path| roots.root_of_file(path))
        .collect();
    let mut files: BTreeSet<PathBuf> = checked.iter().cloned().collect();
    for root in &project_roots {
        let mut found = Vec::new();
        let walked =
            discovery::walk::<Infallible>(root, &mut |path| Ok(settings_for(path)), &mut |item| {
                if let Found::Python(path, _) = item {
                    found.push(path.to_path_buf());
                    if found.len() > MAX_INDEXED_FILES {
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            });
        let Ok(()) = walked;
        if found.len() <= MAX_INDEXED_FILES {
            files.extend(found);
        }
    }
    let files: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|path| {
            let module = roots.module(&path);
            (path, module)
        })
        .collect();
    let extracted: Vec<(PathBuf, Declarations)> = files
        .into_par_iter()
        .filter_map(|(path, module)| {
            if let Ok(at) = read.binary_search_by(|(read_path, _)| (*read_path).cmp(&path)) {
                let file = read[at].1?;
                let package = is_package(&path);
                return Some((path, extract_declarations(file, &module, package)));
            }
            let models = read_declarations(&path, &module)?;
            Some((path, models))
        })
        .collect();
    let mut index = ProjectIndex::new();
    for (path, models) in extracted {
        index.replace_file(&path, models);
    }
    index
}
