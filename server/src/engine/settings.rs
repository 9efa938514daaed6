//! Settings from `[tool.inbatch]` in `pyproject.toml` or from `inbatch.toml`. Parsing is pure:
//! finding and reading the file is the shells' job (see `crate::config`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

pub use super::rules::Database;
use super::rules::{RuleOptions, RuleSet};

pub const DEFAULT_BATCH_SIZE: usize = 1000;
pub const DEFAULT_MAX_CALL_DEPTH: usize = 3;

/// Folders never checked unless named explicitly, as in ruff.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".git-rewrite",
    ".hg",
    ".ipynb_checkpoints",
    ".mypy_cache",
    ".nox",
    ".pants.d",
    ".pyenv",
    ".pytest_cache",
    ".pytype",
    ".ruff_cache",
    ".svn",
    ".tox",
    ".venv",
    ".vscode",
    "__pypackages__",
    "_build",
    "buck-out",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OrmChoice {
    #[default]
    Auto,
    Sqlalchemy,
    Django,
}

/// The options as written in the file. Unknown keys are an error, never ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Options {
    pub select: Option<Vec<String>>,
    pub extend_select: Option<Vec<String>>,
    pub ignore: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    pub extend_exclude: Option<Vec<String>>,
    pub per_file_ignores: Option<BTreeMap<String, Vec<String>>>,
    pub batch_size: Option<usize>,
    pub max_call_depth: Option<usize>,
    pub orm: Option<OrmChoice>,
    pub database: Option<Database>,
    pub inlay_hints: Option<bool>,
    pub check_tests: Option<bool>,
}

/// Resolved settings for one project.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The folder holding the configuration file; globs are relative to it.
    pub root: PathBuf,
    pub rules: RuleSet,
    pub per_file_ignores: Vec<(GlobSet, RuleSet)>,
    pub exclude: GlobSet,
    pub batch_size: usize,
    pub max_call_depth: usize,
    pub orm: OrmChoice,
    pub database: Option<Database>,
    pub inlay_hints: bool,
    /// Check test code for the performance rules too (off by default: see [`is_test_code`]).
    pub check_tests: bool,
    /// The file the settings came from, if any.
    pub source: Option<PathBuf>,
}

impl Settings {
    /// The ORMs the `orm` setting lets the recognisers see.
    pub fn orms(&self) -> crate::engine::orm::OrmSet {
        use crate::engine::orm::OrmSet;
        match self.orm {
            OrmChoice::Auto => OrmSet::ALL,
            OrmChoice::Sqlalchemy => OrmSet {
                sqlalchemy: true,
                django: false,
            },
            OrmChoice::Django => OrmSet {
                sqlalchemy: false,
                django: true,
            },
        }
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::resolve(Options::default(), PathBuf::new(), None)
            .expect("default options are valid")
    }
}

