//! Following calls across the files of a run (INB003): module names for the checked files, and
//! the project's call index built from the summaries their checks returned, completed with the
//! modules they import that were not checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::project::has_marker;
use crate::engine::index::calls::{CallIndex, FileSummary};
use crate::engine::index::{module_name, ProjectIndex};
use crate::engine::rules::{inb003_query_in_loop_via_call, RuleSet};
use crate::engine::settings::Settings;
use crate::engine::source::SourceFile;
use crate::engine::{self, FileOrigin};

/// Module names of files, with each folder's project root looked up once.
#[derive(Default)]
pub struct Modules {
    roots: HashMap<PathBuf, Option<PathBuf>>,
}

impl Modules {
    /// The root a file's absolute imports start from, as [`super::project::project_root`]
    /// finds it: the nearest folder with a project marker. Each folder is looked at once.
    pub fn root(&mut self, path: &Path) -> PathBuf {
        let folder = path.parent().unwrap_or(path);
        self.root_of_folder(folder)
            .unwrap_or_else(|| super::project::without_marker(folder))
    }

    /// The nearest folder at or above `folder` holding a marker, if any.
    fn root_of_folder(&mut self, folder: &Path) -> Option<PathBuf> {
        if let Some(found) = self.roots.get(folder) {
            return found.clone();
        }
        let found = if has_marker(folder) {
            Some(folder.to_path_buf())
        } else {
            folder
                .parent()
                .and_then(|parent| self.root_of_folder(parent))
        };
        self.roots.insert(folder.to_path_buf(), found.clone());
        found
    }

    pub fn module(&mut self, path: &Path) -> String {
        let root = self.root(path);
        module_name(path, &root)
    }

    fn all_roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = self.roots.values().flatten().cloned().collect();
        roots.sort();
        roots.dedup();
        roots
    }
}

/// The call index of a run: the checked files' summaries, plus the summaries of the modules they
/// import (up to `max_depth` imports away) found under their project roots, then resolved.
/// `display` turns a path into the one shown to the user.
pub fn build_index(
    summaries: impl IntoIterator<Item = FileSummary>,
    modules: &mut Modules,
    settings: &Settings,
    models: &ProjectIndex,
    display: &dyn Fn(&Path) -> String,
) -> CallIndex {
    let mut index = CallIndex::new();
    for summary in summaries {
        index.replace_file(summary);
    }
    let roots = modules.all_roots();
    let empty = CallIndex::new();
    let mut rules = RuleSet::empty();
    rules.insert(&inb003_query_in_loop_via_call::RULE);
    for _ in 0..settings.max_call_depth.max(1) {
        let mut missing: Vec<String> = index.missing_modules().into_iter().collect();
        missing.sort();
        let mut added = false;
        for module in missing {
            let Some(path) = find_module(&roots, &module) else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let origin = FileOrigin {
                path: Arc::from(Path::new(&display(&path))),
                module: modules.module(&path),
                calls: &empty,
            };
            let file = SourceFile::parse(text);
            let checked = engine::check_file(&file, settings, rules, models, Some(&origin));
            if let Some(summary) = checked.summary {
                added |= index.replace_file(summary);
            }
        }
        if !added {
            break;
        }
    }
    index.resolve(settings.max_call_depth);
    index
}

/// `app.helpers` under a root: `app/helpers.py` or `app/helpers/__init__.py`.
fn find_module(roots: &[PathBuf], module: &str) -> Option<PathBuf> {
    let relative: PathBuf = module.split('.').collect();
    roots.iter().find_map(|root| {
        let base = root.join(&relative);
        let file = base.with_extension("py");
        if file.is_file() {
            return Some(file);
        }
        let package = base.join("__init__.py");
        package.is_file().then_some(package)
    })
}
