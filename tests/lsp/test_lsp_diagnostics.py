"""Push diagnostics: didOpen, incremental edits, clamping, didClose."""

import pathlib

import pytest
from lsprotocol import types

from lsp_client import N_PLUS_ONE, line_of, position_of

pytestmark = pytest.mark.asyncio

LOOP_FREE = """\
from app.models import Session


def get_sessions(user_ids):
    return Session.query.filter_by(active=True).all()
"""


async def test_did_open_publishes_rich_diagnostics(lsp):
    server = await lsp()
    uri = server.open("analytics.py", N_PLUS_ONE)
    diagnostics = await server.diagnostics(uri, version=1)
    assert [d.code for d in diagnostics] == ["INB001", "INB001"]
    first = diagnostics[0]
    assert first.source == "inbatch"
    assert first.severity == types.DiagnosticSeverity.Warning
    page = "docs/rules/INB001.md"
    assert first.code_description.href == f"https://github.com/inbatch/inbatch/blob/main/{page}"
    assert (pathlib.Path(__file__).parents[2] / page).is_file(), "the linked page is checked in"
    assert "Session" in first.message
    start = position_of(N_PLUS_ONE, "Session.query.filter_by")
    assert first.range.start == start
    end_column = start.character + len("Session.query.filter_by(user_id=uid).all()")
    assert first.range.end == types.Position(line=start.line, character=end_column)
    [related] = first.related_information
    assert related.location.uri == uri
    assert related.location.range.start.line == line_of(N_PLUS_ONE, "for uid in user_ids")
    assert "uid" in related.message
    # Fixes are built when a code action asks for them, not with every version's diagnostics.
    assert first.data is None


async def test_incremental_edits_add_and_remove_an_n_plus_one(lsp):
    server = await lsp()
    uri = server.open("a.py", LOOP_FREE)
    assert await server.diagnostics(uri, version=1) == []

    text = server.texts[uri]
    at = text.index("    return")
    loop = "    for uid in user_ids:\n        Session.query.get(uid)\n"
    version = server.edit(uri, at, at, loop)
    diagnostics = await server.diagnostics(uri, version)
    assert [d.code for d in diagnostics] == ["INB001"]
    assert diagnostics[0].range.start == position_of(server.texts[uri], "Session.query.get")

    # Typing inside the query keeps it flagged, at the moved position.
    text = server.texts[uri]
    at = text.index("get(uid)") + len("get(")
    version = server.edit(uri, at, at + len("uid"), "uid + 1")
    diagnostics = await server.diagnostics(uri, version)
    assert [d.code for d in diagnostics] == ["INB001"]
    assert diagnostics[0].range.end.character == len("        Session.query.get(uid + 1)")

    # Deleting the loop line by line removes the finding.
    text = server.texts[uri]
    at = text.index("    for uid")
    version = server.edit(uri, at, at + len(loop) + len(" + 1"), "")
    assert await server.diagnostics(uri, version) == []
    assert server.texts[uri] == LOOP_FREE


async def test_several_changes_in_one_notification_apply_in_order(lsp):
    server = await lsp()
    uri = server.open("a.py", LOOP_FREE)
    await server.diagnostics(uri, 1)
    first = types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(line=4, character=0),
                           end=types.Position(line=4, character=0)),
        text="    for uid in user_ids:\n",
    )
    # In the text after the first change: line 5 is the old `return` line.
    second = types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(line=5, character=0),
                          end=types.Position(line=5, character=len("    return"))),
        text="        rows = Session.query.get(uid)\n    return",
    )
    version = server.change(uri, first, second)
    diagnostics = await server.diagnostics(uri, version)
    assert [(d.code, d.range.start.line) for d in diagnostics] == [("INB001", 5)]


async def test_out_of_range_positions_are_clamped(lsp):
    server = await lsp()
    uri = server.open("a.py", LOOP_FREE)
    await server.diagnostics(uri, 1)
    # Past the last line: appended at the end of the text.
    appended = "\n\ndef per_user(ids):\n    for i in ids:\n        Session.query.get(i)\n"
    far = types.Position(line=10_000, character=10_000)
    version = server.change(
        uri, types.TextDocumentContentChangePartial(range=types.Range(start=far, end=far),
                                                    text=appended)
    )
    diagnostics = await server.diagnostics(uri, version)
    expected_text = LOOP_FREE + appended
    assert [d.range.start for d in diagnostics] == [position_of(expected_text, "Session.query.get(i)")]

    # Past the end of a line: clamped to the end of that line's content, before its newline.
    version = server.change(
        uri,
        types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=0, character=500),
                              end=types.Position(line=0, character=900)),
            text="  # models",
        ),
    )
    expected_text = expected_text.replace("import Session\n", "import Session  # models\n", 1)
    diagnostics = await server.diagnostics(uri, version)
    assert [d.range.start for d in diagnostics] == [position_of(expected_text, "Session.query.get(i)")]

    # A full-text change resynchronises; the server still answers.
    version = server.replace_all(uri, expected_text)
    diagnostics = await server.diagnostics(uri, version)
    assert [d.range.start for d in diagnostics] == [position_of(expected_text, "Session.query.get(i)")]


async def test_reversed_range_clears_until_full_text(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    assert len(await server.diagnostics(uri, 1)) == 2
    version = server.change(
        uri,
        types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=3, character=5),
                              end=types.Position(line=1, character=0)),
            text="x",
        ),
    )
    assert await server.diagnostics(uri, version) == []
    version = server.replace_all(uri, N_PLUS_ONE)
    assert len(await server.diagnostics(uri, version)) == 2


async def test_did_close_clears_diagnostics(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    assert len(await server.diagnostics(uri, 1)) == 2
    server.close(uri)
    await server.wait_for(
        lambda: server.published.latest(uri).version is None,
        "the clearing publishDiagnostics",
    )
    assert list(server.published.latest(uri).diagnostics) == []


async def test_unsaved_buffer_is_analysed(lsp):
    server = await lsp()
    uri = "untitled:Untitled-1"
    server.versions[uri] = 1
    server.client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                                 text=N_PLUS_ONE)
        )
    )
    assert len(await server.diagnostics(uri, 1)) == 2
