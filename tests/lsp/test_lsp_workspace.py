"""Workspace indexing at start with `$/progress`, and re-indexing on file events."""

import pytest
from lsprotocol import types

from lsp_client import N_PLUS_ONE

pytestmark = pytest.mark.asyncio


async def test_indexing_reports_progress(lsp, tmp_path):
    for i in range(40):
        (tmp_path / "pkg").mkdir(exist_ok=True)
        (tmp_path / "pkg" / f"m{i}.py").write_text(N_PLUS_ONE if i % 2 else "x = 1\n")
    server = await lsp()
    client = server.client

    def ended():
        return any(
            reports and isinstance(reports[-1], types.WorkDoneProgressEnd)
            for reports in client.progress_reports.values()
        )

    await server.wait_for(ended, "the end of indexing progress")
    [reports] = [r for r in client.progress_reports.values() if r]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert reports[0].title == "inbatch: indexing"
    assert any(isinstance(r, types.WorkDoneProgressReport) for r in reports)
    assert reports[-1].message == "40 files indexed"


async def test_changed_files_are_reindexed(lsp, tmp_path):
    path = tmp_path / "later.py"
    path.write_text("x = 1\n")
    server = await lsp(pull=True)
    await server.wait_for(lambda: server.client.diagnostic_refresh_count > 0, "indexing")

    async def items():
        report = await server.client.workspace_diagnostic_async(
            types.WorkspaceDiagnosticParams(previous_result_ids=[])
        )
        return {
            item.uri: len([d for d in item.items if d.code == "INB001"]) for item in report.items
        }

    assert (await items())[path.as_uri()] == 0
    path.write_text(N_PLUS_ONE)
    refreshes = server.client.diagnostic_refresh_count
    server.client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=path.as_uri(), type=types.FileChangeType.Changed)]
        )
    )
    await server.wait_for(lambda: server.client.diagnostic_refresh_count > refreshes, "refresh")
    assert (await items())[path.as_uri()] == 2

    path.unlink()
    server.client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=path.as_uri(), type=types.FileChangeType.Deleted)]
        )
    )
    await server.wait_for(lambda: server.client.diagnostic_refresh_count > refreshes + 1,
                          "refresh after delete")
    assert path.as_uri() not in await items()
