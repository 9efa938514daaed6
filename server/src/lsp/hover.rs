//! `textDocument/hover` on a flagged range: the engine writes the Markdown, this only finds the
//! diagnostic under the cursor and wraps the text.

use tower_lsp_server::ls_types::{Hover, HoverContents, HoverParams, MarkupContent, MarkupKind};

use super::diagnostics::Analysis;
use super::position;
use super::session::Snapshot;
use crate::engine::hover;

pub fn hover(snapshot: &Snapshot, analysis: &Analysis, params: &HoverParams) -> Option<Hover> {
    let rope = &snapshot.rope;
    let offset = position::offset(
        rope,
        params.text_document_position_params.position,
        snapshot.encoding,
    );
    let diagnostics = analysis.fixed_diagnostics();
    let Some(diagnostic) = hover::diagnostic_at(diagnostics, offset) else {
        return suppression_hover(snapshot, offset);
    };
    let markdown = hover::markdown(
        diagnostic,
        diagnostics,
        snapshot.file.text(),
        snapshot.settings.batch_size,
    );
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: markdown,
        }),
        range: Some(position::shown_range(
            rope,
            &diagnostic.range,
            snapshot.encoding,
        )),
    })
}

/// Hover on a rule's code in a `# noqa: …` or `# inbatch: ignore[…]` comment: its documentation,
/// as ruff shows.
fn suppression_hover(snapshot: &Snapshot, offset: usize) -> Option<Hover> {
    let rule = hover::suppressed_rule_at(&snapshot.file, offset)?;
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: hover::rule_markdown(rule),
        }),
        range: None,
    })
}
