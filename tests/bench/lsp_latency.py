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
        # Every publication per document, in order: (time, version or None, diagnostics).
        self.by_uri: dict[str, list[tuple[float, int | None, int]]] = {}
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
                self.by_uri.setdefault(message["params"]["uri"], []).append(
                    (now, version, len(message["params"]["diagnostics"])))
                if version is not None:
                    self.published[version] = now
                self.publish_event.set()
            elif "id" in message:
                # A request from the server (progress token, registration): accept it.
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})

    async def publication(self, uri: str, after: int, version: int | None = None,
                          count=None) -> float:
        """The time of the first publication for `uri` past the first `after` ones (of
        `version`, when the server sends versions and one is given; with `count`, holding
        diagnostics for which `count(number)` is true)."""
        while True:
            for at, published, number in self.by_uri.get(uri, [])[after:]:
                if version is not None and published is not None and published < version:
                    continue
                if count is None or count(number):
                    return at
            self.publish_event.clear()
            await asyncio.wait_for(self.publish_event.wait(), 30)

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


# The edit scenarios of issue 21, each measured on inbatch and on a peer server (ruff) with the
# same file and the same edits.
N_PLUS_ONE = ["INB001", "INB002", "INB003", "INB005"]
HELPER = ["def helper(uid):", "    return Session.query.filter_by(user_id=uid).first()", "", ""]
CONSUMER = (
    "from big_module import helper\n\n\n"
    "def consume(user_ids):\n"
    "    return [helper(uid) for uid in user_ids]\n"
)


def edits_module() -> str:
    """The 5,000-line module with `helper` (a function another file calls in a loop) in place of
    the first padding lines: still 5,000 lines."""
    lines = generate_module().split("\n")
    at = lines.index("# padding")
    lines[at:at + len(HELPER)] = HELPER
    return "\n".join(lines)


def summary(latencies: list[float]) -> dict:
    if not latencies:
        return {"count": 0}
    return {"count": len(latencies), "p50": percentile(latencies, 0.50),
            "p90": percentile(latencies, 0.90), "p99": percentile(latencies, 0.99),
            "max": max(latencies), "mean": statistics.fmean(latencies)}


async def run_edits(command: list[str], keystrokes: int, toggles: int,
                    consumer: bool) -> dict:
    """Opens the module (and, with `consumer`, a second file calling its `helper`), types
    `keystrokes` edits into one function, then changes `helper`'s summary `toggles` times.
    Returns per-scenario latencies (ms): `a` keystrokes that leave the module parseable, `b`
    those that leave a statement half typed (judged by Python's own parser), `c` the summary
    edits, timed to the other file's next diagnostics (`c_self`: to the module's own)."""
    import ast

    text = edits_module()
    workspace = pathlib.Path(tempfile.mkdtemp(prefix="inbatch-bench-"))
    selected = ", ".join(f'"{code}"' for code in N_PLUS_ONE)
    (workspace / "inbatch.toml").write_text(f"extend-select = [{selected}]\n")
    # ruff's defaults flag every filler line of the generated module (F841, F821): 4,840
    # diagnostics per keystroke would time the client's JSON decoding, not the server.
    (workspace / "ruff.toml").write_text('[lint]\nignore = ["F841", "F821"]\n')
    path = workspace / "big_module.py"
    path.write_text(text)
    (workspace / "consumer.py").write_text(CONSUMER)
    uri, consumer_uri = path.as_uri(), (workspace / "consumer.py").as_uri()
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, cwd=workspace,
        env={**os.environ, "INBATCH_LOG": "warn"},
    )
    client = Client(process)
    await client.request("initialize", {
        "processId": os.getpid(),
        "rootUri": workspace.as_uri(),
        "workspaceFolders": [{"uri": workspace.as_uri(), "name": "bench"}],
        "capabilities": {"general": {"positionEncodings": ["utf-16"]},
                         "textDocument": {"publishDiagnostics": {"versionSupport": True}}},
    })
    client.notify("initialized", {})
    opened = time.perf_counter()
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": text}})
    open_latency = (await client.publication(uri, 0)) - opened
    if consumer:
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": consumer_uri, "languageId": "python", "version": 1, "text": CONSUMER}})
        await client.publication(consumer_uri, 0)
    rss_open = rss_mib(process.pid)
    version = 1

    async def change(start: dict, end: dict, new_text: str, watch: str, count=None) -> float:
        nonlocal version
        version += 1
        seen = len(client.by_uri.get(watch, []))
        sent = time.perf_counter()
        client.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": start, "end": end}, "text": new_text}],
        })
        wanted = version if watch == uri else None
        return ((await client.publication(watch, seen, wanted, count)) - sent) * 1000

    lines = text.split("\n")
    current = lines[:]
    line = next(i for i, l in enumerate(lines) if l.startswith("def analytics_10(")) + 4
    column = len(lines[line])
    parseable: list[float] = []
    broken: list[float] = []
    typed = 0
    while typed < keystrokes:
        for piece in [NEWLINE, *TYPED]:
            if piece == ")":
                column += 1
                continue
            inserted = "()" if piece == "(" else piece
            # The text after this keystroke, to judge it before timing.
            row = current[line]
            edited = current[:line] + (row[:column] + inserted + row[column:]).split("\n") \
                + current[line + 1:]
            try:
                ast.parse("\n".join(edited))
                bucket = parseable
            except SyntaxError:
                bucket = broken
            position = {"line": line, "character": column}
            bucket.append(await change(position, position, inserted, uri))
            current = edited
            if piece == NEWLINE:
                line += 1
                column = len(NEWLINE) - 1
            else:
                column += 1
            typed += 1
            if typed >= keystrokes:
                break
    # Summary edits: `helper`'s query key goes from its parameter to a constant and back, so
    # the consumer's INB003 comes and goes.
    helper_line = current.index(HELPER[1])
    key = HELPER[1].index("uid)")
    other: list[float] = []
    own: list[float] = []
    for toggle in range(toggles):
        old, new = ("uid", "7") if toggle % 2 == 0 else ("7", "uid")
        start = {"line": helper_line, "character": key}
        end = {"line": helper_line, "character": key + len(old)}
        if consumer:
            seen_own = len(client.by_uri.get(uri, []))
            sent = time.perf_counter()
            # The consumer's diagnostics that show this edit: its INB003 gone (key constant)
            # or back (a publication of the previous state may still be on its way).
            shows = (lambda n: n == 0) if new == "7" else (lambda n: n > 0)
            other.append(await change(start, end, new, consumer_uri, shows))
            own.append(((await client.publication(uri, seen_own, version)) - sent) * 1000)
        else:
            own.append(await change(start, end, new, uri))
    rss_typed = rss_mib(process.pid)
    await client.request("shutdown", None)
    client.notify("exit", None)
    await asyncio.wait_for(process.wait(), 10)
    client.reader.cancel()
    return {"open": open_latency * 1000, "a": summary(parseable), "b": summary(broken),
            "c": summary(other), "c_self": summary(own), "rss_open": rss_open,
            "rss_typed": rss_typed, "lines": len(text.splitlines())}


