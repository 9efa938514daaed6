//! The language server shell: LSP over stdio on tower-lsp-server and tokio, around the engine.
//!
//! No rule logic lives here. Documents are ropes plus incrementally reparsed trees
//! ([`document`]); positions are converted in one module ([`position`]); the state sits behind
//! one `std::sync::Mutex` (`session`) that handlers hold only for synchronous steps, never
//! across an `.await`; analyses run off the lock on snapshots (`analysis`); the other modules
//! are one protocol concern each.

mod analysis;
mod capabilities;
mod code_actions;
mod config;
mod diagnostics;
pub mod document;
mod framing;
mod hover;
mod inlay_hints;
mod lifecycle;
mod logging;
pub mod position;
mod requests;
mod server;
mod session;
mod testing;
mod workspace;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tower_lsp_server::ls_types::MessageType;
use tower_lsp_server::{Client, LspService};

use crate::cli::exit;
use crate::engine::cancel::Cancellation;
use lifecycle::Ending;
use session::{Effects, Session};

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Write logs to this file (appending) instead of standard error. The level comes from
    /// `INBATCH_LOG` or `RUST_LOG` (default `warn,inbatch=info`).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

/// Serves one client on stdin/stdout until `exit`, the end of its input or the end of its process:
/// 0 after a `shutdown`, 1 otherwise (as the protocol asks), 2 when the server cannot start.
pub fn run(args: &ServerArgs) -> u8 {
    if let Err(error) = logging::init(args.log_file.as_deref()) {
        eprintln!("error: {error}");
        return exit::ERROR;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Engine work runs on the blocking pool, one task per document, request or scan; bursts
        // beyond this wait for a thread instead of starting hundreds.
        .max_blocking_threads(32)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return exit::ERROR;
        }
    };
    let stop = Cancellation::new();
    let session = Arc::new(Mutex::new(Session::before_initialize(stop.clone())));
    runtime.block_on(serve(session.clone(), stop.clone()));
    // Whatever still runs (a scan reading files, engine work) is cancelled and must not hold up
    // the exit.
    stop.cancel();
    runtime.shutdown_timeout(Duration::from_millis(200));
    let code = if lock(&session).shutdown_requested {
        tracing::info!("exit after shutdown");
        0
    } else {
        tracing::warn!("exit without shutdown");
        1
    };
    logging::flush(Duration::from_millis(200));
    code
}

async fn serve(session: Arc<Mutex<Session>>, stop: Cancellation) {
    tracing::info!(
        "inbatch {} language server starting",
        env!("CARGO_PKG_VERSION")
    );
    let ending = Ending::new();
    let (service, socket) = LspService::new({
        let (ending, stop) = (ending.clone(), stop.clone());
        move |client| server::Server::new(Shared::new(client, session, stop, ending))
    });
    let service = requests::Tracked::new(service, stop.clone());
    // The guard stands between stdio and tower-lsp-server, so that a malformed message gets an
    // error reply instead of ending the session.
    let served = framing::guard(
        tokio::io::stdin(),
        tokio::io::stdout(),
        {
            let ending = ending.clone();
            move || ending.end(lifecycle::End::Input)
        },
        |input, output| tower_lsp_server::Server::new(input, output, socket).serve(service),
    );
    lifecycle::serve_until_ended(served, &ending, &stop).await;
}

/// What handlers and background tasks share.
#[derive(Clone)]
pub(crate) struct Shared {
    client: Client,
    session: Arc<Mutex<Session>>,
    /// Taken while publishing, so that diagnostics leave in the order their analyses ran.
    publish_order: Arc<tokio::sync::Mutex<()>>,
    /// Cancelled when the server stops; the root of every cancellation of engine work.
    stop: Cancellation,
    /// Ends the session without `exit` (the client's process is gone).
    ending: Ending,
    /// Wakes the workspace indexer (see `workspace::request_scan`).
    indexer: Arc<tokio::sync::Notify>,
}

impl Shared {
    fn new(
        client: Client,
        session: Arc<Mutex<Session>>,
        stop: Cancellation,
        ending: Ending,
    ) -> Shared {
        Shared {
            client,
            session,
            publish_order: Arc::new(tokio::sync::Mutex::new(())),
            stop,
            ending,
            indexer: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Session> {
        lock(&self.session)
    }
}

/// Locks the session. Panics are caught inside the lock, so poisoning can only come from a bug in
/// this shell; the state is still usable, and serving on beats dying.
fn lock(session: &Mutex<Session>) -> MutexGuard<'_, Session> {
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Does what a synchronous step asked for: starts analyses, sends logs and messages, then
/// diagnostics that are still current. A newer analysis of the same document makes an older publication stale; it is
/// dropped, never sent.
async fn send_effects(shared: &Shared, effects: Effects) {
    for uri in effects.analyse {
        analysis::schedule(shared, uri);
    }
    for (level, message) in effects.logs {
        match level {
            MessageType::ERROR => tracing::error!("{message}"),
            MessageType::WARNING => tracing::warn!("{message}"),
            _ => tracing::info!("{message}"),
        }
        shared.client.log_message(level, message).await;
    }
    for (level, message) in effects.messages {
        tracing::warn!("{message}");
        shared.client.show_message(level, message).await;
    }
    if effects.publications.is_empty() {
        return;
    }
    let _order = shared.publish_order.lock().await;
    for publication in effects.publications {
        if !shared.lock().is_current(&publication) {
            tracing::debug!(
                uri = publication.uri.as_str(),
                version = publication.version,
                "dropped stale diagnostics"
            );
            continue;
        }
        shared
            .client
            .publish_diagnostics(
                publication.uri,
                publication.diagnostics,
                publication.version,
            )
            .await;
    }
}
