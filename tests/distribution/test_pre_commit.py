"""The pre-commit hook of .pre-commit-hooks.yaml, run by pre-commit (from PyPI) in a throwaway repo.

How the hook is installed in this test: a `repo: local` hook with the manifest's `entry`,
`types_or`, `require_serial` and `args`, and `language: system`, so that `inbatch` is the binary of
the wheel installed into a fresh venv (put first on PATH). The alternative,
`repo: <path to this repository>` with the manifest's `language: python`, makes pre-commit
`pip install` the repository, which compiles the crate in release mode from the sdist in a
temporary folder (many minutes on a 2-core machine, and it needs maturin from the network at test
time). The wheel under test is the same artifact `language: python` would install, so this checks
what the hook does without paying for a second build. The manifest itself is validated with
pre-commit's own `validate-manifest`.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import yaml

N_PLUS_ONE = """\
from app.models import User


def users_by_id(session, user_ids):
    users = {}
    for uid in user_ids:
        users[uid] = session.get(User, uid)
    return users
"""


def run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)


def manifest_hook(repo: pathlib.Path) -> dict:
    with open(repo / ".pre-commit-hooks.yaml", encoding="utf-8") as f:
        hooks = yaml.safe_load(f)
    (hook,) = [h for h in hooks if h["id"] == "inbatch"]
    return hook


def test_manifest_is_valid_for_pre_commit(repo: pathlib.Path):
    result = run([sys.executable, "-m", "pre_commit", "validate-manifest", ".pre-commit-hooks.yaml"], cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifest_hook_is_like_ruffs(repo: pathlib.Path):
    hook = manifest_hook(repo)
    assert hook["entry"] == "inbatch check --force-exclude"
    assert hook["language"] == "python"
    assert hook["types_or"] == ["python", "pyi"]
    # One process sees every file: the model index is cross-file and inbatch parallelises itself.
    assert hook["require_serial"] is True


def git(cwd: pathlib.Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run(["git", *args], cwd=cwd, env=env)


def test_hook_fails_on_n_plus_one_then_passes_once_fixed(repo, installed, tmp_path: pathlib.Path):
    project = tmp_path / "project"
    (project / "app").mkdir(parents=True)
    (project / "migrations").mkdir()
    (project / "app" / "analytics.py").write_text(N_PLUS_ONE)
    # Excluded by configuration: pre-commit names it on the command line, --force-exclude skips it.
    (project / "migrations" / "0001_backfill.py").write_text(N_PLUS_ONE)
    (project / "notes.txt").write_text("for uid in ids: session.get(User, uid)\n")
    # The N+1 rules are off by default: the project turns them on, as the README's CI setup shows.
    (project / "pyproject.toml").write_text(
        '[tool.inbatch]\nextend-select = ["INB001", "INB002", "INB003", "INB005"]\n'
        'extend-exclude = ["migrations"]\n'
    )

    hook = {k: v for k, v in manifest_hook(repo).items() if k in ("id", "name", "entry", "types_or", "args", "require_serial")}
    hook["language"] = "system"
    config = {"repos": [{"repo": "local", "hooks": [hook]}]}
    (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[user]\n\tname = inbatch tests\n\temail = tests@inbatch.invalid\n[init]\n\tdefaultBranch = main\n")
    env = installed.env()
    env.update(
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
        PRE_COMMIT_COLOR="never",
    )
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(key, None)
    assert git(project, env, "init", "-q").returncode == 0
    installed_hook = run([sys.executable, "-m", "pre_commit", "install"], cwd=project, env=env)
    assert installed_hook.returncode == 0, installed_hook.stdout + installed_hook.stderr
    assert git(project, env, "add", "-A").returncode == 0

    # The git hook runs pre-commit, which runs inbatch on the staged Python files: the commit fails.
    failed = git(project, env, "commit", "-q", "-m", "analytics")
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output
    assert "inbatch" in output and "Failed" in output, output
    assert "app/analytics.py:7:22" in output and "INB001" in output, output
    assert "migrations" not in output, output
    assert "notes.txt" not in output, output
    assert git(project, env, "rev-parse", "--verify", "-q", "HEAD").returncode != 0, "nothing was committed"

    # Fix with inbatch's own batched rewrite, stage it: the hook passes and the commit lands.
    fixed = run(["inbatch", "check", "--fix", "--unsafe-fixes", "app/analytics.py"], cwd=project, env=env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "in_(" in (project / "app" / "analytics.py").read_text()
    assert git(project, env, "add", "-A").returncode == 0
    passed = git(project, env, "commit", "-m", "analytics, batched")
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output
    assert "Passed" in output, output
    assert git(project, env, "rev-parse", "--verify", "-q", "HEAD").returncode == 0

    # And `pre-commit run --all-files` agrees.
    again = run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=project, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