/// Which configuration file format the text is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// `[tool.inbatch]` inside `pyproject.toml`.
    Pyproject,
    /// Top-level keys in `inbatch.toml`.
    InbatchToml,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration in {}: {}",
            self.path.display(),
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Parses a configuration file's text. `Ok(None)` for a `pyproject.toml` without `[tool.inbatch]`.
    pub fn from_toml(
        text: &str,
        format: ConfigFormat,
        path: &Path,
    ) -> Result<Option<Settings>, ConfigError> {
        let error = |message: String| ConfigError {
            path: path.to_path_buf(),
            message,
        };
        let options: Options = match format {
            ConfigFormat::InbatchToml => {
                toml::from_str(text).map_err(|e| error(clean_toml_error(&e)))?
            }
            ConfigFormat::Pyproject => {
                let document: toml::Table =
                    toml::from_str(text).map_err(|e| error(clean_toml_error(&e)))?;
                let Some(table) = document.get("tool").and_then(|tool| tool.get("inbatch")) else {
                    return Ok(None);
                };
                table.clone().try_into().map_err(|e: toml::de::Error| {
                    error(format!("[tool.inbatch]: {}", clean_toml_error(&e)))
                })?
            }
        };
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Settings::resolve(options, root, Some(path.to_path_buf()))
            .map(Some)
            .map_err(error)
    }

    pub fn resolve(
        options: Options,
        root: PathBuf,
        source: Option<PathBuf>,
    ) -> Result<Settings, String> {
        let mut rules = match &options.select {
            Some(selectors) => parse_selectors(selectors, "select")?,
            None => RuleSet::defaults(),
        };
        if let Some(extend) = &options.extend_select {
            rules = rules.union(parse_selectors(extend, "extend-select")?);
        }
        if let Some(ignore) = &options.ignore {
            rules = rules.difference(parse_selectors(ignore, "ignore")?);
        }
        let mut per_file_ignores = Vec::new();
        for (pattern, codes) in options.per_file_ignores.iter().flatten() {
            let globs = glob_set(std::slice::from_ref(pattern), "per-file-ignores")?;
            per_file_ignores.push((globs, parse_selectors(codes, "per-file-ignores")?));
        }
        let mut excludes: Vec<String> = match &options.exclude {
            Some(exclude) => exclude.clone(),
            None => DEFAULT_EXCLUDES.iter().map(|s| s.to_string()).collect(),
        };
        excludes.extend(options.extend_exclude.iter().flatten().cloned());
        let batch_size = options.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
        if batch_size == 0 {
            return Err("`batch-size` must be at least 1".to_string());
        }
        Ok(Settings {
            root,
            rules,
            per_file_ignores,
            exclude: glob_set(&excludes, "exclude")?,
            batch_size,
            max_call_depth: options.max_call_depth.unwrap_or(DEFAULT_MAX_CALL_DEPTH),
            orm: options.orm.unwrap_or_default(),
            database: options.database,
            inlay_hints: options.inlay_hints.unwrap_or(true),
            check_tests: options.check_tests.unwrap_or(false),
            source,
        })
    }

    /// What the rules read of these settings.
    pub fn rule_options(&self) -> RuleOptions {
        RuleOptions {
            batch_size: self.batch_size,
            database: self.database,
        }
    }

    /// The rules enabled for a file, after `per-file-ignores` and, in test code, without the
    /// performance rules (unless `check-tests`).
    pub fn rules_for(&self, path: Option<&Path>) -> RuleSet {
        self.restrict(self.rules, path)
    }

    /// `rules` (this configuration's or a command line's choice) less what this configuration
    /// leaves out for the file: `per-file-ignores` and, in test code, the performance rules
    /// (unless `check-tests`).
    pub fn restrict(&self, rules: RuleSet, path: Option<&Path>) -> RuleSet {
        let Some(path) = path else { return rules };
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        let rules = if !self.check_tests && is_test_code(relative) {
            rules.difference(RuleSet::of_category(super::rules::Category::Performance))
        } else {
            rules
        };
        self.per_file_ignores
            .iter()
            .filter(|(globs, _)| {
                globs.is_match(relative)
                    || relative
                        .file_name()
                        .is_some_and(|name| globs.is_match(name))
            })
            .fold(rules, |rules, (_, ignored)| rules.difference(*ignored))
    }

    /// Whether a path is excluded: `exclude`/`extend-exclude` match the path relative to the
    /// configuration's folder, or the name of one of its parts below that folder.
    pub fn is_excluded(&self, path: &Path) -> bool {
        self.is_excluded_below(path, &self.root)
    }

    /// [`Settings::is_excluded`] for a path found under `base`, a folder the user named (or a
    /// project root): only the names below both `base` and the configuration's folder count. The
    /// folders above are the user's choice: checking `/srv/dist/proj` from `/` must not exclude
    /// everything because `dist` is a default exclude.
    pub fn is_excluded_below(&self, path: &Path, base: &Path) -> bool {
        let relative = path.strip_prefix(&self.root).ok();
        let names = match (relative, path.strip_prefix(base).ok()) {
            (Some(relative), Some(below)) => {
                if below.components().count() < relative.components().count() {
                    below
                } else {
                    relative
                }
            }
            (relative, below) => relative.or(below).unwrap_or(path),
        };
        self.exclude.is_match(relative.unwrap_or(path))
            || names
                .components()
                .any(|part| self.exclude.is_match(part.as_os_str()))
    }
}

/// Test code, as pytest and Django lay it out: a file under a folder named `tests`, `test`,
/// `testing` or `factories`, or a file named `test_*.py`, `*_test.py`, `tests.py`, `conftest.py`,
/// or test data builders: `factory.py`, `factories.py` (factory_boy), `*test_data*.py`.
pub fn is_test_code(path: &Path) -> bool {
    let folders = path.parent().into_iter().flat_map(Path::components);
    let in_test_folder = folders
        .filter_map(|part| part.as_os_str().to_str())
        .any(|part| matches!(part, "tests" | "test" | "testing" | "factories"));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    in_test_folder
        || name.starts_with("test_")
        || name.ends_with("_test.py")
        || name.contains("test_data")
        || matches!(
            name,
            "tests.py" | "conftest.py" | "factory.py" | "factories.py"
        )
}

fn parse_selectors(selectors: &[String], key: &str) -> Result<RuleSet, String> {
    let mut set = RuleSet::empty();
    for selector in selectors {
        let rules =
            RuleSet::parse_selector(selector).map_err(|error| format!("`{key}`: {error}"))?;
        set = set.union(rules);
    }
    Ok(set)
}

fn glob_set(patterns: &[String], key: &str) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob =
            Glob::new(pattern).map_err(|e| format!("`{key}`: invalid pattern `{pattern}`: {e}"))?;
        builder.add(glob);
    }
    builder.build().map_err(|e| format!("`{key}`: {e}"))
}

