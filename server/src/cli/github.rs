//! `--format github`: GitHub Actions workflow commands, one per diagnostic, which the runner turns
//! into annotations on the pull request's changed lines:
//!
//! `::warning file=app/x.py,line=9,col=20,endLine=9,endColumn=57,title=INB001::message`
//!
//! Information-severity rules use `::notice`. Values are escaped as the Actions toolkit does.

use std::fmt::Write;

use super::location::location;
use super::output::{other_location, Checked};
use crate::engine::diagnostic::Severity;

pub fn github(results: &[Checked]) -> String {
    let mut out = String::new();
    for checked in results {
        // Annotations need paths relative to the repository, with forward slashes.
        let file = checked.path.to_string_lossy().replace('\\', "/");
        let file = file.strip_prefix("./").unwrap_or(&file);
        for diagnostic in &checked.diagnostics {
            let start = location(&checked.file, diagnostic.range.start);
            let end = location(
                &checked.file,
                diagnostic.range.end.max(diagnostic.range.start),
            );
            // An annotation has one location: the other files' locations go into its message.
            let mut message = diagnostic.message.clone();
            for related in &diagnostic.related {
                if let Some(other) = &related.file {
                    let start = other_location(&other.start);
                    let path = other.path.to_string_lossy().replace('\\', "/");
                    let _ = write!(
                        message,
                        "\n{}:{}:{}: {}",
                        path.strip_prefix("./").unwrap_or(&path),
                        start.row,
                        start.column,
                        related.message
                    );
                }
            }
            let command = match diagnostic.severity() {
                Severity::Warning => "warning",
                Severity::Information => "notice",
            };
            let _ = writeln!(
                out,
                "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
                escape_property(file),
                start.row,
                start.column,
                end.row,
                end.column,
                escape_property(diagnostic.rule.code),
                escape_data(&message),
            );
        }
    }
    out
}

/// A command's message: `%`, CR and LF are percent-encoded.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A command's property value: as [`escape_data`], plus `:` and `,`, which separate properties.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_actions_toolkit() {
        assert_eq!(escape_data("100% a\r\nb: c, d"), "100%25 a%0D%0Ab: c, d");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }
}
