"""VS Code extension: npm ci, compile, lint, unit tests, package and .vsix checks (editors/vscode/test.sh)."""

import shutil
import subprocess

import pytest


def test_vscode_extension_builds_lints_tests_and_packages(repo):
    for tool in ("node", "npm"):
        assert shutil.which(tool), f"{tool} is needed to build the VS Code extension"
    ext = repo / "editors" / "vscode"
    try:
        proc = subprocess.run(
            ["bash", str(ext / "test.sh")],
            cwd=ext,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired as e:  # pragma: no cover - reported as a failure
        pytest.fail(f"editors/vscode/test.sh timed out\n{e.stdout}\n{e.stderr}")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"editors/vscode/test.sh failed ({proc.returncode}):\n{out[-8000:]}"
    assert "# fail 0" in out, out[-4000:]
    assert "VSIX OK" in out
    vsix = ext / "inbatch.vsix"
    assert vsix.is_file()
    assert vsix.stat().st_size < 1024 * 1024
