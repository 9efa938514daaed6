//! Running the engine on a document, converting its diagnostics to the protocol, and answering
//! diagnostic pulls (`textDocument/diagnostic`, `workspace/diagnostic`).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use ropey::Rope;
use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{
    self as lsp, CodeDescription, DiagnosticRelatedInformation, DiagnosticSeverity, DiagnosticTag,
    DocumentDiagnosticParams, DocumentDiagnosticReport, DocumentDiagnosticReportResult,
    FullDocumentDiagnosticReport, Location, NumberOrString, RelatedFullDocumentDiagnosticReport,
    RelatedUnchangedDocumentDiagnosticReport, TextEdit, UnchangedDocumentDiagnosticReport, Uri,
    WorkspaceDiagnosticParams, WorkspaceDiagnosticReport, WorkspaceDiagnosticReportResult,
    WorkspaceDocumentDiagnosticReport, WorkspaceFullDocumentDiagnosticReport,
    WorkspaceUnchangedDocumentDiagnosticReport,
};

use super::capabilities::SOURCE;
use super::config::DiagnosticMode;
use super::position::{self, PositionEncoding};
use super::session::Session;
use super::{analysis, testing, Shared};
use crate::engine::cancel::{self, Cancellation, Cancelled};
use crate::engine::diagnostic::{Diagnostic, Severity};
use crate::engine::fix::Fix;
use crate::engine::incremental::Prior;
use crate::engine::index::calls::FileSummary;
use crate::engine::index::ProjectIndex;
use crate::engine::settings::Settings;
use crate::engine::source::SourceFile;
use crate::engine::{FileCheck, FileOrigin, Fixes};

/// One analysis of one document version, kept until the next.
#[derive(Debug)]
pub struct Analysis {
    /// Increases with every analysis in the session: a publication whose `seq` is no longer the
    /// document's latest is stale, whether a newer version or newer settings replaced it.
    pub seq: u64,
    pub version: i32,
    pub diagnostics: Vec<Diagnostic>,
    pub lsp: Vec<lsp::Diagnostic>,
    pub result_id: String,
    /// The document's function summary, for the workspace's call index.
    pub summary: Option<FileSummary>,
    /// What the next version's analysis may start from (see `engine::incremental`).
    pub base: Option<Arc<AnalysisBase>>,
    /// The same diagnostics with their fixes, built on the first code action or hover that needs
    /// them: building and verifying rewrites costs more than the analysis, and most versions of
    /// a document being typed are never asked for one.
    pub fixed: tokio::sync::OnceCell<Result<Vec<Diagnostic>, String>>,
}

impl Analysis {
    /// The diagnostics with their fixes, once [`analysis::with_fixes`] has built them.
    pub fn fixed_diagnostics(&self) -> &[Diagnostic] {
        match self.fixed.get() {
            Some(Ok(diagnostics)) => diagnostics,
            _ => &self.diagnostics,
        }
    }
}

/// A fix as it travels in a code action's `data`: already converted,
/// so that a resolve needs nothing but the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixData {
    pub title: String,
    pub applicability: String,
    pub edits: Vec<TextEdit>,
}

/// Why engine work gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Its cancellation was cancelled: a newer edit, `$/cancelRequest`, `shutdown`.
    Cancelled,
    /// It panicked; the message says where.
    Panicked(String),
}

/// Runs engine work with `cancel` as its cancellation (see `engine::cancel`), containing any
/// panic: the panic's message comes back so that the caller can log it with the document and
/// answer the request with an error.
pub fn guarded<T>(cancel: &Cancellation, work: impl FnOnce() -> T) -> Result<T, Failure> {
    match catch_unwind(AssertUnwindSafe(|| cancel::run(cancel, work))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(Cancelled)) => Err(Failure::Cancelled),
        Err(payload) => Err(Failure::Panicked(panic_message(payload.as_ref()))),
    }
}

/// Runs the engine on one file (see [`guarded`]).
pub fn analyse(
    file: &SourceFile,
    settings: &Settings,
    path: Option<&Path>,
    models: &ProjectIndex,
    fixes: Fixes,
    cancel: &Cancellation,
) -> Result<Vec<Diagnostic>, Failure> {
    analyse_with_summary(file, settings, path, models, fixes, cancel)
        .map(|checked| checked.diagnostics)
}

