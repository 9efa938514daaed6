//! The protocol entry points. Each handler takes the session lock for one synchronous step (inside
//! `catch_unwind`), releases it, then awaits whatever must be sent. Client requests are never
//! awaited inside a handler: they go to spawned tasks.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use serde_json::Value;
use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionOrCommand, CodeActionParams, CodeActionResponse, ConfigurationItem,
    DidChangeConfigurationParams, DidChangeTextDocumentParams, DidChangeWatchedFilesParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DidSaveTextDocumentParams,
    DocumentDiagnosticParams, DocumentDiagnosticReportResult, Hover, HoverParams, InitializeParams,
    InitializeResult, InitializedParams, InlayHint, InlayHintParams, MessageType, ServerInfo,
    WorkspaceDiagnosticParams, WorkspaceDiagnosticReportResult,
};
use tower_lsp_server::LanguageServer;

use super::capabilities::{server_capabilities, ClientFeatures};
use super::config::EditorOptions;
use super::position::PositionEncoding;
use super::session::{file_path, Effects, Fetch, Session};
use super::workspace::{self, WatchedChange};
use super::{
    analysis, code_actions, diagnostics, hover, inlay_hints, lifecycle, requests, send_effects,
    Shared,
};

pub(crate) struct Server {
    shared: Shared,
}

impl Server {
    pub(crate) fn new(shared: Shared) -> Server {
        Server { shared }
    }

    /// Runs one synchronous step on the session; a panic is logged and becomes `Err`.
    fn step<T>(&self, what: &str, f: impl FnOnce(&mut Session) -> T) -> Result<T, String> {
        let mut session = self.shared.lock();
        catch_unwind(AssertUnwindSafe(|| f(&mut session))).map_err(|payload| {
            let message = format!(
                "{what} failed: {}",
                diagnostics::panic_message(payload.as_ref())
            );
            tracing::error!("{message}");
            message
        })
    }

    async fn notify(&self, what: &str, f: impl FnOnce(&mut Session) -> Effects) {
        let effects = self.step(what, f).unwrap_or_else(|message| Effects {
            logs: vec![(MessageType::ERROR, message)],
            ..Effects::default()
        });
        send_effects(&self.shared, effects).await;
    }
}

