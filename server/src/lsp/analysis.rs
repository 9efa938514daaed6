//! Analyses run off the session lock, on the blocking pool, from a snapshot of one document
//! version. Each open document has at most one analysis task; edits that arrive while it runs
//! make it go again on the newest version, and its result for an older version is dropped. So a
//! burst of keystrokes costs one analysis of the last one, not one per keystroke, and the lock is
//! only ever held for the edit, the snapshot and the store.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{MessageType, Uri};

use super::diagnostics::{self, Analysis};
use super::session::{analysis_failed, content_modified, Effects, Publication, Session, Snapshot};
use super::{send_effects, Shared};
use crate::engine::Fixes;

/// Runs the engine on a snapshot and converts its diagnostics to the protocol.
pub fn compute(snapshot: &Snapshot) -> Result<Analysis, String> {
    let checked = diagnostics::analyse_with_summary(
        &snapshot.file,
        &snapshot.settings,
        snapshot.path.as_deref(),
        &snapshot.models,
        Fixes::Skip,
    )?;
    let found = checked.diagnostics;
    let lsp: Vec<_> = found
        .iter()
        .map(|d| diagnostics::to_lsp(d, &snapshot.uri, &snapshot.rope, snapshot.encoding))
        .collect();
    Ok(Analysis {
        seq: 0,
        version: snapshot.version,
        result_id: diagnostics::result_id(&lsp),
        diagnostics: found,
        lsp,
        summary: checked.summary,
        fixed: OnceLock::new(),
    })
}

async fn compute_off_thread(snapshot: Snapshot) -> Result<Analysis, String> {
    tokio::task::spawn_blocking(move || compute(&snapshot))
        .await
        .unwrap_or_else(|error| Err(format!("the analysis task failed: {error}")))
}

/// Stores an analysis and says what to send: its diagnostics (to a client that does not pull),
/// or the logged panic.
fn settle(
    session: &mut Session,
    snapshot: &Snapshot,
    outcome: Result<Analysis, String>,
) -> (Option<Result<Arc<Analysis>, String>>, Effects) {
    let stored = session.store(snapshot, outcome);
    let mut effects = match &stored {
        Some(Ok(analysis)) if !snapshot.features.pull_diagnostics => Effects {
            publications: vec![Publication {
                uri: snapshot.uri.clone(),
                version: Some(analysis.version),
                diagnostics: analysis.lsp.clone(),
                seq: Some(analysis.seq),
            }],
            ..Effects::default()
        },
        Some(Err(panic)) => Effects {
            logs: vec![(
                MessageType::ERROR,
                analysis_failed(&snapshot.uri, panic).message.to_string(),
            )],
            ..Effects::default()
        },
        _ => Effects::default(),
    };
    // A changed function summary makes the documents that import it go again.
    effects.analyse.extend(session.take_dependents());
    (stored, effects)
}

/// Starts the document's analysis task unless one is running (which then sees the new version).
pub fn schedule(shared: &Shared, uri: Uri) {
    let start = {
        let mut session = shared.lock();
        match session.documents.get_mut(&uri) {
            Some(open) if !open.analysing => {
                open.analysing = true;
                true
            }
            _ => false,
        }
    };
    if start {
        tokio::spawn(run(shared.clone(), uri));
    }
}

/// The task behind [`schedule`]. Boxed: it sends effects, which schedule tasks like it.
fn run(shared: Shared, uri: Uri) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        loop {
            let snapshot = {
                let mut session = shared.lock();
                match session.snapshot(&uri) {
                    Ok((snapshot, None)) => snapshot,
                    // Analysed already, closed, out of sync or failed: nothing to do until the
                    // next change schedules again.
                    _ => {
                        if let Some(open) = session.documents.get_mut(&uri) {
                            open.analysing = false;
                        }
                        return;
                    }
                }
            };
            let outcome = compute_off_thread(snapshot.clone()).await;
            let (stored, effects) = settle(&mut shared.lock(), &snapshot, outcome);
            if stored.is_none() {
                tracing::debug!(
                    uri = uri.as_str(),
                    version = snapshot.version,
                    "dropped a stale analysis"
                );
            }
            send_effects(&shared, effects).await;
        }
    })
}

/// [`current`] with the diagnostics' fixes built (once per analysis, off the async threads), for
/// code actions and hover.
pub async fn with_fixes(shared: &Shared, uri: &Uri) -> jsonrpc::Result<(Snapshot, Arc<Analysis>)> {
    let (snapshot, analysis) = current(shared, uri).await?;
    if analysis.fixed.get().is_none() {
        let (snapshot, analysis) = (snapshot.clone(), analysis.clone());
        let built = tokio::task::spawn_blocking(move || {
            analysis.fixed.get_or_init(|| {
                diagnostics::analyse(
                    &snapshot.file,
                    &snapshot.settings,
                    snapshot.path.as_deref(),
                    &snapshot.models,
                    Fixes::Build,
                )
            });
        })
        .await;
        if let Err(error) = built {
            return Err(analysis_failed(
                uri,
                &format!("building fixes failed: {error}"),
            ));
        }
    }
    if let Some(Err(panic)) = analysis.fixed.get() {
        return Err(analysis_failed(uri, panic));
    }
    Ok((snapshot, analysis))
}

/// The analysis of the document's current version, for a request: the stored one, or one made
/// now. A document that changes meanwhile answers `ContentModified`.
pub async fn current(shared: &Shared, uri: &Uri) -> jsonrpc::Result<(Snapshot, Arc<Analysis>)> {
    let (snapshot, existing) = shared.lock().snapshot(uri)?;
    if let Some(analysis) = existing {
        return Ok((snapshot, analysis));
    }
    let outcome = compute_off_thread(snapshot.clone()).await;
    let (stored, effects) = settle(&mut shared.lock(), &snapshot, outcome);
    send_effects(shared, effects).await;
    match stored {
        Some(Ok(analysis)) => Ok((snapshot, analysis)),
        Some(Err(panic)) => Err(analysis_failed(uri, &panic)),
        // Another task stored this version first, or the text moved on.
        None => match shared.lock().snapshot(uri)? {
            (now, Some(analysis)) if now.version == snapshot.version => Ok((now, analysis)),
            _ => Err(content_modified(uri)),
        },
    }
}
