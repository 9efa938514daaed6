//! Code actions: a quick fix per fixable diagnostic, "Ignore CODE for this line", and
//! `source.fixAll.inbatch`. Actions are listed without edits and filled in by
//! `codeAction/resolve` (eagerly for clients that cannot resolve); each action's `data` carries
//! what its resolve needs, including the document version it was computed for.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{
    self as lsp, CodeAction, CodeActionKind, CodeActionParams, DocumentChanges, OneOf,
    OptionalVersionedTextDocumentIdentifier, TextDocumentEdit, TextEdit, Uri, WorkspaceEdit,
};

use super::capabilities::FIX_ALL_KIND;
use super::diagnostics::{self, Analysis, FixData};
use super::position;
use super::session::{content_modified, Snapshot};
use crate::engine::fix::{fix_until_stable, Applicability, FixMode};
use crate::engine::suppression::suppression_edit;
use crate::engine::Fixes;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
enum ActionData {
    Fix {
        uri: Uri,
        version: i32,
        fix: FixData,
    },
    #[serde(rename_all = "camelCase")]
    Ignore {
        uri: Uri,
        version: i32,
        code: String,
        range: lsp::Range,
    },
    FixAll {
        uri: Uri,
        version: i32,
    },
}

/// The actions for the diagnostics under `params.range`, without their edits.
pub fn code_actions(
    snapshot: &Snapshot,
    analysis: &Analysis,
    params: &CodeActionParams,
) -> Vec<CodeAction> {
    let uri = &snapshot.uri;
    let encoding = snapshot.encoding;
    let rope = &snapshot.rope;
    let start = position::offset(rope, params.range.start, encoding);
    let end = position::offset(rope, params.range.end, encoding);
    let (start, end) = (start.min(end), start.max(end));
    let version = snapshot.version;
    let wants = |kind: &CodeActionKind| {
        params.context.only.as_ref().is_none_or(|only| {
            only.iter().any(|asked| {
                kind.as_str() == asked.as_str()
                    || kind.as_str().starts_with(&format!("{}.", asked.as_str()))
            })
        })
    };

    let mut actions = Vec::new();
    if wants(&CodeActionKind::QUICKFIX) {
        let mut ignored_lines = HashSet::new();
        let index = snapshot.file.line_index();
        for diagnostic in analysis.fixed_diagnostics() {
            if diagnostic.range.start > end || diagnostic.range.end < start {
                continue;
            }
            let lsp_diagnostic = diagnostics::to_lsp(diagnostic, uri, rope, encoding);
            if let Some(fix) = &diagnostic.fix {
                let title = match fix.applicability {
                    Applicability::Safe => fix.message.clone(),
                    Applicability::Unsafe => format!("{} (unsafe)", fix.message),
                };
                actions.push(action(
                    title,
                    CodeActionKind::QUICKFIX,
                    Some(lsp_diagnostic.clone()),
                    Some(fix.applicability == Applicability::Safe),
                    ActionData::Fix {
                        uri: uri.clone(),
                        version,
                        fix: diagnostics::fix_data(fix, rope, encoding),
                    },
                ));
            }
            let code = diagnostic.rule.code;
            if ignored_lines.insert((code, index.line_of(diagnostic.range.start))) {
                actions.push(action(
                    format!("Ignore {code} for this line"),
                    CodeActionKind::QUICKFIX,
                    Some(lsp_diagnostic.clone()),
                    Some(false),
                    ActionData::Ignore {
                        uri: uri.clone(),
                        version,
                        code: code.to_string(),
                        range: lsp_diagnostic.range,
                    },
                ));
            }
        }
    }
    let any_safe_fix = analysis.fixed_diagnostics().iter().any(|d| {
        d.fix
            .as_ref()
            .is_some_and(|f| f.applicability == Applicability::Safe)
    });
    if any_safe_fix && wants(&FIX_ALL_KIND) {
        actions.push(action(
            "Fix all auto-fixable inbatch problems".to_string(),
            FIX_ALL_KIND,
            None,
            None,
            ActionData::FixAll {
                uri: uri.clone(),
                version,
            },
        ));
    }
    actions
}

/// The document a listed action is about.
pub fn target(action: &CodeAction) -> jsonrpc::Result<Uri> {
    let (ActionData::Fix { uri, .. }
    | ActionData::Ignore { uri, .. }
    | ActionData::FixAll { uri, .. }) = data_of(action)?;
    Ok(uri)
}

fn data_of(action: &CodeAction) -> jsonrpc::Result<ActionData> {
    let data = action
        .data
        .clone()
        .ok_or_else(|| jsonrpc::Error::invalid_params("a code action without data"))?;
    serde_json::from_value(data)
        .map_err(|e| jsonrpc::Error::invalid_params(format!("unknown code action data: {e}")))
}