/// [`analyse`], following calls into the workspace's other files (through the summaries in
/// `models.calls`) and returning the file's own summary, when the document has a path.
pub fn analyse_with_summary(
    file: &SourceFile,
    settings: &Settings,
    path: Option<&Path>,
    models: &ProjectIndex,
    fixes: Fixes,
    cancel: &Cancellation,
) -> Result<FileCheck, Failure> {
    if path.is_some_and(|path| settings.is_excluded(path)) {
        return Ok(FileCheck::nothing());
    }
    guarded(cancel, || {
        testing::before_analysis(file.text());
        let rules = settings.rules_for(path);
        let origin = path.map(|path| origin_of(path, models));
        let mut checked =
            crate::engine::check_file_with(file, settings, rules, models, origin.as_ref(), fixes);
        testing::after_analysis(&mut checked.diagnostics);
        checked
    })
}

/// Where a document sits in the workspace: its path, its module, the project's call index.
fn origin_of<'m>(path: &Path, models: &'m ProjectIndex) -> FileOrigin<'m> {
    FileOrigin {
        path: Arc::from(path),
        module: models.module_of(path),
        calls: &models.calls,
    }
}

/// The text an analysis was made of and what it kept, with what it depended on: the next
/// version is analysed from it when the settings and the workspace's index are still these.
pub struct AnalysisBase {
    pub file: Arc<SourceFile>,
    pub settings: Arc<Settings>,
    pub models: Arc<ProjectIndex>,
    pub prior: Prior,
}

impl std::fmt::Debug for AnalysisBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalysisBase")
            .field("bytes", &self.file.text().len())
            .field("diagnostics", &self.prior.raw.diagnostics.len())
            .finish_non_exhaustive()
    }
}

/// [`analyse_with_summary`] without fixes, reusing `base` where the edit since allows (see
/// `engine::incremental`); also returns what the next analysis may start from.
pub fn analyse_incremental(
    file: &Arc<SourceFile>,
    settings: &Arc<Settings>,
    path: Option<&Path>,
    models: &Arc<ProjectIndex>,
    base: Option<&AnalysisBase>,
    cancel: &Cancellation,
) -> Result<(FileCheck, Option<Arc<AnalysisBase>>), Failure> {
    if path.is_some_and(|path| settings.is_excluded(path)) {
        return Ok((FileCheck::nothing(), None));
    }
    guarded(cancel, || {
        testing::before_analysis(file.text());
        let rules = settings.rules_for(path);
        let origin = path.map(|path| origin_of(path, models));
        let previous = base
            .filter(|base| {
                Arc::ptr_eq(&base.settings, settings) && Arc::ptr_eq(&base.models, models)
            })
            .map(|base| (&*base.file, &base.prior));
        let incremental = crate::engine::incremental::check_file_incremental(
            previous,
            file,
            settings,
            rules,
            models,
            origin.as_ref(),
        );
        tracing::trace!(reused = incremental.reused, "analysed");
        let mut checked = incremental.check;
        testing::after_analysis(&mut checked.diagnostics);
        let base = incremental.prior.map(|prior| {
            Arc::new(AnalysisBase {
                file: file.clone(),
                settings: settings.clone(),
                models: models.clone(),
                prior,
            })
        });
        (checked, base)
    })
}

pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// Converts a fix's byte-offset edits to protocol edits.
pub fn fix_data(fix: &Fix, rope: &Rope, encoding: PositionEncoding) -> FixData {
    FixData {
        title: fix.message.clone(),
        applicability: fix.applicability.as_str().to_string(),
        edits: fix
            .edits
            .iter()
            .map(|edit| TextEdit {
                range: position::range(rope, &edit.range, encoding),
                new_text: edit.content.clone(),
            })
            .collect(),
    }
}

pub fn to_lsp(
    diagnostic: &Diagnostic,
    uri: &Uri,
    rope: &Rope,
    encoding: PositionEncoding,
) -> lsp::Diagnostic {
    let code = diagnostic.rule.code;
    let related = diagnostic
        .related
        .iter()
        .filter_map(|related| {
            let location = match &related.file {
                None => Location::new(uri.clone(), position::range(rope, &related.range, encoding)),
                Some(other) => Location::new(
                    Uri::from_file_path(&other.path)?,
                    position::other_file_range(other, encoding),
                ),
            };
            Some(DiagnosticRelatedInformation {
                location,
                message: related.message.clone(),
            })
        })
        .collect::<Vec<_>>();
    lsp::Diagnostic {
        range: position::shown_range(rope, &diagnostic.range, encoding),
        severity: Some(match diagnostic.severity() {
            Severity::Warning => DiagnosticSeverity::WARNING,
            Severity::Information => DiagnosticSeverity::INFORMATION,
        }),
        code: Some(NumberOrString::String(code.to_string())),
        code_description: Uri::from_str(&diagnostic.rule.docs_url())
            .ok()
            .map(|href| CodeDescription { href }),
        source: Some(SOURCE.to_string()),
        message: diagnostic.message.clone(),
        related_information: (!related.is_empty()).then_some(related),
        // An unused suppression is code that does nothing: editors fade it.
        tags: (code == "INB901").then(|| vec![DiagnosticTag::UNNECESSARY]),
        // Fixes are built when a code action asks (see `Analysis::fixed`), not per version.
        data: None,
    }
}

