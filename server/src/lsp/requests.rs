//! Cancellation of the work behind requests, decided when a message is read, not when its turn
//! comes.
//!
//! tower-lsp-server runs at most four handlers at once and queues the rest, `$/cancelRequest`
//! and `shutdown` included: behind four slow requests, a cancellation or a `shutdown` waited
//! until one of them finished. [`Tracked`] wraps the service and sees every message as it is
//! read: each request gets an [`engine::cancel::Cancellation`](Cancellation) (a child of the
//! server's `stop` token) that its handler finds with [`current`]; `$/cancelRequest` cancels that
//! token at once, `shutdown` and `exit` cancel them all (through `stop`). The engine then stops
//! at its next check, the handler answers `RequestCancelled`, and the queue drains in
//! milliseconds.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tower_lsp_server::jsonrpc::{Id, Request, Response};
use tower_service::Service;

use crate::engine::cancel::Cancellation;

tokio::task_local! {
    /// The cancellation of the request whose handler is running.
    static CURRENT: Cancellation;
}

/// The cancellation of the request being handled; outside a request handler (a notification, a
/// background task), a fresh child of `stop`.
pub fn current(stop: &Cancellation) -> Cancellation {
    CURRENT
        .try_with(Cancellation::clone)
        .unwrap_or_else(|_| stop.child())
}

/// Wraps the language server's service (see the module documentation).
pub struct Tracked<S> {
    inner: S,
    stop: Cancellation,
    running: Arc<Mutex<HashMap<Id, Cancellation>>>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, stop: Cancellation) -> Tracked<S> {
        Tracked {
            inner,
            stop,
            running: Arc::default(),
        }
    }
}

impl<S> Service<Request> for Tracked<S>
where
    S: Service<Request, Response = Option<Response>>,
    S::Future: Send + 'static,
{
    type Response = Option<Response>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Option<Response>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        tracing::trace!(method = request.method(), id = ?request.id(), "received");
        match request.method() {
            "$/cancelRequest" => {
                let id = request
                    .params()
                    .and_then(|params| params.get("id"))
                    .and_then(|id| serde_json::from_value::<Id>(id.clone()).ok());
                let running = id
                    .as_ref()
                    .and_then(|id| lock(&self.running).get(id).cloned());
                tracing::debug!(
                    ?id,
                    running = running.is_some(),
                    "request cancelled by the client"
                );
                if let Some(token) = running {
                    token.cancel();
                }
            }
            // Nothing asked before a `shutdown` is worth finishing: its answer would only delay
            // the shutdown's.
            "shutdown" | "exit" => self.stop.cancel(),
            _ => {}
        }
        let Some(id) = request.id().cloned() else {
            return Box::pin(self.inner.call(request));
        };
        let token = self.stop.child();
        lock(&self.running).insert(id.clone(), token.clone());
        let running = self.running.clone();
        let method = request.method().to_string();
        let started = std::time::Instant::now();
        let handled = CURRENT.scope(token, self.inner.call(request));
        Box::pin(async move {
            let response = handled.await;
            lock(&running).remove(&id);
            tracing::trace!(
                method,
                %id,
                elapsed_ms = started.elapsed().as_millis() as u64,
                error = ?response.as_ref().ok().and_then(|r| r.as_ref()).and_then(|r| r.error()),
                "answered"
            );
            response
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::sync::oneshot;

    use super::*;

    /// A service whose requests wait until their cancellation is cancelled, then say so.
    struct Waiting {
        seen: Option<oneshot::Sender<()>>,
    }

    impl Service<Request> for Waiting {
        type Response = Option<Response>;
        type Error = ();
        type Future = Pin<Box<dyn Future<Output = Result<Option<Response>, ()>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request) -> Self::Future {
            let seen = self.seen.take();
            Box::pin(async move {
                let token = current(&Cancellation::new());
                if let Some(seen) = seen {
                    let _ = seen.send(());
                }
                while !token.is_cancelled() {
                    tokio::task::yield_now().await;
                }
                Ok(request
                    .id()
                    .cloned()
                    .map(|id| Response::from_ok(id, json!("cancelled"))))
            })
        }
    }

    fn request(id: i64, method: &'static str) -> Request {
        Request::build(method).id(id).params(json!({})).finish()
    }

    fn notification(method: &'static str, params: serde_json::Value) -> Request {
        Request::build(method).params(params).finish()
    }

    #[tokio::test]
    async fn a_cancel_request_reaches_the_running_handler_at_once() {
        let (seen, started) = oneshot::channel();
        let stop = Cancellation::new();
        let mut service = Tracked::new(Waiting { seen: Some(seen) }, stop.clone());
        let slow = tokio::spawn(service.call(request(1, "textDocument/codeAction")));
        started.await.unwrap();
        // The cancellation is decided in `call`, before its future is ever polled.
        let _unpolled = service.call(notification("$/cancelRequest", json!({"id": 1})));
        let response = slow.await.unwrap().unwrap().unwrap();
        assert_eq!(response.result(), Some(&json!("cancelled")));
        assert!(!stop.is_cancelled());
    }

    #[tokio::test]
    async fn shutdown_cancels_every_request() {
        let stop = Cancellation::new();
        let mut service = Tracked::new(Waiting { seen: None }, stop.clone());
        let first = tokio::spawn(service.call(request(1, "textDocument/hover")));
        let second = tokio::spawn(service.call(request(2, "workspace/diagnostic")));
        let _unpolled = service.call(request(3, "shutdown"));
        assert!(stop.is_cancelled());
        for handler in [first, second] {
            assert!(handler.await.unwrap().unwrap().is_some());
        }
    }
}
