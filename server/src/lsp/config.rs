//! Settings for open and indexed files: the configuration files `crate::config` finds, with the
//! options an editor sends (`initializationOptions`, `workspace/didChangeConfiguration`) on top.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::workspace::IndexLimits;
use crate::config::{self, Resolver};
use crate::engine::rules::RuleSet;
use crate::engine::settings::Settings;

/// The options an editor may send, flat or under an `inbatch` key. Keys this server does not know
/// are ignored: editors send whole settings trees.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditorOptions {
    /// Overrides `batch-size`.
    pub batch_size: Option<usize>,
    /// Replaces the configured `select`, like `--select`.
    pub select: Option<Vec<String>>,
    /// Adds to the selected rules, like `--extend-select`: turns on rules that are off by default.
    pub extend_select: Option<Vec<String>>,
    /// Adds to the configured `ignore`, like `--ignore`.
    pub ignore: Option<Vec<String>>,
    /// A configuration file used for every file instead of discovery, like `--config`.
    pub configuration: Option<PathBuf>,
    /// Overrides `inlay-hints` (the cost shown at flagged loops).
    pub inlay_hints: Option<bool>,
    /// The most Python files the workspace index takes.
    pub index_max_files: Option<usize>,
    /// The most bytes of Python source the workspace index takes.
    pub index_max_bytes: Option<u64>,
}

impl EditorOptions {
    /// Reads options from a JSON value; `null` means none. An `inbatch` key wins over the top level
    /// so that a client may send its whole settings object.
    pub fn from_json(value: Option<&Value>) -> Result<EditorOptions, String> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(EditorOptions::default());
        };
        let value = value.get("inbatch").unwrap_or(value);
        serde_json::from_value(value.clone()).map_err(|e| format!("editor options: {e}"))
    }

    fn apply(&self, base: &Settings) -> Result<Settings, String> {
        let mut settings = base.clone();
        if let Some(batch_size) = self.batch_size {
            if batch_size == 0 {
                return Err("editor option `batchSize` must be at least 1".to_string());
            }
            settings.batch_size = batch_size;
        }
        if let Some(select) = &self.select {
            settings.rules = selectors(select, "select")?;
        }
        if let Some(extend) = &self.extend_select {
            settings.rules = settings.rules.union(selectors(extend, "extendSelect")?);
        }
        if let Some(ignore) = &self.ignore {
            settings.rules = settings.rules.difference(selectors(ignore, "ignore")?);
        }
        if let Some(inlay_hints) = self.inlay_hints {
            settings.inlay_hints = inlay_hints;
        }
        Ok(settings)
    }

    /// The workspace index's limits: the defaults, overridden.
    pub fn index_limits(&self) -> IndexLimits {
        let default = IndexLimits::default();
        IndexLimits {
            max_files: self.index_max_files.unwrap_or(default.max_files),
            max_bytes: self.index_max_bytes.unwrap_or(default.max_bytes),
        }
    }

    fn is_empty(&self) -> bool {
        self.batch_size.is_none()
            && self.select.is_none()
            && self.extend_select.is_none()
            && self.ignore.is_none()
            && self.inlay_hints.is_none()
    }
}

fn selectors(values: &[String], option: &str) -> Result<RuleSet, String> {
    values.iter().try_fold(RuleSet::empty(), |set, value| {
        RuleSet::from_selector(value)
            .map(|rules| set.union(rules))
            .ok_or_else(|| format!("editor option `{option}`: unknown rule selector `{value}`"))
    })
}

/// Resolves settings per file; configuration errors fall back to defaults and are reported.
pub struct ConfigStore {
    options: EditorOptions,
    root: PathBuf,
    resolver: Resolver,
    /// The settings used when the configuration cannot be read, with the editor's options.
    fallback: Arc<Settings>,
    /// The error behind a `--config`-style file that could not be loaded.
    fixed_error: Option<String>,
    /// Editor options layered over each distinct configuration, keyed by its address.
    layered: HashMap<usize, Arc<Settings>>,
}

/// Settings for one file, and the configuration error to show if they are a fallback.
pub struct Resolved {
    pub settings: Arc<Settings>,
    pub error: Option<String>,
}