impl LanguageServer for Server {
    async fn initialize(&self, params: InitializeParams) -> jsonrpc::Result<InitializeResult> {
        let encoding = PositionEncoding::negotiate(
            params
                .capabilities
                .general
                .as_ref()
                .and_then(|general| general.position_encodings.as_deref()),
        );
        let features = ClientFeatures::from_capabilities(&params.capabilities);
        let parsed = EditorOptions::from_json(params.initialization_options.as_ref());
        let options = parsed.options;
        let folders = workspace_folders(&params);
        tracing::info!(
            ?encoding,
            ?features,
            ?options,
            ?folders,
            client = params.client_info.as_ref().map(|c| c.name.as_str()),
            "initialize"
        );
        let mut session = Session::new(
            encoding,
            features,
            options,
            folders,
            self.shared.stop.clone(),
        );
        session.pending_messages.extend(
            parsed
                .problems
                .into_iter()
                .map(|problem| (MessageType::ERROR, format!("inbatch: {problem}"))),
        );
        *self.shared.lock() = session;
        if let Some(pid) = params.process_id {
            lifecycle::watch_client_process(
                pid,
                self.shared.ending.clone(),
                self.shared.stop.clone(),
            );
        }
        Ok(InitializeResult {
            capabilities: server_capabilities(encoding, features),
            server_info: Some(ServerInfo {
                name: "inbatch".to_string(),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let (messages, features) = {
            let mut session = self.shared.lock();
            (
                std::mem::take(&mut session.pending_messages),
                session.features,
            )
        };
        send_effects(
            &self.shared,
            Effects {
                messages,
                ..Effects::default()
            },
        )
        .await;
        // The workspace is indexed whether or not (and whenever) the client answers the
        // registration.
        if features.watched_files_registration {
            let client = self.shared.client.clone();
            tokio::spawn(async move { workspace::watch_files(&client).await });
        } else {
            tokio::spawn(workspace::poll_configuration(self.shared.clone()));
        }
        tokio::spawn(workspace::indexer(self.shared.clone()));
        workspace::request_scan(&self.shared);
    }

    async fn shutdown(&self) -> jsonrpc::Result<()> {
        tracing::info!("shutdown");
        // `requests::Tracked` cancelled every piece of engine work when it read this request.
        self.shared.stop.cancel();
        self.shared.lock().shutdown_requested = true;
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        self.notify("didOpen", |session| session.open(params.text_document))
            .await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        self.notify("didChange", |session| session.change(params))
            .await;
    }

    async fn did_save(&self, _: DidSaveTextDocumentParams) {}

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.notify("didClose", |session| session.close(&uri)).await;
        // The workspace's summary of the file came from the closed buffer: read it from disk
        // again, so that other files no longer see unsaved text.
        let indexed = file_path(&uri).filter(|path| {
            let session = self.shared.lock();
            session.index.models.calls.file(path).is_some()
        });
        if let Some(path) = indexed {
            let shared = self.shared.clone();
            tokio::spawn(async move {
                let (changed, deleted) = if path.is_file() {
                    (vec![path], Vec::new())
                } else {
                    (Vec::new(), vec![path])
                };
                workspace::reindex_files(&shared, changed, deleted).await;
            });
        }
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let shared = self.shared.clone();
        // Neovim encodes an empty Lua table as `[]`.
        let sent_nothing = match &params.settings {
            Value::Null => true,
            Value::Object(object) => object.is_empty(),
            Value::Array(items) => items.is_empty(),
            _ => false,
        };
        let ask_client = sent_nothing && shared.lock().features.configuration;
        if !ask_client {
            apply_options(&shared, Some(params.settings)).await;
            return;
        }
        // One question at a time: changes arriving while the client answers ask once more.
        let start = {
            let mut session = shared.lock();
            let state = session.configuration_fetch;
            session.configuration_fetch = match state {
                Fetch::Idle => Fetch::Running,
                Fetch::Running | Fetch::Again => Fetch::Again,
            };
            state == Fetch::Idle
        };
        if start {
            tokio::spawn(fetch_configuration(shared));
        }
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let change = workspace::classify(&params);
        let shared = self.shared.clone();
        match change {
            WatchedChange::Configuration => {
                tracing::info!("configuration file changed; reloading");
                workspace::reload_configuration(&shared).await;
            }
            WatchedChange::Files { changed, deleted } => {
                tokio::spawn(async move {
                    workspace::reindex_files(&shared, changed, deleted).await;
                    workspace::refresh_pulled_diagnostics(&shared).await;
                });
            }
        }
    }

    async fn hover(&self, params: HoverParams) -> jsonrpc::Result<Option<Hover>> {
        let uri = &params.text_document_position_params.text_document.uri;
        let (snapshot, analysis) = analysis::with_fixes(&self.shared, uri).await?;
        contained("hover", || Ok(hover::hover(&snapshot, &analysis, &params)))
    }

    async fn inlay_hint(&self, params: InlayHintParams) -> jsonrpc::Result<Option<Vec<InlayHint>>> {
        let uri = &params.text_document.uri;
        let (snapshot, analysis) = analysis::current(&self.shared, uri).await?;
        contained("inlayHint", || {
            Ok(Some(inlay_hints::inlay_hints(
                &snapshot, &analysis, &params,
            )))
        })
    }

    async fn code_action(
        &self,
        params: CodeActionParams,
    ) -> jsonrpc::Result<Option<CodeActionResponse>> {
        let uri = &params.text_document.uri;
        let (snapshot, analysis) = analysis::with_fixes(&self.shared, uri).await?;
        let cancel = requests::current(&self.shared.stop);
        let actions = off_thread("codeAction", move || {
            let actions = code_actions::code_actions(&snapshot, &analysis, &params);
            if snapshot.features.code_action_resolve {
                return Ok(actions);
            }
            actions
                .into_iter()
                .map(|action| code_actions::resolve(&snapshot, action, &cancel))
                .collect()
        })
        .await?;
        Ok(Some(
            actions
                .into_iter()
                .map(CodeActionOrCommand::CodeAction)
                .collect(),
        ))
    }

    async fn code_action_resolve(&self, action: CodeAction) -> jsonrpc::Result<CodeAction> {
        let uri = code_actions::target(&action)?;
        let cancel = requests::current(&self.shared.stop);
        let (snapshot, _) = analysis::ready(&self.shared, &uri, &cancel).await?;
        off_thread("codeAction/resolve", move || {
            code_actions::resolve(&snapshot, action, &cancel)
        })
        .await
    }

    async fn diagnostic(
        &self,
        params: DocumentDiagnosticParams,
    ) -> jsonrpc::Result<DocumentDiagnosticReportResult> {
        diagnostics::document_diagnostic(&self.shared, params).await
    }

    async fn workspace_diagnostic(
        &self,
        params: WorkspaceDiagnosticParams,
    ) -> jsonrpc::Result<WorkspaceDiagnosticReportResult> {
        Ok(diagnostics::workspace_diagnostic(&self.shared, params).await)
    }
}

/// Runs request logic with panics contained: a panic is logged and answered with an error.
fn contained<T>(what: &str, f: impl FnOnce() -> jsonrpc::Result<T>) -> jsonrpc::Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = format!(
            "{what} failed: {}",
            diagnostics::panic_message(payload.as_ref())
        );
        tracing::error!("{message}");
        let mut error = jsonrpc::Error::internal_error();
        error.message = message.into();
        Err(error)
    })
}

