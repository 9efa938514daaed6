//! The server's state: open documents with their latest analysis, configuration, the workspace
//! index. It lives behind one `std::sync::Mutex`; every method here is synchronous and returns
//! what the async shell must send afterwards ([`Effects`]), so no lock is held across `.await`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{
    self as lsp, DidChangeTextDocumentParams, MessageType, TextDocumentItem, Uri,
};

use super::capabilities::ClientFeatures;
use super::config::{ConfigStore, EditorOptions};
use super::diagnostics::{Analysis, AnalysisBase};
use super::document::{Document, ParseJob, TextId};
use super::position::PositionEncoding;
use super::workspace::WorkspaceIndex;
use crate::engine::cancel::Cancellation;
use crate::engine::index::calls::{CallIndex, FileSummary};
use crate::engine::index::ProjectIndex;
use crate::engine::settings::Settings;
use crate::engine::source::SourceFile;

pub struct Session {
    pub encoding: PositionEncoding,
    pub features: ClientFeatures,
    pub documents: HashMap<Uri, OpenDocument>,
    pub config: ConfigStore,
    /// Options from `initializationOptions`; `workspace/didChangeConfiguration` overrides them
    /// field by field.
    pub initial_options: EditorOptions,
    pub index: WorkspaceIndex,
    pub shutdown_requested: bool,
    /// Cancelled when the server stops (`shutdown`, `exit`, end of input, the client's process
    /// gone); every cancellation of engine work is a child of it.
    pub stop: Cancellation,
    /// `workspace/configuration` is being asked; `Again` when a newer change came meanwhile.
    pub configuration_fetch: Fetch,
    /// Messages to show once the client is ready for them (after `initialized`).
    pub pending_messages: Vec<(MessageType, String)>,
    next_seq: u64,
    /// Configuration errors already shown, so that each is shown once per configuration.
    shown_errors: HashSet<String>,
    /// Open documents to analyse again because a file they import changed its function summary
    /// (see [`Session::take_dependents`]).
    dependents: Vec<Uri>,
}

pub struct OpenDocument {
    pub document: Document,
    /// The file behind a `file:` URI; `None` for unsaved buffers.
    pub path: Option<PathBuf>,
    pub settings: Arc<Settings>,
    /// The analysis of the document's current version, once made.
    pub analysis: Option<Arc<Analysis>>,
    /// Why the current version could not be analysed (a contained panic), so that it is not
    /// retried until the text or the settings change.
    pub failure: Option<String>,
    /// An analysis task is running for this document; a change while it runs makes it go again.
    pub analysing: bool,
    /// Cancels the background work on the document's current text (parse, analysis), replaced
    /// when the text or what its analysis depends on changes.
    pub work: Cancellation,
    /// Comment lines skipped by the parser were reported for this document.
    pub skips_reported: bool,
    /// The last analysis's text and what it kept: the next analysis starts from it (see
    /// `engine::incremental`). Kept when the analysis is invalidated: it names the settings
    /// and index it was made with, and is reused only with those.
    pub base: Option<Arc<AnalysisBase>>,
}

impl OpenDocument {
    /// The current analysis is no longer valid (the text, the settings or the models changed): it
    /// is dropped and the work on it cancelled.
    fn invalidate(&mut self, stop: &Cancellation) {
        self.analysis = None;
        self.failure = None;
        self.work.cancel();
        self.work = stop.child();
    }
}

/// Whether `workspace/configuration` is being asked, so that a burst of
/// `didChangeConfiguration` notifications asks once at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fetch {
    #[default]
    Idle,
    Running,
    /// Running, and to be asked again once it answers.
    Again,
}

/// A document's current version as a request or an analysis finds it.
pub enum Prepared {
    /// Parsed: a snapshot, with the analysis if made.
    Ready(Snapshot, Option<Arc<Analysis>>),
    /// Not parsed yet: the parse to run off the lock before asking again.
    Parse(ParseJob),
}

