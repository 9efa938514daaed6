//! The workspace: indexing the folders' Python files in the background (reported through
//! `$/progress`): first the models they declare, for every analysis, then their diagnostics, for
//! `workspace/diagnostic`; and following file-watch events.
//!
//! One task, the indexer, scans. Asking for a scan ([`request_scan`]: at `initialized`, after a
//! configuration change) cancels the scan that runs and wakes the indexer, which rescans once the
//! requests pause ([`QUIET`]): a burst of two hundred configuration changes costs one or two
//! scans, not two hundred. The index is capped
//! ([`IndexLimits`]); a workspace beyond the cap is indexed up to it, and the client is told once.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ropey::Rope;
use tokio::sync::watch;
use tower_lsp_server::ls_types::{
    self as lsp, DidChangeWatchedFilesParams, DidChangeWatchedFilesRegistrationOptions,
    FileChangeType, FileSystemWatcher, GlobPattern, MessageType, ProgressToken, Registration, Uri,
};
use tower_lsp_server::Client;

use super::config::ConfigStore;
use super::diagnostics::{self, Failure};
use super::position::PositionEncoding;
use super::session::{file_path, Effects, Session};
use super::{send_effects, Shared};
use crate::config::CONFIG_FILE_NAMES;
use crate::engine::cancel::{self, Cancellation};
use crate::engine::index::calls::{CallIndex, FileSummary};
use crate::engine::index::ProjectIndex;
use crate::engine::settings::Settings;
use crate::engine::source::SourceFile;
use crate::engine::Fixes;
use crate::project::discovery;
use crate::project::models::read_declarations;
use crate::project::{has_marker, ProjectRoots};

/// Files analysed between two progress reports and two takes of the session lock.
const BATCH: usize = 32;

/// Files larger than this are not indexed: generated code (API clients, data tables), whose
/// trees take tens of times their size while parsed (a 6 MB generated module: 210 MB). An open
/// document is analysed whatever its size.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// How much of a workspace the index takes: the first files in path order, up to both limits
/// (and none over [`MAX_FILE_BYTES`]). Memory grows with what is indexed (diagnostics, function
/// summaries and models per file): without a cap, a workspace opened on `/usr/lib` (19,700
/// Python files) took 439 MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexLimits {
    pub max_files: usize,
    /// Bytes of Python source.
    pub max_bytes: u64,
}

impl Default for IndexLimits {
    fn default() -> IndexLimits {
        IndexLimits {
            max_files: 10_000,
            max_bytes: 128 * 1024 * 1024,
        }
    }
}

pub struct WorkspaceIndex {
    pub folders: Vec<PathBuf>,
    /// The models the workspace's files declare, as last read from disk (an open document's own
    /// models come from its current text).
    pub models: Arc<ProjectIndex>,
    /// The files that declare models, so that an edit to any other file leaves `models` alone.
    pub model_files: HashSet<PathBuf>,
    /// Diagnostics of the workspace's files as last read from disk.
    pub files: HashMap<Uri, FileReport>,
    /// Bumped by every request for a scan; the indexer scans until it has scanned the latest.
    pub generation: u64,
    /// Cancels the scan that runs (replaced for each scan).
    pub scan: Cancellation,
    pub limits: IndexLimits,
    /// The cap was reported to the client (once per session).
    pub cap_reported: bool,
}

pub struct FileReport {
    pub diagnostics: Vec<lsp::Diagnostic>,
    pub result_id: String,
}

impl WorkspaceIndex {
    pub fn new(folders: Vec<PathBuf>, stop: &Cancellation) -> WorkspaceIndex {
        WorkspaceIndex {
            folders,
            models: Arc::default(),
            model_files: HashSet::new(),
            files: HashMap::new(),
            generation: 0,
            scan: stop.child(),
            limits: IndexLimits::default(),
            cap_reported: false,
        }
    }
}

