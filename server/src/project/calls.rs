//! Following calls across the files of a run (INB003): module names for the checked files, and
//! the project's call index built from the summaries their checks returned, completed with the
//! modules they import that were not checked.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::roots::ProjectRoots;
use crate::engine::index::calls::{CallIndex, FileSummary};
use crate::engine::index::ProjectIndex;
use crate::engine::rules::{inb003_query_in_loop_via_call, RuleSet};
use crate::engine::settings::Settings;
use crate::engine::source::SourceFile;
use crate::engine::{self, FileOrigin};

/// The call index of a run: the checked files' summaries, plus the summaries of the modules they
/// import (up to `max_depth` imports away) found under their project roots (those `roots` has
/// found for the checked files), then resolved.
/// A module its settings exclude is not followed, as the server's workspace does not hold it.
/// `display` turns a path into the one shown to the user.
pub fn build_index(
    summaries: impl IntoIterator<Item = FileSummary>,
    roots: &mut ProjectRoots,
    settings: &Settings,
    settings_for: &mut dyn FnMut(&Path) -> Arc<Settings>,
    models: &ProjectIndex,
    display: &dyn Fn(&Path) -> String,
) -> CallIndex {
    let mut index = CallIndex::new();
    for summary in summaries {
        index.replace_file(summary);
    }
    let marked = roots.marked_roots();
    let empty = CallIndex::new();
    let mut rules = RuleSet::empty();
    rules.insert(&inb003_query_in_loop_via_call::RULE);
    for _ in 0..settings.max_call_depth.max(1) {
        let mut missing: Vec<String> = index.missing_modules().into_iter().collect();
        missing.sort();
        let mut added = false;
        for module in missing {
            let Some(path) = find_module(&marked, &module, &mut |path, root| {
                !settings_for(path).is_excluded_below(path, root)
            }) else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let origin = FileOrigin {
                path: Arc::from(Path::new(&display(&path))),
                module: roots.module(&path),
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

/// `app.helpers` under the first root that has it and `keeps` it (given the file and its root):
/// `app/helpers.py` or `app/helpers/__init__.py`.
fn find_module(
    roots: &[PathBuf],
    module: &str,
    keeps: &mut dyn FnMut(&Path, &Path) -> bool,
) -> Option<PathBuf> {
    let relative: PathBuf = module.split('.').collect();
    roots.iter().find_map(|root| {
        let base = root.join(&relative);
        let file = base.with_extension("py");
        let found = if file.is_file() {
            file
        } else {
            base.join("__init__.py")
        };
        (found.is_file() && keeps(&found, root)).then_some(found)
    })
}
