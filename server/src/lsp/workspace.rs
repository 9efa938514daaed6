//! The workspace: indexing the folders' Python files in the background (reported through
//! `$/progress`): first the models they declare, for every analysis, then their diagnostics, for
//! `workspace/diagnostic`; and following file-watch events.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ropey::Rope;
use tower_lsp_server::ls_types::{
    self as lsp, DidChangeWatchedFilesParams, DidChangeWatchedFilesRegistrationOptions,
    FileChangeType, FileSystemWatcher, GlobPattern, ProgressToken, Registration, Uri,
};
use tower_lsp_server::Client;

use super::diagnostics;
use super::position::PositionEncoding;
use super::session::{file_path, Effects, Session};
use super::{send_effects, Shared};
use crate::config::CONFIG_FILE_NAMES;
use crate::engine::index::calls::{CallIndex, FileSummary};
use crate::engine::index::{extract_declarations, may_declare_models, module_name, ProjectIndex};
use crate::engine::settings::{Settings, DEFAULT_EXCLUDES};
use crate::engine::source::SourceFile;
use crate::engine::Fixes;

/// Files analysed between two progress reports and two takes of the session lock.
const BATCH: usize = 32;

#[derive(Default)]
pub struct WorkspaceIndex {
    pub folders: Vec<PathBuf>,
    /// The models the workspace's files declare, as last read from disk (an open document's own
    /// models come from its current text).
    pub models: Arc<ProjectIndex>,
    /// The files that declare models, so that an edit to any other file leaves `models` alone.
    pub model_files: HashSet<PathBuf>,
    /// Diagnostics of the workspace's files as last read from disk.
    pub files: HashMap<Uri, FileReport>,
    /// Bumped by every new scan, so that a scan overtaken by a newer one stops.
    pub generation: u64,
}

pub struct FileReport {
    pub diagnostics: Vec<lsp::Diagnostic>,
    pub result_id: String,
}

impl WorkspaceIndex {
    pub fn new(folders: Vec<PathBuf>) -> WorkspaceIndex {
        WorkspaceIndex {
            folders,
            ..WorkspaceIndex::default()
        }
    }
}

/// Reads and analyses one file from disk; `None` when it cannot be read as UTF-8 or its analysis
/// panics (logged: one bad file must not stop the scan).
pub fn analyse_file(
    path: &Path,
    settings: &Settings,
    encoding: PositionEncoding,
    models: &ProjectIndex,
) -> Option<(Uri, FileReport, Option<FileSummary>)> {
    let uri = Uri::from_file_path(path)?;
    let text = std::fs::read_to_string(path).ok()?;
    let file = SourceFile::parse(text);
    let (found, summary) =
        match diagnostics::analyse_with_summary(&file, settings, Some(path), models, Fixes::Skip) {
            Ok(checked) => (checked.diagnostics, checked.summary),
            Err(panic) => {
                tracing::error!(uri = uri.as_str(), "analysis panicked: {panic}");
                return None;
            }
        };
    let rope = Rope::from_str(file.text());
    let lsp: Vec<lsp::Diagnostic> = found
        .iter()
        .map(|d| diagnostics::to_lsp(d, &uri, &rope, encoding))
        .collect();
    let result_id = diagnostics::result_id(&lsp);
    Some((
        uri,
        FileReport {
            diagnostics: lsp,
            result_id,
        },
        summary,
    ))
}

/// Reads the models declared by `paths` into `index` (only files whose text may declare some
/// are parsed; a file that cannot be read declares none); returns the files that declare some.
fn read_models(
    index: &mut ProjectIndex,
    paths: &[PathBuf],
    folders: &[PathBuf],
) -> HashSet<PathBuf> {
    let mut declaring = HashSet::new();
    for path in paths {
        let models = std::fs::read_to_string(path)
            .ok()
            .filter(|text| may_declare_models(text))
            .map(|text| {
                let root = folders
                    .iter()
                    .filter(|folder| path.starts_with(folder))
                    .max_by_key(|folder| folder.as_os_str().len())
                    .map_or_else(|| path.parent().unwrap_or(path).to_path_buf(), Clone::clone);
                let package = path.file_name().is_some_and(|name| name == "__init__.py");
                extract_declarations(&SourceFile::parse(text), &module_name(path, &root), package)
            })
            .unwrap_or_default();
        if !models.is_empty() {
            declaring.insert(path.clone());
        }
        index.replace_file(path, models);
    }
    declaring
}

