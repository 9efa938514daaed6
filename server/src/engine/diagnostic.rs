//! What the engine reports: diagnostics in byte offsets, with optional fixes.

use std::path::Path;
use std::sync::Arc;

use super::fix::Fix;
use super::rule_info::RuleInfo;
pub use super::rule_info::Severity;
use super::source::TextRange;

/// A secondary location: the loop header of an N+1, the query a fix edits, the query in a helper
/// of another file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    pub message: String,
    /// Byte offsets in the diagnostic's file, or in `file` when that is set.
    pub range: TextRange,
    /// Another file the location is in, with its positions computed there: the shells show it
    /// without reading that file.
    pub file: Option<OtherFile>,
}

/// A range in another file than the diagnostic's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OtherFile {
    /// As the shell gave it for that file (the CLI's display path, the server's absolute path).
    pub path: Arc<Path>,
    pub start: FilePosition,
    pub end: FilePosition,
}

/// A position as each shell needs it: a 0-based line and the column in UTF-8 bytes, UTF-16 code
/// units and characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FilePosition {
    pub line: usize,
    pub utf8: usize,
    pub utf16: usize,
    pub chars: usize,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub rule: &'static RuleInfo,
    pub message: String,
    pub range: TextRange,
    pub related: Vec<Related>,
    pub fix: Option<Fix>,
    /// Why no fix is offered, shown on hover, when the rule normally has one.
    pub no_fix_reason: Option<String>,
}

impl Diagnostic {
    pub fn new(
        rule: &'static RuleInfo,
        message: impl Into<String>,
        range: TextRange,
    ) -> Diagnostic {
        Diagnostic {
            rule,
            message: message.into(),
            range,
            related: Vec::new(),
            fix: None,
            no_fix_reason: None,
        }
    }

    pub fn with_related(mut self, message: impl Into<String>, range: TextRange) -> Diagnostic {
        self.related.push(Related {
            message: message.into(),
            range,
            file: None,
        });
        self
    }

    pub fn severity(&self) -> Severity {
        self.rule.severity
    }
}

/// The fixes of `diagnostics`, for the fixer ([`super::fix::fix_file_until_stable`]).
pub fn fixes_of(diagnostics: Vec<Diagnostic>) -> Vec<Fix> {
    diagnostics.into_iter().filter_map(|d| d.fix).collect()
}
