//! How a session ends without `exit`: standard input ends, or the client's process
//! (`processId` in `initialize`) goes away while its pipes stay open.
//!
//! Either way nobody will read an answer, so the server stops at once: every piece of engine
//! work is cancelled (`stop`). After the end of input, the messages already read are still
//! handled (a `shutdown` and `exit` among them decide the exit status; the requests answer
//! `RequestCancelled` without running), for [`DRAIN`] at most; after the client's death, nothing
//! is.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::engine::cancel::Cancellation;

/// How long the messages read before the end of input may still take once all work is
/// cancelled.
const DRAIN: Duration = Duration::from_secs(2);

/// How often the client's process is looked for.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Why a session ends without `exit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Standard input ended (or could not be read).
    Input,
    /// The client's process is gone.
    Client,
}

impl End {
    fn reason(self) -> &'static str {
        match self {
            End::Input => "end of input",
            End::Client => "the client's process exited",
        }
    }
}

/// Why the session ends without `exit`, once known; the first reason given wins.
#[derive(Clone)]
pub struct Ending(watch::Sender<Option<End>>);

impl Ending {
    pub fn new() -> Ending {
        Ending(watch::Sender::new(None))
    }

    pub fn end(&self, end: End) {
        self.0.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(end);
            }
            first
        });
    }

    async fn ended(&self) -> End {
        let mut receiver = self.0.subscribe();
        let end = match receiver.wait_for(Option::is_some).await {
            Ok(end) => *end,
            // The sender lives in `self`: never.
            Err(_) => None,
        };
        end.unwrap_or(End::Input)
    }
}

/// Runs the server until it returns (after `exit`) or the session ends otherwise.
pub async fn serve_until_ended(
    served: impl Future<Output = ()>,
    ending: &Ending,
    stop: &Cancellation,
) {
    tokio::pin!(served);
    let end = tokio::select! {
        () = &mut served => return,
        end = ending.ended() => end,
    };
    let reason = end.reason();
    tracing::info!("{reason}: stopping");
    stop.cancel();
    if end == End::Client {
        return;
    }
    if tokio::time::timeout(DRAIN, served).await.is_err() {
        tracing::warn!(
            "{reason}: the messages read before it were not handled within {} s; stopping anyway",
            DRAIN.as_secs()
        );
    }
}

/// Ends the session when the client's process is gone. A process id that is not running at
/// `initialize` (a client in another PID namespace, a container) is not watched.
pub fn watch_client_process(pid: u32, ending: Ending, stop: Cancellation) {
    if pid == 0 || pid == std::process::id() {
        return;
    }
    match is_running(pid) {
        Some(true) => {}
        Some(false) => {
            tracing::warn!("the client's process {pid} is not running here; not watching it");
            return;
        }
        None => {
            tracing::debug!("processes cannot be watched on this platform");
            return;
        }
    }
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(WATCH_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !stop.is_cancelled() {
            interval.tick().await;
            if is_running(pid) == Some(false) {
                tracing::warn!("the client's process {pid} exited");
                ending.end(End::Client);
                return;
            }
        }
    });
}

/// Whether a process exists and has not exited (an exited process not yet reaped by its parent,
/// a zombie, counts as exited); `None` where this cannot be told.
#[cfg(unix)]
fn is_running(pid: u32) -> Option<bool> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: `kill` with signal 0 sends nothing; it only checks that the process exists.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    Some(exists && !is_zombie(pid))
}

#[cfg(not(unix))]
fn is_running(_pid: u32) -> Option<bool> {
    None
}

/// Linux keeps an exited process until its parent reaps it; `/proc` tells its state.
#[cfg(target_os = "linux")]
fn is_zombie(pid: libc::pid_t) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (command) state ...`; the command may itself hold parentheses.
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].trim_start().chars().next());
    matches!(state, Some('Z' | 'X'))
}

#[cfg(all(unix, not(target_os = "linux")))]
fn is_zombie(_pid: libc::pid_t) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn processes_are_told_running_or_gone() {
        assert_eq!(is_running(std::process::id()), Some(true));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        // Reaped: the id is free (and, in a test this short, not yet reused).
        assert_eq!(is_running(pid), Some(false));
    }

    #[tokio::test]
    async fn the_first_reason_ends_the_session() {
        let ending = Ending::new();
        let stop = Cancellation::new();
        ending.end(End::Input);
        ending.end(End::Client);
        // A server that finishes once its work is cancelled.
        let served = {
            let stop = stop.clone();
            async move {
                while !stop.is_cancelled() {
                    tokio::task::yield_now().await;
                }
            }
        };
        serve_until_ended(served, &ending, &stop).await;
        assert!(stop.is_cancelled());
        assert_eq!(ending.ended().await, End::Input);
    }
}
