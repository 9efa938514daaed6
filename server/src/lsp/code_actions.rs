//! Code actions: a quick fix per fixable diagnostic, "Ignore CODE for this line", and
//! `source.fixAll.inbatch`. Actions are listed without edits and filled in by
//! `codeAction/resolve` (eagerly for clients that cannot resolve); each action's `data` carries
//! what its resolve needs, and which text it was computed for: the document's version, which
//! opening of the document (versions start again when a document is closed and opened), and a hash
//! of the text. A resolve for any other text is refused with `ContentModified`, never answered with
//! edits computed for a text the client no longer has.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hasher};

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{
    self as lsp, CodeAction, CodeActionDisabled, CodeActionKind, CodeActionParams, DocumentChanges,
    OneOf, OptionalVersionedTextDocumentIdentifier, TextDocumentEdit, TextEdit, Uri, WorkspaceEdit,
};

use super::analysis;
use super::capabilities::{FIX_ALL_KIND, FIX_ALL_UNSAFE_KIND};
use super::diagnostics::{self, Analysis, FixData};
use super::position;
use super::session::Snapshot;
use crate::engine::cancel::Cancellation;
use crate::engine::fix::{fix_until_stable, Applicability, FixMode};
use crate::engine::suppression::suppression_edit;
use crate::engine::Fixes;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
enum ActionData {
    Fix {
        #[serde(flatten)]
        text: TextOf,
        fix: FixData,
    },
    #[serde(rename_all = "camelCase")]
    Ignore {
        #[serde(flatten)]
        text: TextOf,
        code: String,
        range: lsp::Range,
    },
    #[serde(rename_all = "camelCase")]
    FixAll {
        #[serde(flatten)]
        text: TextOf,
        /// Unsafe fixes too (the opt-in `source.fixAllUnsafe.inbatch`).
        #[serde(default)]
        unsafe_fixes: bool,
    },
}

impl ActionData {
    fn text(&self) -> &TextOf {
        match self {
            ActionData::Fix { text, .. }
            | ActionData::Ignore { text, .. }
            | ActionData::FixAll { text, .. } => text,
        }
    }
}

/// The text an action was computed for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TextOf {
    uri: Uri,
    version: i32,
    /// Which opening of the document ([`super::document::TextId`]).
    opened: u64,
    /// [`text_hash`] of the text, as hex: JSON numbers lose 64-bit integers in some clients.
    text_hash: String,
}

impl TextOf {
    fn of(snapshot: &Snapshot) -> TextOf {
        TextOf {
            uri: snapshot.uri.clone(),
            version: snapshot.version,
            opened: snapshot.text.opened,
            text_hash: text_hash(snapshot.file.text()),
        }
    }
}

fn text_hash(text: &str) -> String {
    let mut hasher = DefaultHasher::new();
    hasher.write(text.as_bytes());
    format!("{:016x}", hasher.finish())
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
    let text = TextOf::of(snapshot);
    let asked_for = |kind: &CodeActionKind| {
        params.context.only.as_ref().map(|only| {
            only.iter().any(|asked| {
                kind.as_str() == asked.as_str()
                    || kind.as_str().starts_with(&format!("{}.", asked.as_str()))
            })
        })
    };
    // Listed when nothing narrows the request, or when the request names the kind (or a parent).
    let wants = |kind: &CodeActionKind| asked_for(kind).unwrap_or(true);
    // Listed only when the request names the kind (or a parent).
    let wants_by_name = |kind: &CodeActionKind| asked_for(kind).unwrap_or(false);

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
                        text: text.clone(),
                        fix: diagnostics::fix_data(fix, rope, encoding),
                    },
                ));
            }
            let code = diagnostic.rule.code;
            if ignored_lines.insert((code, index.line_of(diagnostic.range.start))) {
                let mut ignore = action(
                    format!("Ignore {code} for this line"),
                    CodeActionKind::QUICKFIX,
                    Some(lsp_diagnostic.clone()),
                    Some(false),
                    ActionData::Ignore {
                        text: text.clone(),
                        code: code.to_string(),
                        range: lsp_diagnostic.range,
                    },
                );
                if suppression_edit(&snapshot.file, diagnostic.range.clone(), code).is_none() {
                    // Shown greyed out with the reason, rather than as an action that edits
                    // nothing.
                    ignore.disabled = Some(CodeActionDisabled {
                        reason: "no line from here to the end of the file can hold a comment \
                                 (it ends inside a string)"
                            .to_string(),
                    });
                }
                actions.push(ignore);
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
                text: text.clone(),
                unsafe_fixes: false,
            },
        ));
    }
    let any_fix = analysis.fixed_diagnostics().iter().any(|d| d.fix.is_some());
    if any_fix && wants_by_name(&FIX_ALL_UNSAFE_KIND) {
        actions.push(action(
            "Fix all inbatch problems, including unsafe rewrites".to_string(),
            FIX_ALL_UNSAFE_KIND,
            None,
            None,
            ActionData::FixAll {
                text,
                unsafe_fixes: true,
            },
        ));
    }
    actions
}

