"""inbatch's benchmark suite: scan time against tree-sitter's bare parse and semgrep, keystroke
latency in the server, and the server's memory on an indexed workspace. Run by `tests/bench/run`,
which prepares the corpus, the bench venv and the binaries, then calls:

    python tests/bench/bench.py --bin target/release/inbatch --bare-parse <bench exe> [--quick]

Prints a table and writes tests/bench/RESULTS.md. Not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import pathlib
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = HERE / "cache"
CORPUS = CACHE / "corpus"
GENERATED = "inbatch_bench_generated"
PACKAGES = ["django", "sqlalchemy", GENERATED]

sys.path.insert(0, str(HERE))
import lsp_latency  # noqa: E402  (the language server author's script: module, client, latency)


def prepare_corpus() -> list[pathlib.Path]:
    """The generated module next to the installed packages; the corpus is its own project (an
    empty inbatch.toml: default settings, and the root of the model index), and the file list."""
    generated = CORPUS / GENERATED
    generated.mkdir(parents=True, exist_ok=True)
    (generated / "__init__.py").write_text("")
    (generated / "big_module.py").write_text(lsp_latency.generate_module())
    (CORPUS / "inbatch.toml").write_text("# the bench corpus: default settings\n")
    files = sorted(p for package in PACKAGES for p in (CORPUS / package).rglob("*.py"))
    (CACHE / "files.txt").write_text("".join(f"{p}\n" for p in files))
    return files


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed(command: list[str], cwd: pathlib.Path, env: dict | None = None
          ) -> tuple[float, float, str]:
    """Wall time, CPU time (user + system, of the process and its children) and stdout. CPU time
    is what stays comparable when other work shares the machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{command[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, cpu, done.stdout


def drop_page_cache() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        pathlib.Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def bench_bare_parse(exe: str, threads: int, runs: int) -> dict:
    """One process per run, timed from outside like `inbatch check` (the bench's own timer, which
    leaves out process start-up, is kept as `internal`)."""
    command = [exe, "--files", str(CACHE / "files.txt"), "--runs", "1", "--threads", str(threads)]
    timed(command, CACHE)  # page cache
    walls, cpus, internal = [], [], []
    for _ in range(runs):
        wall, cpu, out = timed(command, CACHE)
        result = json.loads(out.strip().splitlines()[-1])
        walls.append(wall)
        cpus.append(cpu)
        internal += result["seconds"]
    return {**result, "seconds": walls, "cpu": cpus, "internal": internal,
            "median": median(walls), "cpu_median": median(cpus)}


def bench_check(binary: str, threads: int, runs: int) -> dict:
    env = {"RAYON_NUM_THREADS": str(threads)}
    command = [binary, "check", "--no-color", "--format", "concise", *PACKAGES]
    cold_dropped = drop_page_cache()
    cold, cold_cpu, output = timed(command, CORPUS, env)
    warm, cpus = [], []
    for _ in range(runs):
        wall, cpu, _ = timed(command, CORPUS, env)
        warm.append(wall)
        cpus.append(cpu)
    findings = [line for line in output.splitlines() if re.search(r":\d+:\d+: INB\d+", line)]
    codes: dict[str, int] = {}
    for line in findings:
        code = re.search(r"(INB\d+)", line).group(1)
        codes[code] = codes.get(code, 0) + 1
    return {"cold": cold, "cold_cpu": cold_cpu, "cold_dropped_cache": cold_dropped,
            "warm": warm, "cpu": cpus, "median": median(warm), "cpu_median": median(cpus),
            "findings": len(findings), "codes": codes}


def bench_semgrep(files: list[pathlib.Path], threads: int, runs: int) -> dict:
    semgrep = CACHE / "venv" / "bin" / "semgrep"
    version = subprocess.run([semgrep, "--version"], capture_output=True, text=True).stdout.strip()
    output = CACHE / "semgrep.json"
    command = [str(semgrep), "scan", "--config", str(HERE / "semgrep_inb001.yaml"),
               "--metrics=off", "--disable-version-check", "--no-git-ignore", "--jobs",
               str(threads), "--json", "--output", str(output), "--quiet",
               *[str(f.relative_to(CORPUS)) for f in files]]
    seconds, cpus = [], []
    for _ in range(runs):
        wall, cpu, _ = timed(command, CORPUS, {"SEMGREP_SEND_METRICS": "off"})
        seconds.append(wall)
        cpus.append(cpu)
    report = json.loads(output.read_text())
    return {"version": version, "seconds": seconds, "median": median(seconds),
            "cpu": cpus, "cpu_median": median(cpus),
            "findings": len(report.get("results", [])),
            "scanned": len(report.get("paths", {}).get("scanned", [])),
            "errors": len(report.get("errors", []))}


def bench_fix(binary: str, threads: int, runs: int) -> dict:
    """`inbatch check --fix` against `inbatch check` on fresh copies of the corpus (the fix
    writes files), alternating, CPU time of each; the copy is made outside the timing."""
    import shutil
    import tempfile
    env = {"RAYON_NUM_THREADS": str(threads)}
    base = [binary, "check", "--no-color", "--format", "concise", *PACKAGES]
    fix_cpus, check_cpus = [], []
    for _ in range(runs):
        for fix in (True, False):
            with tempfile.TemporaryDirectory(prefix="inbatch-fix-") as scratch:
                copy = pathlib.Path(scratch) / "corpus"
                shutil.copytree(CORPUS, copy, ignore=shutil.ignore_patterns("*.dist-info"))
                command = base + (["--fix"] if fix else [])
                _, cpu, _ = timed(command, copy, env)
                (fix_cpus if fix else check_cpus).append(cpu)
    return {"fix_cpu": fix_cpus, "check_cpu": check_cpus, "fix_median": median(fix_cpus),
            "check_median": median(check_cpus),
            "ratio": median(fix_cpus) / median(check_cpus)}


def bench_edits(binary: str, keystrokes: int, toggles: int) -> dict:
    """Issue 21's scenarios on inbatch and, on the same file and edits, on `ruff server`."""
    ruff = CACHE / "venv" / "bin" / "ruff"
    version = subprocess.run([ruff, "--version"], capture_output=True, text=True).stdout.strip()
    inbatch = asyncio.run(lsp_latency.run_edits([binary, "server"], keystrokes, toggles, True))
    peer = asyncio.run(lsp_latency.run_edits([str(ruff), "server"], keystrokes, toggles, False))
    return {"inbatch": inbatch, "ruff": peer, "ruff_version": version,
            "load": "%.2f %.2f %.2f" % os.getloadavg()}


def bench_keystrokes(binary: str, keystrokes: int) -> dict:
    """The LSP author's script, run as is; its report parsed."""
    out = subprocess.run([sys.executable, str(HERE / "lsp_latency.py"), "--bin", binary,
                          "--keystrokes", str(keystrokes)], capture_output=True, text=True,
                         check=True).stdout
    number = r"([\d.]+) ms"
    latency = re.search(rf"p50 {number}, p90 {number}, p99 {number}, max {number}", out)
    opened = re.search(rf"didOpen → publishDiagnostics: {number}", out)
    count = re.search(r"keystrokes: (\d+)", out)
    return {"p50": float(latency.group(1)), "p90": float(latency.group(2)),
            "p99": float(latency.group(3)), "max": float(latency.group(4)),
            "open": float(opened.group(1)), "keystrokes": int(count.group(1)), "raw": out}


class ProgressClient(lsp_latency.Client):
    """The latency script's client, also noting when the workspace index's `$/progress` ends."""

    def __init__(self, process):
        self.progress_end = asyncio.Event()
        super().__init__(process)

    async def read(self) -> None:
        stdout = self.process.stdout
        while True:
            header = await stdout.readuntil(b"\r\n\r\n")
            length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
            message = json.loads(await stdout.readexactly(length))
            if "id" in message and "method" not in message:
                self.responses.pop(message["id"]).set_result(message)
            elif message.get("method") == "$/progress":
                if message["params"]["value"].get("kind") == "end":
                    self.progress_end.set()
            elif "id" in message:
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})