fn clean_toml_error(error: &toml::de::Error) -> String {
    error
        .to_string()
        .trim()
        .replace('\n', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let error = Settings::from_toml(
            "[tool.inbatch]\nbatch-sise = 10\n",
            ConfigFormat::Pyproject,
            Path::new("p/pyproject.toml"),
        )
        .unwrap_err();
        assert!(error.to_string().contains("batch-sise"), "{error}");
        assert!(error.to_string().contains("p/pyproject.toml"), "{error}");
    }

    #[test]
    fn pyproject_without_table_is_not_a_config() {
        let parsed = Settings::from_toml(
            "[project]\nname = 'x'\n",
            ConfigFormat::Pyproject,
            Path::new("pyproject.toml"),
        );
        assert!(parsed.unwrap().is_none());
    }

    #[test]
    fn select_ignore_and_per_file_ignores_resolve() {
        let text =
            "select = ['INB0']\nignore = ['INB001']\n[per-file-ignores]\n'tests/*' = ['ALL']\n";
        let settings = Settings::from_toml(
            text,
            ConfigFormat::InbatchToml,
            Path::new("/p/inbatch.toml"),
        )
        .unwrap()
        .unwrap();
        assert!(!settings
            .rules
            .contains(&crate::engine::rules::inb001_query_in_loop::RULE));
        assert!(settings
            .rules_for(Some(Path::new("/p/tests/a.py")))
            .is_empty());
    }

    #[test]
    fn zero_batch_size_is_rejected() {
        let error = Settings::from_toml(
            "batch-size = 0\n",
            ConfigFormat::InbatchToml,
            Path::new("inbatch.toml"),
        )
        .unwrap_err();
        assert!(error.message.contains("batch-size"));
    }

    #[test]
    fn the_n_plus_one_rules_are_off_by_default_and_run_when_selected() {
        let config = Path::new("/project/inbatch.toml");
        let default = Settings::from_toml("", ConfigFormat::InbatchToml, config)
            .unwrap()
            .unwrap();
        let file = Some(Path::new("/project/app/views.py"));
        let n_plus_one = ["INB001", "INB002", "INB003", "INB005"];
        let on = default.rules_for(file);
        for code in n_plus_one {
            let rule = crate::engine::rules::find(code).unwrap();
            assert!(!rule.enabled_by_default, "{code}");
            assert!(!on.contains(rule), "{code} runs without configuration");
        }
        let defaults: Vec<&str> = crate::engine::rules::all()
            .filter(|rule| on.contains(rule))
            .map(|rule| rule.code)
            .collect();
        assert_eq!(defaults, ["INB201", "INB901"]);

        let selected = Settings::from_toml(
            "extend-select = [\"INB001\", \"INB002\", \"INB003\", \"INB005\"]",
            ConfigFormat::InbatchToml,
            config,
        )
        .unwrap()
        .unwrap();
        let on = selected.rules_for(file);
        for code in n_plus_one.into_iter().chain(["INB201", "INB901"]) {
            assert!(
                on.contains(crate::engine::rules::find(code).unwrap()),
                "{code}"
            );
        }
    }

    #[test]
    fn test_code_skips_the_performance_rules_unless_asked() {
        let config = Path::new("/project/inbatch.toml");
        // INB001 is off by default: selected, it still skips test code.
        let default = Settings::from_toml(
            "extend-select = [\"INB001\"]",
            ConfigFormat::InbatchToml,
            config,
        )
        .unwrap()
        .unwrap();
        let inb001 = crate::engine::rules::find("INB001").unwrap();
        let inb201 = crate::engine::rules::find("INB201").unwrap();
        for test_file in [
            "/project/app/tests/test_views.py",
            "/project/test_models.py",
            "/project/app/conftest.py",
            "/project/app/orders_test.py",
            "/project/app/tests.py",
            "/project/app/factories.py",
            "/project/app/factories/orders.py",
            "/project/lib/create_test_data.py",
        ] {
            let rules = default.rules_for(Some(Path::new(test_file)));
            assert!(!rules.contains(inb001), "{test_file}");
            assert!(
                rules.contains(inb201),
                "{test_file}: correctness rules still run"
            );
        }
        for application_file in [
            "/project/app/views.py",
            "/project/app/testimonials.py",
            "/project/app/factory_reset.py",
        ] {
            assert!(default
                .rules_for(Some(Path::new(application_file)))
                .contains(inb001));
        }
        let checking = Settings::from_toml(
            "check-tests = true\nextend-select = [\"INB001\"]",
            ConfigFormat::InbatchToml,
            config,
        )
        .unwrap()
        .unwrap();
        assert!(checking
            .rules_for(Some(Path::new("/project/app/tests/test_views.py")))
            .contains(inb001));
    }
}
