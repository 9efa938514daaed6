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
use super::diagnostics::{self, Analysis};
use super::document::Document;
use super::position::PositionEncoding;
use super::workspace::WorkspaceIndex;
use crate::engine::settings::Settings;

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
    /// Messages to show once the client is ready for them (after `initialized`).
    pub pending_messages: Vec<(MessageType, String)>,
    next_seq: u64,
    /// Configuration errors already shown, so that each is shown once per configuration.
    shown_errors: HashSet<String>,
}

pub struct OpenDocument {
    pub document: Document,
    /// The file behind a `file:` URI; `None` for unsaved buffers.
    pub path: Option<PathBuf>,
    pub settings: Arc<Settings>,
    /// The analysis of the document's current version, once made.
    pub analysis: Option<Analysis>,
}

/// Diagnostics to push, if they are still current when their turn comes.
pub struct Publication {
    pub uri: Uri,
    pub version: Option<i32>,
    pub diagnostics: Vec<lsp::Diagnostic>,
    /// The analysis they came from; `None` clears a closed document's diagnostics.
    pub seq: Option<u64>,
}

/// What a synchronous step asks the shell to send.
#[derive(Default)]
pub struct Effects {
    pub publications: Vec<Publication>,
    /// `window/showMessage`.
    pub messages: Vec<(MessageType, String)>,
    /// `window/logMessage` (also written to the log).
    pub logs: Vec<(MessageType, String)>,
}

impl Effects {
    fn extend(&mut self, other: Effects) {
        self.publications.extend(other.publications);
        self.messages.extend(other.messages);
        self.logs.extend(other.logs);
    }
}

impl Default for Session {
    /// The state before `initialize`.
    fn default() -> Session {
        Session::new(
            PositionEncoding::default(),
            ClientFeatures::default(),
            EditorOptions::default(),
            Vec::new(),
        )
    }
}

impl Session {
    pub fn new(
        encoding: PositionEncoding,
        features: ClientFeatures,
        initial_options: EditorOptions,
        folders: Vec<PathBuf>,
    ) -> Session {
        let root = folders
            .first()
            .cloned()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        Session {
            encoding,
            features,
            documents: HashMap::new(),
            config: ConfigStore::new(initial_options.clone(), root),
            initial_options,
            index: WorkspaceIndex::new(folders),
            shutdown_requested: false,
            pending_messages: Vec::new(),
            next_seq: 0,
            shown_errors: HashSet::new(),
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
            },
        );
        effects.extend(self.analyse_and_publish(&item.uri));
        effects
    }

    /// Applies the edits, reparses and analyses, all before the caller's first `.await`.
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
        open.analysis = None;
        let mut effects = Effects::default();
        if let Err(error) = applied {
            effects.logs.push((
                MessageType::ERROR,
                format!("{}: {}; waiting for the full text", uri.as_str(), error.0),
            ));
        }
        if !open.document.in_sync() {
            if was_in_sync {
                // The old diagnostics point into a text we no longer know.
                effects.publications.push(Publication {
                    uri,
                    version: Some(open.document.version()),
                    diagnostics: Vec::new(),
                    seq: None,
                });
            }
            return effects;
        }
        effects.extend(self.analyse_and_publish(&uri));
        effects
    }

    pub fn close(&mut self, uri: &Uri) -> Effects {
        self.documents.remove(uri);
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
        for uri in &uris {
            let path = self.documents[uri].path.clone();
            let settings = self.settings_for(path.as_deref(), &mut effects);
            if let Some(open) = self.documents.get_mut(uri) {
                open.settings = settings;
                open.analysis = None;
            }
            effects.extend(self.analyse_and_publish(uri));
        }
        effects
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

    /// The analysis of a document's current version, made now if needed. A panic in the engine
    /// becomes an error for the request that asked.
    pub fn analysis(&mut self, uri: &Uri) -> jsonrpc::Result<&Analysis> {
        let encoding = self.encoding;
        let seq = self.next_seq + 1;
        let open = self.documents.get_mut(uri).ok_or_else(|| {
            jsonrpc::Error::invalid_params(format!("{} is not open", uri.as_str()))
        })?;
        if !open.document.in_sync() {
            return Err(content_modified(uri));
        }
        if open.analysis.is_none() {
            let file = open.document.file();
            let diagnostics = diagnostics::analyse(file, &open.settings, open.path.as_deref())
                .map_err(|panic| {
                    tracing::error!(uri = uri.as_str(), "analysis panicked: {panic}");
                    let mut error = jsonrpc::Error::internal_error();
                    error.message =
                        format!("inbatch failed to analyse {}: {panic}", uri.as_str()).into();
                    error
                })?;
            let rope = open.document.rope();
            let lsp = diagnostics
                .iter()
                .map(|d| diagnostics::to_lsp(d, uri, rope, encoding))
                .collect::<Vec<_>>();
            open.analysis = Some(Analysis {
                seq,
                version: open.document.version(),
                result_id: diagnostics::result_id(&lsp),
                diagnostics,
                lsp,
            });
            self.next_seq = seq;
        }
        Ok(open.analysis.as_ref().expect("analysed above"))
    }

    /// The open document with the analysis of its current version.
    pub fn analysed(&mut self, uri: &Uri) -> jsonrpc::Result<(&OpenDocument, &Analysis)> {
        self.analysis(uri)?;
        let open = &self.documents[uri];
        Ok((open, open.analysis.as_ref().expect("analysed above")))
    }

    fn analyse_and_publish(&mut self, uri: &Uri) -> Effects {
        let push = !self.features.pull_diagnostics;
        match self.analysis(uri) {
            Ok(analysis) if push => Effects {
                publications: vec![Publication {
                    uri: uri.clone(),
                    version: Some(analysis.version),
                    diagnostics: analysis.lsp.clone(),
                    seq: Some(analysis.seq),
                }],
                ..Effects::default()
            },
            Ok(_) => Effects::default(),
            Err(error) => log(MessageType::ERROR, error.message.to_string()),
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
            if self.shown_errors.insert(error.clone()) {
                effects.messages.push((
                    MessageType::ERROR,
                    format!("inbatch: {error}; using the default settings"),
                ));
            }
        }
        resolved.settings
    }

    /// The options in force: `initializationOptions` overridden by the latest
    /// `didChangeConfiguration`.
    pub fn options_with(&self, changed: EditorOptions) -> EditorOptions {
        let initial = self.initial_options.clone();
        EditorOptions {
            batch_size: changed.batch_size.or(initial.batch_size),
            select: changed.select.or(initial.select),
            ignore: changed.ignore.or(initial.ignore),
            configuration: changed.configuration.or(initial.configuration),
        }
    }
}

/// The file behind a `file:` URI.
pub fn file_path(uri: &Uri) -> Option<PathBuf> {
    let is_file = uri.scheme().as_str().eq_ignore_ascii_case("file");
    is_file
        .then(|| uri.to_file_path().map(|path| path.into_owned()))
        .flatten()
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
