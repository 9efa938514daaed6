"""Pull diagnostics: `textDocument/diagnostic` and `workspace/diagnostic` with result ids, so
that what did not change is reported `unchanged`."""

import pytest
from lsprotocol import types

from lsp_client import N_PLUS_ONE

pytestmark = pytest.mark.asyncio


async def pull(server, uri, previous=None):
    return await server.client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            identifier="inbatch",
            previous_result_id=previous,
        )
    )


async def test_document_pull_reports_unchanged_until_an_edit(lsp):
    server = await lsp(pull=True)
    uri = server.open("a.py", N_PLUS_ONE)
    first = await pull(server, uri)
    assert first.kind == "full"
    assert [d.code for d in first.items if d.code == "INB001"] == ["INB001", "INB001"]
    assert first.result_id

    again = await pull(server, uri, previous=first.result_id)
    assert again.kind == "unchanged"
    assert again.result_id == first.result_id

    text = server.texts[uri]
    at = text.index("        payments")
    server.edit(uri, at, at, "        # a comment moves the second finding down\n")
    moved = await pull(server, uri, previous=first.result_id)
    assert moved.kind == "full"
    assert moved.result_id != first.result_id
    before = [d.range.start.line for d in first.items if d.code == "INB001"]
    after = [d.range.start.line for d in moved.items if d.code == "INB001"]
    assert after == [before[0], before[1] + 1]


async def test_a_pulling_client_gets_no_pushes(lsp):
    server = await lsp(pull=True)
    uri = server.open("a.py", N_PLUS_ONE)
    report = await pull(server, uri)
    assert len([d for d in report.items if d.code == "INB001"]) == 2
    assert server.published.latest(uri) is None


async def test_workspace_pull_covers_open_and_indexed_files(lsp, tmp_path):
    (tmp_path / "on_disk.py").write_text(N_PLUS_ONE, encoding="utf-8")
    (tmp_path / "clean.py").write_text("x = 1\n", encoding="utf-8")
    venv = tmp_path / ".venv" / "lib"
    venv.mkdir(parents=True)
    (venv / "skipped.py").write_text(N_PLUS_ONE, encoding="utf-8")
    server = await lsp(pull=True, initialization_options={"diagnosticMode": "workspace"})
    await server.wait_for(lambda: server.client.diagnostic_refresh_count > 0,
                          "the end of indexing")
    open_uri = server.open("open.py", N_PLUS_ONE.replace("Payment.query", "Payment.objects"))

    report = await server.client.workspace_diagnostic_async(
        types.WorkspaceDiagnosticParams(identifier="inbatch", previous_result_ids=[])
    )
    by_uri = {item.uri: item for item in report.items}
    disk_uri = (tmp_path / "on_disk.py").as_uri()
    assert set(by_uri) == {disk_uri, (tmp_path / "clean.py").as_uri(), open_uri}
    assert len([d for d in by_uri[disk_uri].items if d.code == "INB001"]) == 2
    assert by_uri[open_uri].version == 1
    assert by_uri[disk_uri].version is None

    previous = [types.PreviousResultId(uri=item.uri, value=item.result_id) for item in report.items]
    again = await server.client.workspace_diagnostic_async(
        types.WorkspaceDiagnosticParams(identifier="inbatch", previous_result_ids=previous)
    )
    assert {item.kind for item in again.items} == {"unchanged"}
