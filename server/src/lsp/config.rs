//! Settings for open and indexed files: the configuration files `crate::config` finds, with the
//! options an editor sends (`initializationOptions`, `workspace/didChangeConfiguration`) on top.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::workspace::IndexLimits;
use crate::config::{self, Resolver};
use crate::engine::rules::RuleSet;
use crate::engine::settings::Settings;

/// The options an editor may send, flat or under an `inbatch` key. Keys this server does not know
/// are ignored: editors send whole settings trees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditorOptions {
    /// Overrides `batch-size`.
    pub batch_size: Option<usize>,
    /// Replaces the configured `select`, like `--select`; only selectors that match a rule.
    pub select: Option<Vec<String>>,
    /// Adds to the selected rules, like `--extend-select`: turns on rules that are off by default;
    /// only selectors that match a rule.
    pub extend_select: Option<Vec<String>>,
    /// Adds to the configured `ignore`, like `--ignore`; only selectors that match a rule.
    pub ignore: Option<Vec<String>>,
    /// A configuration file used for every file instead of discovery, like `--config`.
    pub configuration: Option<PathBuf>,
    /// Overrides `inlay-hints` (the cost shown at flagged loops).
    pub inlay_hints: Option<bool>,
    /// Which files `workspace/diagnostic` reports.
    pub diagnostic_mode: Option<DiagnosticMode>,
    /// The most Python files the workspace index takes.
    pub index_max_files: Option<usize>,
    /// The most bytes of Python source the workspace index takes.
    pub index_max_bytes: Option<u64>,
}

/// Which files' diagnostics a client that pulls the workspace's (`workspace/diagnostic`) is
/// shown, as Pylance's `diagnosticMode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DiagnosticMode {
    /// Only the open documents: opening one file of a large project shows its problems, not
    /// every file's.
    #[default]
    OpenFilesOnly,
    /// Every indexed file of the workspace as well.
    Workspace,
}

/// Options read from one message, with what was wrong in it: each bad entry is reported and
/// left out, and the rest applies.
#[derive(Debug, Default)]
pub struct ParsedOptions {
    pub options: EditorOptions,
    pub problems: Vec<String>,
}

impl EditorOptions {
    /// Reads options from a JSON value. `null`, an empty array (what Neovim sends for an empty
    /// Lua table `{}`) and an empty object mean none. An `inbatch` key wins over the top level so
    /// that a client may send its whole settings object. Each option is read on its own: a bad
    /// value is reported and left out, never taking the other options with it.
    pub fn from_json(value: Option<&Value>) -> ParsedOptions {
        let mut parsed = ParsedOptions::default();
        let value = match value {
            None | Some(Value::Null) => return parsed,
            Some(value) => value.get("inbatch").unwrap_or(value),
        };
        let object = match value {
            Value::Object(object) => object,
            Value::Null => return parsed,
            Value::Array(items) if items.is_empty() => return parsed,
            other => {
                parsed.problems.push(format!(
                    "editor options must be an object such as {{\"batchSize\": 500}}, not `{other}`"
                ));
                return parsed;
            }
        };
        let options = &mut parsed.options;
        let problems = &mut parsed.problems;
        options.batch_size = field(object, "batchSize", problems).filter(|&size: &usize| {
            if size == 0 {
                problems.push("editor option `batchSize` must be at least 1".to_string());
            }
            size > 0
        });
        options.select = field::<Vec<String>>(object, "select", problems)
            .map(|select| known_selectors(select, "select", problems))
            // No known selector left (or none given): the configured rules stay, rather than
            // none at all.
            .filter(|select| !select.is_empty());
        options.extend_select = field::<Vec<String>>(object, "extendSelect", problems)
            .map(|extend| known_selectors(extend, "extendSelect", problems));
        options.ignore = field::<Vec<String>>(object, "ignore", problems)
            .map(|ignore| known_selectors(ignore, "ignore", problems));
        options.configuration = field(object, "configuration", problems);
        options.inlay_hints = field(object, "inlayHints", problems);
        options.diagnostic_mode = field(object, "diagnosticMode", problems);
        options.index_max_files = field(object, "indexMaxFiles", problems);
        options.index_max_bytes = field(object, "indexMaxBytes", problems);
        parsed
    }

