"""Hover on a flagged range: the rule's documentation, the cost of the loop and the fix; the
cost again as an inlay hint at the loop header."""

import pytest
from lsprotocol import types

from lsp_client import N_PLUS_ONE, position_of

pytestmark = pytest.mark.asyncio


async def hover_at(server, uri, position):
    return await server.client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=position)
    )


async def test_hover_explains_the_finding_and_its_cost(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    [first, _] = await server.diagnostics(uri, 1)
    inside = position_of(N_PLUS_ONE, "filter_by(user_id=uid).all()\n        payments")
    hover = await hover_at(server, uri, inside)
    assert hover.contents.kind == types.MarkupKind.Markdown
    text = hover.contents.value
    assert text.startswith("**INB001** `query-in-loop`: ")
    assert first.message in text
    assert "2 queries per iteration; for 1,000 ids: 2,000 round trips, after the fix: 2" in text
    assert "## What it does" in text and "## Fix safety" in text
    # Either the fix with its preview, or why there is none.
    assert "**Fix (" in text or "**No fix" in text
    assert hover.range == first.range


async def test_hover_outside_findings_is_empty(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    await server.diagnostics(uri, 1)
    assert await hover_at(server, uri, types.Position(line=0, character=2)) is None
    assert await hover_at(server, uri, types.Position(line=999, character=0)) is None


async def test_hover_shows_what_the_fix_does(lsp):
    server = await lsp(env={"INBATCH_TEST_FIX": "unsafe"})
    uri = server.open("a.py", N_PLUS_ONE)
    [first, _] = await server.diagnostics(uri, 1)
    hover = await hover_at(server, uri, first.range.start)
    text = hover.contents.value
    assert "**Fix (unsafe):** Replace the query with an empty list" in text
    assert (
        "```diff\n"
        "-        sessions = Session.query.filter_by(user_id=uid).all()\n"
        "+        sessions = []\n"
        "```"
    ) in text


async def test_batch_size_from_initialization_options_changes_the_cost(lsp):
    server = await lsp(initialization_options={"batchSize": 500})
    uri = server.open("a.py", N_PLUS_ONE)
    [first, _] = await server.diagnostics(uri, 1)
    hover = await hover_at(server, uri, first.range.start)
    assert "for 1,000 ids: 2,000 round trips, after the fix: 4" in hover.contents.value


async def inlay_hints(server, uri):
    hints = await server.client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0),
                              end=types.Position(line=100, character=0)),
        )
    )
    return list(hints or [])


async def test_inlay_hint_at_the_loop_header(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    await server.diagnostics(uri, 1)
    [hint] = await inlay_hints(server, uri)
    assert hint.label == "2 queries per iteration"
    header = position_of(N_PLUS_ONE, "for uid in user_ids:")
    assert hint.position.line == header.line
    assert hint.position.character >= header.character + len("for uid in user_ids")


async def test_inlay_hints_can_be_turned_off(lsp):
    server = await lsp(initialization_options={"inlayHints": False})
    uri = server.open("a.py", N_PLUS_ONE)
    await server.diagnostics(uri, 1)
    assert await inlay_hints(server, uri) == []