/// Fills in a listed action's edit, if its document (`snapshot`, the current version) has not
/// changed since it was listed.
pub fn resolve(snapshot: &Snapshot, mut action: CodeAction) -> jsonrpc::Result<CodeAction> {
    let data = data_of(&action)?;
    let (ActionData::Fix { version, .. }
    | ActionData::Ignore { version, .. }
    | ActionData::FixAll { version, .. }) = &data;
    if *version != snapshot.version {
        return Err(content_modified(&snapshot.uri));
    }
    let encoding = snapshot.encoding;
    let rope = &snapshot.rope;
    let edits = match data {
        ActionData::Fix { fix, .. } => fix.edits,
        ActionData::Ignore { code, range, .. } => position::text_range(rope, range, encoding)
            .and_then(|bytes| suppression_edit(&snapshot.file, bytes, &code))
            .map(|edit| TextEdit {
                range: position::range(rope, &edit.range, encoding),
                new_text: edit.content,
            })
            .into_iter()
            .collect(),
        ActionData::FixAll { .. } => fix_all(snapshot)?.into_iter().collect(),
    };
    action.edit = Some(workspace_edit(
        snapshot.uri.clone(),
        snapshot.version,
        edits,
        snapshot.features.document_changes,
    ));
    Ok(action)
}

/// Applies safe fixes until none applies (the engine's loop, as `inbatch check --fix`), as one
/// edit spanning what changed.
fn fix_all(snapshot: &Snapshot) -> jsonrpc::Result<Option<TextEdit>> {
    let original = snapshot.file.text();
    let mut panicked = None;
    let outcome = fix_until_stable(
        original,
        FixMode {
            unsafe_fixes: false,
        },
        |file| {
            diagnostics::analyse(
                file,
                &snapshot.settings,
                snapshot.path.as_deref(),
                &snapshot.models,
                Fixes::Build,
            )
            .unwrap_or_else(|panic| {
                panicked = Some(panic);
                Vec::new()
            })
        },
    );
    if let Some(reason) = panicked.or(outcome.error) {
        let mut error = jsonrpc::Error::internal_error();
        error.message = format!("inbatch could not fix {}: {reason}", snapshot.uri.as_str()).into();
        return Err(error);
    }
    if outcome.text == original {
        return Ok(None);
    }
    let (changed, replacement) = changed_span(original, &outcome.text);
    Ok(Some(TextEdit {
        range: position::range(&snapshot.rope, &changed, snapshot.encoding),
        new_text: replacement.to_string(),
    }))
}

/// The byte range of `old` that differs from `new`, and what replaces it.
fn changed_span<'n>(old: &str, new: &'n str) -> (std::ops::Range<usize>, &'n str) {
    let mut prefix = old
        .bytes()
        .zip(new.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(prefix) || !new.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let max_suffix = old.len().min(new.len()) - prefix;
    let mut suffix = old
        .bytes()
        .rev()
        .zip(new.bytes().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(old.len() - suffix) || !new.is_char_boundary(new.len() - suffix) {
        suffix -= 1;
    }
    (prefix..old.len() - suffix, &new[prefix..new.len() - suffix])
}

fn workspace_edit(
    uri: Uri,
    version: i32,
    edits: Vec<TextEdit>,
    document_changes: bool,
) -> WorkspaceEdit {
    if document_changes {
        WorkspaceEdit {
            document_changes: Some(DocumentChanges::Edits(vec![TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier {
                    uri,
                    version: Some(version),
                },
                edits: edits.into_iter().map(OneOf::Left).collect(),
            }])),
            ..WorkspaceEdit::default()
        }
    } else {
        WorkspaceEdit {
            changes: Some(HashMap::from([(uri, edits)])),
            ..WorkspaceEdit::default()
        }
    }
}

fn action(
    title: String,
    kind: CodeActionKind,
    diagnostic: Option<lsp::Diagnostic>,
    is_preferred: Option<bool>,
    data: ActionData,
) -> CodeAction {
    CodeAction {
        title,
        kind: Some(kind),
        diagnostics: diagnostic.map(|d| vec![d]),
        is_preferred,
        data: Some(serde_json::to_value(data).expect("action data is plain JSON")),
        ..CodeAction::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_span_is_minimal_and_on_char_boundaries() {
        assert_eq!(changed_span("abcdef", "abXYef"), (2..4, "XY"));
        assert_eq!(changed_span("aaa", "aaaa"), (3..3, "a"));
        assert_eq!(changed_span("é🎉", "é🎈"), (2..6, "🎈"));
    }
}
