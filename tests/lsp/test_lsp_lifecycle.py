"""Initialisation, capabilities, shutdown and exit."""

import asyncio

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
