"""The language server's side of the bad-input matrix, over raw JSON-RPC: each bad input gets a
clear error or is ignored safely, and a follow-up request is still answered.

Covered elsewhere and not repeated here: out-of-range positions are clamped
(tests/lsp/test_lsp_diagnostics.py::test_out_of_range_positions_are_clamped), a change for a
document never opened (tests/lsp/test_lsp_resilience.py::test_requests_about_unknown_documents_are_errors_not_crashes),
a panic inside analysis injected by the test-only hook INBATCH_TEST_PANIC_ON
(tests/lsp/test_lsp_resilience.py::test_a_panic_is_contained), astral characters in both
encodings (tests/lsp/test_lsp_encodings.py)."""

from __future__ import annotations

import json

import pytest

from rpc import RawServer

N_PLUS_ONE = (
    "def f(session, ids):\n"
    "    for uid in ids:\n"
    "        print(session.get(User, uid))\n"
)


@pytest.fixture
def server(inbatch_bin, tmp_path):
    raw = RawServer(inbatch_bin)
    raw.initialize(tmp_path.as_uri())
    raw.root = tmp_path
    yield raw
    raw.close()


def open_doc(server, name: str, text: str, version: int = 1) -> str:
    uri = (server.root / name).as_uri()
    server.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": version, "text": text}})
    return uri


@pytest.mark.xfail(strict=True, reason=(
    "found by this matrix: tower-lsp-server ends the session (exit 1) on a message it cannot "
    "parse; reported to the LSP owner. strict: this fails loudly once the server keeps serving"))
def test_bad_json_gets_a_parse_error_and_the_server_goes_on(server):
    body = b'{"jsonrpc": "2.0", "id": 99, "method": "textDocument/hover", "params": {'
    server.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    reply = server.wait(lambda m: m.get("error", {}).get("code") == -32700, "a parse error")
    assert reply["id"] is None
    server.alive()
    uri = open_doc(server, "a.py", N_PLUS_ONE)
    assert len(server.diagnostics(uri, 1)) == 1


@pytest.mark.xfail(strict=True, reason=(
    "found by this matrix: tower-lsp-server ends the session (exit 1) on a message it cannot "
    "parse; reported to the LSP owner. strict: this fails loudly once the server keeps serving"))
def test_valid_json_that_is_not_a_message_is_an_invalid_request(server):
    for body in [b"[]", b"42", b'{"jsonrpc": "2.0"}', b'{"id": 7, "method": 3}']:
        server.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    server.alive()


@pytest.mark.xfail(strict=True, reason=(
    "found by this matrix: tower-lsp-server ends the session (exit 1) on a message it cannot "
    "parse; reported to the LSP owner. strict: this fails loudly once the server keeps serving"))
def test_missing_content_length_is_skipped(server):
    body = json.dumps({"jsonrpc": "2.0", "id": 98, "method": "shutdown"}).encode()
    server.send_raw(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" + body)
    server.send_raw(b"\r\n\r\n")
    server.alive()
    # The headerless shutdown was not taken as one: documents are still analysed.
    uri = open_doc(server, "a.py", N_PLUS_ONE)
    assert len(server.diagnostics(uri, 1)) == 1


def test_unknown_methods(server):
    reply = server.call("inbatch/noSuchMethod", {"x": 1})
    assert reply["error"]["code"] == -32601
    server.notify("inbatch/noSuchNotification", {"x": 1})
    server.notify("$/noSuchThing", None)
    server.alive()


def test_version_going_backwards_is_applied_in_arrival_order(server):
    uri = open_doc(server, "a.py", N_PLUS_ONE, version=5)
    assert len(server.diagnostics(uri, 5)) == 1
    # An older version number after a newer one: the text is still the client's latest; no crash.
    server.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 3},
        "contentChanges": [{"text": "x = 1\n"}]})
    server.alive()
    server.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 6},
        "contentChanges": [{"text": N_PLUS_ONE + N_PLUS_ONE.replace("def f", "def g")}]})
    assert len(server.diagnostics(uri, 6)) == 2


def test_requests_after_shutdown_are_invalid_and_exit_is_clean(server):
    uri = open_doc(server, "a.py", N_PLUS_ONE)
    server.diagnostics(uri, 1)
    assert server.call("shutdown")["result"] is None
    reply = server.call("textDocument/hover", {
        "textDocument": {"uri": uri}, "position": {"line": 2, "character": 20}})
    assert reply["error"]["code"] == -32600
    reply = server.call("shutdown")
    assert "error" in reply
    server.notify("exit")
    assert server.proc.wait(timeout=20) == 0


def test_a_fifty_megabyte_message(server):
    # 50 MB in one didOpen: one string literal, so the parse is cheap and the framing is the test.
    big = "x = '" + "a" * (50 * 1024 * 1024) + "'\n" + N_PLUS_ONE
    uri = open_doc(server, "big.py", big)
    assert len(server.diagnostics(uri, 1)) == 1
    # And 50 MB of parameters to a method nobody knows.
    reply = server.call("inbatch/noSuchMethod", {"blob": "b" * (50 * 1024 * 1024)})
    assert reply["error"]["code"] == -32601
    server.alive()


def test_out_of_range_and_reversed_ranges_then_full_text(server):
    uri = open_doc(server, "a.py", N_PLUS_ONE)
    server.diagnostics(uri, 1)
    server.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2},
        "contentChanges": [{"range": {"start": {"line": 2**31 - 1, "character": 2**31 - 1},
                                      "end": {"line": 0, "character": 0}}, "text": "zzz"}]})
    server.alive()
    server.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": N_PLUS_ONE}]})
    diagnostics = server.diagnostics(uri, 3)
    assert len(diagnostics) == 1
    assert diagnostics[0]["range"]["start"] == {"line": 2, "character": 14}
