"""Code actions: quick fixes carried in the diagnostic's data and filled by
`codeAction/resolve`, "Ignore INB001 for this line", and `source.fixAll.inbatch`."""

import pytest
from lsprotocol import types

from lsp_client import N_PLUS_ONE

pytestmark = pytest.mark.asyncio


async def actions_at(server, uri, diagnostic, only=None):
    actions = await server.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic], only=only),
        )
    )
    return list(actions)


def edits_of(action, uri):
    """The text edits of a resolved action, whichever form the workspace edit takes."""
    edit = action.edit
    if edit.document_changes:
        [change] = edit.document_changes
        assert change.text_document.uri == uri
        return list(change.edits)
    return list(edit.changes[uri])


def apply(text, edits):
    """Applies LSP edits (ASCII text, so UTF-16 columns are character columns)."""
    lines = text.split("\n")

    def offset(position):
        return sum(len(line) + 1 for line in lines[: position.line]) + position.character

    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
    return text


async def test_ignore_for_this_line_resolves_and_silences_the_finding(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    first, second = await server.diagnostics(uri, 1)
    actions = await actions_at(server, uri, first)
    [ignore] = [a for a in actions if a.title == "Ignore INB001 for this line"]
    assert ignore.kind == types.CodeActionKind.QuickFix
    assert ignore.edit is None, "the edit comes with codeAction/resolve"
    assert ignore.diagnostics[0].range == first.range

    resolved = await server.client.code_action_resolve_async(ignore)
    edits = edits_of(resolved, uri)
    assert resolved.edit.document_changes[0].text_document.version == 1
    fixed = apply(N_PLUS_ONE, edits)
    assert "filter_by(user_id=uid).all()  # noqa: INB001\n        payments" in fixed

    version = server.replace_all(uri, fixed)
    assert await server.diagnostics(uri, version) == [second]


async def test_quick_fix_is_built_on_request_and_resolved_lazily(lsp):
    server = await lsp(env={"INBATCH_TEST_FIX": "unsafe"})
    uri = server.open("a.py", N_PLUS_ONE)
    first, _ = await server.diagnostics(uri, 1)
    assert first.data is None
    actions = await actions_at(server, uri, first)
    titles = [a.title for a in actions]
    assert titles == [
        "Replace the query with an empty list (unsafe)",
        "Ignore INB001 for this line",
    ]
    fix = actions[0]
    assert fix.kind == types.CodeActionKind.QuickFix
    assert fix.is_preferred is False
    assert fix.edit is None
    resolved = await server.client.code_action_resolve_async(fix)
    [edit] = edits_of(resolved, uri)
    assert edit.range == first.range
    assert edit.new_text == "[]"

    # No safe fix, so no fix-all.
    assert await actions_at(server, uri, first, only=["source.fixAll"]) == []


async def test_fix_all_applies_safe_fixes_until_stable(lsp):
    server = await lsp(env={"INBATCH_TEST_FIX": "safe"})
    uri = server.open("a.py", N_PLUS_ONE)
    first, _ = await server.diagnostics(uri, 1)
    [fix_all] = await actions_at(server, uri, first, only=["source.fixAll"])
    assert fix_all.kind == "source.fixAll.inbatch"
    resolved = await server.client.code_action_resolve_async(fix_all)
    fixed = apply(N_PLUS_ONE, edits_of(resolved, uri))
    assert "sessions = []" in fixed and "payments = []" in fixed
    version = server.replace_all(uri, fixed)
    assert await server.diagnostics(uri, version) == []


async def test_resolve_after_an_edit_is_content_modified(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    first, _ = await server.diagnostics(uri, 1)
    [ignore] = [a for a in await actions_at(server, uri, first) if a.title.startswith("Ignore")]
    version = server.edit(uri, 0, 0, "# edited\n")
    await server.diagnostics(uri, version)
    with pytest.raises(Exception, match="changed"):
        await server.client.code_action_resolve_async(ignore)


async def test_clients_without_resolve_get_edits_at_once(lsp):
    server = await lsp(resolve=False)
    uri = server.open("a.py", N_PLUS_ONE)
    first, _ = await server.diagnostics(uri, 1)
    actions = await actions_at(server, uri, first)
    assert all(action.edit is not None for action in actions)
    [ignore] = [a for a in actions if a.title.startswith("Ignore")]
    assert "# noqa: INB001" in apply(N_PLUS_ONE, edits_of(ignore, uri))


async def test_no_actions_away_from_findings(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    await server.diagnostics(uri, 1)
    nowhere = types.Diagnostic(
        range=types.Range(start=types.Position(line=0, character=0),
                          end=types.Position(line=0, character=4)),
        message="",
    )
    assert await actions_at(server, uri, nowhere) == []


async def test_an_action_for_a_text_closed_and_opened_again_is_refused(lsp):
    """Versions start again when a document is closed and opened: an action listed for the old
    text, resolved after the document was opened again with another text at the same version,
    must not bring the old text's edits."""
    server = await lsp(env={"INBATCH_TEST_FIX": "unsafe"})
    uri = server.open("a.py", N_PLUS_ONE)
    first, _ = await server.diagnostics(uri, 1)
    actions = await actions_at(server, uri, first)
    assert [a.title for a in actions] == [
        "Replace the query with an empty list (unsafe)",
        "Ignore INB001 for this line",
    ]
    server.close(uri)
    other = "import os\n\n" + N_PLUS_ONE.replace("result[uid]", "result[str(uid)]")
    server.open("a.py", other)
    assert server.versions[uri] == 1
    for action in actions:
        with pytest.raises(Exception, match="closed and opened again") as refused:
            await server.client.code_action_resolve_async(action)
        assert "ask for code actions again" in str(refused.value)
    # Actions listed for the text now open resolve.
    second, _ = await server.diagnostics(uri, 1)
    [fix, _] = await actions_at(server, uri, second)
    resolved = await server.client.code_action_resolve_async(fix)
    [edit] = edits_of(resolved, uri)
    assert edit.range == second.range


async def test_an_action_for_another_text_at_the_same_version_is_refused(lsp):
    """A client may repeat a version number (the server applies changes in arrival order); the
    text's hash still tells the texts apart."""
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    first, _ = await server.diagnostics(uri, 1)
    [ignore] = [a for a in await actions_at(server, uri, first) if a.title.startswith("Ignore")]
    server.versions[uri] = 0
    version = server.replace_all(uri, "\n" + N_PLUS_ONE)
    assert version == 1
    with pytest.raises(Exception, match="has changed since"):
        await server.client.code_action_resolve_async(ignore)
