"""Configuration: initializationOptions, didChangeConfiguration (sent or asked for),
inbatch.toml / pyproject.toml reloaded on didChangeWatchedFiles, and errors that are shown
without stopping the server."""

import pytest
from lsprotocol import types

from lsp_client import N_PLUS_ONE

pytestmark = pytest.mark.asyncio


def watched(server, name, kind=types.FileChangeType.Changed):
    server.client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=server.uri(name), type=kind)]
        )
    )


async def latest_diagnostics(server, uri, count):
    """Waits for a publication (of the current version) with `count` INB001 diagnostics."""
    await server.wait_for(
        lambda: (latest := server.published.latest(uri)) is not None
        and latest.version == server.versions[uri]
        and len([d for d in latest.diagnostics if d.code == "INB001"]) == count,
        f"{count} diagnostics",
    )


async def test_initialization_options_select_rules(lsp):
    server = await lsp(initialization_options={"inbatch": {"ignore": ["INB001"]}})
    uri = server.open("a.py", N_PLUS_ONE)
    assert await server.diagnostics(uri, 1) == []


async def test_the_n_plus_one_rules_are_off_until_selected(lsp, tmp_path):
    """INB001 is off by default: a workspace without configuration gets no N+1 finding; the
    project's `extend-select` or the editor's `extendSelect` turns it on."""
    plain = tmp_path / "plain"
    plain.mkdir()
    server = await lsp(workspace=plain, n_plus_one_rules=False)
    uri = server.open("a.py", N_PLUS_ONE)
    assert await server.diagnostics(uri, 1) == []

    configured = tmp_path / "configured"
    configured.mkdir()
    (configured / "pyproject.toml").write_text('[tool.inbatch]\nextend-select = ["INB001"]\n')
    server = await lsp(workspace=configured, n_plus_one_rules=False)
    uri = server.open("a.py", N_PLUS_ONE)
    assert [d.code for d in await server.diagnostics(uri, 1)] == ["INB001", "INB001"]

    editor = tmp_path / "editor"
    editor.mkdir()
    server = await lsp(workspace=editor, n_plus_one_rules=False,
                       initialization_options={"inbatch": {"extendSelect": ["INB001"]}})
    uri = server.open("a.py", N_PLUS_ONE)
    assert [d.code for d in await server.diagnostics(uri, 1)] == ["INB001", "INB001"]


async def test_did_change_configuration_reanalyses_open_documents(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    assert len(await server.diagnostics(uri, 1)) == 2
    server.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"inbatch": {"ignore": ["INB001"]}})
    )
    await latest_diagnostics(server, uri, 0)
    server.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"inbatch": {"ignore": []}})
    )
    await latest_diagnostics(server, uri, 2)


async def test_configuration_is_asked_for_when_the_notification_is_empty(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    assert len(await server.diagnostics(uri, 1)) == 2
    server.client.set_configuration({"select": ["INB9"]}, section="inbatch")
    server.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=None)
    )
    await latest_diagnostics(server, uri, 0)


async def test_config_file_change_is_picked_up(lsp, tmp_path):
    server = await lsp(n_plus_one_rules=False)
    await server.wait_for(lambda: server.client.registrations, "file watcher registration")
    [registration] = server.client.registrations
    assert registration.method == "workspace/didChangeWatchedFiles"
    globs = {w["globPattern"] for w in registration.register_options["watchers"]}
    assert {"**/pyproject.toml", "**/inbatch.toml", "**/*.py"} <= globs

    uri = server.open("a.py", N_PLUS_ONE)
    assert await server.diagnostics(uri, 1) == [], "INB001 is off by default"
    (tmp_path / "pyproject.toml").write_text("[tool.inbatch]\nextend-select = ['INB001']\n")
    watched(server, "pyproject.toml", types.FileChangeType.Created)
    await latest_diagnostics(server, uri, 2)

    (tmp_path / "pyproject.toml").write_text(
        "[tool.inbatch]\nextend-select = ['INB001']\nignore = ['INB001']\n"
    )
    watched(server, "pyproject.toml")
    await latest_diagnostics(server, uri, 0)

    (tmp_path / "pyproject.toml").write_text("[tool.inbatch]\nextend-select = ['INB001']\n")
    watched(server, "pyproject.toml")
    await latest_diagnostics(server, uri, 2)

    (tmp_path / "pyproject.toml").unlink()
    watched(server, "pyproject.toml", types.FileChangeType.Deleted)
    await latest_diagnostics(server, uri, 0)


async def test_broken_config_is_shown_and_the_server_keeps_serving(lsp, tmp_path):
    (tmp_path / "inbatch.toml").write_text("batch-sise = 10\n")
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    assert await server.diagnostics(uri, 1) == [], "defaults apply: INB001 is off"
    await server.wait_for(lambda: server.client.messages, "window/showMessage")
    message = server.client.messages[0]
    assert message.type == types.MessageType.Error
    assert "batch-sise" in message.message and "inbatch.toml" in message.message

    (tmp_path / "inbatch.toml").write_text("extend-select = ['INB001']\n")
    watched(server, "inbatch.toml")
    await latest_diagnostics(server, uri, 2)

    (tmp_path / "inbatch.toml").write_text("extend-select = ['INB001']\nignore = ['INB001']\n")
    watched(server, "inbatch.toml")
    await latest_diagnostics(server, uri, 0)


async def test_bad_initialization_options_are_reported(lsp):
    server = await lsp(initialization_options={"batchSize": "lots"})
    await server.wait_for(lambda: server.client.messages, "window/showMessage")
    assert "batchSize" in server.client.messages[0].message or "lots" in server.client.messages[0].message
    uri = server.open("a.py", N_PLUS_ONE)
    assert len(await server.diagnostics(uri, 1)) == 2


async def test_per_file_ignores_use_the_document_path(lsp, tmp_path):
    (tmp_path / "inbatch.toml").write_text(
        "extend-select = ['INB001']\n[per-file-ignores]\n'tests/*' = ['INB001']\n"
    )
    (tmp_path / "tests").mkdir()
    server = await lsp()
    ignored = server.open("tests/test_a.py", N_PLUS_ONE)
    checked = server.open("app.py", N_PLUS_ONE)
    assert await server.diagnostics(ignored, 1) == []
    assert len(await server.diagnostics(checked, 1)) == 2
