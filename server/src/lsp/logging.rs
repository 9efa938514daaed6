//! Logs go to standard error or to `--log-file`, never to standard output, which carries the
//! protocol. The level comes from `INBATCH_LOG`, else `RUST_LOG`, in `tracing`'s filter syntax
//! (`debug`, `inbatch=trace,warn`, …); the default, [`DEFAULT_FILTER`], is the server's own
//! information and every crate's warnings.
//!
//! Logging never blocks the server. A client that never reads the server's standard error
//! (many do not) fills the pipe after 64 KiB, and a blocking write then stops the thread that
//! logs, which used to stop the server. Each log line goes to a bounded queue instead; one thread
//! of its own writes the queue out, and when the queue is full the line is dropped and counted.
//! The count is written with the next line that gets through.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

pub const LEVEL_VARIABLES: &[&str] = &["INBATCH_LOG", "RUST_LOG"];

/// The filter when no variable sets one: `info` of this crate (start, configuration, indexing)
/// and warnings of the others (tower-lsp-server logs every cancelled request at `info`).
pub const DEFAULT_FILTER: &str = "warn,inbatch=info";

/// Log lines waiting for the writer thread; more are dropped.
const QUEUE: usize = 4096;

/// The queue of the installed logger, for [`flush`].
static SINK: OnceLock<Sink> = OnceLock::new();

/// tower-lsp-server's line for each cancelled request ("successfully cancelled request with ID"),
/// at `info`: every pull an editor cancels by typing on. Kept at `warn` unless a filter names
/// tower-lsp-server itself.
const CANCELLED_REQUESTS: &str = "tower_lsp_server::service::pending=warn";

/// The filter directives for a level variable's value (`None`: not set).
pub fn directives(value: Option<&str>) -> String {
    match value.map(str::trim).filter(|value| !value.is_empty()) {
        None => DEFAULT_FILTER.to_string(),
        Some(value) if value.contains("tower_lsp_server") => value.to_string(),
        Some(value) => format!("{value},{CANCELLED_REQUESTS}"),
    }
}

pub fn init(log_file: Option<&Path>) -> Result<(), String> {
    let filter = LEVEL_VARIABLES
        .iter()
        .find_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .map(|value| {
                    EnvFilter::try_new(directives(Some(&value)))
                        .map_err(|e| format!("{name}={value}: {e}"))
                })
        })
        .unwrap_or_else(|| Ok(EnvFilter::new(directives(None))))?;
    let output: Box<dyn Write + Send> = match log_file {
        Some(path) => Box::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stderr()),
    };
    let sink = Sink::start(output, QUEUE);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .with_writer(sink.clone())
        .try_init()
        .map_err(|e| format!("cannot set up logging: {e}"))?;
    let _ = SINK.set(sink);
    log_panics();
    Ok(())
}

/// Waits until the lines logged so far are written, for at most `timeout` (the output may be a
/// pipe nobody reads).
pub fn flush(timeout: Duration) {
    if let Some(sink) = SINK.get() {
        sink.flush(timeout);
    }
}

/// Panics are caught and answered, but where they happened belongs in the log, which may be a
/// file rather than standard error. The default hook is not called: it writes to standard error
/// directly, and would block on a full pipe.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("panic: {info}");
    }));
}

/// The sending end of the queue, as `tracing`'s writer: one [`Line`] per event.
#[derive(Clone)]
struct Sink {
    queue: SyncSender<Entry>,
    dropped: Arc<AtomicU64>,
}

enum Entry {
    Line(Vec<u8>),
    /// Answered once every line queued before it is written.
    Flush(SyncSender<()>),
}

impl Sink {
    fn start(output: Box<dyn Write + Send>, capacity: usize) -> Sink {
        let (queue, lines) = sync_channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        let spawned = std::thread::Builder::new()
            .name("inbatch-log".to_string())
            .spawn(move || write_out(lines, output, &counted));
        if let Err(error) = spawned {
            // No thread, no log: the queue's receiver is gone and every line is dropped.
            eprintln!("warning: cannot start the logging thread: {error}");
        }
        Sink { queue, dropped }
    }

    fn flush(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let (done, flushed) = sync_channel(1);
        let mut entry = Entry::Flush(done);
        loop {
            match self.queue.try_send(entry) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    entry = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
        let _ = flushed.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

fn write_out(lines: Receiver<Entry>, mut output: Box<dyn Write + Send>, dropped: &AtomicU64) {
    for entry in lines {
        match entry {
            Entry::Line(line) => {
                let lost = dropped.swap(0, Ordering::Relaxed);
                if lost > 0 {
                    let _ = writeln!(
                        output,
                        "WARN {lost} log lines dropped: the log was not read fast enough"
                    );
                }
                let _ = output.write_all(&line);
                let _ = output.flush();
            }
            Entry::Flush(done) => {
                let _ = output.flush();
                let _ = done.try_send(());
            }
        }
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line {
            sink: self,
            buffer: Vec::new(),
        }
    }
}

/// One event's text, queued whole when `tracing` is done writing it.
struct Line<'a> {
    sink: &'a Sink,
    buffer: Vec<u8>,
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.buffer);
        if let Err(TrySendError::Full(_)) = self.sink.queue.try_send(Entry::Line(line)) {
            self.sink.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::Sender;

    use super::*;

    #[test]
    fn cancelled_requests_are_not_logged_at_info() {
        assert_eq!(directives(None), DEFAULT_FILTER);
        assert_eq!(directives(Some("  ")), DEFAULT_FILTER);
        assert_eq!(
            directives(Some("info")),
            "info,tower_lsp_server::service::pending=warn"
        );
        assert_eq!(
            directives(Some("debug,tower_lsp_server=trace")),
            "debug,tower_lsp_server=trace"
        );
        for value in ["info", "trace", "inbatch=trace,warn"] {
            assert!(
                EnvFilter::try_new(directives(Some(value))).is_ok(),
                "{value}"
            );
        }
    }

    /// An output that blocks until the test lets each write through, like a pipe nobody reads.
    struct Gate {
        open: Receiver<()>,
        written: Sender<String>,
    }

    impl Write for Gate {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let _ = self.open.recv();
            let _ = self
                .written
                .send(String::from_utf8_lossy(bytes).into_owned());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log(sink: &Sink, text: &str) {
        let mut line = sink.make_writer();
        line.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn a_blocked_output_drops_lines_instead_of_blocking_and_counts_them() {
        let (open, gate) = std::sync::mpsc::channel();
        let (written, out) = std::sync::mpsc::channel();
        let sink = Sink::start(
            Box::new(Gate {
                open: gate,
                written,
            }),
            2,
        );
        // The writer thread takes the first line and blocks on it; two more fill the queue; the
        // rest are dropped, and none of these calls waits.
        for n in 0..10 {
            log(&sink, &format!("line {n}\n"));
        }
        for _ in 0..20 {
            let _ = open.send(());
        }
        sink.flush(Duration::from_secs(10));
        let text: String = out.try_iter().collect();
        let kept = text
            .lines()
            .filter(|line| line.starts_with("line "))
            .count();
        assert!(text.contains("line 0\n") && kept < 10, "{text}");
        let dropped = format!("WARN {} log lines dropped", 10 - kept);
        assert!(text.contains(&dropped), "{text}");
        log(&sink, "after\n");
        for _ in 0..5 {
            let _ = open.send(());
        }
        sink.flush(Duration::from_secs(10));
        assert!(out.try_iter().any(|line| line == "after\n"));
    }
}