def edits_report(name: str, result: dict) -> str:
    def row(label: str, values: dict) -> str:
        if not values.get("count"):
            return f"  {label}: not measured"
        return (f"  {label}: {values['count']} edits, p50 {values['p50']:.2f} ms, "
                f"p90 {values['p90']:.2f} ms, p99 {values['p99']:.2f} ms, "
                f"max {values['max']:.2f} ms")
    return "\n".join([
        f"{name}: {result['lines']} lines, didOpen → diagnostics {result['open']:.2f} ms, "
        f"RSS {result['rss_open']:.1f} / {result['rss_typed']:.1f} MiB",
        row("(a) edit inside a function", result["a"]),
        row("(b) statement left half typed", result["b"]),
        row("(c) summary change → other file's diagnostics", result["c"]),
        row("(c) summary change → own diagnostics", result["c_self"]),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(REPO / "target" / "release" / "inbatch"))
    parser.add_argument("--keystrokes", type=int, default=600)
    parser.add_argument("--interval-ms", type=int, default=0,
                        help="type at this pace instead of waiting for each keystroke's "
                             "diagnostics (0)")
    parser.add_argument("--scenario", choices=[*SCENARIOS, "ignored"], action="append",
                        help="repeatable; default: findings")
    parser.add_argument("--edits", action="store_true",
                        help="the scenarios of issue 21: (a) edits inside a function, (b) edits "
                             "leaving a statement half typed, (c) edits changing a summary "
                             "another open file uses")
    parser.add_argument("--toggles", type=int, default=100, help="summary edits for --edits")
    parser.add_argument("--peer", help="a peer language server's command, run with --edits on "
                                       "the same file and edits (e.g. 'ruff server')")
    args = parser.parse_args()
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.2f}")
    print(f"binary: {args.bin}")
    if args.edits:
        result = asyncio.run(run_edits([str(pathlib.Path(args.bin).resolve()), "server"], args.keystrokes, args.toggles, True))
        print(edits_report("inbatch", result))
        if args.peer:
            peer = asyncio.run(run_edits(args.peer.split(), args.keystrokes, args.toggles, False))
            print(edits_report(args.peer, peer))
        return
    for scenario in args.scenario or ["findings"]:
        asyncio.run(run(args.bin, args.keystrokes, scenario, args.interval_ms))


if __name__ == "__main__":
    main()
