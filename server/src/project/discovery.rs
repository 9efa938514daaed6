//! Discovery: the Python files a run of `inbatch check` or a workspace of the server holds, found
//! the one way both shells find them (as ruff does):
//!
//! - the walk honours `.gitignore`, `.ignore` and git's excludes, in a git repository or not, and
//!   enters hidden folders (only the configured excludes skip `.venv`, `.git`, ...);
//! - it does not enter a virtualenv (a folder holding `pyvenv.cfg`) nor a folder the walked
//!   folder's `exclude`/`extend-exclude` name, and drops each file its own settings exclude (a
//!   nested `pyproject.toml` may exclude more); only the names below the walked folder count,
//!   so checking `/srv/dist/proj` does not exclude everything because `dist` is a default exclude;
//! - a path named explicitly (on the command line, by pre-commit) is checked whatever the
//!   settings say, unless `--force-exclude` asks for the settings to apply to it too.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use crate::engine::settings::Settings;

/// What a walk finds, in path order.
pub enum Found<'a> {
    /// A Python file its settings keep, with those settings (resolved once, used for its check).
    Python(&'a Path, &'a Arc<Settings>),
    /// A folder the walk enters, below the walked one (where the server looks for project roots).
    Folder(&'a Path),
    /// An entry that could not be read: a folder without permission, a loop of links.
    Unreadable(String),
}

/// Walks `folder` for Python files (see the module's documentation). `settings_for` gives the
/// settings of a path: the folder's decide which folders are entered, each file's whether it is
/// kept; its error ends the walk. `visit` sees everything found and may stop the walk.
pub fn walk<E>(
    folder: &Path,
    settings_for: &mut dyn FnMut(&Path) -> Result<Arc<Settings>, E>,
    visit: &mut dyn FnMut(Found<'_>) -> ControlFlow<()>,
) -> Result<(), E> {
    let folder_settings = settings_for(folder)?;
    let base = folder.to_path_buf();
    let walker = ignore::WalkBuilder::new(folder)
        .hidden(false)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            !(is_dir
                && entry.depth() > 0
                && (folder_settings.is_excluded_below(entry.path(), &base)
                    || is_virtualenv(entry.path())))
        })
        .build();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                if visit(Found::Unreadable(error.to_string())).is_break() {
                    break;
                }
                continue;
            }
        };
        let path = entry.path();
        let flow = match entry.file_type() {
            Some(kind) if kind.is_dir() && entry.depth() > 0 => visit(Found::Folder(path)),
            Some(kind) if kind.is_file() && path.extension().is_some_and(|ext| ext == "py") => {
                let settings = settings_for(path)?;
                if settings.is_excluded_below(path, folder) {
                    continue;
                }
                visit(Found::Python(path, &settings))
            }
            _ => continue,
        };
        if flow.is_break() {
            break;
        }
    }
    Ok(())
}

/// Whether a path named explicitly is checked: always, unless `force_exclude` and its settings
/// exclude it (the path itself or a folder above it, below the settings' folder).
pub fn keeps_named(path: &Path, settings: &Settings, force_exclude: bool) -> bool {
    !(force_exclude && settings.is_excluded(path))
}

fn is_virtualenv(path: &Path) -> bool {
    path.join("pyvenv.cfg").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::settings::ConfigFormat;
    use std::path::PathBuf;

    fn found_under(root: &Path, config: &str) -> Vec<String> {
        let settings = Arc::new(
            Settings::from_toml(
                config,
                ConfigFormat::InbatchToml,
                &root.join("inbatch.toml"),
            )
            .unwrap()
            .unwrap(),
        );
        let mut found = Vec::new();
        walk::<()>(root, &mut |_| Ok(settings.clone()), &mut |item| {
            if let Found::Python(path, _) = item {
                found.push(path.strip_prefix(root).unwrap().display().to_string());
            }
            ControlFlow::Continue(())
        })
        .unwrap();
        found
    }

    #[test]
    fn skips_ignored_excluded_and_virtualenv_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let files = [
            "app/a.py",
            "app/b.txt",
            "build_out/gen.py",
            "legacy/old.py",
            "venv/lib/site.py",
            ".venv/lib/site.py",
            ".hidden/kept.py",
        ];
        for file in files {
            let path: PathBuf = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        std::fs::write(root.join("venv/pyvenv.cfg"), "").unwrap();
        std::fs::write(root.join(".gitignore"), "build_out/\n").unwrap();
        assert_eq!(
            found_under(root, "extend-exclude = [\"legacy\"]\n"),
            vec![".hidden/kept.py", "app/a.py"]
        );
    }
}
