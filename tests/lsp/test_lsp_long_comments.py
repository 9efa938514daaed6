"""Long runs of comment lines (issue #15, item 11): tree-sitter-python's parse is quadratic on
them, so the server blanks them before parsing (suppression comments kept), parses off the
session lock and cancels a parse a newer edit makes useless. The bounds asserted are generous;
the README's Reliability section has the measured times."""

import time

import pytest
from lsprotocol import types

from lsp_client import position_of

pytestmark = pytest.mark.asyncio

HEAD = (
    "from app.models import Payment, Session\n\n\n"
    "def report(user_ids):\n"
    "    for uid in user_ids:\n"
    "        sessions = Session.query.filter_by(user_id=uid).all()\n"
)
COMMENT = "        # payments = Payment.query.filter_by(user_id=uid).all()  # old code\n"
TAIL = "        payments = Payment.query.filter_by(user_id=uid).all()\n    return 1\n"


async def test_a_megabyte_of_comment_lines_is_analysed_promptly(lsp):
    text = HEAD + COMMENT * (1024 * 1024 // len(COMMENT)) + TAIL
    server = await lsp()
    started = time.monotonic()
    uri = server.open("commented.py", text)
    found = await server.diagnostics(uri, 1)
    assert [d.range.start.line for d in found] == [5, text.count("\n") - 2]
    assert time.monotonic() - started < 15
    await server.wait_for(
        lambda: any("comment lines" in m.message for m in server.client.log_messages),
        "the skipped comment lines to be reported",
    )
    [report] = [m for m in server.client.log_messages if "comment lines" in m.message]
    assert f"lines 7-{text.count(chr(10)) - 2}" in report.message


async def test_typing_next_to_a_long_commented_block_stays_fast(lsp):
    """Every keystroke leaves a function half typed (so the text is parsed again from scratch
    and repaired); each used to take seconds with a 2,000-line commented block in another
    function, under the session lock."""
    text = HEAD + COMMENT * 2000 + TAIL + "\n\ndef later():\n    pass\n"
    server = await lsp()
    uri = server.open("commented.py", text)
    assert len(await server.diagnostics(uri, 1)) == 2
    at = text.index("    pass")
    typed = "for item in (values"
    started = time.monotonic()
    for n, character in enumerate(typed):
        version = server.edit(uri, at + n, at + n, character)
        await server.diagnostics(uri, version, code=None)
        # The lock is free: a request about the document is answered meanwhile.
        hover = await server.client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position_of(server.texts[uri], "Session.query")))
        assert hover is not None and "INB001" in hover.contents.value
    assert time.monotonic() - started < 10, "keystrokes took seconds each"
