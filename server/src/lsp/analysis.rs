//! Parses and analyses run off the session lock, on the blocking pool, from a snapshot of one
//! document version. Each open document has at most one analysis task; edits that arrive while it
//! runs cancel its work (the engine stops at its next check) and make it go again on the newest
//! version, and a result for an older version is dropped. So a burst of keystrokes costs one
//! analysis of the last one, not one per keystroke, and the lock is only ever held for the edit,
//! the snapshot and the store.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{MessageType, Uri};

use super::diagnostics::{self, Analysis, Failure};
use super::document::ParseJob;
use super::session::{
    analysis_failed, content_modified, Effects, Prepared, Publication, Session, Snapshot,
};
use super::{requests, send_effects, Shared};
use crate::engine::cancel::Cancellation;
use crate::engine::Fixes;

/// Runs the engine on a snapshot and converts its diagnostics to the protocol.
pub fn compute(snapshot: &Snapshot, cancel: &Cancellation) -> Result<Analysis, Failure> {
    let (checked, base) = diagnostics::analyse_incremental(
        &snapshot.file,
        &snapshot.settings,
        snapshot.path.as_deref(),
        &snapshot.models,
        snapshot.base.as_deref(),
        cancel,
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
        base,
        fixed: tokio::sync::OnceCell::new(),
    })
}

/// Runs `work` on the blocking pool with `cancel` as its cancellation, panics contained.
pub async fn off_thread<T: Send + 'static>(
    cancel: Cancellation,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(move || diagnostics::guarded(&cancel, work))
        .await
        .unwrap_or_else(|error| Err(Failure::Panicked(format!("the task failed: {error}"))))
}

async fn compute_off_thread(snapshot: Snapshot, cancel: Cancellation) -> Result<Analysis, Failure> {
    tokio::task::spawn_blocking(move || compute(&snapshot, &cancel))
        .await
        .unwrap_or_else(|error| {
            Err(Failure::Panicked(format!(
                "the analysis task failed: {error}"
            )))
        })
}

/// Parses a document's text off the lock and stores the parse if the text is still current.
async fn parse(
    shared: &Shared,
    uri: &Uri,
    job: ParseJob,
    cancel: Cancellation,
) -> Result<(), Failure> {
    let text = job.text;
    let parsed = off_thread(cancel, move || job.run()).await;
    let effects = match parsed {
        Ok(file) => shared.lock().store_parse(uri, text, file),
        Err(Failure::Panicked(panic)) => shared.lock().parse_failed(uri, text, panic),
        Err(Failure::Cancelled) => return Err(Failure::Cancelled),
    };
    send_effects(shared, effects).await;
    Ok(())
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
            let next = {
                let mut session = shared.lock();
                let work = session.documents.get(&uri).map(|open| open.work.clone());
                match (session.prepare(&uri), work) {
                    (Ok(Prepared::Ready(snapshot, None)), Some(work)) => {
                        Some((Prepared::Ready(snapshot, None), work))
                    }
                    (Ok(Prepared::Parse(job)), Some(work)) => Some((Prepared::Parse(job), work)),
                    // Analysed already, closed, out of sync or failed: nothing to do until the
                    // next change schedules again.
                    _ => {
                        if let Some(open) = session.documents.get_mut(&uri) {
                            open.analysing = false;
                        }
                        None
                    }
                }
            };
            let Some((prepared, work)) = next else {
                return;
            };
            let outcome = match prepared {
                Prepared::Parse(job) => parse(&shared, &uri, job, work).await,
                Prepared::Ready(snapshot, _) => {
                    let outcome = match compute_off_thread(snapshot.clone(), work).await {
                        Err(Failure::Cancelled) => Err(Failure::Cancelled),
                        Err(Failure::Panicked(panic)) => Ok(Err(panic)),
                        Ok(analysis) => Ok(Ok(analysis)),
                    };
                    match outcome {
                        Ok(outcome) => {
                            let (stored, effects) = settle(&mut shared.lock(), &snapshot, outcome);
                            if stored.is_none() {
                                tracing::debug!(
                                    uri = uri.as_str(),
                                    version = snapshot.version,
                                    "dropped a stale analysis"
                                );
                            }
                            send_effects(&shared, effects).await;
                            Ok(())
                        }
                        Err(cancelled) => Err(cancelled),
                    }
                }
            };
            // Cancelled by a newer text (the loop takes it) or because the server stops.
            if outcome.is_err() && shared.stop.is_cancelled() {
                if let Some(open) = shared.lock().documents.get_mut(&uri) {
                    open.analysing = false;
                }
                return;
            }
        }
    })
}

