"""A new Neovim user's first minute, with each documented setup exactly as the README writes it
(no options): no error in `:messages`, all five findings of a Django view on open without an edit
(four of them need the workspace's models, indexed after the first pull), and a `pyproject.toml`
change reflected after `:w` (Neovim on Linux does not watch files for the server)."""

import json
import os
import pathlib
import shutil
import subprocess

import pytest

from test_nvim import NVIM_TIMEOUT_S, nvim  # noqa: F401

HERE = pathlib.Path(__file__).resolve().parent
FILLER_MODULES = 300


@pytest.mark.parametrize("mode", ["lsp_enable", "setup", "start"])
def test_first_start_as_documented(mode, nvim, inbatch_bin, repo, tmp_path):  # noqa: F811
    project = tmp_path / "project"
    shutil.copytree(HERE / "django_project", project)
    views = project / "shop" / "views.py"
    # Enough other modules that indexing the workspace's models outlasts Neovim's first pull.
    filler = project / "shop" / "reports"
    filler.mkdir()
    body = "".join(f"def report_{n}(rows):\n    return [r.id for r in rows if r.id > {n}]\n\n\n"
                   for n in range(60))
    for n in range(FILLER_MODULES):
        (filler / f"report_{n}.py").write_text(body)
    result_path = tmp_path / "result.json"
    env = dict(os.environ)
    env.update(
        # `inbatch` on PATH, as after `pip install inbatch`: the setups name no binary.
        PATH=str(pathlib.Path(inbatch_bin).parent) + os.pathsep + env.get("PATH", ""),
        INBATCH_NVIM_PLUGIN=str(repo / "editors" / "nvim"),
        INBATCH_NVIM_FILE=str(views),
        INBATCH_NVIM_RESULT=str(result_path),
        INBATCH_NVIM_MODE=mode,
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        NVIM_LOG_FILE=str(tmp_path / "nvim.log"),
    )
    proc = subprocess.run(
        ["timeout", "--kill-after=10", str(NVIM_TIMEOUT_S), nvim, "--headless", "--clean",
         "-u", str(HERE / "nvim" / "first_start.lua")],
        cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=NVIM_TIMEOUT_S + 30,
    )
    log = f"exit {proc.returncode}\nstderr:\n{proc.stderr[-6000:]}"
    lsp_log = tmp_path / "state" / "nvim" / "lsp.log"
    if lsp_log.is_file():
        log += "\nlsp.log:\n" + lsp_log.read_text()[-6000:]
    assert result_path.is_file(), "the Lua test wrote no result\n" + log
    result = json.loads(result_path.read_text())
    assert result.get("ok") is True, f"{result.get('error')}\nsteps: {result.get('steps')}\n{log}"

    # Nothing is sent as options: an empty Lua table would go out as the JSON array `[]`.
    assert result["attached"]["init_options"] == "nil", result["attached"]
    # No error (nor anything from the server) in :messages.
    assert "inbatch" not in result["messages"], result["messages"]
    assert "invalid" not in result["messages"].lower(), result["messages"]

    codes = [d["code"] for d in result["on_open"]]
    assert codes == ["INB001", "INB002", "INB002", "INB201", "INB002"], result["on_open"]
    assert [d["code"] for d in result["after_config"]] == ["INB001", "INB201"], result["after_config"]