/// The Python files under the folders, skipping version-control, tool and virtualenv folders.
fn python_files(folders: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for folder in folders {
        let walker = ignore::WalkBuilder::new(folder)
            .hidden(false)
            .require_git(false)
            .filter_entry(|entry| {
                let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
                let skipped = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|name| DEFAULT_EXCLUDES.contains(&name))
                    || entry.path().join("pyvenv.cfg").is_file();
                !(is_dir && entry.depth() > 0 && skipped)
            })
            .build();
        files.extend(walker.flatten().filter_map(|entry| {
            let is_python = entry.file_type().is_some_and(|t| t.is_file())
                && entry.path().extension().is_some_and(|ext| ext == "py");
            is_python.then(|| entry.into_path())
        }));
    }
    files.sort();
    files.dedup();
    files
}

/// Scans the workspace folders in the background, reporting `$/progress` when the client
/// supports it. A scan started later (after a configuration change) makes this one stop.
pub async fn index(shared: Shared) {
    let client = &shared.client;
    let (folders, generation, progress_supported) = {
        let mut session = shared.lock();
        session.index.generation += 1;
        (
            session.index.folders.clone(),
            session.index.generation,
            session.features.work_done_progress,
        )
    };
    if folders.is_empty() {
        return;
    }
    let token = ProgressToken::String(format!("inbatch/index/{generation}"));
    let progress = if progress_supported
        && client
            .create_work_done_progress(token.clone())
            .await
            .is_ok()
    {
        Some(
            client
                .progress(token, "inbatch: indexing")
                .with_percentage(0)
                .begin()
                .await,
        )
    } else {
        None
    };
    let models_folders = folders.clone();
    let files = tokio::task::spawn_blocking(move || {
        let files = python_files(&models_folders);
        let mut models = ProjectIndex::new();
        let declaring = read_models(&mut models, &files, &models_folders);
        (files, models, declaring)
    })
    .await
    .unwrap_or_default();
    let (files, mut models, declaring) = files;
    models.roots = folders.clone();
    let effects = {
        let mut session = shared.lock();
        if session.index.generation != generation {
            return;
        }
        session.index.model_files = declaring;
        models.calls = session.index.models.calls.clone();
        session.set_models(models)
    };
    send_effects(&shared, effects).await;
    let total = files.len();
    let mut done = 0;
    let mut errors = Vec::new();
    let mut summaries = Vec::new();
    let mut max_depth = 0;
    for batch in files.chunks(BATCH) {
        let (jobs, encoding, models) = {
            let mut session = shared.lock();
            if session.index.generation != generation {
                return;
            }
            let mut effects = Effects::default();
            let jobs = jobs_for(&mut session, batch, &mut effects);
            errors.extend(effects.messages);
            (jobs, session.encoding, session.index.models.clone())
        };
        for (_, settings) in &jobs {
            max_depth = max_depth.max(settings.max_call_depth);
        }
        let reports = analyse_jobs(jobs, encoding, models).await;
        {
            let mut session = shared.lock();
            if session.index.generation != generation {
                return;
            }
            for (uri, report, summary) in reports {
                session.index.files.insert(uri, report);
                summaries.extend(summary);
            }
        }
        done += batch.len();
        if let Some(progress) = &progress {
            let percentage = u32::try_from(done * 100 / total.max(1)).unwrap_or(100);
            progress
                .report_with_message(format!("{done}/{total} files"), percentage)
                .await;
        }
    }
    send_effects(
        &shared,
        Effects {
            messages: errors,
            ..Effects::default()
        },
    )
    .await;
    if let Some(progress) = progress {
        progress
            .finish_with_message(format!("{total} files indexed"))
            .await;
    }
    tracing::info!("indexed {total} files");
    set_calls(&shared, generation, summaries, max_depth).await;
    refresh_pulled_diagnostics(&shared).await;
}

