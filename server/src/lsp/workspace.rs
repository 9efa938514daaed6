//! The workspace: indexing the folders' Python files in the background (reported through
//! `$/progress`), and following file-watch events.

use std::collections::HashMap;
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
use crate::engine::settings::{Settings, DEFAULT_EXCLUDES};
use crate::engine::source::SourceFile;

/// Files analysed between two progress reports and two takes of the session lock.
const BATCH: usize = 32;

#[derive(Default)]
pub struct WorkspaceIndex {
    pub folders: Vec<PathBuf>,
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
) -> Option<(Uri, FileReport)> {
    let uri = Uri::from_file_path(path)?;
    let text = std::fs::read_to_string(path).ok()?;
    let file = SourceFile::parse(text);
    let found = match diagnostics::analyse(&file, settings, Some(path)) {
        Ok(found) => found,
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
    ))
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
    let files = tokio::task::spawn_blocking(move || python_files(&folders))
        .await
        .unwrap_or_default();
    let total = files.len();
    let mut done = 0;
    let mut errors = Vec::new();
    for batch in files.chunks(BATCH) {
        let (jobs, encoding) = {
            let mut session = shared.lock();
            if session.index.generation != generation {
                return;
            }
            let mut effects = Effects::default();
            let jobs = jobs_for(&mut session, batch, &mut effects);
            errors.extend(effects.messages);
            (jobs, session.encoding)
        };
        let reports = analyse_jobs(jobs, encoding).await;
        {
            let mut session = shared.lock();
            if session.index.generation != generation {
                return;
            }
            session.index.files.extend(reports);
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
    refresh_pulled_diagnostics(&shared).await;
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
    /// Python files changed on disk; re-read these (deleted ones are forgotten).
    Files(Vec<PathBuf>),
}

pub fn classify(session: &mut Session, params: &DidChangeWatchedFilesParams) -> WatchedChange {
    let mut changed = Vec::new();
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
            session.index.files.remove(&event.uri);
        } else if path.extension().is_some_and(|ext| ext == "py") {
            changed.push(path);
        }
    }
    WatchedChange::Files(changed)
}

/// Re-reads changed Python files into the index, outside the session lock.
pub async fn reindex_files(shared: &Shared, paths: Vec<PathBuf>) {
    let (jobs, encoding) = {
        let mut session = shared.lock();
        let jobs = jobs_for(&mut session, &paths, &mut Effects::default());
        (jobs, session.encoding)
    };
    let reports = analyse_jobs(jobs, encoding).await;
    shared.lock().index.files.extend(reports);
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
) -> Vec<(Uri, FileReport)> {
    tokio::task::spawn_blocking(move || {
        jobs.iter()
            .filter(|(path, settings)| !settings.is_excluded(path))
            .filter_map(|(path, settings)| analyse_file(path, settings, encoding))
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