/// What an analysis or a request needs of one document version, taken under the lock and used
/// without it. Ropes and files are shared, so taking one is cheap.
#[derive(Clone)]
pub struct Snapshot {
    pub uri: Uri,
    pub version: i32,
    /// Which text of which opening of the document.
    pub text: TextId,
    pub rope: ropey::Rope,
    pub file: Arc<SourceFile>,
    pub path: Option<PathBuf>,
    pub settings: Arc<Settings>,
    /// The workspace's models, as indexed when the snapshot was taken.
    pub models: Arc<ProjectIndex>,
    pub encoding: PositionEncoding,
    pub features: ClientFeatures,
    /// What the analysis of this version may start from.
    pub base: Option<Arc<AnalysisBase>>,
}

/// Diagnostics to push, if they are still current when their turn comes.
pub struct Publication {
    pub uri: Uri,
    pub version: Option<i32>,
    pub diagnostics: Vec<lsp::Diagnostic>,
    /// The analysis they came from; `None` clears a closed document's diagnostics.
    pub seq: Option<u64>,
}

/// What a synchronous step asks the shell to do next.
#[derive(Default)]
pub struct Effects {
    pub publications: Vec<Publication>,
    /// `window/showMessage`.
    pub messages: Vec<(MessageType, String)>,
    /// `window/logMessage` (also written to the log).
    pub logs: Vec<(MessageType, String)>,
    /// Documents whose current version needs an analysis.
    pub analyse: Vec<Uri>,
}

impl Session {
    /// The state before `initialize`.
    pub fn before_initialize(stop: Cancellation) -> Session {
        Session::new(
            PositionEncoding::default(),
            ClientFeatures::default(),
            EditorOptions::default(),
            Vec::new(),
            stop,
        )
    }

    pub fn new(
        encoding: PositionEncoding,
        features: ClientFeatures,
        initial_options: EditorOptions,
        folders: Vec<PathBuf>,
        stop: Cancellation,
    ) -> Session {
        let root = folders
            .first()
            .cloned()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        let mut index = WorkspaceIndex::new(folders, &stop);
        index.limits = initial_options.index_limits();
        Session {
            encoding,
            features,
            documents: HashMap::new(),
            config: ConfigStore::new(initial_options.clone(), root),
            initial_options,
            index,
            shutdown_requested: false,
            stop,
            configuration_fetch: Fetch::Idle,
            pending_messages: Vec::new(),
            next_seq: 0,
            shown_errors: HashSet::new(),
            dependents: Vec::new(),
        }
    }

    pub fn open(&mut self, item: TextDocumentItem) -> Effects {
        let path = file_path(&item.uri);
        let mut effects = Effects::default();
        let settings = self.settings_for(path.as_deref(), &mut effects);
        self.documents.insert(
            item.uri.clone(),
            OpenDocument {
                document: Document::new(item.text, item.version),
                path,
                settings,
                analysis: None,
                failure: None,
                analysing: false,
                work: self.stop.child(),
                skips_reported: false,
                base: None,
            },
        );
        effects.analyse.push(item.uri);
        effects
    }

    /// Applies the edits and reparses, all before the caller's first `.await`; the analysis
    /// follows off the lock.
    pub fn change(&mut self, params: DidChangeTextDocumentParams) -> Effects {
        let uri = params.text_document.uri;
        let encoding = self.encoding;
        let Some(open) = self.documents.get_mut(&uri) else {
            return log(
                MessageType::WARNING,
                format!("didChange for {} which is not open", uri.as_str()),
            );
        };
        let was_in_sync = open.document.in_sync();
        let applied = open.document.apply_changes(
            &params.content_changes,
            params.text_document.version,
            encoding,
        );
        open.invalidate(&self.stop);
        let mut effects = Effects::default();
        if let Err(error) = applied {
            effects.logs.push((
                MessageType::ERROR,
                format!("{}: {}; waiting for the full text", uri.as_str(), error.0),
            ));
        }
        if open.document.in_sync() {
            effects.analyse.push(uri);
        } else if was_in_sync {
            // The old diagnostics point into a text we no longer know.
            effects.publications.push(Publication {
                uri,
                version: Some(open.document.version()),
                diagnostics: Vec::new(),
                seq: None,
            });
        }
        effects
    }

