//! The analysis engine: pure functions from source text and settings to diagnostics and fixes.
//!
//! Nothing here knows about LSP, tokio, terminals or the file system; the `cli` and `lsp` shells
//! translate to and from these types.

pub mod diagnostic;
pub mod fix;
pub mod hover;
pub mod index;
pub mod orm;
pub mod rules;
pub mod semantic;
pub mod settings;
pub mod source;
pub mod suppression;
pub mod syntax;

use std::path::Path;

use diagnostic::Diagnostic;
use index::{ModelResolver, ProjectIndex};
use rules::{Context, RuleSet, REGISTRY};
use semantic::SemanticModel;
use settings::Settings;
use source::SourceFile;
use suppression::Suppressions;

/// Checks one file against the models it declares itself. `path` (relative or absolute) selects
/// `per-file-ignores`.
pub fn check(file: &SourceFile, settings: &Settings, path: Option<&Path>) -> Vec<Diagnostic> {
    let index = ProjectIndex::new();
    check_in_project(file, settings, settings.rules_for(path), &index)
}

/// Checks one file with an explicit rule selection (after `--select`/`--ignore`).
pub fn check_rules(file: &SourceFile, settings: &Settings, rules: RuleSet) -> Vec<Diagnostic> {
    let index = ProjectIndex::new();
    check_in_project(file, settings, rules, &index)
}

/// Checks one file with the project's model index. Models the file declares itself are taken from
/// its current text, so an unsaved edit to a model is seen at once.
pub fn check_in_project(
    file: &SourceFile,
    settings: &Settings,
    rules: RuleSet,
    index: &ProjectIndex,
) -> Vec<Diagnostic> {
    let suppressions = Suppressions::parse(file);
    if suppressions.file_ignored || rules.is_empty() {
        return Vec::new();
    }
    let models = ModelResolver::new(file, index);
    let model = SemanticModel::build(file, &models);
    let context = Context {
        model: &model,
        settings,
        index: &models,
    };
    let mut diagnostics = Vec::new();
    for entry in REGISTRY.iter().filter(|entry| rules.contains(entry.info)) {
        (entry.check)(&context, &mut diagnostics);
    }
    rules::inb901_unused_suppression::filter_suppressed(
        file,
        &suppressions,
        rules,
        &mut diagnostics,
    );
    diagnostics.sort_by(|a, b| {
        (a.range.start, a.range.end, a.rule.code).cmp(&(b.range.start, b.range.end, b.rule.code))
    });
    diagnostics
}