/// The document a listed action is about.
pub fn target(action: &CodeAction) -> jsonrpc::Result<Uri> {
    Ok(data_of(action)?.text().uri.clone())
}

fn data_of(action: &CodeAction) -> jsonrpc::Result<ActionData> {
    let data = action
        .data
        .clone()
        .ok_or_else(|| jsonrpc::Error::invalid_params("a code action without data"))?;
    serde_json::from_value(data)
        .map_err(|e| jsonrpc::Error::invalid_params(format!("unknown code action data: {e}")))
}

/// Fills in a listed action's edit, if the document (`snapshot`, its current text) holds the
/// very text the action was computed for; otherwise refuses with `ContentModified`.
pub fn resolve(
    snapshot: &Snapshot,
    mut action: CodeAction,
    cancel: &Cancellation,
) -> jsonrpc::Result<CodeAction> {
    let data = data_of(&action)?;
    if *data.text() != TextOf::of(snapshot) {
        return Err(stale(&snapshot.uri));
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
        ActionData::FixAll { unsafe_fixes, .. } => fix_all(snapshot, unsafe_fixes, cancel)?
            .into_iter()
            .collect(),
    };
    action.edit = Some(workspace_edit(
        snapshot.uri.clone(),
        snapshot.version,
        edits,
        snapshot.features.document_changes,
    ));
    Ok(action)
}

/// The answer to a resolve for a text the document no longer holds (LSP `ContentModified`).
fn stale(uri: &Uri) -> jsonrpc::Error {
    jsonrpc::Error {
        code: jsonrpc::ErrorCode::ServerError(-32801),
        message: format!(
            "inbatch: this code action was computed for a text of {} that has changed since \
             (edited, or closed and opened again); its edits were not applied: ask for code \
             actions again",
            uri.as_str()
        )
        .into(),
        data: None,
    }
}

/// Applies safe fixes (and unsafe ones with `unsafe_fixes`) until none applies (the engine's
/// loop, as `inbatch check --fix [--unsafe-fixes]`), as one edit spanning what changed.
fn fix_all(
    snapshot: &Snapshot,
    unsafe_fixes: bool,
    cancel: &Cancellation,
) -> jsonrpc::Result<Option<TextEdit>> {
    let original = snapshot.file.text();
    let mut failed = None;
    let outcome = diagnostics::guarded(cancel, || {
        fix_until_stable(original, FixMode { unsafe_fixes }, |file| {
            let found = diagnostics::analyse(
                file,
                &snapshot.settings,
                snapshot.path.as_deref(),
                &snapshot.models,
                Fixes::Build,
                cancel,
            )
            .unwrap_or_else(|failure| {
                failed.get_or_insert(failure);
                Vec::new()
            });
            crate::engine::diagnostic::fixes_of(found)
        })
    });
    let outcome = match (outcome, failed) {
        (Err(failure), _) | (Ok(_), Some(failure)) => {
            return Err(analysis::failed(&snapshot.uri, failure))
        }
        (Ok(outcome), None) => outcome,
    };
    if let Some(reason) = outcome.error {
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