    pub fn close(&mut self, uri: &Uri) -> Effects {
        if let Some(open) = self.documents.remove(uri) {
            open.work.cancel();
        }
        Effects {
            publications: vec![Publication {
                uri: uri.clone(),
                version: None,
                diagnostics: Vec::new(),
                seq: None,
            }],
            ..Effects::default()
        }
    }

    /// Replaces the configuration (files re-read, editor options applied) and re-analyses every
    /// open document.
    pub fn reconfigure(&mut self, config: ConfigStore) -> Effects {
        self.config = config;
        self.shown_errors.clear();
        let mut effects = Effects::default();
        let uris: Vec<Uri> = self.documents.keys().cloned().collect();
        for uri in uris {
            let path = self.documents[&uri].path.clone();
            let settings = self.settings_for(path.as_deref(), &mut effects);
            if let Some(open) = self.documents.get_mut(&uri) {
                open.settings = settings;
                open.invalidate(&self.stop);
                effects.analyse.push(uri);
            }
        }
        effects
    }

    /// New workspace models: every open document is analysed again with them.
    pub fn set_models(&mut self, models: ProjectIndex) -> Effects {
        self.index.models = Arc::new(models);
        let mut effects = Effects::default();
        for (uri, open) in &mut self.documents {
            open.invalidate(&self.stop);
            effects.analyse.push(uri.clone());
        }
        effects
    }

    /// Puts a document's function summary (from its current text) into the workspace's call
    /// index; when it changed, the open documents whose imports reach its module are analysed
    /// again, and only those.
    pub fn replace_summary(&mut self, uri: &Uri, summary: FileSummary, max_depth: usize) {
        let module = summary.module.clone();
        let Some(calls) = self.index.models.calls.with_file(summary, max_depth) else {
            return;
        };
        let dependents = calls.dependents(&module);
        let mut models = ProjectIndex::clone(&self.index.models);
        models.calls = Arc::new(calls);
        let before = std::mem::replace(&mut self.index.models, Arc::new(models));
        // The open documents whose imports do not reach the module (the document itself
        // included, unless it reads its own summary back) keep their analyses' bases, now
        // with the new index: only this summary changed, and they do not read it.
        for open in self.documents.values_mut() {
            let reads_it = open.path.as_ref().is_some_and(|p| dependents.contains(p));
            if let Some(base) = open
                .base
                .as_ref()
                .filter(|b| Arc::ptr_eq(&b.models, &before))
            {
                open.base = (!reads_it).then(|| {
                    Arc::new(AnalysisBase {
                        file: base.file.clone(),
                        settings: base.settings.clone(),
                        models: self.index.models.clone(),
                        prior: base.prior.clone(),
                    })
                });
            }
        }
        for (other, open) in &mut self.documents {
            if other == uri || !open.path.as_ref().is_some_and(|p| dependents.contains(p)) {
                continue;
            }
            open.invalidate(&self.stop);
            self.dependents.push(other.clone());
        }
    }

    /// A new call index after files changed on disk: the open documents whose imports reach one
    /// of `modules` are analysed again.
    pub fn set_calls(&mut self, calls: CallIndex, modules: &[String]) -> Effects {
        let dependents: HashSet<PathBuf> = modules
            .iter()
            .flat_map(|module| calls.dependents(module))
            .collect();
        let mut models = ProjectIndex::clone(&self.index.models);
        models.calls = Arc::new(calls);
        self.index.models = Arc::new(models);
        let mut effects = Effects::default();
        for (uri, open) in &mut self.documents {
            if open.path.as_ref().is_some_and(|p| dependents.contains(p)) {
                open.invalidate(&self.stop);
                effects.analyse.push(uri.clone());
            }
        }
        effects
    }

