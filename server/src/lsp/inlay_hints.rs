//! `textDocument/inlayHint`: "2 queries per iteration" at the header of each flagged loop, unless
//! the `inlay-hints` setting turns them off.

use tower_lsp_server::ls_types::{InlayHint, InlayHintLabel, InlayHintParams};

use super::diagnostics::Analysis;
use super::position;
use super::session::Snapshot;
use crate::engine::hover;

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
            position: position::position(rope, header.end, snapshot.encoding),
            label: InlayHintLabel::String(hover::per_iteration(queries)),
            kind: None,
            text_edits: None,
            tooltip: None,
            padding_left: Some(true),
            padding_right: None,
            data: None,
        })
        .collect()
}