/// After a scan: the call index of every file read from disk, open documents' own summaries
/// (from their current text) taking precedence. Open documents are analysed again with it, and
/// the files whose loop calls reach a query through another file are re-read.
async fn set_calls(
    shared: &Shared,
    generation: u64,
    summaries: Vec<FileSummary>,
    max_depth: usize,
) {
    let (jobs, encoding, models, effects) = {
        let mut session = shared.lock();
        if session.index.generation != generation {
            return;
        }
        let mut calls = CallIndex::new();
        let open: HashSet<PathBuf> = session
            .documents
            .values()
            .filter_map(|open| open.path.clone())
            .collect();
        for summary in summaries {
            if !open.contains(summary.path.as_ref()) {
                calls.replace_file(summary);
            }
        }
        for path in &open {
            if let Some(summary) = session.index.models.calls.file(path) {
                calls.replace_file(FileSummary::clone(summary));
            }
        }
        calls.resolve(max_depth.max(1));
        let pending: Vec<PathBuf> = calls
            .paths()
            .filter(|path| !open.contains(*path) && calls.reaches_pending(path))
            .cloned()
            .collect();
        let mut models = ProjectIndex::clone(&session.index.models);
        models.calls = Arc::new(calls);
        let effects = session.set_models(models);
        let jobs = jobs_for(&mut session, &pending, &mut Effects::default());
        (
            jobs,
            session.encoding,
            session.index.models.clone(),
            effects,
        )
    };
    send_effects(shared, effects).await;
    let reports = analyse_jobs(jobs, encoding, models).await;
    let mut session = shared.lock();
    if session.index.generation == generation {
        for (uri, report, _) in reports {
            session.index.files.insert(uri, report);
        }
    }
}

/// After a configuration change: open documents first (a pulling client asks again at once),
/// then the whole workspace.
pub async fn refresh_and_reindex(shared: Shared) {
    refresh_pulled_diagnostics(&shared).await;
    index(shared).await;
}

/// Asks a pulling client to pull again, after something other than an edit changed results.
pub async fn refresh_pulled_diagnostics(shared: &Shared) {
    let features = shared.lock().features;
    if features.pull_diagnostics && features.diagnostic_refresh {
        let _ = shared.client.workspace_diagnostic_refresh().await;
    }
}

/// What a batch of file events asks for.
pub enum WatchedChange {
    /// A configuration file changed: reload everything.
    Configuration,
    /// Python files changed on disk: re-read these.
    Files {
        changed: Vec<PathBuf>,
        deleted: Vec<PathBuf>,
    },
}

pub fn classify(params: &DidChangeWatchedFilesParams) -> WatchedChange {
    let mut changed = Vec::new();
    let mut deleted = Vec::new();
    for event in &params.changes {
        let Some(path) = file_path(&event.uri) else {
            continue;
        };
        let is_config = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| CONFIG_FILE_NAMES.contains(&name));
        if is_config {
            return WatchedChange::Configuration;
        }
        if event.typ == FileChangeType::DELETED {
            deleted.push(path);
        } else if path.extension().is_some_and(|ext| ext == "py") {
            changed.push(path);
        }
    }
    WatchedChange::Files { changed, deleted }
}

