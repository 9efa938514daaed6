//! The analysis engine: pure functions from source text and settings to diagnostics and fixes.
//!
//! Nothing here knows about LSP, tokio, terminals or the file system; the `cli` and `lsp` shells
//! translate to and from these types.

pub mod diagnostic;
pub mod fix;
pub mod hover;
pub mod orm;
pub mod rules;
pub mod semantic;
pub mod settings;
pub mod source;
pub mod suppression;
pub mod syntax;

use std::path::Path;

use diagnostic::Diagnostic;
use rules::{Context, RuleSet, REGISTRY};
use semantic::SemanticModel;
use settings::Settings;
use source::SourceFile;
use suppression::Suppressions;

/// Checks one file. `path` (relative or absolute) selects `per-file-ignores`.
pub fn check(file: &SourceFile, settings: &Settings, path: Option<&Path>) -> Vec<Diagnostic> {
    let rules = settings.rules_for(path);
    check_rules(file, settings, rules)
}

/// Checks one file with an explicit rule selection (after `--select`/`--ignore`).
pub fn check_rules(file: &SourceFile, settings: &Settings, rules: RuleSet) -> Vec<Diagnostic> {
    let suppressions = Suppressions::parse(file);
    if suppressions.file_ignored || rules.is_empty() {
        return Vec::new();
    }
    let model = SemanticModel::build(file);
    let context = Context {
        model: &model,
        settings,
    };
    let mut diagnostics = Vec::new();
    for entry in REGISTRY.iter().filter(|entry| rules.contains(entry.info)) {
        (entry.check)(&context, &mut diagnostics);
    }
    diagnostics.retain(|diagnostic| !suppressions.is_suppressed(diagnostic, file));
    diagnostics.sort_by(|a, b| {
        (a.range.start, a.range.end, a.rule.code).cmp(&(b.range.start, b.range.end, b.rule.code))
    });
    diagnostics
}