impl ConfigStore {
    pub fn new(options: EditorOptions, root: PathBuf) -> ConfigStore {
        let (fixed, fixed_error) = match &options.configuration {
            Some(path) => {
                let path = if path.is_absolute() {
                    path.clone()
                } else {
                    root.join(path)
                };
                match config::load_explicit(&path) {
                    Ok(settings) => (Some(settings), None),
                    Err(error) => (None, Some(error.to_string())),
                }
            }
            None => (None, None),
        };
        let default = Settings {
            root: root.clone(),
            ..Settings::default()
        };
        let fallback = Arc::new(options.apply(&default).unwrap_or(default));
        ConfigStore {
            resolver: Resolver::new(fixed, root.clone()),
            options,
            root,
            fallback,
            fixed_error,
            layered: HashMap::new(),
        }
    }

    /// The same configuration read afresh: after a configuration file changed.
    pub fn reloaded(&self) -> ConfigStore {
        ConfigStore::new(self.options.clone(), self.root.clone())
    }

    pub fn with_options(&self, options: EditorOptions) -> ConfigStore {
        ConfigStore::new(options, self.root.clone())
    }

    /// Settings for a file (`None` for an unsaved buffer: the workspace root's settings).
    pub fn settings_for(&mut self, path: Option<&Path>) -> Resolved {
        if let Some(error) = &self.fixed_error {
            return Resolved {
                settings: self.fallback.clone(),
                error: Some(error.clone()),
            };
        }
        let path = path.unwrap_or(&self.root);
        let base = match self.resolver.settings_for(path) {
            Ok(base) => base,
            Err(error) => {
                return Resolved {
                    settings: self.fallback.clone(),
                    error: Some(error.to_string()),
                }
            }
        };
        if self.options.is_empty() {
            return Resolved {
                settings: base,
                error: None,
            };
        }
        let key = Arc::as_ptr(&base) as usize;
        if let Some(layered) = self.layered.get(&key) {
            return Resolved {
                settings: layered.clone(),
                error: None,
            };
        }
        match self.options.apply(&base) {
            Ok(settings) => {
                let settings = Arc::new(settings);
                // The resolver keeps `base` alive, so its address is not reused while cached.
                self.layered.insert(key, settings.clone());
                Resolved {
                    settings,
                    error: None,
                }
            }
            Err(error) => Resolved {
                settings: base,
                error: Some(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_flat_or_under_inbatch() {
        let flat = serde_json::json!({"batchSize": 500, "somethingElse": true});
        let nested = serde_json::json!({"inbatch": {"batchSize": 500}});
        let expected = EditorOptions {
            batch_size: Some(500),
            ..EditorOptions::default()
        };
        assert_eq!(EditorOptions::from_json(Some(&flat)).unwrap(), expected);
        assert_eq!(EditorOptions::from_json(Some(&nested)).unwrap(), expected);
        assert_eq!(
            EditorOptions::from_json(Some(&Value::Null)).unwrap(),
            EditorOptions::default()
        );
        assert!(EditorOptions::from_json(Some(&serde_json::json!({"batchSize": "x"}))).is_err());
    }

    #[test]
    fn editor_options_layer_over_files() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("inbatch.toml"), "batch-size = 200\n").unwrap();
        let file = folder.path().join("a.py");
        let mut plain = ConfigStore::new(EditorOptions::default(), folder.path().to_path_buf());
        assert_eq!(plain.settings_for(Some(&file)).settings.batch_size, 200);
        let options = EditorOptions {
            batch_size: Some(50),
            ignore: Some(vec!["INB001".to_string()]),
            ..EditorOptions::default()
        };
        let mut layered = plain.with_options(options);
        let resolved = layered.settings_for(Some(&file));
        assert_eq!(resolved.settings.batch_size, 50);
        assert!(!resolved
            .settings
            .rules
            .contains(&crate::engine::rules::inb001_query_in_loop::RULE));
        assert!(resolved.error.is_none());
    }

    #[test]
    fn broken_configuration_falls_back_with_an_error() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("inbatch.toml"), "batch-sise = 200\n").unwrap();
        let mut store = ConfigStore::new(EditorOptions::default(), folder.path().to_path_buf());
        let resolved = store.settings_for(Some(&folder.path().join("a.py")));
        assert_eq!(resolved.settings.batch_size, 1000);
        assert!(resolved.error.unwrap().contains("batch-sise"));
    }
}