/// [`contained`] on the blocking pool, for work that may run the engine (fix-all).
async fn off_thread<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> jsonrpc::Result<T> + Send + 'static,
) -> jsonrpc::Result<T> {
    tokio::task::spawn_blocking(move || contained(what, f))
        .await
        .unwrap_or_else(|error| {
            let mut failure = jsonrpc::Error::internal_error();
            failure.message = format!("{what} failed: {error}").into();
            Err(failure)
        })
}

/// Asks the client for the `inbatch` settings and applies them, again while changes came during
/// the question.
async fn fetch_configuration(shared: Shared) {
    loop {
        let item = ConfigurationItem {
            scope_uri: None,
            section: Some("inbatch".to_string()),
        };
        match shared.client.configuration(vec![item]).await {
            Ok(mut values) => apply_options(&shared, values.pop()).await,
            Err(error) => tracing::warn!("workspace/configuration failed: {error}"),
        }
        let mut session = shared.lock();
        if session.configuration_fetch != Fetch::Again || shared.stop.is_cancelled() {
            session.configuration_fetch = Fetch::Idle;
            return;
        }
        session.configuration_fetch = Fetch::Running;
    }
}

/// New editor options: every open document is re-analysed and the workspace re-indexed (one
/// scan for a burst of changes, see `workspace::request_scan`).
async fn apply_options(shared: &Shared, value: Option<Value>) {
    let effects = {
        let mut session = shared.lock();
        let parsed = EditorOptions::from_json(value.as_ref());
        let options = session.options_with(parsed.options);
        tracing::info!(?options, "configuration changed");
        session.index.limits = options.index_limits();
        let config = session.config.with_options(options);
        let mut effects = session.reconfigure(config);
        effects.messages.extend(
            parsed
                .problems
                .into_iter()
                .map(|problem| (MessageType::ERROR, format!("inbatch: {problem}"))),
        );
        effects
    };
    send_effects(shared, effects).await;
    workspace::request_scan(shared);
}

fn workspace_folders(params: &InitializeParams) -> Vec<PathBuf> {
    if let Some(folders) = &params.workspace_folders {
        return folders
            .iter()
            .filter_map(|folder| file_path(&folder.uri))
            .collect();
    }
    #[allow(deprecated)]
    let root = params.root_uri.as_ref();
    root.and_then(file_path).into_iter().collect()
}