/// Re-reads changed Python files into the index (models first, then diagnostics), outside the
/// session lock; open documents are analysed again when the models changed.
pub async fn reindex_files(shared: &Shared, changed: Vec<PathBuf>, deleted: Vec<PathBuf>) {
    let (mut models, folders) = {
        let session = shared.lock();
        (
            ProjectIndex::clone(&session.index.models),
            session.index.folders.clone(),
        )
    };
    let reread = changed.clone();
    let models = tokio::task::spawn_blocking(move || {
        for path in &deleted {
            models.remove_file(path);
        }
        let declaring = read_models(&mut models, &reread, &folders);
        (models, declaring, deleted)
    })
    .await;
    let Ok((models, declaring, deleted)) = models else {
        return;
    };
    let (jobs, encoding, models, effects) = {
        let mut session = shared.lock();
        let mut models = models;
        models.calls = session.index.models.calls.clone();
        models.roots = session.index.models.roots.clone();
        for path in &deleted {
            if let Some(uri) = Uri::from_file_path(path) {
                session.index.files.remove(&uri);
            }
        }
        let model_files = &mut session.index.model_files;
        let mut touched = !declaring.is_empty();
        for path in changed.iter().chain(&deleted) {
            touched |= model_files.remove(path);
        }
        model_files.extend(declaring);
        // Only a file that declares (or declared) models changes what other files see.
        let effects = if touched {
            session.set_models(models)
        } else {
            Effects::default()
        };
        let jobs = jobs_for(&mut session, &changed, &mut Effects::default());
        (
            jobs,
            session.encoding,
            session.index.models.clone(),
            effects,
        )
    };
    send_effects(shared, effects).await;
    // Deleted files alone bring no settings: the index keeps the depth it was resolved with.
    let max_depth = jobs
        .iter()
        .map(|(_, settings)| settings.max_call_depth)
        .max();
    let reports = analyse_jobs(jobs, encoding, models).await;
    let effects = {
        let mut session = shared.lock();
        let open: HashSet<PathBuf> = session
            .documents
            .values()
            .filter_map(|open| open.path.clone())
            .collect();
        let mut calls = session.index.models.calls.unresolved_copy();
        let mut changed_modules = Vec::new();
        for path in &deleted {
            if let Some(old) = calls.file(path) {
                changed_modules.push(old.module.clone());
            }
            calls.remove_file(path);
        }
        for (uri, report, summary) in reports {
            session.index.files.insert(uri, report);
            // An open document's summary comes from its current text, not from the disk.
            if let Some(summary) = summary.filter(|s| !open.contains(s.path.as_ref())) {
                let module = summary.module.clone();
                if calls.replace_file(summary) {
                    changed_modules.push(module);
                }
            }
        }
        if changed_modules.is_empty() {
            Effects::default()
        } else {
            let depth = max_depth.unwrap_or_else(|| calls.max_depth()).max(1);
            calls.resolve(depth);
            session.set_calls(calls, &changed_modules)
        }
    };
    send_effects(shared, effects).await;
}

/// Each path with its settings, resolved under the session lock.
fn jobs_for(
    session: &mut Session,
    paths: &[PathBuf],
    effects: &mut Effects,
) -> Vec<(PathBuf, Arc<Settings>)> {
    paths
        .iter()
        .map(|path| (path.clone(), session.settings_for(Some(path), effects)))
        .collect()
}

/// Reads and analyses files on the blocking pool, so that requests keep being answered.
async fn analyse_jobs(
    jobs: Vec<(PathBuf, Arc<Settings>)>,
    encoding: PositionEncoding,
    models: Arc<ProjectIndex>,
) -> Vec<(Uri, FileReport, Option<FileSummary>)> {
    tokio::task::spawn_blocking(move || {
        jobs.iter()
            .filter(|(path, settings)| !settings.is_excluded(path))
            .filter_map(|(path, settings)| analyse_file(path, settings, encoding, &models))
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// Asks the client to tell us when Python or configuration files change on disk.
pub async fn watch_files(client: &Client) {
    let watchers = ["**/*.py", "**/pyproject.toml", "**/inbatch.toml"]
        .into_iter()
        .map(|glob| FileSystemWatcher {
            glob_pattern: GlobPattern::String(glob.to_string()),
            kind: None,
        })
        .collect();
    let registration = Registration {
        id: "inbatch/watched-files".to_string(),
        method: "workspace/didChangeWatchedFiles".to_string(),
        register_options: serde_json::to_value(DidChangeWatchedFilesRegistrationOptions {
            watchers,
        })
        .ok(),
    };
    if let Err(error) = client.register_capability(vec![registration]).await {
        tracing::warn!("the client refused file watching: {error}");
    }
}
