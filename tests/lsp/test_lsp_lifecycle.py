"""Initialisation, capabilities, shutdown and exit."""

import asyncio
import json
import os

import pytest
from lsprotocol import types

from lsp_client import N_PLUS_ONE

pytestmark = pytest.mark.asyncio


async def test_initialize_advertises_capabilities(lsp):
    server = await lsp()
    result = server.result
    caps = result.capabilities
    assert result.server_info.name == "inbatch"
    assert caps.position_encoding == types.PositionEncodingKind.Utf16
    sync = caps.text_document_sync
    assert sync.open_close is True
    assert sync.change == types.TextDocumentSyncKind.Incremental
    assert caps.hover_provider is True
    assert caps.code_action_provider.resolve_provider is True
    assert set(caps.code_action_provider.code_action_kinds) == {
        types.CodeActionKind.QuickFix,
        "source.fixAll.inbatch",
    }
    assert caps.diagnostic_provider.workspace_diagnostics is True
    assert caps.diagnostic_provider.inter_file_dependencies is False
    assert caps.diagnostic_provider.identifier == "inbatch"


async def test_utf8_is_preferred_when_offered(lsp):
    server = await lsp(encodings=["utf-16", "utf-8"])
    assert server.result.capabilities.position_encoding == types.PositionEncodingKind.Utf8


async def test_utf32_only_client_gets_utf16(lsp):
    server = await lsp(encodings=["utf-32"])
    assert server.result.capabilities.position_encoding == types.PositionEncodingKind.Utf16


async def test_shutdown_then_exit_is_clean(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    await server.diagnostics(uri)
    await server.client.shutdown_async(None)
    server.client.exit(None)
    process = server.client._server
    assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_exit_without_shutdown_is_an_error(lsp):
    server = await lsp()
    server.client.exit(None)
    process = server.client._server
    assert await asyncio.wait_for(process.wait(), 10) == 1


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.mark.asyncio(loop_scope="function")
async def test_logs_go_to_the_log_file_never_stdout(inbatch_bin, tmp_path):
    log = tmp_path / "server.log"
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"processId": None, "rootUri": None, "capabilities": {}}}
    initialized = {"jsonrpc": "2.0", "method": "initialized", "params": {}}
    shutdown = {"jsonrpc": "2.0", "id": 2, "method": "shutdown"}
    exit_ = {"jsonrpc": "2.0", "method": "exit"}
    process = await asyncio.create_subprocess_exec(
        inbatch_bin, "server", "--log-file", str(log),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "INBATCH_LOG": "debug"},
    )
    async def answer_to(message):
        process.stdin.write(frame(message))
        header = await asyncio.wait_for(process.stdout.readuntil(b"\r\n\r\n"), 20)
        # Standard output holds protocol frames only.
        assert header.startswith(b"Content-Length: ")
        return json.loads(await process.stdout.readexactly(int(header.split(b":")[1])))

    # As the protocol asks, nothing follows `initialize` or `shutdown` before its answer.
    assert (await answer_to(initialize))["result"]["serverInfo"]["name"] == "inbatch"
    process.stdin.write(frame(initialized))
    assert (await answer_to(shutdown))["result"] is None
    stdout, stderr = await asyncio.wait_for(process.communicate(frame(exit_)), 20)
    assert process.returncode == 0, stderr
    assert stderr == b""
    assert stdout == b""
    text = log.read_text()
    assert "language server starting" in text
    assert "shutdown" in text
