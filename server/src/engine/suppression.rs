//! Suppression comments: `# noqa`, `# noqa: INB001`, `# inbatch: ignore[INB001]` on a line, and
//! `# inbatch: ignore-file` anywhere in the file.

use super::diagnostic::Diagnostic;
use super::fix::Edit;
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

    /// The line suppressions that silence `diagnostic`: on its first or last line, bare or naming
    /// its rule (case-insensitively).
    ///
    /// A line that cannot hold a comment (it ends inside a multi-line string, or with a `\`)
    /// is suppressed from the line where a comment about it can go ([`comment_line`]).
    pub fn suppressing<'s>(
        &'s self,
        diagnostic: &Diagnostic,
        file: &SourceFile,
    ) -> impl Iterator<Item = &'s LineSuppression> {
        let index = file.line_index();
        let lines = if self.lines.is_empty() {
            [None, None]
        } else {
            [
                comment_line(file, index.line_of(diagnostic.range.start)),
                comment_line(file, index.line_of(diagnostic.range.end)),
            ]
        };
        let code = diagnostic.rule.code;
        self.lines.iter().filter(move |s| {
            lines.contains(&Some(s.line))
                && s.codes
                    .as_ref()
                    .is_none_or(|codes| codes.iter().any(|c| c.eq_ignore_ascii_case(code)))
        })
    }
}

/// The line where a comment about `line` can go: `line` itself, unless it ends inside a string
/// (a multi-line string starts or goes on there) or with a `\` continuation, where Python allows
/// no comment; then the first line after it that ends outside both (for a multi-line string, the
/// line it ends on, as ruff places `noqa` for one). `None` when the file ends first.
pub fn comment_line(file: &SourceFile, line: usize) -> Option<usize> {
    let text = file.text();
    let index = file.line_index();
    (line..index.line_count()).find(|&line| {
        let content = index.line_range(line, text);
        let end = content.start + text[content.clone()].trim_end().len();
        !text[content.start..end].ends_with('\\') && !inside_string(file, end)
    })
}

/// The edit that suppresses `code` for a diagnostic at `range`: it extends a `# noqa: …` or
/// `# inbatch: ignore[…]` list already on the line a comment about the diagnostic's first line
/// goes on ([`comment_line`]: the line itself, or where the multi-line string or `\`
/// continuation that starts there ends), or appends `  # noqa: CODE` to it. `None` when no line
/// after it can hold a comment (the file ends inside a string).
pub fn suppression_edit(file: &SourceFile, range: TextRange, code: &str) -> Option<Edit> {
    let index = file.line_index();
    let line = comment_line(file, index.line_of(range.start))?;
    let suppressions = Suppressions::parse(file);
    line_suppression_edit(file, &suppressions, line, code)
}

fn line_suppression_edit(
    file: &SourceFile,
    suppressions: &Suppressions,
    line: usize,
    code: &str,
) -> Option<Edit> {
    let text = file.text();
    let existing = suppressions
        .lines
        .iter()
        .filter(|s| s.line == line && s.codes.is_some())
        .find_map(|s| code_list_end(&text[s.range.clone()]).map(|end| (s, end)));
    if let Some((suppression, (offset, separator))) = existing {
        return Some(Edit::insert(
            suppression.range.start + offset,
            format!("{separator}{code}"),
        ));
    }
    let content = file.line_index().line_range(line, text);
    let end = content.start + text[content.clone()].trim_end().len();
    Some(Edit::replace(end..content.end, format!("  # noqa: {code}")))
}

/// Where a new code goes in a suppression comment, and what separates it from the list before
/// it: after the last code of `# noqa: A, B`, or before the `]` of `# inbatch: ignore[A]`.
fn code_list_end(comment: &str) -> Option<(usize, &'static str)> {
    for (hash, _) in comment.match_indices('#') {
        let directive_start =
            hash + 1 + (comment[hash + 1..].len() - comment[hash + 1..].trim_start().len());
        let directive = &comment[directive_start..];
        if let Some(rest) = strip_prefix_ignore_case(directive, "noqa") {
            let Some(list) = rest.strip_prefix(':') else {
                continue;
            };
            let list_start = directive_start + "noqa:".len();
            let mut end = list_start;
            let mut any = false;
            let mut cursor = list_start;
            for token in list.split_inclusive([',', ' ', '\t']) {
                let word = token.trim_end_matches([',', ' ', '\t']);
                if !word.chars().all(|c| c.is_ascii_alphanumeric()) {
                    break;
                }
                if !word.is_empty() {
                    end = cursor + word.len();
                    any = true;
                }
                cursor += token.len();
            }
            return Some((end, if any { ", " } else { " " }));
        }
        if let Some(rest) = directive.strip_prefix("inbatch:") {
            let rest_start = directive_start + "inbatch:".len();
            let trimmed = rest.trim_start();
            if let Some(list) = trimmed.strip_prefix("ignore[") {
                let close = list.find(']')?;
                let list_start = rest_start + (rest.len() - trimmed.len()) + "ignore[".len();
                let separator = if list[..close].trim().is_empty() {
                    ""
                } else {
                    ", "
                };
                return Some((list_start + close, separator));
            }
        }
    }
    None
}

