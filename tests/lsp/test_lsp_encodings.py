"""Position encodings: UTF-16 (the default) and UTF-8, with astral-plane characters (emoji: two
UTF-16 code units, four UTF-8 bytes) before the flagged call on the same line."""

import pytest
from lsprotocol import types

from lsp_client import position_of

pytestmark = pytest.mark.asyncio

EMOJI_LINE = """\
from app.models import Session


def notify(user_ids):
    for uid in user_ids:
        label = "🎉🎉"; rows = Session.query.filter_by(user_id=uid).all()
"""
CALL = "Session.query.filter_by(user_id=uid).all()"


@pytest.mark.parametrize(
    ("encodings", "negotiated", "column"),
    [
        (None, "utf-16", len('        label = "') + 2 * 2 + len('"; rows = ')),
        (["utf-16"], "utf-16", len('        label = "') + 2 * 2 + len('"; rows = ')),
        (["utf-8", "utf-16"], "utf-8", len('        label = "') + 2 * 4 + len('"; rows = ')),
    ],
)
async def test_columns_count_in_the_negotiated_encoding(lsp, encodings, negotiated, column):
    server = await lsp(encodings=encodings)
    assert server.result.capabilities.position_encoding == negotiated
    uri = server.open("emoji.py", EMOJI_LINE)
    [diagnostic] = await server.diagnostics(uri, 1)
    assert diagnostic.range.start == position_of(EMOJI_LINE, CALL, negotiated)
    assert diagnostic.range.start.character == column
    end = diagnostic.range.start.character + len(CALL)
    assert diagnostic.range.end == types.Position(line=diagnostic.range.start.line, character=end)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
async def test_edits_after_emoji_land_where_the_client_meant(lsp, encoding):
    server = await lsp(encodings=[encoding])
    text = EMOJI_LINE.replace("user_id=uid", "user_id=0")
    uri = server.open("emoji.py", text)
    # With a constant key the query no longer depends on the loop: no INB001.
    assert await server.diagnostics(uri, 1) == []
    # Replace the `0` after the emoji with `uid`, addressing it in the negotiated encoding.
    start = position_of(text, "0).all()", encoding)
    end = types.Position(line=start.line, character=start.character + 1)
    version = server.change(
        uri, types.TextDocumentContentChangePartial(range=types.Range(start=start, end=end),
                                                    text="uid")
    )
    [diagnostic] = await server.diagnostics(uri, version)
    assert diagnostic.range.start == position_of(EMOJI_LINE, CALL, encoding)

    # Insert another emoji before the call: the range moves by 2 UTF-16 units or 4 bytes.
    at = position_of(EMOJI_LINE, '🎉🎉"', encoding)
    version = server.change(
        uri, types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at),
                                                    text="🐍")
    )
    [moved] = await server.diagnostics(uri, version)
    width = 2 if encoding == "utf-16" else 4
    assert moved.range.start.character == diagnostic.range.start.character + width


async def test_a_column_inside_a_surrogate_pair_rounds_down(lsp):
    # The test fix makes hover show the flagged line's text, which is how the test reads the
    # server's copy of the document back.
    server = await lsp(env={"INBATCH_TEST_FIX": "unsafe"})
    uri = server.open("emoji.py", EMOJI_LINE)
    await server.diagnostics(uri, 1)
    emoji = position_of(EMOJI_LINE, "🎉🎉")
    inside = types.Position(line=emoji.line, character=emoji.character + 1)
    version = server.change(
        uri, types.TextDocumentContentChangePartial(range=types.Range(start=inside, end=inside),
                                                    text="a")
    )
    [diagnostic] = await server.diagnostics(uri, version)
    hover = await server.client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri),
                          position=diagnostic.range.start)
    )
    assert '-        label = "a🎉🎉"; rows = Session' in hover.contents.value
