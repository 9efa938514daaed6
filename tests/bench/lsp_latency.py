"""Keystroke → publishDiagnostics latency of `inbatch server`, and its resident memory.

Generates a 5,000-line module with 20 N+1 loops, opens it, then types statements character by
character inside one function (every keystroke one incremental `didChange`), waiting for the
`publishDiagnostics` of each version before the next keystroke (or, with `--interval-ms`, typing
at a fixed pace and timing each keystroke to the first diagnostics that include it). Reports
p50/p90/p99/max and the
server's RSS (from /proc) after opening the file and after typing, for the issue's scenario
(`findings`) and, with `--scenario`, the same module without findings (`no-findings`: the
engine's analysis without fixes) or under `# inbatch: ignore-file` (`ignored`: the server alone).
tests/bench/bench.py runs it and reads its report: keep the report's lines as they are. Not a test: it asserts no
timing; it is a measurement to run on a release build and record in the README:

    cargo build --release
    target/test-venv/bin/python tests/bench/lsp_latency.py [--bin target/release/inbatch]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import platform
import statistics
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent.parent

LINES = 5000
LOOPS = 20
# One statement typed per line; each line starts with Enter plus the editor's auto-indent, and
# `(` inserts `()` as editors close brackets themselves (typing `)` then only moves the cursor).
TYPED = "value = uid * 2 + len(result)  # typed"
NEWLINE = "\n        "


SCENARIOS = {
    # The benchmark: every loop has two N+1 queries, each with a batched-rewrite fix.
    "findings": "user_id=uid",
    # The same module with queries that do not depend on the loop: the engine's analysis
    # without any diagnostic or fix.
    "no-findings": "user_id=7",
}


def generate_module(key: str = SCENARIOS["findings"], ignore_file: bool = False) -> str:
    """5,000 lines: 20 functions with an N+1 loop each, padded with ordinary code."""
    header = ["from app.models import Payment, Session", "", ""]
    if ignore_file:
        header[1] = "# inbatch: ignore-file"
    per_function = (LINES - len(header)) // LOOPS
    filler = [
        "        total_{n} = len(payments) + {n}",
        "        if total_{n} > {n}:",
        "            result.setdefault(uid, []).append(total_{n})",
        "        amounts_{n} = [p.amount for p in payments if p.amount]",
    ]
    body: list[str] = []
    for f in range(LOOPS):
        function = [
            f"def analytics_{f}(user_ids):",
            "    result = {}",
            "    for uid in user_ids:",
            f"        sessions = Session.query.filter_by({key}).all()",
            f"        payments = Payment.query.filter_by({key}).all()",
        ]
        n = 0
        while len(function) < per_function - 3:
            function.append(filler[n % len(filler)].format(n=n))
            n += 1
        function += ["    return result", "", ""]
        body += function
    lines = header + body
    lines += ["# padding"] * (LINES - len(lines))
    return "\n".join(lines) + "\n"


class Client:
    """A minimal LSP client over the server's stdio: enough to time notifications."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.next_id = 0
        self.responses: dict[int, asyncio.Future] = {}
        self.published: dict[int, float] = {}
        self.publish_event = asyncio.Event()
        self.reader = asyncio.create_task(self.read())

    def send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    async def request(self, method: str, params) -> dict:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.responses[self.next_id] = future
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return await asyncio.wait_for(future, 30)

    def notify(self, method: str, params) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def read(self) -> None:
        stdout = self.process.stdout
        while True:
            header = await stdout.readuntil(b"\r\n\r\n")
            length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
            message = json.loads(await stdout.readexactly(length))
            now = time.perf_counter()
            if "id" in message and "method" not in message:
                self.responses.pop(message["id"]).set_result(message)
            elif message.get("method") == "textDocument/publishDiagnostics":
                version = message["params"].get("version")
                if version is not None:
                    self.published[version] = now
                    self.publish_event.set()
            elif "id" in message:
                # A request from the server (progress token, registration): accept it.
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})

    async def published_version(self, version: int) -> float:
        while version not in self.published:
            self.publish_event.clear()
            await asyncio.wait_for(self.publish_event.wait(), 30)
        return self.published[version]


def rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> str:
    model = "unknown CPU"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def run(binary: str, keystrokes: int, scenario: str, interval_ms: int) -> None:
    if scenario == "ignored":
        # `# inbatch: ignore-file` stops the engine right after reading suppressions: what is
        # left is the server's own cost (edit, reparse, protocol).
        text = generate_module(ignore_file=True)
    else:
        text = generate_module(SCENARIOS[scenario])
    workspace = pathlib.Path(tempfile.mkdtemp(prefix="inbatch-bench-"))
    path = workspace / "big_module.py"
    path.write_text(text)
    uri = path.as_uri()
    process = await asyncio.create_subprocess_exec(
        binary, "server",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "INBATCH_LOG": "warn"},
    )
    client = Client(process)
    await client.request("initialize", {
        "processId": os.getpid(),
        "rootUri": workspace.as_uri(),
        "capabilities": {"general": {"positionEncodings": ["utf-16"]}},
    })
    client.notify("initialized", {})
    opened = time.perf_counter()
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": text}})
    open_latency = await client.published_version(1) - opened
    rss_open = rss_mib(process.pid)

    # Type inside the tenth function, below the queries of its loop.
    lines = text.split("\n")
    line = next(i for i, l in enumerate(lines) if l.startswith("def analytics_10(")) + 4
    column = len(lines[line])
    sent: dict[int, float] = {}
    version = 1
    while len(sent) < keystrokes:
        for piece in [NEWLINE, *TYPED]:
            if piece == ")":
                column += 1
                continue
            version += 1
            position = {"line": line, "character": column}
            sent[version] = time.perf_counter()
            client.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": position, "end": position},
                                    "text": "()" if piece == "(" else piece}],
            })
            if interval_ms:
                await asyncio.sleep(interval_ms / 1000)
            else:
                await client.published_version(version)
            if piece == NEWLINE:
                line += 1
                column = len(NEWLINE) - 1
            else:
                column += 1
            if len(sent) >= keystrokes:
                break
    await client.published_version(version)
    # A keystroke's latency: until the first diagnostics that include it. Paced typing lets the
    # server skip versions that a newer keystroke overtook, as editors see it.
    published = sorted(client.published.items())
    latencies = [
        (min(t for v, t in published if v >= typed) - at) * 1000 for typed, at in sent.items()
    ]
    skipped = len(sent) - sum(1 for v, _ in published if v in sent)
    rss_typed = rss_mib(process.pid)

    await client.request("shutdown", None)
    client.notify("exit", None)
    await asyncio.wait_for(process.wait(), 10)
    client.reader.cancel()

    print(f"\nscenario {scenario}: {len(text.splitlines())} lines, {len(text)} bytes, "
          f"{LOOPS} loops")
    print(f"  didOpen → publishDiagnostics: {open_latency * 1000:.2f} ms")
    pace = f"every {interval_ms} ms" if interval_ms else "each after the previous one's diagnostics"
    print(f"  keystrokes: {len(latencies)} ({pace}; {skipped} versions overtaken)")
    print("  keystroke → publishDiagnostics: "
          f"p50 {percentile(latencies, 0.50):.2f} ms, p90 {percentile(latencies, 0.90):.2f} ms, "
          f"p99 {percentile(latencies, 0.99):.2f} ms, max {max(latencies):.2f} ms, "
          f"mean {statistics.fmean(latencies):.2f} ms")
    print(f"  RSS: {rss_open:.1f} MiB after opening, {rss_typed:.1f} MiB after typing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(REPO / "target" / "release" / "inbatch"))
    parser.add_argument("--keystrokes", type=int, default=600)
    parser.add_argument("--interval-ms", type=int, default=0,
                        help="type at this pace instead of waiting for each keystroke's "
                             "diagnostics (0)")
    parser.add_argument("--scenario", choices=[*SCENARIOS, "ignored"], action="append",
                        help="repeatable; default: findings")
    args = parser.parse_args()
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.2f}")
    print(f"binary: {args.bin}")
    for scenario in args.scenario or ["findings"]:
        asyncio.run(run(args.bin, args.keystrokes, scenario, args.interval_ms))


if __name__ == "__main__":
    main()
