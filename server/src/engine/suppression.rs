//! Suppression comments: `# noqa`, `# noqa: INB001`, `# inbatch: ignore[INB001]` on a line, and
//! `# inbatch: ignore-file` anywhere in the file.

use super::diagnostic::Diagnostic;
use super::source::{SourceFile, TextRange};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSuppression {
    pub line: usize,
    /// `None` suppresses every rule (bare `# noqa`).
    pub codes: Option<Vec<String>>,
    /// The comment's range.
    pub range: TextRange,
}

#[derive(Debug, Default)]
pub struct Suppressions {
    pub file_ignored: bool,
    pub lines: Vec<LineSuppression>,
}

impl Suppressions {
    pub fn parse(file: &SourceFile) -> Suppressions {
        let text = file.text();
        let mut suppressions = Suppressions::default();
        let mut search_from = 0;
        while let Some(found) = text[search_from..].find('#') {
            let hash = search_from + found;
            let line = file.line_index().line_of(hash);
            let line_end = file.line_index().line_range(line, text).end.max(hash + 1);
            search_from = line_end;
            let comment = &text[hash..line_end];
            if !(comment.contains("noqa") || comment.contains("inbatch")) {
                continue;
            }
            // A `#` inside a string is not a comment; ask the tree.
            let is_comment = file
                .root()
                .descendant_for_byte_range(hash, hash + 1)
                .is_some_and(|node| node.kind() == "comment");
            if !is_comment {
                // The same line may still hold a real comment after the string.
                search_from = hash + 1;
                continue;
            }
            parse_comment(comment, line, hash..line_end, &mut suppressions);
        }
        suppressions
    }

    pub fn is_suppressed(&self, diagnostic: &Diagnostic, file: &SourceFile) -> bool {
        if self.file_ignored {
            return true;
        }
        let index = file.line_index();
        let first = index.line_of(diagnostic.range.start);
        let last = index.line_of(diagnostic.range.end);
        self.lines
            .iter()
            .filter(|s| s.line == first || s.line == last)
            .any(|s| match &s.codes {
                None => true,
                Some(codes) => codes
                    .iter()
                    .any(|code| code.eq_ignore_ascii_case(diagnostic.rule.code)),
            })
    }
}

fn parse_comment(comment: &str, line: usize, range: TextRange, out: &mut Suppressions) {
    for (offset, _) in comment.match_indices('#') {
        let directive = comment[offset + 1..].trim_start();
        if let Some(rest) = strip_prefix_ignore_case(directive, "noqa") {
            let codes = match rest.strip_prefix(':') {
                Some(list) => Some(parse_codes(list)),
                None if rest.is_empty() || rest.starts_with(char::is_whitespace) => None,
                None => continue,
            };
            out.lines.push(LineSuppression {
                line,
                codes,
                range: range.clone(),
            });
        } else if let Some(rest) = directive.strip_prefix("inbatch:") {
            let rest = rest.trim_start();
            if rest.starts_with("ignore-file") {
                out.file_ignored = true;
            } else if let Some(list) = rest.strip_prefix("ignore[") {
                let list = list.split(']').next().unwrap_or("");
                out.lines.push(LineSuppression {
                    line,
                    codes: Some(parse_codes(list)),
                    range: range.clone(),
                });
            } else if rest == "ignore" || rest.starts_with("ignore ") {
                out.lines.push(LineSuppression {
                    line,
                    codes: None,
                    range: range.clone(),
                });
            }
        }
    }
}

fn strip_prefix_ignore_case<'s>(text: &'s str, prefix: &str) -> Option<&'s str> {
    (text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &text[prefix.len()..])
}

/// `INB001, INB002 E501` → the codes, as far as they look like codes.
fn parse_codes(list: &str) -> Vec<String> {
    list.split([',', ' ', '\t'])
        .map(str::trim)
        .take_while(|code| code.is_empty() || code.chars().all(|c| c.is_ascii_alphanumeric()))
        .filter(|code| !code.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Suppressions {
        Suppressions::parse(&SourceFile::parse(text))
    }

    #[test]
    fn recognises_each_form() {
        let s =
            parse("a = 1  # noqa\nb = 2  # noqa: INB001, E501\nc = 3  # inbatch: ignore[INB001]\n");
        assert_eq!(s.lines.len(), 3);
        assert_eq!(s.lines[0].codes, None);
        assert_eq!(
            s.lines[1].codes,
            Some(vec!["INB001".to_string(), "E501".to_string()])
        );
        assert_eq!(s.lines[2].codes, Some(vec!["INB001".to_string()]));
        assert!(!s.file_ignored);
    }

    #[test]
    fn hash_in_string_is_not_a_comment() {
        let s = parse("a = '# noqa'\n");
        assert!(s.lines.is_empty());
        let s = parse("a = '#'  # noqa: INB001\n");
        assert_eq!(s.lines.len(), 1);
    }

    #[test]
    fn ignore_file() {
        assert!(parse("# inbatch: ignore-file\n").file_ignored);
    }
}