/// Whether `offset` falls inside a string literal that goes on past it (a multi-line string),
/// where a `#` would be text, not a comment.
fn inside_string(file: &SourceFile, offset: usize) -> bool {
    let mut node = file.root().descendant_for_byte_range(offset, offset);
    while let Some(current) = node {
        if current.kind() == "string"
            && current.start_byte() < offset
            && offset < current.end_byte()
        {
            return true;
        }
        node = current.parent();
    }
    false
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
    // `get`, not indexing: the comment may have a multi-byte character across `prefix.len()`.
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
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

    fn suppress(text: &str, needle: &str) -> Option<String> {
        let file = SourceFile::parse(text);
        let start = text.find(needle).unwrap();
        let edit = suppression_edit(&file, start..start + needle.len(), "INB001")?;
        let mut fixed = text.to_string();
        fixed.replace_range(edit.range, &edit.content);
        Some(fixed)
    }

    #[test]
    fn suppression_edit_appends_or_extends() {
        for (text, fixed) in [
            (
                "for u in us:\n    q(u)   \n",
                "for u in us:\n    q(u)  # noqa: INB001\n",
            ),
            ("q(u)  # noqa: E501\n", "q(u)  # noqa: E501, INB001\n"),
            (
                "q(u)  # noqa: E501 -- by design\n",
                "q(u)  # noqa: E501, INB001 -- by design\n",
            ),
            (
                "q(u)  # inbatch: ignore[INB002]\n",
                "q(u)  # inbatch: ignore[INB002, INB001]\n",
            ),
            ("q(u)  # why: slow\n", "q(u)  # why: slow  # noqa: INB001\n"),
        ] {
            assert_eq!(suppress(text, "q(u)").as_deref(), Some(fixed), "{text:?}");
        }
    }

    #[test]
    fn suppression_edit_avoids_strings_and_continuations() {
        let text = "x = q(u, \"\"\"a\nb\"\"\")\n";
        let fixed = "x = q(u, \"\"\"a\nb\"\"\")  # noqa: INB001\n";
        assert_eq!(suppress(text, "q(u, \"\"\"a\nb\"\"\")").unwrap(), fixed);
        // A finding on the line where a multi-line string starts: the comment goes where the
        // string ends, the first place Python allows one.
        assert_eq!(suppress(text, "q(u").unwrap(), fixed);
        assert_eq!(
            suppress("x = q(u) \\\n  + 1\n", "q(u)").unwrap(),
            "x = q(u) \\\n  + 1  # noqa: INB001\n"
        );
    }

    #[test]
    fn a_comment_where_the_string_ends_suppresses_its_first_line() {
        let text = "x = q(u, \"\"\"a\nb\"\"\")  # noqa: INB001\ny = 1  # noqa: INB001\n";
        let file = SourceFile::parse(text);
        let suppressions = Suppressions::parse(&file);
        let start = text.find("q(u").unwrap();
        let diagnostic = Diagnostic::new(
            &crate::engine::rules::inb001_query_in_loop::RULE,
            "m",
            start..start + 3,
        );
        let lines: Vec<usize> = suppressions
            .suppressing(&diagnostic, &file)
            .map(|s| s.line)
            .collect();
        assert_eq!(lines, vec![1]);
        assert_eq!(comment_line(&file, 0), Some(1));
        assert_eq!(comment_line(&file, 2), Some(2));
    }

    #[test]
    fn suppression_edit_result_suppresses() {
        let fixed = suppress("q(u)  # noqa: E501\n", "q(u)").unwrap();
        let s = parse(&fixed);
        assert_eq!(
            s.lines[0].codes,
            Some(vec!["E501".to_string(), "INB001".to_string()])
        );
    }
}
