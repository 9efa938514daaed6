//! Cooperative cancellation of an analysis.
//!
//! A shell that may stop an analysis before it ends (the language server, when a newer edit, a
//! `$/cancelRequest` or `shutdown` makes it useless) runs it inside [`run`] with a
//! [`Cancellation`]. The engine's long walks call [`check`]: the semantic traversal once per node
//! visited, the parser through tree-sitter's progress callback. Once the token is cancelled,
//! `check` unwinds to [`run`] with a [`Cancelled`] payload, which `run` turns into
//! `Err(Cancelled)`: a cancelled analysis never returns a partial result. The unwinding uses
//! `resume_unwind`, which does not run the panic hook, so a cancellation is not logged as a panic.
//!
//! The token reaches the walks through a thread-local set by `run`, not through every signature in
//! between; outside `run` (the CLI) nothing is ever cancelled and `check` costs one thread-local
//! read.

use std::cell::RefCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag shared between whoever may cancel and the computation that checks it. Cloning shares
/// the flag; a [`Cancellation::child`] is cancelled with its parent, and on its own.
#[derive(Clone, Debug, Default)]
pub struct Cancellation(Arc<Flag>);

#[derive(Debug, Default)]
struct Flag {
    cancelled: AtomicBool,
    parent: Option<Arc<Flag>>,
}

impl Cancellation {
    pub fn new() -> Cancellation {
        Cancellation::default()
    }

    /// A token cancelled when this one is, or by its own [`Cancellation::cancel`].
    pub fn child(&self) -> Cancellation {
        Cancellation(Arc::new(Flag {
            cancelled: AtomicBool::new(false),
            parent: Some(self.0.clone()),
        }))
    }

    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        let mut flag = Some(&self.0);
        while let Some(current) = flag {
            if current.cancelled.load(Ordering::Relaxed) {
                return true;
            }
            flag = current.parent.as_ref();
        }
        false
    }
}

/// The outcome of a computation stopped by its [`Cancellation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Cancellation>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread with `token` as its cancellation: `Err(Cancelled)` when `token` was
/// cancelled before `f` reached its end. Panics other than a cancellation pass through.
pub fn run<T>(token: &Cancellation, f: impl FnOnce() -> T) -> Result<T, Cancelled> {
    if token.is_cancelled() {
        return Err(Cancelled);
    }
    let previous = CURRENT.with(|current| current.replace(Some(token.clone())));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    CURRENT.with(|current| *current.borrow_mut() = previous);
    match outcome {
        Ok(value) => Ok(value),
        Err(payload) if payload.is::<Cancelled>() => Err(Cancelled),
        Err(payload) => resume_unwind(payload),
    }
}

/// Whether the computation running on this thread is cancelled (never, outside [`run`]).
pub fn is_cancelled() -> bool {
    CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .is_some_and(Cancellation::is_cancelled)
    })
}

/// Stops the computation running on this thread if it is cancelled: unwinds to [`run`].
pub fn check() {
    if is_cancelled() {
        stop();
    }
}

/// Unwinds to [`run`] (for a parse that tree-sitter stopped because [`is_cancelled`] said so).
pub fn stop() -> ! {
    resume_unwind(Box::new(Cancelled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_computation_stops_at_its_next_check() {
        let token = Cancellation::new();
        let mut steps = 0;
        let outcome = run(&token, || loop {
            check();
            steps += 1;
            if steps == 3 {
                token.cancel();
            }
        });
        assert_eq!(outcome, Err(Cancelled));
        assert_eq!(steps, 3);
        // Outside `run`, nothing is cancelled.
        assert!(!is_cancelled());
    }

    #[test]
    fn children_follow_their_parent() {
        let parent = Cancellation::new();
        let child = parent.child();
        let sibling = parent.child();
        child.cancel();
        assert!(!parent.is_cancelled() && !sibling.is_cancelled());
        parent.cancel();
        assert!(sibling.is_cancelled());
        assert_eq!(run(&sibling, || 1), Err(Cancelled));
        assert_eq!(run(&Cancellation::new(), || 1), Ok(1));
    }

    #[test]
    fn the_semantic_walk_stops_when_cancelled() {
        let text = "def f(ids):\n    for i in ids:\n        Session.query.get(i)\n".repeat(200);
        let file = crate::engine::source::SourceFile::parse(text);
        let mut settings = crate::engine::settings::Settings::default();
        settings
            .rules
            .insert(crate::engine::rules::find("INB001").unwrap());
        let token = Cancellation::new();
        let found = run(&token, || crate::engine::check(&file, &settings, None));
        assert_eq!(found.map(|found| found.len()), Ok(200));
        let outcome = run(&token, || {
            token.cancel();
            crate::engine::check(&file, &settings, None)
        });
        assert_eq!(outcome.err(), Some(Cancelled));
    }

    #[test]
    fn other_panics_pass_through() {
        let outcome = catch_unwind(|| run(&Cancellation::new(), || panic!("boom")));
        assert!(outcome.is_err());
        assert!(!is_cancelled());
    }
}
