//! The analysis engine: pure functions from source text and settings to diagnostics and fixes.
//!
//! Nothing here knows about LSP, tokio, terminals or the file system; the `cli` and `lsp` shells
//! translate to and from these types.

pub mod cancel;
pub mod diagnostic;
pub mod fix;
pub mod hashing;
pub mod hover;
pub mod imports;
pub mod incremental;
pub mod index;
pub mod orm;
pub mod rule_info;
pub mod rules;
pub mod semantic;
pub mod settings;
pub mod source;
pub mod suppression;
pub mod syntax;

use std::path::Path;
use std::sync::Arc;

use diagnostic::Diagnostic;
use index::calls::{CallIndex, FileSummary, Imports};
use index::{ModelResolver, ProjectIndex};
pub use rules::Fixes;
use rules::{Context, RuleSet, REGISTRY};
use semantic::calls::{self, Project};
use semantic::{FileContext, SemanticModel};
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
    check_file(file, settings, rules, index, None).diagnostics
}

/// [`check_in_project`], building fixes or not.
pub fn check_in_project_with(
    file: &SourceFile,
    settings: &Settings,
    rules: RuleSet,
    index: &ProjectIndex,
    fixes: Fixes,
) -> Vec<Diagnostic> {
    check_file_with(file, settings, rules, index, None, fixes).diagnostics
}

/// Where a checked file sits among the project's files, for following calls into other files.
pub struct FileOrigin<'p> {
    /// The file's path as the shell will show (CLI) or address (server) it.
    pub path: Arc<Path>,
    /// Its module name ([`index::module_name`]), for relative imports and for the files that
    /// import it.
    pub module: String,
    /// The summaries of the project's other files.
    pub calls: &'p CallIndex,
}

/// A file's diagnostics and, when checked with a [`FileOrigin`], the summary of its functions
/// for the project.
pub struct FileCheck {
    pub diagnostics: Vec<Diagnostic>,
    pub summary: Option<FileSummary>,
}

impl FileCheck {
    /// The check of a file nothing is checked in (ignored, excluded, no rule selected).
    pub fn nothing() -> FileCheck {
        FileCheck {
            diagnostics: Vec::new(),
            summary: None,
        }
    }
}

/// Checks one file; with an origin, calls into the project's other files are followed and the
/// file's own summary is returned, from the same semantic model.
pub fn check_file(
    file: &SourceFile,
    settings: &Settings,
    rules: RuleSet,
    index: &ProjectIndex,
    origin: Option<&FileOrigin<'_>>,
) -> FileCheck {
    check_file_with(file, settings, rules, index, origin, Fixes::Build)
}

/// [`check_file`], building fixes or not.
pub fn check_file_with(
    file: &SourceFile,
    settings: &Settings,
    rules: RuleSet,
    index: &ProjectIndex,
    origin: Option<&FileOrigin<'_>>,
    fixes: Fixes,
) -> FileCheck {
    let suppressions = Suppressions::parse(file);
    if suppressions.file_ignored || rules.is_empty() {
        return FileCheck::nothing();
    }
    let raw = analyse(file, settings, rules, index, origin, fixes, &[]);
    finish(file, &suppressions, rules, raw)
}

/// What the rules report on a file before suppression comments are applied, and the file's
/// summary: what an incremental analysis keeps of one text to start the next from.
#[derive(Debug, Clone)]
pub struct RawCheck {
    pub diagnostics: Vec<Diagnostic>,
    pub summary: Option<FileSummary>,
}

/// Builds the semantic model (leaving out the top-level statements in `skip`), summarises the
/// file's functions and runs the rules; suppressions are not applied yet.
fn analyse(
    file: &SourceFile,
    settings: &Settings,
    rules: RuleSet,
    index: &ProjectIndex,
    origin: Option<&FileOrigin<'_>>,
    fixes: Fixes,
    skip: &[source::TextRange],
) -> RawCheck {
    let models = ModelResolver::new(file, index);
    let package = origin.is_some_and(|origin| {
        origin
            .path
            .file_name()
            .is_some_and(|name| name == "__init__.py")
    });
    let context = FileContext {
        module: origin.map_or("", |origin| origin.module.as_str()),
        package,
        orms: settings.orms(),
        skip,
    };
    let model = SemanticModel::build(file, &models, &context);
    let imports = origin.map(|origin| Imports::collect(file, &origin.module, package));
    let project = origin
        .zip(imports.as_ref())
        .map(|(origin, imports)| Project {
            imports,
            index: origin.calls,
            path: &origin.path,
        });
    let summaries = (origin.is_some()
        || rules.contains(&rules::inb003_query_in_loop_via_call::RULE))
    .then(|| {
        calls::summaries(
            &model,
            &models,
            settings.max_call_depth,
            context.module,
            project,
        )
    });
    let context = Context {
        model: &model,
        options: settings.rule_options(),
        index: &models,
        summaries: summaries.as_ref(),
        fixes,
    };
    let mut diagnostics = Vec::new();
    for entry in REGISTRY.iter().filter(|entry| rules.contains(entry.info)) {
        (entry.check)(&context, &mut diagnostics);
    }
    let summary = origin.zip(summaries.as_ref()).zip(imports.as_ref()).map(
        |((origin, summaries), imports)| {
            summaries.export(&model, &origin.path, &origin.module, imports)
        },
    );
    RawCheck {
        diagnostics,
        summary,
    }
}

/// Applies the suppression comments (and reports the unused ones), gives fixes the file's line
/// ending and sorts the diagnostics by position.
fn finish(
    file: &SourceFile,
    suppressions: &Suppressions,
    rules: RuleSet,
    raw: RawCheck,
) -> FileCheck {
    let RawCheck {
        mut diagnostics,
        summary,
    } = raw;
    rules::inb901_unused_suppression::filter_suppressed(
        file,
        suppressions,
        rules,
        &mut diagnostics,
    );
    fix::conform_fixes(
        file.text(),
        diagnostics.iter_mut().filter_map(|d| d.fix.as_mut()),
    );
    // By position, then rule and message: an incremental analysis gathers the same diagnostics
    // in another order, and the two must agree.
    diagnostics.sort_by(|a, b| {
        (a.range.start, a.range.end, a.rule.code, &a.message).cmp(&(
            b.range.start,
            b.range.end,
            b.rule.code,
            &b.message,
        ))
    });
    FileCheck {
        diagnostics,
        summary,
    }
}
