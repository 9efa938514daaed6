//! What every layer may know about a rule: its identity, severity and documentation. A leaf:
//! diagnostics carry a [`RuleInfo`], the registry in [`super::rules`] lists them.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// Whether a rule can offer a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixAvailability {
    None,
    Sometimes,
    Always,
}

/// A rule's identity and documentation.
#[derive(Debug)]
pub struct RuleInfo {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// One line: what the rule flags.
    pub summary: &'static str,
    /// Markdown with the sections What it does / Why is this bad? / Example / Use instead /
    /// Fix safety. `inbatch rule CODE` and hover show it.
    pub documentation: &'static str,
    pub fix: FixAvailability,
    /// Whether the rule runs when the configuration selects nothing. A rule whose findings are
    /// not at least 90 % right on the ecosystem check (real repositories, judged by hand) is off
    /// by default: a user turns it on by selecting it.
    pub enabled_by_default: bool,
    pub category: Category,
}

/// What a rule's findings cost the user when they are right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Round trips that grow with data (N+1 queries, writes, scans). Not checked in test code
    /// by default: a test's data is fixed by the test, so its loops cannot grow.
    Performance,
    /// Wrong results or errors (lossy grouping, a sum that raises on NULL).
    Correctness,
    /// About the suppression comments themselves.
    Suppression,
}

/// The repository's address: the workspace `Cargo.toml`'s `repository`, the one the README's
/// pre-commit snippet names.
pub const REPOSITORY_URL: &str = env!("CARGO_PKG_REPOSITORY");

/// Where each rule's page is checked in, relative to the repository: `docs/rules/INB001.md`.
pub const RULE_DOCS_FOLDER: &str = "docs/rules";

/// Where the checked-in rule pages are read on GitHub. Diagnostics link them
/// (`codeDescription.href` in the server, `helpUri` in SARIF): pages that exist, generated from
/// the rule modules and kept equal to them by `server/tests/tidy.rs`.
pub const RULE_DOCS_URL: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/rules/");

impl RuleInfo {
    /// The address of the rule's page (see [`RULE_DOCS_URL`]).
    pub fn docs_url(&self) -> String {
        format!("{RULE_DOCS_URL}{}.md", self.code)
    }

    /// The rule's page, as `inbatch rule CODE` prints it and `docs/rules/CODE.md` holds it:
    /// title, metadata, then the documentation.
    pub fn page(&self) -> String {
        let fix = match self.fix {
            FixAvailability::None => "no fix",
            FixAvailability::Sometimes => "fix sometimes available",
            FixAvailability::Always => "fix always available",
        };
        let default = if self.enabled_by_default {
            "On by default.".to_string()
        } else {
            format!(
                "Off by default (under 90 % precise on real code): turn it on with \
                 `extend-select = [\"{code}\"]` in `[tool.inbatch]` or `--extend-select {code}`.",
                code = self.code
            )
        };
        format!(
            "# {} ({})\n\n{}. Severity: {}; {}. {}\n\n{}",
            self.name,
            self.code,
            self.summary,
            self.severity.as_str(),
            fix,
            default,
            self.documentation
        )
    }
}

impl PartialEq for RuleInfo {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
    }
}

impl Eq for RuleInfo {}
