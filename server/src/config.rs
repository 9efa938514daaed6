//! Finding and reading configuration files, shared by the CLI and the language server.
//!
//! For each folder the nearest `inbatch.toml`, or `pyproject.toml` with a `[tool.inbatch]` table,
//! at or above it wins (in that order within one folder, as ruff does). Results are cached per
//! folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::settings::{ConfigError, ConfigFormat, Settings};

pub const CONFIG_FILE_NAMES: &[&str] = &["inbatch.toml", "pyproject.toml"];

/// Configuration files larger than this are refused rather than read (`--config /dev/zero`).
pub const MAX_CONFIG_BYTES: u64 = 10 * 1024 * 1024;

/// Reads one configuration file; `Ok(None)` for a `pyproject.toml` without `[tool.inbatch]`.
pub fn load(path: &Path) -> Result<Option<Settings>, ConfigError> {
    let error = |message: String| ConfigError {
        path: path.to_path_buf(),
        message,
    };
    let text = read_bounded(path).map_err(error)?;
    let format = if path
        .file_name()
        .is_some_and(|name| name == "pyproject.toml")
    {
        ConfigFormat::Pyproject
    } else {
        ConfigFormat::InbatchToml
    };
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    Settings::from_toml(&text, format, &absolute).map_err(|mut error| {
        error.path = path.to_path_buf();
        error
    })
}

/// A regular file's text, at most [`MAX_CONFIG_BYTES`]: a device or a pipe could be read forever.
fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let metadata = file.metadata().map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".to_string());
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "larger than {} MiB; not a configuration file",
            MAX_CONFIG_BYTES / (1024 * 1024)
        ));
    }
    String::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_string())
}

/// Loads a file named with `--config`: a `pyproject.toml` without `[tool.inbatch]` is an error.
pub fn load_explicit(path: &Path) -> Result<Settings, ConfigError> {
    load(path)?.ok_or_else(|| ConfigError {
        path: path.to_path_buf(),
        message: "no [tool.inbatch] table".to_string(),
    })
}

/// Finds the settings that apply to each folder, caching the answer for every folder visited.
#[derive(Clone)]
pub struct Resolver {
    /// Used for every file when set (`--config`).
    fixed: Option<Arc<Settings>>,
    default: Arc<Settings>,
    by_folder: HashMap<PathBuf, Arc<Settings>>,
}

impl Resolver {
    pub fn new(fixed: Option<Settings>, default_root: PathBuf) -> Resolver {
        let default = Settings {
            root: default_root,
            ..Settings::default()
        };
        Resolver {
            fixed: fixed.map(Arc::new),
            default: Arc::new(default),
            by_folder: HashMap::new(),
        }
    }

    /// The settings for a file or folder.
    pub fn settings_for(&mut self, path: &Path) -> Result<Arc<Settings>, ConfigError> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed.clone());
        }
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let folder = if absolute.is_dir() {
            absolute
        } else {
            absolute.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        self.settings_for_folder(&folder)
    }

    fn settings_for_folder(&mut self, folder: &Path) -> Result<Arc<Settings>, ConfigError> {
        let mut visited = Vec::new();
        let mut current = Some(folder);
        let mut found = None;
        while let Some(dir) = current {
            if let Some(cached) = self.by_folder.get(dir) {
                found = Some(cached.clone());
                break;
            }
            visited.push(dir.to_path_buf());
            if let Some(settings) = Self::config_in(dir)? {
                found = Some(Arc::new(settings));
                break;
            }
            current = dir.parent();
        }
        let settings = found.unwrap_or_else(|| self.default.clone());
        for dir in visited {
            self.by_folder.insert(dir, settings.clone());
        }
        Ok(settings)
    }

    fn config_in(dir: &Path) -> Result<Option<Settings>, ConfigError> {
        for name in CONFIG_FILE_NAMES {
            let candidate = dir.join(name);
            if candidate.is_file() {
                if let Some(settings) = load(&candidate)? {
                    return Ok(Some(settings));
                }
            }
        }
        Ok(None)
    }
}
