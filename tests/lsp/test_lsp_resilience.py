"""A panic while analysing one document is contained: logged with the document's URI, answered
with an error, and the server goes on serving every other document."""

import pytest
from lsprotocol import types

from lsp_client import N_PLUS_ONE

pytestmark = pytest.mark.asyncio

MARKER = "PANIC_HERE"


async def test_a_panic_is_contained(lsp):
    server = await lsp(env={"INBATCH_TEST_PANIC_ON": MARKER})
    bad = server.open("bad.py", N_PLUS_ONE + f"# {MARKER}\n")
    good = server.open("good.py", N_PLUS_ONE)
    assert len(await server.diagnostics(good, 1)) == 2
    await server.wait_for(
        lambda: any(bad in m.message for m in server.client.log_messages),
        "the logged panic",
    )
    logged = next(m for m in server.client.log_messages if bad in m.message)
    assert logged.type == types.MessageType.Error
    assert MARKER in logged.message

    with pytest.raises(Exception, match="failed to analyse"):
        await server.client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=bad))
        )
    with pytest.raises(Exception, match="failed to analyse"):
        await server.client.text_document_hover_async(
            types.HoverParams(text_document=types.TextDocumentIdentifier(uri=bad),
                              position=types.Position(line=6, character=20))
        )

    # Removing the marker heals the document; the other one was never affected.
    text = server.texts[bad]
    at = text.index(f"# {MARKER}")
    version = server.edit(bad, at, at + len(f"# {MARKER}\n"), "")
    assert len(await server.diagnostics(bad, version)) == 2
    version = server.edit(good, 0, 0, "\n")
    assert len(await server.diagnostics(good, version)) == 2


async def test_requests_about_unknown_documents_are_errors_not_crashes(lsp):
    server = await lsp()
    with pytest.raises(Exception, match="not open"):
        await server.client.text_document_hover_async(
            types.HoverParams(text_document=types.TextDocumentIdentifier(uri=server.uri("x.py")),
                              position=types.Position(line=0, character=0))
        )
    # A change to a document never opened is logged and ignored.
    server.versions[server.uri("x.py")] = 1
    server.change(server.uri("x.py"), types.TextDocumentContentChangeWholeDocument(text="x"))
    uri = server.open("a.py", N_PLUS_ONE)
    assert len(await server.diagnostics(uri, 1)) == 2
