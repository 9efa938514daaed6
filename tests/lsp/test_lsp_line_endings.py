"""Quick fixes in a CRLF document use CRLF: the engine gives every fix the file's line ending, so
the editor path gets it as `inbatch check --fix` does (issue #15, item 5)."""

import pytest
from lsprotocol import types

from lsp_client import N_PLUS_ONE

pytestmark = pytest.mark.asyncio

CRLF_N_PLUS_ONE = N_PLUS_ONE.replace("\n", "\r\n")


def apply_crlf(text, edits):
    """Applies LSP edits to CRLF text (ASCII, so UTF-16 columns are character columns)."""
    lines = text.split("\r\n")

    def offset(position):
        return sum(len(line) + 2 for line in lines[: position.line]) + position.character

    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
    return text


async def test_the_batched_rewrite_of_a_crlf_document_uses_crlf(lsp):
    server = await lsp()
    uri = server.open("a.py", CRLF_N_PLUS_ONE)
    first, _ = await server.diagnostics(uri, 1)
    actions = await server.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=first.range,
            context=types.CodeActionContext(diagnostics=[first]),
        )
    )
    [batch] = [a for a in actions if a.title.startswith("Batch")]
    resolved = await server.client.code_action_resolve_async(batch)
    edit = resolved.edit
    edits = list(edit.document_changes[0].edits) if edit.document_changes else list(edit.changes[uri])
    inserted = "".join(e.new_text for e in edits)
    assert "\r\n" in inserted, "the rewrite inserts lines"
    assert "\n" not in inserted.replace("\r\n", ""), f"a bare LF in {inserted!r}"

    fixed = apply_crlf(CRLF_N_PLUS_ONE, edits)
    assert "\n" not in fixed.replace("\r\n", "")
    assert fixed.startswith("from collections import defaultdict\r\n\r\nfrom app.models import"), fixed
    compile(fixed, "a.py", "exec")
