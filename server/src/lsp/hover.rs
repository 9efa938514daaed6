//! `textDocument/hover` on a flagged range: the engine writes the Markdown, this only finds the
//! diagnostic under the cursor and wraps the text.

use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{Hover, HoverContents, HoverParams, MarkupContent, MarkupKind};

use super::position;
use super::session::Session;
use crate::engine::hover;

pub fn hover(session: &mut Session, params: HoverParams) -> jsonrpc::Result<Option<Hover>> {
    let uri = params.text_document_position_params.text_document.uri;
    let encoding = session.encoding;
    let (open, analysis) = session.analysed(&uri)?;
    let rope = open.document.rope();
    let offset = position::offset(
        rope,
        params.text_document_position_params.position,
        encoding,
    );
    let Some(diagnostic) = analysis
        .diagnostics
        .iter()
        .find(|d| d.range.start <= offset && offset <= d.range.end)
    else {
        return Ok(None);
    };
    let markdown = hover::markdown(
        diagnostic,
        &analysis.diagnostics,
        open.document.file().text(),
        open.settings.batch_size,
    );
    Ok(Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: markdown,
        }),
        range: Some(position::range(rope, &diagnostic.range, encoding)),
    }))
}