async def workspace_rss(binary: str) -> dict:
    process = await asyncio.create_subprocess_exec(
        binary, "server", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, env={**os.environ, "INBATCH_LOG": "warn"})
    client = ProgressClient(process)
    start = time.perf_counter()
    await client.request("initialize", {
        "processId": os.getpid(),
        "rootUri": CORPUS.as_uri(),
        "workspaceFolders": [{"uri": CORPUS.as_uri(), "name": "corpus"}],
        "capabilities": {"window": {"workDoneProgress": True},
                         "general": {"positionEncodings": ["utf-16"]}},
    })
    client.notify("initialized", {})
    await asyncio.wait_for(client.progress_end.wait(), 600)
    indexed = time.perf_counter() - start
    rss = lsp_latency.rss_mib(process.pid)
    peak = float("nan")
    for line in pathlib.Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    await client.request("shutdown", None)
    client.notify("exit", None)
    await asyncio.wait_for(process.wait(), 10)
    client.reader.cancel()
    return {"rss": rss, "peak": peak, "seconds": indexed}


def machine(binary: str, semgrep_version: str) -> dict:
    memory = next(line.split()[1] for line in pathlib.Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    inbatch = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    lock = (REPO / "Cargo.lock").read_text()
    ts = {name: re.search(rf'name = "{name}"\nversion = "([^"]+)"', lock).group(1)
          for name in ("tree-sitter", "tree-sitter-python")}
    return {
        "cpu": lsp_latency.machine(),
        "nproc": os.cpu_count(),
        "memory": f"{int(memory) / 1024 / 1024:.1f} GiB",
        "load": "%.2f %.2f %.2f" % os.getloadavg(),
        "python": platform.python_version(),
        "rustc": rustc,
        "inbatch": f"{inbatch} (commit {commit}, release build)",
        "tree-sitter": f"tree-sitter {ts['tree-sitter']}, tree-sitter-python {ts['tree-sitter-python']}",
        "semgrep": semgrep_version,
        "ruff (peer server)": subprocess.run([CACHE / "venv" / "bin" / "ruff", "--version"],
                                             capture_output=True, text=True).stdout.strip(),
    }


def corpus_description(files: list[pathlib.Path]) -> str:
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    size = sum(p.stat().st_size for p in files)
    versions = sorted(p.name.removesuffix(".dist-info") for p in CORPUS.glob("*.dist-info"))
    return (f"{len(files)} files, {lines:,} lines, {size / 1e6:.1f} MB: "
            f"{', '.join(versions)} and a generated {lsp_latency.LINES:,}-line module")


def edit_rows(edits: dict) -> list[tuple[str, str, str, str]]:
    """Per scenario: inbatch's p50/p90/p99, ruff's on the same edits, and the p99 ratio."""
    labels = {"a": "(a) edit inside a function", "b": "(b) edit leaving a statement half typed",
              "c": "(c) edit changing a summary another open file uses (→ that file's "
                   "diagnostics)"}
    rows = []
    for key, label in labels.items():
        ours = edits["inbatch"][key]
        peer = edits["ruff"][key if key != "c" else "c_self"]
        if not ours.get("count"):
            continue
        target = {"a": "p99 < 10 ms, ≤ ruff", "b": "p99 < 10 ms, ≤ ruff"}.get(key, "")
        rows.append((
            f"keystroke {label}, {ours['count']} edits",
            f"p50 {ours['p50']:.2f} / p90 {ours['p90']:.2f} / p99 {ours['p99']:.2f} ms; "
            f"{edits['ruff_version']}: p50 {peer['p50']:.2f} / p90 {peer['p90']:.2f} / "
            f"p99 {peer['p99']:.2f} ms", "",
            f"p99 ÷ ruff p99 = {ours['p99'] / peer['p99']:.2f}" + (f" (target {target})"
                                                                 if target else ""),
        ))
    return rows


def render(results: dict) -> str:
    m = results["machine"]
    bare, check, semgrep = results["bare"], results["check"], results["semgrep"]
    keys, ws = results["keystrokes"], results["workspace"]
    threads = results["threads"]
    floor, floor_cpu = bare["median"], bare["cpu_median"]  # on `threads` threads: parse ÷ cores
    rows = [
        (f"tree-sitter bare parse (read + parse, {threads} threads, median of {len(bare['seconds'])})",
         f"{floor:.2f} s", f"{floor_cpu:.2f} s", "floor"),
        ("`inbatch check`, cold (first run%s)" % (", page cache dropped"
                                                  if check["cold_dropped_cache"] else ""),
         f"{check['cold']:.2f} s", f"{check['cold_cpu']:.2f} s",
         f"{check['cold'] / floor:.2f}× floor"),
        (f"`inbatch check`, warm (median of {len(check['warm'])})",
         f"{check['median']:.2f} s", f"{check['cpu_median']:.2f} s",
         f"{check['median'] / floor:.2f}× floor wall, {check['cpu_median'] / floor_cpu:.2f}× CPU"
         " (target ≤ 1.5×)"),
        (f"semgrep {semgrep['version']}, INB001-equivalent rule (--jobs {threads}, "
         f"median of {len(semgrep['seconds'])})",
         f"{semgrep['median']:.2f} s", f"{semgrep['cpu_median']:.2f} s",
         f"inbatch {semgrep['median'] / check['median']:.0f}× faster wall, "
         f"{semgrep['cpu_median'] / check['cpu_median']:.0f}× CPU (target ≥ 20×)"),
        (f"keystroke → publishDiagnostics, {keys['keystrokes']} edits, 5,000-line module",
         f"p50 {keys['p50']:.2f} ms, p99 {keys['p99']:.2f} ms", "", "target p99 < 10 ms"),
        *edit_rows(results["edits"]),
        (f"`inbatch check --fix` ÷ `inbatch check` (fresh copies, median of "
         f"{len(results['fix']['fix_cpu'])})",
         "", f"{results['fix']['fix_median']:.2f} s ÷ {results['fix']['check_median']:.2f} s",
         f"{results['fix']['ratio']:.2f}× (target ≤ 1.3×)"),
        (f"server RSS after indexing the corpus as a workspace ({ws['seconds']:.1f} s)",
         f"{ws['rss']:.0f} MiB (peak {ws['peak']:.0f} MiB)", "", "target < 300 MiB"),
    ]
    out = ["| Measurement | Wall | CPU (user+sys) | vs target |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    codes = ", ".join(f"{k} {v}" for k, v in sorted(check["codes"].items()))
    notes = [
        "",
        f"Corpus: {results['corpus']}.",
        f"Bare parse: {bare['files']} files, {bare['bytes'] / 1e6:.1f} MB; wall "
        + ", ".join(f"{s:.2f}" for s in bare["seconds"]) + " s, CPU "
        + ", ".join(f"{s:.2f}" for s in bare["cpu"]) + " s.",
        "`inbatch check` warm: wall " + ", ".join(f"{s:.2f}" for s in check["warm"])
        + " s, CPU " + ", ".join(f"{s:.2f}" for s in check["cpu"])
        + f" s; {check['findings']} findings ({codes}).",
        "semgrep: wall " + ", ".join(f"{s:.1f}" for s in semgrep["seconds"]) + " s, CPU "
        + ", ".join(f"{s:.1f}" for s in semgrep["cpu"])
        + f" s; {semgrep['scanned']} files scanned, {semgrep['findings']} findings, "
        f"{semgrep['errors']} errors.",
        f"Keystrokes: p90 {keys['p90']:.2f} ms, max {keys['max']:.2f} ms; "
        f"didOpen → diagnostics {keys['open']:.2f} ms.",
        "Edit scenarios (tests/bench/lsp_latency.py `--edits`): the module with `helper` and "
        "a second open file calling it in a loop, the N+1 rules selected; (a)/(b) split the "
        "typed keystrokes by whether Python's parser accepts the text after them; (c) turns "
        "`helper`'s query key from its parameter to a constant and back; ruff runs the same "
        "edits on the same file (F841/F821 off: the generated filler would give 4,840 "
        "diagnostics per keystroke), its (c) timed to its own diagnostics; load average "
        f"{results['edits']['load']} at the end of the edit runs.",
        f"`--fix` ÷ check: CPU {', '.join(f'{c:.2f}' for c in results['fix']['fix_cpu'])} s "
        f"with `--fix`, {', '.join(f'{c:.2f}' for c in results['fix']['check_cpu'])} s without.",
        "Wall times depend on what else runs on the machine (see the load average below); CPU "
        "times much less so.",
    ]
    machine_lines = [f"- {k}: {v}" for k, v in m.items()]
    return "\n".join(out + notes) + "\n\nMachine:\n\n" + "\n".join(machine_lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(REPO / "target" / "release" / "inbatch"))
    parser.add_argument("--bare-parse", required=True, help="the bare_parse bench executable")
    parser.add_argument("--runs", type=int, default=5, help="warm runs of parse and check")
    parser.add_argument("--semgrep-runs", type=int, default=3)
    parser.add_argument("--keystrokes", type=int, default=600)
    parser.add_argument("--toggles", type=int, default=100, help="summary edits, scenario (c)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--only", choices=["scan", "lsp"], help="run one half of the suite")
    args = parser.parse_args()
    args.bin = str(pathlib.Path(args.bin).resolve())
    args.bare_parse = str(pathlib.Path(args.bare_parse).resolve())

    files = prepare_corpus()
    results: dict = {"threads": args.threads, "corpus": corpus_description(files)}
    print(f"corpus: {results['corpus']}", flush=True)
    if args.only != "lsp":
        results["bare"] = bench_bare_parse(args.bare_parse, args.threads, args.runs)
        print(f"bare parse: {results['bare']['median']:.3f} s "
              f"(CPU {results['bare']['cpu_median']:.3f} s)", flush=True)
        results["check"] = bench_check(args.bin, args.threads, args.runs)
        print(f"inbatch check: cold {results['check']['cold']:.3f} s, "
              f"warm {results['check']['median']:.3f} s "
              f"(CPU {results['check']['cpu_median']:.3f} s)", flush=True)
        results["fix"] = bench_fix(args.bin, args.threads, max(1, args.runs // 2))
        print(f"--fix ÷ check: {results['fix']['ratio']:.2f} "
              f"({results['fix']['fix_median']:.2f} s ÷ {results['fix']['check_median']:.2f} s"
              " CPU)", flush=True)
        if args.only == "scan":
            return
        results["semgrep"] = bench_semgrep(files, args.threads, args.semgrep_runs)
        print(f"semgrep: {results['semgrep']['median']:.2f} s "
              f"(CPU {results['semgrep']['cpu_median']:.2f} s)", flush=True)
    results["keystrokes"] = bench_keystrokes(args.bin, args.keystrokes)
    print(f"keystrokes: p50 {results['keystrokes']['p50']:.2f} ms, "
          f"p99 {results['keystrokes']['p99']:.2f} ms", flush=True)
    results["edits"] = bench_edits(args.bin, args.keystrokes, args.toggles)
    for name in ("inbatch", "ruff"):
        print(lsp_latency.edits_report(name, results["edits"][name]), flush=True)
    results["workspace"] = asyncio.run(workspace_rss(args.bin))
    print(f"workspace: {results['workspace']['rss']:.1f} MiB after "
          f"{results['workspace']['seconds']:.1f} s", flush=True)
    if args.only == "lsp":
        return

    results["machine"] = machine(args.bin, results["semgrep"]["version"])
    table = render(results)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (HERE / "RESULTS.md").write_text(
        f"# inbatch benchmark results\n\nWritten by `tests/bench/run` on {stamp}.\n\n{table}")
    (CACHE / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print()
    print(table)


if __name__ == "__main__":
    main()