    /// The documents [`Session::replace_summary`] marked for analysis since the last call.
    pub fn take_dependents(&mut self) -> Vec<Uri> {
        std::mem::take(&mut self.dependents)
    }

    /// Whether a publication is still the latest word on its document.
    pub fn is_current(&self, publication: &Publication) -> bool {
        let Some(seq) = publication.seq else {
            return true;
        };
        self.documents
            .get(&publication.uri)
            .and_then(|open| open.analysis.as_ref())
            .is_some_and(|analysis| analysis.seq == seq)
    }

    /// The document's current version, with its analysis if one is made, or the parse it needs
    /// first. A document whose text is out of sync, or whose analysis panicked, is an error for
    /// the request that asked.
    pub fn prepare(&self, uri: &Uri) -> jsonrpc::Result<Prepared> {
        let open = self.documents.get(uri).ok_or_else(|| {
            jsonrpc::Error::invalid_params(format!("{} is not open", uri.as_str()))
        })?;
        if !open.document.in_sync() {
            return Err(content_modified(uri));
        }
        if let Some(failure) = &open.failure {
            return Err(analysis_failed(uri, failure));
        }
        let Some(file) = open.document.parsed() else {
            let job = open
                .document
                .parse_job()
                .expect("an unparsed text has a parse job");
            return Ok(Prepared::Parse(job));
        };
        let snapshot = Snapshot {
            uri: uri.clone(),
            version: open.document.version(),
            text: open.document.text_id(),
            rope: open.document.rope().clone(),
            file,
            path: open.path.clone(),
            settings: open.settings.clone(),
            models: self.index.models.clone(),
            encoding: self.encoding,
            features: self.features,
            base: open.base.clone(),
        };
        Ok(Prepared::Ready(snapshot, open.analysis.clone()))
    }

    /// Keeps a parse made off the lock if its document still holds that text; the first parse
    /// of a document that skipped long comment runs says so in the log.
    pub fn store_parse(&mut self, uri: &Uri, text: TextId, file: Arc<SourceFile>) -> Effects {
        let Some(open) = self.documents.get_mut(uri) else {
            return Effects::default();
        };
        let skipped = skipped_comments_message(uri, &file);
        if !open.document.store_parse(text, file) {
            return Effects::default();
        }
        match skipped {
            Some(message) if !open.skips_reported => {
                open.skips_reported = true;
                log(MessageType::INFO, message)
            }
            _ => Effects::default(),
        }
    }

    /// A parse panicked: like an analysis that panicked, the text is not tried again.
    pub fn parse_failed(&mut self, uri: &Uri, text: TextId, panic: String) -> Effects {
        match self.documents.get_mut(uri) {
            Some(open) if open.document.text_id() == text => {
                tracing::error!(uri = uri.as_str(), "parse panicked: {panic}");
                let message = analysis_failed(uri, &panic).message.to_string();
                open.failure = Some(panic);
                log(MessageType::ERROR, message)
            }
            _ => Effects::default(),
        }
    }

    /// Keeps an analysis made off the lock if its document has not moved on since its snapshot
    /// (same version, same settings); `None` when it is stale and dropped.
    pub fn store(
        &mut self,
        snapshot: &Snapshot,
        outcome: Result<Analysis, String>,
    ) -> Option<Result<Arc<Analysis>, String>> {
        let open = self.documents.get_mut(&snapshot.uri)?;
        // The very text analysed, not just its version number: a document closed and opened
        // again starts its versions anew.
        let current = open.document.text_id() == snapshot.text
            && open.document.in_sync()
            && Arc::ptr_eq(&open.settings, &snapshot.settings)
            && Arc::ptr_eq(&self.index.models, &snapshot.models)
            && open.analysis.is_none()
            && open.failure.is_none();
        if !current {
            return None;
        }
        match outcome {
            Ok(mut analysis) => {
                self.next_seq += 1;
                analysis.seq = self.next_seq;
                let summary = analysis.summary.take();
                let max_depth = open.settings.max_call_depth;
                let analysis = Arc::new(analysis);
                open.analysis = Some(analysis.clone());
                open.base = analysis.base.clone();
                if let Some(summary) = summary {
                    self.replace_summary(&snapshot.uri, summary, max_depth);
                }
                Some(Ok(analysis))
            }
            Err(panic) => {
                tracing::error!(uri = snapshot.uri.as_str(), "analysis panicked: {panic}");
                open.failure = Some(panic.clone());
                Some(Err(panic))
            }
        }
    }