/// The document's current version parsed, with its analysis if one is made: a text not parsed yet
/// is parsed now, off the lock. A document that changes meanwhile answers `ContentModified`.
pub async fn ready(
    shared: &Shared,
    uri: &Uri,
    cancel: &Cancellation,
) -> jsonrpc::Result<(Snapshot, Option<Arc<Analysis>>)> {
    let prepared = shared.lock().prepare(uri)?;
    let job = match prepared {
        Prepared::Ready(snapshot, analysis) => return Ok((snapshot, analysis)),
        Prepared::Parse(job) => job,
    };
    let text = job.text;
    parse(shared, uri, job, cancel.clone())
        .await
        .map_err(|failure| failed(uri, failure))?;
    match shared.lock().prepare(uri)? {
        Prepared::Ready(snapshot, analysis) if snapshot.text == text => Ok((snapshot, analysis)),
        _ => Err(content_modified(uri)),
    }
}

/// [`current`] with the diagnostics' fixes built (once per analysis, off the async threads), for
/// code actions and hover. Requests that come while the fixes are being built wait for them; a
/// build cancelled with its request is taken over by the next one.
pub async fn with_fixes(shared: &Shared, uri: &Uri) -> jsonrpc::Result<(Snapshot, Arc<Analysis>)> {
    let cancel = requests::current(&shared.stop);
    let (snapshot, analysis) = current_with(shared, uri, &cancel).await?;
    let fixed = analysis
        .fixed
        .get_or_try_init(|| async {
            let (file, settings, path, models) = (
                snapshot.file.clone(),
                snapshot.settings.clone(),
                snapshot.path.clone(),
                snapshot.models.clone(),
            );
            let work = cancel.clone();
            let built = tokio::task::spawn_blocking(move || {
                diagnostics::analyse(
                    &file,
                    &settings,
                    path.as_deref(),
                    &models,
                    Fixes::Build,
                    &work,
                )
            })
            .await;
            match built {
                Ok(Ok(fixed)) => Ok(Ok(fixed)),
                Ok(Err(Failure::Panicked(panic))) => Ok(Err(panic)),
                // A cancelled build is not kept: the next request builds again.
                Ok(Err(Failure::Cancelled)) => Err(failed(uri, Failure::Cancelled)),
                Err(error) => Err(analysis_failed(
                    uri,
                    &format!("building fixes failed: {error}"),
                )),
            }
        })
        .await?;
    if let Err(panic) = fixed {
        return Err(analysis_failed(uri, panic));
    }
    Ok((snapshot, analysis))
}

/// The analysis of the document's current version, for a request: the stored one, or one made
/// now. A document that changes meanwhile answers `ContentModified`.
pub async fn current(shared: &Shared, uri: &Uri) -> jsonrpc::Result<(Snapshot, Arc<Analysis>)> {
    let cancel = requests::current(&shared.stop);
    current_with(shared, uri, &cancel).await
}

async fn current_with(
    shared: &Shared,
    uri: &Uri,
    cancel: &Cancellation,
) -> jsonrpc::Result<(Snapshot, Arc<Analysis>)> {
    // The settings or the workspace's models may change while the analysis runs (a scan ends):
    // the analysis is then made again for the same text, a few times at most.
    for _ in 0..3 {
        let (snapshot, existing) = ready(shared, uri, cancel).await?;
        if let Some(analysis) = existing {
            return Ok((snapshot, analysis));
        }
        let outcome = match compute_off_thread(snapshot.clone(), cancel.clone()).await {
            Err(Failure::Cancelled) => return Err(failed(uri, Failure::Cancelled)),
            Err(Failure::Panicked(panic)) => Err(panic),
            Ok(analysis) => Ok(analysis),
        };
        let (stored, effects) = settle(&mut shared.lock(), &snapshot, outcome);
        send_effects(shared, effects).await;
        match stored {
            Some(Ok(analysis)) => return Ok((snapshot, analysis)),
            Some(Err(panic)) => return Err(analysis_failed(uri, &panic)),
            // Another task stored this text's analysis first, or what it depends on changed.
            None => match shared.lock().prepare(uri)? {
                Prepared::Ready(now, Some(analysis)) if now.text == snapshot.text => {
                    return Ok((now, analysis))
                }
                Prepared::Ready(now, None) if now.text == snapshot.text => continue,
                _ => return Err(content_modified(uri)),
            },
        }
    }
    Err(content_modified(uri))
}

/// The error a request gets when its engine work failed.
pub fn failed(uri: &Uri, failure: Failure) -> jsonrpc::Error {
    match failure {
        Failure::Cancelled => jsonrpc::Error::request_cancelled(),
        Failure::Panicked(panic) => analysis_failed(uri, &panic),
    }
}
