//! What this server offers, and which optional protocol features the client has.

use tower_lsp_server::ls_types::{
    ClientCapabilities, CodeActionKind, CodeActionOptions, CodeActionProviderCapability,
    DiagnosticOptions, DiagnosticServerCapabilities, HoverProviderCapability, OneOf, SaveOptions,
    ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, WorkDoneProgressOptions, WorkspaceFoldersServerCapabilities,
    WorkspaceServerCapabilities,
};

use super::position::PositionEncoding;

/// The code action kind of "apply every safe fix in this file".
pub const FIX_ALL_KIND: CodeActionKind = CodeActionKind::new("source.fixAll.inbatch");

/// The code action kind of "apply every fix in this file, unsafe rewrites included". Not under
/// `source.fixAll`, so that an editor's fix-all on save never runs it: it is listed only when a
/// client asks for this kind (or for `source`) by name.
pub const FIX_ALL_UNSAFE_KIND: CodeActionKind = CodeActionKind::new("source.fixAllUnsafe.inbatch");

/// The diagnostic source and the pull-diagnostics identifier.
pub const SOURCE: &str = "inbatch";

/// Optional client features the server adapts to, read once at `initialize`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientFeatures {
    /// The client pulls diagnostics itself (`textDocument/diagnostic`) and can be told to pull
    /// again (`workspace/diagnostic/refresh`); pushing as well would show every diagnostic twice,
    /// so the server then only answers pulls.
    pub pull_diagnostics: bool,
    /// The client can pull but cannot be told to pull again (Neovim 0.11 pulls on open and on
    /// edits only): a pull answered before the workspace's models were indexed, or before a
    /// configuration change, would stand until the next edit. Such a client is not offered pull
    /// diagnostics, and is pushed them instead, again whenever they change.
    pub pull_without_refresh: bool,
    pub diagnostic_refresh: bool,
    /// The client can fill a code action's edit lazily through `codeAction/resolve`.
    pub code_action_resolve: bool,
    pub document_changes: bool,
    pub work_done_progress: bool,
    pub watched_files_registration: bool,
    /// The client answers `workspace/configuration`.
    pub configuration: bool,
}

impl ClientFeatures {
    pub fn from_capabilities(capabilities: &ClientCapabilities) -> ClientFeatures {
        let text_document = capabilities.text_document.as_ref();
        let workspace = capabilities.workspace.as_ref();
        let declares_pull = text_document.is_some_and(|t| t.diagnostic.is_some());
        let diagnostic_refresh = workspace
            .and_then(|w| w.diagnostics.as_ref())
            .and_then(|d| d.refresh_support)
            .unwrap_or(false);
        ClientFeatures {
            pull_diagnostics: declares_pull && diagnostic_refresh,
            pull_without_refresh: declares_pull && !diagnostic_refresh,
            diagnostic_refresh,
            code_action_resolve: text_document
                .and_then(|t| t.code_action.as_ref())
                .and_then(|c| c.resolve_support.as_ref())
                .is_some_and(|r| r.properties.iter().any(|p| p == "edit")),
            document_changes: workspace
                .and_then(|w| w.workspace_edit.as_ref())
                .and_then(|e| e.document_changes)
                .unwrap_or(false),
            work_done_progress: capabilities
                .window
                .as_ref()
                .and_then(|w| w.work_done_progress)
                .unwrap_or(false),
            watched_files_registration: workspace
                .and_then(|w| w.did_change_watched_files.as_ref())
                .and_then(|d| d.dynamic_registration)
                .unwrap_or(false),
            configuration: workspace.and_then(|w| w.configuration).unwrap_or(false),
        }
    }
}

pub fn server_capabilities(
    encoding: PositionEncoding,
    features: ClientFeatures,
) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(encoding.kind()),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                    include_text: Some(false),
                })),
                ..TextDocumentSyncOptions::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        inlay_hint_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![
                CodeActionKind::QUICKFIX,
                FIX_ALL_KIND,
                FIX_ALL_UNSAFE_KIND,
            ]),
            resolve_provider: Some(true),
            work_done_progress_options: WorkDoneProgressOptions::default(),
        })),
        // See `ClientFeatures::pull_without_refresh`.
        diagnostic_provider: (!features.pull_without_refresh).then(|| {
            DiagnosticServerCapabilities::Options(DiagnosticOptions {
                identifier: Some(SOURCE.to_string()),
                inter_file_dependencies: false,
                workspace_diagnostics: true,
                work_done_progress_options: WorkDoneProgressOptions::default(),
            })
        }),
        workspace: Some(WorkspaceServerCapabilities {
            workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                supported: Some(true),
                change_notifications: None,
            }),
            file_operations: None,
        }),
        ..ServerCapabilities::default()
    }
}