    /// Settings for a file; a configuration error is shown once and the defaults used.
    pub fn settings_for(
        &mut self,
        path: Option<&std::path::Path>,
        effects: &mut Effects,
    ) -> Arc<Settings> {
        let resolved = self.config.settings_for(path);
        if let Some(error) = resolved.error {
            self.report_config_error(error, effects);
        }
        resolved.settings
    }

    /// Shows a configuration error once per configuration.
    pub fn report_config_error(&mut self, error: String, effects: &mut Effects) {
        if self.shown_errors.insert(error.clone()) {
            effects.messages.push((
                MessageType::ERROR,
                format!("inbatch: {error}; using the default settings"),
            ));
        }
    }

    /// The options in force: `initializationOptions` overridden by the latest
    /// `didChangeConfiguration`.
    pub fn options_with(&self, changed: EditorOptions) -> EditorOptions {
        let initial = self.initial_options.clone();
        EditorOptions {
            batch_size: changed.batch_size.or(initial.batch_size),
            select: changed.select.or(initial.select),
            extend_select: changed.extend_select.or(initial.extend_select),
            ignore: changed.ignore.or(initial.ignore),
            configuration: changed.configuration.or(initial.configuration),
            inlay_hints: changed.inlay_hints.or(initial.inlay_hints),
            diagnostic_mode: changed.diagnostic_mode.or(initial.diagnostic_mode),
            index_max_files: changed.index_max_files.or(initial.index_max_files),
            index_max_bytes: changed.index_max_bytes.or(initial.index_max_bytes),
        }
    }
}

/// What the log says about a file whose long comment runs were not parsed; `None` when it had
/// none.
fn skipped_comments_message(uri: &Uri, file: &SourceFile) -> Option<String> {
    let runs = file.skipped_comments();
    if runs.is_empty() {
        return None;
    }
    let index = file.line_index();
    let lines: Vec<String> = runs
        .iter()
        .map(|run| {
            let first = index.line_of(run.range.start) + 1;
            let last = index.line_of(run.range.end) + 1;
            format!("{first}-{last}")
        })
        .collect();
    let comments: usize = runs.iter().map(|run| run.blanked.len()).sum();
    Some(format!(
        "inbatch: {}: {comments} comment lines in long runs (lines {}) were not given to the \
         parser (tree-sitter-python is quadratic on them); comments do not change the analysis, \
         and suppression comments were kept",
        uri.as_str(),
        lines.join(", ")
    ))
}

/// The file behind a `file:` URI.
pub fn file_path(uri: &Uri) -> Option<PathBuf> {
    let is_file = uri.scheme().as_str().eq_ignore_ascii_case("file");
    is_file
        .then(|| uri.to_file_path().map(|path| path.into_owned()))
        .flatten()
}

/// The error for a request about a document whose analysis panicked.
pub fn analysis_failed(uri: &Uri, panic: &str) -> jsonrpc::Error {
    let mut error = jsonrpc::Error::internal_error();
    error.message = format!("inbatch failed to analyse {}: {panic}", uri.as_str()).into();
    error
}

/// The error for a request about a text the server no longer has (LSP `ContentModified`).
pub fn content_modified(uri: &Uri) -> jsonrpc::Error {
    jsonrpc::Error {
        code: jsonrpc::ErrorCode::ServerError(-32801),
        message: format!("{} changed; ask again", uri.as_str()).into(),
        data: None,
    }
}

fn log(level: MessageType, message: String) -> Effects {
    Effects {
        logs: vec![(level, message)],
        ..Effects::default()
    }
}
