"""A raw JSON-RPC client for `inbatch server`: frames exactly what a test asks, malformed or not,
and reads the server's messages on a thread."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from typing import Any

TIMEOUT = 60.0


class RawServer:
    def __init__(self, binary: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [binary, "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env,
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            body = out.read(int(headers["content-length"]))
            self.messages.put(json.loads(body))

    def send_raw(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: Any = None) -> int:
        rid = self.next_id
        self.next_id += 1
        self.send({"id": rid, "method": method, "params": params})
        return rid

    def wait(self, predicate, what: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        for message in self.seen:
            if predicate(message):
                return message
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.messages.get(timeout=0.2)
            except queue.Empty:
                assert self.proc.poll() is None, f"server exited ({self.proc.returncode}) waiting for {what}"
                continue
            self.seen.append(message)
            # Answer the server's own requests (configuration, progress) so it never waits.
            if "id" in message and "method" in message:
                result = [{}] * len(message.get("params", {}).get("items", [])) \
                    if message["method"] == "workspace/configuration" else None
                self.send({"id": message["id"], "result": result})
            if predicate(message):
                return message
        raise AssertionError(f"timed out waiting for {what}")

    def response(self, rid: int, timeout: float = TIMEOUT) -> dict[str, Any]:
        return self.wait(lambda m: m.get("id") == rid and "method" not in m, f"response {rid}", timeout)

    def call(self, method: str, params: Any = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        return self.response(self.request(method, params), timeout)

    def initialize(self, root: str) -> dict[str, Any]:
        result = self.call("initialize", {
            "processId": None, "rootUri": root, "capabilities": {
                "general": {"positionEncodings": ["utf-16"]},
                "textDocument": {"publishDiagnostics": {"versionSupport": True}},
            },
        })
        self.notify("initialized", {})
        return result

    def diagnostics(self, uri: str, version: int) -> list[dict[str, Any]]:
        message = self.wait(
            lambda m: m.get("method") == "textDocument/publishDiagnostics"
            and m["params"]["uri"] == uri and m["params"].get("version") == version,
            f"diagnostics of {uri} v{version}",
        )
        return message["params"]["diagnostics"]

    def alive(self) -> None:
        """A follow-up request is answered: the server keeps serving."""
        reply = self.call("textDocument/hover", {
            "textDocument": {"uri": "file:///nowhere/never_opened.py"},
            "position": {"line": 0, "character": 0},
        })
        assert "error" in reply or "result" in reply

    def close(self) -> int:
        if self.proc.poll() is None:
            try:
                self.call("shutdown", timeout=20)
                self.notify("exit")
            except (AssertionError, BrokenPipeError):
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
