"""Runs every cargo-fuzz target for a bounded time (fuzz/run.sh) and asserts no crash. The
seconds per target come from INBATCH_FUZZ_SECONDS (default 45)."""

import os
import subprocess


def test_fuzz_targets_find_no_crash(repo):
    seconds = os.environ.get("INBATCH_FUZZ_SECONDS", "45")
    result = subprocess.run(
        [str(repo / "fuzz" / "run.sh"), seconds], capture_output=True, text=True, timeout=3600,
    )
    summary = repo / "fuzz" / "target" / "summary.txt"
    report = summary.read_text() if summary.exists() else ""
    print(report)
    assert result.returncode == 0, (report + result.stdout[-4000:] + result.stderr[-4000:])
    assert "FAIL" not in report