/// A result id that changes exactly when the reported diagnostics change.
pub fn result_id(diagnostics: &[lsp::Diagnostic]) -> String {
    let mut hasher = DefaultHasher::new();
    serde_json::to_string(diagnostics)
        .expect("diagnostics are plain JSON")
        .hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

pub async fn document_diagnostic(
    shared: &Shared,
    params: DocumentDiagnosticParams,
) -> jsonrpc::Result<DocumentDiagnosticReportResult> {
    let uri = params.text_document.uri;
    let is_open = shared.lock().documents.contains_key(&uri);
    let (items, result_id) = if is_open {
        let (_, analysis) = analysis::current(shared, &uri).await?;
        (analysis.lsp.clone(), analysis.result_id.clone())
    } else {
        let session = shared.lock();
        match session.index.files.get(&uri) {
            Some(report) if diagnostic_mode(&session) == DiagnosticMode::Workspace => {
                (report.diagnostics.clone(), report.result_id.clone())
            }
            _ => (Vec::new(), result_id(&[])),
        }
    };
    tracing::debug!(
        uri = uri.as_str(),
        result_id,
        unchanged = params.previous_result_id.as_deref() == Some(result_id.as_str()),
        "textDocument/diagnostic"
    );
    let report = if params.previous_result_id.as_deref() == Some(result_id.as_str()) {
        DocumentDiagnosticReport::Unchanged(RelatedUnchangedDocumentDiagnosticReport {
            related_documents: None,
            unchanged_document_diagnostic_report: UnchangedDocumentDiagnosticReport { result_id },
        })
    } else {
        DocumentDiagnosticReport::Full(RelatedFullDocumentDiagnosticReport {
            related_documents: None,
            full_document_diagnostic_report: FullDocumentDiagnosticReport {
                result_id: Some(result_id),
                items,
            },
        })
    };
    Ok(DocumentDiagnosticReportResult::Report(report))
}

/// Every open document, and every indexed file: with its diagnostics in the `workspace`
/// diagnostic mode, empty in `openFilesOnly` (so that a client switched from one to the other
/// drops what it showed). A document whose analysis fails is left out (and logged) rather than
/// failing the whole report.
pub async fn workspace_diagnostic(
    shared: &Shared,
    params: WorkspaceDiagnosticParams,
) -> WorkspaceDiagnosticReportResult {
    let previous: HashMap<Uri, String> = params
        .previous_result_ids
        .into_iter()
        .map(|previous| (previous.uri, previous.value))
        .collect();
    let mut reports: Vec<(Uri, Option<i64>, Vec<lsp::Diagnostic>, String)> = Vec::new();
    let open: Vec<Uri> = shared.lock().documents.keys().cloned().collect();
    for uri in &open {
        if let Ok((_, analysis)) = analysis::current(shared, uri).await {
            reports.push((
                uri.clone(),
                Some(i64::from(analysis.version)),
                analysis.lsp.clone(),
                analysis.result_id.clone(),
            ));
        }
    }
    {
        let session = shared.lock();
        let whole_workspace = diagnostic_mode(&session) == DiagnosticMode::Workspace;
        for (uri, report) in &session.index.files {
            if open.contains(uri) {
                continue;
            }
            let (items, id) = if whole_workspace {
                (report.diagnostics.clone(), report.result_id.clone())
            } else {
                (Vec::new(), result_id(&[]))
            };
            reports.push((uri.clone(), None, items, id));
        }
    }
    reports.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let items = reports
        .into_iter()
        .map(|(uri, version, items, result_id)| {
            if previous.get(&uri) == Some(&result_id) {
                WorkspaceDocumentDiagnosticReport::Unchanged(
                    WorkspaceUnchangedDocumentDiagnosticReport {
                        uri,
                        version,
                        unchanged_document_diagnostic_report: UnchangedDocumentDiagnosticReport {
                            result_id,
                        },
                    },
                )
            } else {
                WorkspaceDocumentDiagnosticReport::Full(WorkspaceFullDocumentDiagnosticReport {
                    uri,
                    version,
                    full_document_diagnostic_report: FullDocumentDiagnosticReport {
                        result_id: Some(result_id),
                        items,
                    },
                })
            }
        })
        .collect();
    WorkspaceDiagnosticReportResult::Report(WorkspaceDiagnosticReport { items })
}

fn diagnostic_mode(session: &Session) -> DiagnosticMode {
    session.config.options().diagnostic_mode.unwrap_or_default()
}
