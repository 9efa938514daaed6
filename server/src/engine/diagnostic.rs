//! What the engine reports: diagnostics in byte offsets, with optional fixes.

use super::fix::Fix;
use super::rules::RuleInfo;
use super::source::TextRange;

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

/// A secondary location: the loop header of an N+1, the query a fix edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    pub message: String,
    pub range: TextRange,
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
        });
        self
    }

    pub fn severity(&self) -> Severity {
        self.rule.severity
    }
}