    fn apply(&self, base: &Settings) -> Settings {
        let mut settings = base.clone();
        if let Some(batch_size) = self.batch_size {
            settings.batch_size = batch_size;
        }
        if let Some(select) = &self.select {
            settings.rules = rule_set(select);
        }
        if let Some(extend) = &self.extend_select {
            settings.rules = settings.rules.union(rule_set(extend));
        }
        if let Some(ignore) = &self.ignore {
            settings.rules = settings.rules.difference(rule_set(ignore));
        }
        if let Some(inlay_hints) = self.inlay_hints {
            settings.inlay_hints = inlay_hints;
        }
        settings
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

/// One option of `object`: `None` when absent or `null`, and when its value has the wrong type
/// (reported in `problems`).
fn field<T: DeserializeOwned>(
    object: &serde_json::Map<String, Value>,
    key: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    let value = object.get(key).filter(|value| !value.is_null())?;
    serde_json::from_value(value.clone())
        .map_err(|error| problems.push(format!("editor option `{key}`: {error}; it is ignored")))
        .ok()
}

/// The selectors that match a rule; each other one is reported.
fn known_selectors(
    selectors: Vec<String>,
    option: &str,
    problems: &mut Vec<String>,
) -> Vec<String> {
    selectors
        .into_iter()
        .filter(|selector| match RuleSet::parse_selector(selector) {
            Ok(_) => true,
            Err(error) => {
                problems.push(format!("editor option `{option}`: {error}; it is ignored"));
                false
            }
        })
        .collect()
}

/// The rules of selectors already checked by [`known_selectors`].
fn rule_set(selectors: &[String]) -> RuleSet {
    selectors
        .iter()
        .filter_map(|selector| RuleSet::from_selector(selector))
        .fold(RuleSet::empty(), RuleSet::union)
}

/// Resolves settings per file; configuration errors fall back to defaults and are reported.
/// A clone resolves off the session lock (the workspace scan) and shares the settings resolved
/// so far.
#[derive(Clone)]
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
        let fallback = Arc::new(options.apply(&default));
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
        let settings = Arc::new(self.options.apply(&base));
        // The resolver keeps `base` alive, so its address is not reused while cached.
        self.layered.insert(key, settings.clone());
        Resolved {
            settings,
            error: None,
        }
    }

    /// The editor options in force.
    pub fn options(&self) -> &EditorOptions {
        &self.options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(value: Value) -> ParsedOptions {
        EditorOptions::from_json(Some(&value))
    }

    #[test]
    fn options_come_flat_or_under_inbatch() {
        let flat = serde_json::json!({"batchSize": 500, "somethingElse": true});
        let nested = serde_json::json!({"inbatch": {"batchSize": 500}});
        let expected = EditorOptions {
            batch_size: Some(500),
            ..EditorOptions::default()
        };
        for value in [flat, nested] {
            let parsed = options(value);
            assert_eq!(parsed.options, expected);
            assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        }
    }

    #[test]
    fn null_and_empty_arrays_are_no_options() {
        for value in [
            Value::Null,
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!({"inbatch": null}),
            serde_json::json!({"inbatch": []}),
        ] {
            let parsed = options(value.clone());
            assert_eq!(parsed.options, EditorOptions::default(), "{value}");
            assert!(parsed.problems.is_empty(), "{value}: {:?}", parsed.problems);
        }
        let parsed = options(serde_json::json!([1]));
        assert_eq!(parsed.problems.len(), 1, "{:?}", parsed.problems);
    }

    #[test]
    fn a_bad_option_is_reported_and_the_others_kept() {
        let parsed = options(serde_json::json!({
            "batchSize": "x",
            "ignore": ["INB001", "INB999"],
            "select": ["INB4"],
            "inlayHints": false,
            "diagnosticMode": "workspace",
        }));
        assert_eq!(parsed.options.batch_size, None);
        assert_eq!(parsed.options.ignore, Some(vec!["INB001".to_string()]));
        // No known selector left in `select`: the configured rules stay.
        assert_eq!(parsed.options.select, None);
        assert_eq!(parsed.options.inlay_hints, Some(false));
        assert_eq!(
            parsed.options.diagnostic_mode,
            Some(DiagnosticMode::Workspace)
        );
        let problems = parsed.problems.join("\n");
        assert_eq!(parsed.problems.len(), 3, "{problems}");
        for named in ["`batchSize`", "`INB999`", "`INB4`"] {
            assert!(problems.contains(named), "{problems}");
        }
        let zero = options(serde_json::json!({"batchSize": 0}));
        assert_eq!(zero.options.batch_size, None);
        assert_eq!(zero.problems.len(), 1);
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