/// Reads and analyses one file from disk; `None` when it cannot be read as UTF-8 or its analysis
/// panics (logged: one bad file must not stop the scan) or is cancelled.
pub fn analyse_file(
    path: &Path,
    settings: &Settings,
    encoding: PositionEncoding,
    models: &ProjectIndex,
    cancel: &Cancellation,
) -> Option<(Uri, FileReport, Option<FileSummary>)> {
    let uri = Uri::from_file_path(path)?;
    let text = std::fs::read_to_string(path).ok()?;
    let checked = diagnostics::guarded(cancel, || SourceFile::parse(text)).and_then(|file| {
        diagnostics::analyse_with_summary(&file, settings, Some(path), models, Fixes::Skip, cancel)
            .map(|checked| (file, checked))
    });
    let (file, found, summary) = match checked {
        Ok((file, checked)) => (file, checked.diagnostics, checked.summary),
        Err(Failure::Panicked(panic)) => {
            tracing::error!(uri = uri.as_str(), "analysis panicked: {panic}");
            return None;
        }
        Err(Failure::Cancelled) => return None,
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
/// are parsed; a file that cannot be read declares none), naming modules from `index.roots`;
/// returns the files that declare some.
/// Run inside `engine::cancel::run`: a cancellation stops it between files or inside a parse.
fn read_models(index: &mut ProjectIndex, paths: &[PathBuf]) -> HashSet<PathBuf> {
    let mut declaring = HashSet::new();
    for path in paths {
        cancel::check();
        let models = read_declarations(path, &index.module_of(path)).unwrap_or_default();
        if !models.is_empty() {
            declaring.insert(path.clone());
        }
        index.replace_file(path, models);
    }
    declaring
}

/// The Python files the index takes, with their settings, and whether the folders hold more.
struct Discovered {
    files: Vec<(PathBuf, Arc<Settings>)>,
    capped: bool,
    /// The folders module names start from, as `inbatch check` finds them
    /// ([`ProjectRoots`]): for each workspace folder the project root at or above it (else the
    /// folder itself), and every folder under it that holds a project marker (the services of a
    /// monorepo, each with its `pyproject.toml`).
    roots: Vec<PathBuf>,
    /// Configuration files that could not be read (their files were found with the defaults).
    config_errors: Vec<String>,
}

/// The Python files under the folders in path order, as [`discovery::walk`] finds them for
/// `inbatch check`, up to `limits`; each file's settings are resolved once, with `config` (a
/// copy of the session's, so that no file is looked at under the session lock). Run inside
/// `engine::cancel::run`.
fn python_files(folders: &[PathBuf], limits: IndexLimits, mut config: ConfigStore) -> Discovered {
    let mut files = Vec::new();
    let mut bytes: u64 = 0;
    let mut capped = false;
    let mut seen = HashSet::new();
    let mut config_errors = Vec::new();
    let mut project_roots = ProjectRoots::new(folders.to_vec());
    // A workspace folder inside a project (a service's `app/` opened alone) names its modules
    // from that project's root, as the CLI does.
    let mut roots: Vec<PathBuf> = folders
        .iter()
        .map(|folder| project_roots.root_of_folder(folder))
        .collect();
    for folder in folders {
        let mut settings_for = |path: &Path| {
            let resolved = config.settings_for(Some(path));
            config_errors.extend(resolved.error);
            Ok::<_, Infallible>(resolved.settings)
        };
        let walked = discovery::walk(folder, &mut settings_for, &mut |found| {
            cancel::check();
            let (path, settings) = match found {
                discovery::Found::Python(path, settings) => (path, settings),
                discovery::Found::Folder(path) => {
                    if has_marker(path) {
                        roots.push(path.to_path_buf());
                    }
                    return ControlFlow::Continue(());
                }
                discovery::Found::Unreadable(_) => return ControlFlow::Continue(()),
            };
            if seen.contains(path) {
                return ControlFlow::Continue(());
            }
            if files.len() >= limits.max_files {
                capped = true;
                return ControlFlow::Break(());
            }
            let size = std::fs::metadata(path).map_or(0, |metadata| metadata.len());
            if size > MAX_FILE_BYTES || bytes.saturating_add(size) > limits.max_bytes {
                capped = true;
                return ControlFlow::Continue(());
            }
            bytes += size;
            seen.insert(path.to_path_buf());
            files.push((path.to_path_buf(), settings.clone()));
            ControlFlow::Continue(())
        });
        let Ok(()) = walked;
        if capped && files.len() >= limits.max_files {
            break;
        }
    }
    roots.sort();
    roots.dedup();
    config_errors.sort();
    config_errors.dedup();
    Discovered {
        files,
        capped,
        roots,
        config_errors,
    }
}

/// Asks for a scan of the workspace: the running scan, now stale, is cancelled, and the indexer
/// scans again once (however many requests came meanwhile).
pub fn request_scan(shared: &Shared) {
    {
        let mut session = shared.lock();
        session.index.generation += 1;
        session.index.scan.cancel();
    }
    shared.indexer.notify_one();
}

/// The indexer: waits for [`request_scan`], scans, and scans again while newer requests came
/// during a scan. Runs until the server stops.
pub async fn indexer(shared: Shared) {
    let mut scanned = 0;
    loop {
        shared.indexer.notified().await;
        loop {
            if shared.stop.is_cancelled() {
                return;
            }
            if scanned > 0 {
                settle_requests(&shared).await;
            }
            let (generation, cancel) = {
                let mut session = shared.lock();
                if session.index.generation == scanned {
                    break;
                }
                session.index.scan = shared.stop.child();
                (session.index.generation, session.index.scan.clone())
            };
            // After a configuration change, a pulling client asks again for its open documents
            // first.
            if scanned > 0 {
                refresh_pulled_diagnostics(&shared).await;
            }
            scan(&shared, generation, &cancel).await;
            scanned = generation;
        }
    }
}

/// How long the requests for a rescan must pause before it starts: an editor sends a
/// configuration change per keystroke in its settings file.
const QUIET: std::time::Duration = std::time::Duration::from_millis(200);

/// Waits until no request for a scan came for [`QUIET`].
async fn settle_requests(shared: &Shared) {
    let mut seen = shared.lock().index.generation;
    loop {
        tokio::time::sleep(QUIET).await;
        let now = shared.lock().index.generation;
        if now == seen || shared.stop.is_cancelled() {
            return;
        }
        seen = now;
    }
}

/// One scan of the workspace folders, reporting `$/progress` when the client supports it.
async fn scan(shared: &Shared, generation: u64, cancel: &Cancellation) {
    let (folders, limits, progress_supported) = {
        let session = shared.lock();
        (
            session.index.folders.clone(),
            session.index.limits,
            session.features.work_done_progress,
        )
    };
    if folders.is_empty() {
        return;
    }
    let progress = progress_supported.then(|| Progress::start(&shared.client, generation));
    let outcome = scan_folders(
        shared,
        generation,
        cancel,
        folders,
        limits,
        progress.as_ref(),
    )
    .await;
    let message = match outcome {
        Ok(total) => {
            tracing::info!("indexed {total} files");
            release_freed_memory();
            format!("{total} files indexed")
        }
        Err(Failure::Cancelled) => {
            tracing::debug!("scan {generation} cancelled");
            "indexing stopped".to_string()
        }
        Err(Failure::Panicked(panic)) => {
            tracing::error!("indexing failed: {panic}");
            format!("indexing failed: {panic}")
        }
    };
    if let Some(progress) = progress {
        progress.finish(message);
    }
}

async fn scan_folders(
    shared: &Shared,
    generation: u64,
    cancel: &Cancellation,
    folders: Vec<PathBuf>,
    limits: IndexLimits,
    progress: Option<&Progress>,
) -> Result<usize, Failure> {
    let config = shared.lock().config.clone();
    let walk_folders = folders.clone();
    let work = cancel.clone();
    let found = tokio::task::spawn_blocking(move || {
        diagnostics::guarded(&work, || python_files(&walk_folders, limits, config))
    })
    .await
    .map_err(|error| Failure::Panicked(error.to_string()))??;
    let mut models = ProjectIndex::new();
    models.roots = found.roots.clone();
    let model_files: Vec<PathBuf> = found.files.iter().map(|(path, _)| path.clone()).collect();
    let work = cancel.clone();
    let read = tokio::task::spawn_blocking(move || {
        diagnostics::guarded(&work, || {
            let declaring = read_models(&mut models, &model_files);
            (models, declaring)
        })
    })
    .await
    .map_err(|error| Failure::Panicked(error.to_string()))??;
    let (mut models, declaring) = read;
    let files = found.files;
    let effects = {
        let mut session = shared.lock();
        if session.index.generation != generation {
            return Err(Failure::Cancelled);
        }
        session.index.model_files = declaring;
        models.calls = session.index.models.calls.clone();
        let mut effects = session.set_models(models);
        for error in found.config_errors {
            session.report_config_error(error, &mut effects);
        }
        if found.capped && !session.index.cap_reported {
            session.index.cap_reported = true;
            let message = format!(
                "inbatch: the workspace holds more Python source than the index takes (at most \
                 {} files, {} MiB, none over {} MiB); {} files are indexed, the first in path \
                 order. Other files are still checked when opened. The limits are the \
                 `indexMaxFiles` and `indexMaxBytes` options.",
                limits.max_files,
                limits.max_bytes / (1024 * 1024),
                MAX_FILE_BYTES / (1024 * 1024),
                files.len()
            );
            effects.logs.push((MessageType::WARNING, message.clone()));
            effects.messages.push((MessageType::WARNING, message));
        }
        effects
    };
    send_effects(shared, effects).await;
    let total = files.len();
    let mut done = 0;
    let mut summaries = Vec::new();
    let max_depth = files
        .iter()
        .map(|(_, settings)| settings.max_call_depth)
        .max()
        .unwrap_or(0);
    for batch in files.chunks(BATCH) {
        let (encoding, models) = {
            let session = shared.lock();
            if session.index.generation != generation {
                return Err(Failure::Cancelled);
            }
            (session.encoding, session.index.models.clone())
        };
        let jobs = batch.to_vec();
        let reports = analyse_jobs(jobs, encoding, models, cancel.clone()).await?;
        {
            let mut session = shared.lock();
            if session.index.generation != generation {
                return Err(Failure::Cancelled);
            }
            for (uri, report, summary) in reports {
                session.index.files.insert(uri, report);
                summaries.extend(summary);
            }
        }
        done += batch.len();
        if let Some(progress) = progress {
            let percentage = u32::try_from(done * 100 / total.max(1)).unwrap_or(100);
            progress.report(format!("{done}/{total} files"), percentage);
        }
    }
    set_calls(shared, generation, summaries, max_depth, cancel).await?;
    refresh_pulled_diagnostics(shared).await;
    Ok(total)
}

/// Gives the memory a scan freed back to the system: glibc keeps freed blocks in its arenas (one
/// per thread that allocated), and a scan parses thousands of files on the blocking pool's
/// threads (a scan of 2,000 files from `/usr/lib`: 242 MiB resident at its peak, 44 MiB after).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free memory at the top of glibc's heaps to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `$/progress` for one scan, sent by a task of its own: a client slow to answer
/// `window/workDoneProgress/create`, or never answering, holds up nothing. Once the client has
/// answered, the progress begins, and it ends when the handle is dropped (the scan ended,
/// however).
pub struct Progress {
    updates: watch::Sender<(String, u32)>,
}

impl Progress {
    fn start(client: &Client, generation: u64) -> Progress {
        let (updates, receiver) = watch::channel((String::new(), 0));
        let token = ProgressToken::String(format!("inbatch/index/{generation}"));
        tokio::spawn(report_progress(client.clone(), token, receiver));
        Progress { updates }
    }

    fn report(&self, message: String, percentage: u32) {
        self.updates.send_replace((message, percentage));
    }

    /// Ends the progress with `message`.
    fn finish(self, message: String) {
        self.updates.send_modify(|(last, _)| *last = message);
    }
}

async fn report_progress(
    client: Client,
    token: ProgressToken,
    mut updates: watch::Receiver<(String, u32)>,
) {
    if client
        .create_work_done_progress(token.clone())
        .await
        .is_err()
    {
        return;
    }
    // A scan over before the client answered still begins and ends at once: the client sees
    // its outcome.
    let progress = client
        .progress(token, "inbatch: indexing")
        .with_percentage(0)
        .begin()
        .await;
    loop {
        if updates.changed().await.is_err() {
            let message = updates.borrow().0.clone();
            progress.finish_with_message(message).await;
            return;
        }
        let (message, percentage) = updates.borrow_and_update().clone();
        progress.report_with_message(message, percentage).await;
    }
}

/// After a scan: the call index of every file read from disk, open documents' own summaries
/// (from their current text) taking precedence. Open documents are analysed again with it, and
/// the files whose loop calls reach a query through another file are re-read.
async fn set_calls(
    shared: &Shared,
    generation: u64,
    summaries: Vec<FileSummary>,
    max_depth: usize,
    cancel: &Cancellation,
) -> Result<(), Failure> {
    let (jobs, encoding, models, effects) = {
        let mut session = shared.lock();
        if session.index.generation != generation {
            return Err(Failure::Cancelled);
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
    let reports = analyse_jobs(jobs, encoding, models, cancel.clone()).await?;
    let mut session = shared.lock();
    if session.index.generation == generation {
        for (uri, report, _) in reports {
            session.index.files.insert(uri, report);
        }
    }
    Ok(())
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
    // A file the workspace leaves out (as the scan does) is not read at all.
    let (mut models, jobs) = {
        let mut session = shared.lock();
        let models = ProjectIndex::clone(&session.index.models);
        let jobs = jobs_for(&mut session, &changed, &mut Effects::default());
        (models, jobs)
    };
    let changed: Vec<PathBuf> = jobs.iter().map(|(path, _)| path.clone()).collect();
    let cancel = shared.stop.child();
    let reread = changed.clone();
    let work = cancel.clone();
    let models = tokio::task::spawn_blocking(move || {
        diagnostics::guarded(&work, || {
            for path in &deleted {
                models.remove_file(path);
            }
            let declaring = read_models(&mut models, &reread);
            (models, declaring, deleted)
        })
    })
    .await;
    let Ok(Ok((models, declaring, deleted))) = models else {
        return;
    };
    let (encoding, models, effects) = {
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
        (session.encoding, session.index.models.clone(), effects)
    };
    send_effects(shared, effects).await;
    // Deleted files alone bring no settings: the index keeps the depth it was resolved with.
    let max_depth = jobs
        .iter()
        .map(|(_, settings)| settings.max_call_depth)
        .max();
    let Ok(reports) = analyse_jobs(jobs, encoding, models, cancel).await else {
        return;
    };
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

/// Each path the workspace keeps, with its settings, resolved under the session lock (for the
/// few files a file event or the call index names; a scan resolves its files off the lock).
fn jobs_for(
    session: &mut Session,
    paths: &[PathBuf],
    effects: &mut Effects,
) -> Vec<(PathBuf, Arc<Settings>)> {
    let folders = session.index.folders.clone();
    paths
        .iter()
        .map(|path| (path.clone(), session.settings_for(Some(path), effects)))
        .filter(|(path, settings)| !left_out(&folders, path, settings))
        .collect()
}

/// Whether the workspace leaves a file out, as its scan does ([`discovery::walk`]): its settings
/// exclude it below the innermost workspace folder holding it (below their own folder for a
/// file outside every workspace folder).
fn left_out(folders: &[PathBuf], path: &Path, settings: &Settings) -> bool {
    match folders
        .iter()
        .filter(|folder| path.starts_with(folder))
        .max_by_key(|folder| folder.as_os_str().len())
    {
        Some(folder) => settings.is_excluded_below(path, folder),
        None => settings.is_excluded(path),
    }
}

/// Reads and analyses files on the blocking pool, so that requests keep being answered. The
/// jobs are files the workspace keeps (see [`left_out`]).
async fn analyse_jobs(
    jobs: Vec<(PathBuf, Arc<Settings>)>,
    encoding: PositionEncoding,
    models: Arc<ProjectIndex>,
    cancel: Cancellation,
) -> Result<Vec<(Uri, FileReport, Option<FileSummary>)>, Failure> {
    tokio::task::spawn_blocking(move || {
        let mut reports = Vec::new();
        for (path, settings) in &jobs {
            if cancel.is_cancelled() {
                return Err(Failure::Cancelled);
            }
            reports.extend(analyse_file(path, settings, encoding, &models, &cancel));
        }
        if cancel.is_cancelled() {
            return Err(Failure::Cancelled);
        }
        Ok(reports)
    })
    .await
    .unwrap_or_else(|error| Err(Failure::Panicked(error.to_string())))
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

/// How often the configuration files are looked at when the client does not watch them.
const CONFIG_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// What the configuration files that can apply to the open documents look like on disk: for each
/// folder from each open document's up to the filesystem's root, and from the workspace folders,
/// each configuration file's presence, size and modification time.
fn configuration_fingerprint(
    session: &Session,
) -> Vec<(PathBuf, Option<(u64, std::time::SystemTime)>)> {
    let mut folders: HashSet<&Path> = HashSet::new();
    let starts = session
        .documents
        .values()
        .filter_map(|open| open.path.as_deref()?.parent())
        .chain(session.index.folders.iter().map(PathBuf::as_path));
    for start in starts {
        for folder in start.ancestors() {
            if !folders.insert(folder) {
                break;
            }
        }
    }
    let mut files: Vec<PathBuf> = folders
        .into_iter()
        .flat_map(|folder| CONFIG_FILE_NAMES.iter().map(move |name| folder.join(name)))
        .collect();
    files.extend(session.config.options().configuration.iter().map(|path| {
        session
            .index
            .folders
            .first()
            .map_or_else(|| path.clone(), |root| root.join(path))
    }));
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let stamp = std::fs::metadata(&path)
                .ok()
                .map(|meta| (meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH)));
            (path, stamp)
        })
        .collect()
}

/// For a client that does not watch files for the server (no dynamic registration of
/// `workspace/didChangeWatchedFiles`, as Neovim on Linux): looks at the configuration files
/// twice a second and reloads the configuration when one is created, changed or deleted.
pub async fn poll_configuration(shared: Shared) {
    let stop = shared.lock().stop.clone();
    let mut last: Option<Vec<_>> = None;
    while !stop.is_cancelled() {
        let now = {
            let session = shared.lock();
            configuration_fingerprint(&session)
        };
        // A new open document adds folders: only a change of a file seen before counts.
        let changed = last.as_ref().is_some_and(|last| {
            let before: HashMap<_, _> = last.iter().cloned().collect();
            now.iter()
                .any(|(path, stamp)| before.get(path).is_some_and(|old| old != stamp))
        });
        last = Some(now);
        if changed {
            tracing::info!("configuration file changed on disk; reloading");
            reload_configuration(&shared).await;
        }
        tokio::time::sleep(CONFIG_POLL).await;
    }
}

/// Reads the configuration files again and re-analyses what they apply to.
pub async fn reload_configuration(shared: &Shared) {
    let effects = {
        let mut session = shared.lock();
        let config = session.config.reloaded();
        session.reconfigure(config)
    };
    send_effects(shared, effects).await;
    request_scan(shared);
}
