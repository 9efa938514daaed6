"""Fixtures of the distribution tests: the maturin wheel, installed into a fresh virtualenv."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import sys
import time
import tomllib

import pytest

HERE = pathlib.Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class Installed:
    """A fresh virtualenv holding only pip and the inbatch wheel."""

    root: pathlib.Path
    python: pathlib.Path
    bin_dir: pathlib.Path

    def env(self) -> dict[str, str]:
        """The environment of an activated venv: its scripts folder first on PATH."""
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
        env["PATH"] = str(self.bin_dir) + os.pathsep + env.get("PATH", "")
        env["VIRTUAL_ENV"] = str(self.root)
        env.pop("NO_COLOR", None)
        return env


@pytest.fixture(scope="session")
def cargo_version(repo: pathlib.Path) -> str:
    with open(repo / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


@pytest.fixture(scope="session")
def wheel(repo: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Builds the wheel as `pip install inbatch` users get it, but from the `dev` profile.

    `tests/run` has just built `target/debug/inbatch` with `cargo build --locked`; maturin reuses
    that build (cargo finds it fresh), so the wheel takes seconds instead of a release build's
    minutes on a 2-core CI machine. `--strip false` leaves cargo's artifact untouched (stripping
    would rewrite target/debug/inbatch in place, which the other suites run). The wheel goes to a
    temporary folder, never into the work tree.
    """
    out = tmp_path_factory.mktemp("wheels")
    command = [sys.executable, "-m", "maturin", "build", "--profile", "dev"]
    command += ["--strip", "false", "--locked", "--out", str(out)]
    started = time.monotonic()
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, f"maturin build failed:\n{result.stdout}\n{result.stderr}"
    wheels = sorted(out.glob("inbatch-*.whl"))
    assert len(wheels) == 1, wheels
    sys.stderr.write(f"\n[distribution] maturin build --profile dev: {elapsed:.1f}s, {wheels[0].name}\n")
    return wheels[0]


@pytest.fixture(scope="session")
def installed(wheel: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """`python -m venv` in a temporary folder, then `pip install --no-index <wheel>`."""
    root = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    bin_dir = root / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", "--disable-pip-version-check", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Installed(root=root, python=python, bin_dir=bin_dir)


@pytest.fixture(scope="session")
def sarif_schema() -> dict:
    import json

    with open(HERE / "sarif-schema-2.1.0.json", encoding="utf-8") as f:
        return json.load(f)
