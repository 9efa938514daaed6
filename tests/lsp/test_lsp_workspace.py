"""Workspace indexing at start with `$/progress`, and re-indexing on file events; indexing
whatever the client answers, every progress ended, a capped index and coalesced rescans
(issue #15, items 12 and 13)."""

import pytest
from lsprotocol import types

from lsp_client import N_PLUS_ONE, select_n_plus_one_rules
from test_lsp_models import MODELS, REPORT, check_codes

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
    server = await lsp(pull=True, initialization_options={"diagnosticMode": "workspace"})
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


def write_models_project(root):
    (root / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    (root / "app").mkdir()
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "models.py").write_text(MODELS.format(lazy=""))
    (root / "app" / "report.py").write_text(REPORT)
    # The configuration the lsp fixture would write, there before the CLI runs.
    select_n_plus_one_rules(root)


async def test_the_workspace_is_indexed_when_the_client_never_answers(lsp, inbatch_bin, tmp_path):
    """A client that never answers the file-watcher registration (or the progress token's
    creation) must not leave the workspace unindexed: the model index is what these findings
    need."""
    write_models_project(tmp_path)
    expected = check_codes(inbatch_bin, tmp_path, "app/report.py")
    assert expected, "the CLI finds something that needs the models"
    server = await lsp(unanswered=(types.CLIENT_REGISTER_CAPABILITY,
                                   types.WINDOW_WORK_DONE_PROGRESS_CREATE))
    uri = server.open("app/report.py", REPORT)

    def codes():
        latest = server.published.latest(uri)
        return latest and sorted((d.code, d.range.start.line) for d in latest.diagnostics)

    await server.wait_for(lambda: codes() == expected, f"the CLI's findings {expected}")
    asked = {method for method, _ in server.client.unanswered}
    assert asked == {types.CLIENT_REGISTER_CAPABILITY, types.WINDOW_WORK_DONE_PROGRESS_CREATE}


def progress_by_token(client):
    begun = {token for token, reports in client.progress_reports.items()
             if any(isinstance(r, types.WorkDoneProgressBegin) for r in reports)}
    ended = {token for token, reports in client.progress_reports.items()
             if reports and isinstance(reports[-1], types.WorkDoneProgressEnd)}
    return begun, ended


async def test_configuration_changes_during_indexing_end_every_progress(lsp, tmp_path):
    (tmp_path / "pkg").mkdir()
    for i in range(300):
        (tmp_path / "pkg" / f"m{i}.py").write_text(N_PLUS_ONE)
    server = await lsp()
    client = server.client
    await server.wait_for(lambda: progress_by_token(client)[0], "indexing to begin")
    # A burst of changes while the workspace is being indexed: each makes the running scan
    # stale. They coalesce into a rescan or two, not two hundred.
    for n in range(200):
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"inbatch": {"batchSize": 100 + n}}))

    def settled():
        begun, ended = progress_by_token(client)
        last = client.progress_reports.get(max(begun, key=lambda t: int(t.rsplit("/", 1)[1])))
        return begun <= ended and last[-1].message == "300 files indexed"

    await server.wait_for(settled, "every progress to end, the last one with the whole workspace")
    begun, _ = progress_by_token(client)
    assert len(begun) <= 5, sorted(begun)
    # One indexer thread, not one per change (2 async workers, the logger, the blocking pool).
    with open(f"/proc/{client._server.pid}/status") as status:
        threads = int(next(line for line in status if line.startswith("Threads:")).split()[1])
    assert threads < 48, threads
    # The last change is the one in force.
    uri = server.open("a.py", N_PLUS_ONE)
    assert len(await server.diagnostics(uri, 1)) == 2


async def test_the_index_is_capped_and_says_so_once(lsp, tmp_path):
    for i in range(12):
        (tmp_path / f"m{i:02}.py").write_text(N_PLUS_ONE)
    server = await lsp(pull=True, initialization_options={"indexMaxFiles": 5})
    await server.wait_for(lambda: server.client.diagnostic_refresh_count > 0, "indexing")

    async def indexed():
        report = await server.client.workspace_diagnostic_async(
            types.WorkspaceDiagnosticParams(previous_result_ids=[]))
        return sorted(item.uri.rsplit("/", 1)[1] for item in report.items)

    assert await indexed() == [f"m{i:02}.py" for i in range(5)]
    capped = [m for m in server.client.messages if "indexMaxFiles" in m.message]
    assert len(capped) == 1 and capped[0].type == types.MessageType.Warning
    assert "5 files" in capped[0].message
    # A rescan (a configuration change) does not say it again; raising the limit lifts the cap.
    refreshes = server.client.diagnostic_refresh_count
    server.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"inbatch": {"indexMaxFiles": 100}}))
    await server.wait_for(lambda: server.client.diagnostic_refresh_count > refreshes + 1,
                          "the rescan")
    assert len(await indexed()) == 12
    assert len([m for m in server.client.messages if "indexMaxFiles" in m.message]) == 1
