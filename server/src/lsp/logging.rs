//! Logs go to standard error or to `--log-file`, never to standard output, which carries the
//! protocol. The level comes from `INBATCH_LOG`, else `RUST_LOG`, in `tracing`'s filter syntax
//! (`debug`, `inbatch=trace,warn`, …); the default is `info`.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

pub const LEVEL_VARIABLES: &[&str] = &["INBATCH_LOG", "RUST_LOG"];

pub fn init(log_file: Option<&Path>) -> Result<(), String> {
    let filter = LEVEL_VARIABLES
        .iter()
        .find_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .map(|value| EnvFilter::try_new(&value).map_err(|e| format!("{name}={value}: {e}")))
        })
        .unwrap_or_else(|| Ok(EnvFilter::new("info")))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false);
    let installed = match log_file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
            builder.with_writer(Mutex::new(file)).try_init()
        }
        None => builder.with_writer(std::io::stderr).try_init(),
    };
    installed.map_err(|e| format!("cannot set up logging: {e}"))?;
    log_panics();
    Ok(())
}

/// Panics are caught and answered, but where they happened belongs in the log too, which may be a
/// file rather than standard error.
fn log_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("panic: {info}");
        previous(info);
    }));
}
