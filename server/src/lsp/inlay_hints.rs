//! `textDocument/inlayHint`: "2 queries per iteration" at each flagged loop, unless the
//! `inlay-hints` setting turns them off. The hint goes after the code, never inside it: after
//! the colon of a `for`/`while` header, at the end of the line of a comprehension; its tooltip
//! lists the queries it counts.

use std::fmt::Write;

use tower_lsp_server::ls_types::{
    InlayHint, InlayHintLabel, InlayHintParams, InlayHintTooltip, MarkupContent, MarkupKind,
};
use tree_sitter::Node;

use super::diagnostics::Analysis;
use super::position;
use super::session::Snapshot;
use crate::engine::hover;
use crate::engine::source::{SourceFile, TextRange};

pub fn inlay_hints(
    snapshot: &Snapshot,
    analysis: &Analysis,
    params: &InlayHintParams,
) -> Vec<InlayHint> {
    if !snapshot.settings.inlay_hints {
        return Vec::new();
    }
    let rope = &snapshot.rope;
    let Some(wanted) = position::text_range(rope, params.range, snapshot.encoding) else {
        return Vec::new();
    };
    hover::loop_costs(&analysis.diagnostics)
        .into_iter()
        .filter(|(header, _)| header.start <= wanted.end && wanted.start <= header.end)
        .map(|(header, queries)| InlayHint {
            position: position::position(
                rope,
                hint_offset(&snapshot.file, &header),
                snapshot.encoding,
            ),
            label: InlayHintLabel::String(hover::per_iteration(queries)),
            kind: None,
            text_edits: None,
            tooltip: Some(InlayHintTooltip::MarkupContent(MarkupContent {
                kind: MarkupKind::Markdown,
                value: tooltip(snapshot, analysis, &header, queries),
            })),
            padding_left: Some(true),
            padding_right: None,
            data: None,
        })
        .collect()
}

/// Where the hint of the loop whose header is `header` goes: after the `:` of a `for`/`while`
/// statement, or at the end of the line where a comprehension ends. Where the tree says neither
/// (it should not happen), the end of the header's last line.
fn hint_offset(file: &SourceFile, header: &TextRange) -> usize {
    let line_end = |offset: usize| {
        let index = file.line_index();
        let line = index.line_range(index.line_of(offset), file.text());
        line.start + file.text()[line.clone()].trim_end().len()
    };
    let mut node = file
        .root()
        .descendant_for_byte_range(header.start, header.end);
    while let Some(current) = node {
        match current.kind() {
            "for_statement" | "while_statement" => {
                return colon_of(current).unwrap_or_else(|| line_end(header.end));
            }
            "for_in_clause" => {
                let comprehension = current.parent().unwrap_or(current);
                return line_end(comprehension.end_byte());
            }
            _ => node = current.parent(),
        }
    }
    line_end(header.end)
}

/// The end of the `:` that ends a loop statement's header.
fn colon_of(statement: Node<'_>) -> Option<usize> {
    let mut cursor = statement.walk();
    let colon = statement
        .children(&mut cursor)
        .find(|child| child.kind() == ":")
        .map(|colon| colon.end_byte());
    colon
}

/// What the hint counts: each query of the loop, by line, and what they cost.
fn tooltip(snapshot: &Snapshot, analysis: &Analysis, header: &TextRange, queries: usize) -> String {
    let index = snapshot.file.line_index();
    let mut out = format!(
        "Each iteration of this loop runs {}:\n\n",
        hover::per_iteration(queries).trim_end_matches(" per iteration")
    );
    for finding in hover::loop_findings(&analysis.diagnostics, header) {
        let line = index.line_of(finding.range.start) + 1;
        let _ = writeln!(
            out,
            "- line {line}, {}: {}",
            finding.rule.code,
            finding.message.replace('\n', " ")
        );
    }
    let _ = write!(
        out,
        "\n{}\n\nHover a query for its fix.",
        hover::cost_line(queries, 0, snapshot.settings.batch_size)
    );
    out
}
