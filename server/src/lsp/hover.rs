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
    let diagnostic = diagnostics
        .iter()
        .find(|d| d.range.start <= offset && offset <= d.range.end)?;
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
        range: Some(position::range(rope, &diagnostic.range, snapshot.encoding)),
    })
}
