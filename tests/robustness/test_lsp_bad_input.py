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
    # INB001 finds what these tests open; it is off by default, so the workspace selects it.
    (tmp_path / "inbatch.toml").write_text('extend-select = ["INB001"]\n')
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


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


SHUTDOWN = json.dumps({"jsonrpc": "2.0", "id": 98, "method": "shutdown"}).encode()


def error_reply(server, code: int, rid=None) -> dict:
    return server.wait(
        lambda m: "method" not in m and m.get("id") == rid and m.get("error", {}).get("code") == code,
        f"a {code} error for id {rid}")


def still_analyses(server) -> None:
    """The server keeps serving, and nothing malformed was taken for a shutdown."""
    server.alive()
    uri = open_doc(server, "a.py", N_PLUS_ONE)
    assert len(server.diagnostics(uri, 1)) == 1


def test_bad_json_gets_a_parse_error_and_the_server_goes_on(server):
    body = b'{"jsonrpc": "2.0", "id": 99, "method": "textDocument/hover", "params": {'
    server.send_raw(frame(body))
    reply = server.wait(lambda m: m.get("error", {}).get("code") == -32700, "a parse error")
    assert reply["id"] is None
    assert reply["error"]["message"] == "Parse error"
    server.alive()
    uri = open_doc(server, "a.py", N_PLUS_ONE)
    assert len(server.diagnostics(uri, 1)) == 1


@pytest.mark.parametrize("body", [
    b"",
    b'{"jsonrpc": "2.0", "id": 1, "method": "shutdown"',
    b'{"jsonrpc": "2.0", "id": 1, "method": "shutdown"} trailing',
    b'{"jsonrpc": "2.0", "id": 1, "method": "shutdown", "params": "\xff"}',
    # Nested past serde_json's limit: tower-lsp-server fails on it even in a member it ignores.
    b'{"jsonrpc": "2.0", "id": 1, "method": "shutdown", "junk": ' + b"[" * 500 + b"]" * 500 + b"}",
], ids=["empty", "truncated", "trailing", "not-utf8", "too-deep"])
def test_bodies_that_are_not_json_get_a_parse_error(server, body):
    server.send_raw(frame(body))
    error_reply(server, -32700)
    still_analyses(server)


def test_valid_json_that_is_not_a_message_is_an_invalid_request(server):
    for body in [b"[]", b"42", b'{"jsonrpc": "2.0"}', b'{"id": 7, "method": 3}']:
        server.send_raw(frame(body))
    server.alive()


@pytest.mark.parametrize("body, rid", [
    (b"[]", None),
    (b"42", None),
    (b'"shutdown"', None),
    (b"null", None),
    (b'{"jsonrpc": "2.0"}', None),
    (b'{"id": 7, "method": 3}', 7),
    (b'{"jsonrpc": "1.0", "id": "v1", "method": "shutdown"}', "v1"),
    (b'{"id": 8, "method": "shutdown"}', 8),
    # A JSON-RPC batch: LSP does not use them.
    (b'[{"jsonrpc": "2.0", "id": 9, "method": "shutdown"}]', None),
    # serde would read an array as a request's fields in order.
    (b'["2.0", "shutdown", null, 10]', None),
    (b'{"jsonrpc": "2.0", "id": 11, "method": "shutdown", "method": "exit"}', 11),
    (b'{"jsonrpc": "2.0", "id": 12.5, "method": "shutdown"}', None),
    (b'{"jsonrpc": "2.0", "id": 13, "method": "shutdown", "result": null}', 13),
    # Responses the client should not send; answered with a null id, never the client's own.
    (b'{"jsonrpc": "2.0", "result": 1}', None),
    (b'{"jsonrpc": "2.0", "id": 14, "error": {"code": 1, "message": "m", "extra": 0}}', None),
], ids=lambda value: None if isinstance(value, bytes) else repr(value))
def test_each_message_that_is_not_json_rpc_gets_an_invalid_request(server, body, rid):
    server.send_raw(frame(body))
    reply = error_reply(server, -32600, rid)
    assert reply["error"]["message"] == "Invalid Request"
    assert reply["error"]["data"]  # the reason
    still_analyses(server)


def test_missing_content_length_is_skipped(server):
    body = json.dumps({"jsonrpc": "2.0", "id": 98, "method": "shutdown"}).encode()
    server.send_raw(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" + body)
    server.send_raw(b"\r\n\r\n")
    server.alive()
    # The headerless shutdown was not taken as one: documents are still analysed.
    uri = open_doc(server, "a.py", N_PLUS_ONE)
    assert len(server.diagnostics(uri, 1)) == 1


@pytest.mark.parametrize("headers", [
    b"Content-Length: abc",
    b"Content-Length: -1",
    b"Content-Length:",
    b"Content-Length: 99999999999999999999999999",
    # Over the 1 GiB limit: rejected, never allocated.
    b"Content-Length: 1073741825",
    b"Content-Length: 10\r\nContent-Length: 12",
    b"X-Unknown: 1",
], ids=["letters", "negative", "empty", "overflow", "over-limit", "conflicting", "missing"])
def test_bad_content_length_is_a_parse_error_and_the_body_is_skipped(server, headers):
    # The body runs straight into the next message, as a client that miscounted would send it.
    server.send_raw(headers + b"\r\n\r\n" + SHUTDOWN)
    error_reply(server, -32700)
    still_analyses(server)


def test_garbage_between_messages_is_skipped(server):
    server.send_raw(b"hello\r\n\x00\x01\xfe binary \r\n\r\n")
    server.send_raw(b"x" * 100_000)  # a line far too long for a header
    server.send_raw(b"more garbage" + frame(json.dumps(
        {"jsonrpc": "2.0", "id": 50, "method": "inbatch/noSuchMethod"}).encode()))
    assert server.response(50)["error"]["code"] == -32601
    # One reply for the run of garbage, not one per line.
    server.alive()
    parse_errors = [m for m in server.seen if m.get("error", {}).get("code") == -32700]
    assert len(parse_errors) == 1
    still_analyses(server)


def test_header_names_ignore_case_and_lines_may_end_in_lf(server):
    body = json.dumps({"jsonrpc": "2.0", "id": 51, "method": "inbatch/noSuchMethod"}).encode()
    server.send_raw(b"content-LENGTH: %d\nX-Other: y\n\n" % len(body) + body)
    assert server.response(51)["error"]["code"] == -32601


def test_a_message_trickling_in_byte_by_byte(server):
    body = json.dumps({"jsonrpc": "2.0", "id": 52, "method": "inbatch/noSuchMethod"}).encode()
    for byte in frame(body):
        server.send_raw(bytes([byte]))
    assert server.response(52)["error"]["code"] == -32601


def test_exit_codes_are_kept_after_bad_input(server):
    server.send_raw(frame(b"{"))
    error_reply(server, -32700)
    assert server.call("shutdown")["result"] is None
    server.notify("exit")
    assert server.proc.wait(timeout=20) == 0


def test_end_of_input_after_bad_input_ends_the_session(server):
    server.send_raw(frame(b"[]") + b"Content-Length: 100\r\n\r\n{")
    error_reply(server, -32600)
    server.proc.stdin.close()
    assert server.proc.wait(timeout=20) == 1


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
