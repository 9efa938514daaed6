"""The maturin wheel: built, installed into a fresh venv, and run from there (`pip install inbatch`)."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import tomllib
import zipfile

CONCISE = re.compile(r"^(?P<path>[^:]+):(?P<row>\d+):(?P<col>\d+): (?P<code>INB\d{3}) (?P<message>.+)$")


def run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


def test_wheel_carries_the_binary_and_the_cargo_version(wheel: pathlib.Path, cargo_version: str):
    assert wheel.name.startswith(f"inbatch-{cargo_version}-py3-none-"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"inbatch-{cargo_version}.dist-info/METADATA").decode()
    assert f"inbatch-{cargo_version}.data/scripts/inbatch" in names, names
    assert {"inbatch/__init__.py", "inbatch/__main__.py"} <= names, names
    assert f"\nVersion: {cargo_version}\n" in metadata
    # Nothing of the work tree but the package itself.
    assert not [n for n in names if n.startswith(("tests/", "editors/", "server/", "examples/"))]


def test_pyproject_takes_the_version_from_cargo(repo: pathlib.Path):
    with open(repo / "pyproject.toml", "rb") as f:
        pyproject = tomllib.load(f)
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    maturin = pyproject["tool"]["maturin"]
    assert maturin["bindings"] == "bin"
    assert (repo / maturin["manifest-path"]).is_file()
    # The repository's own pyproject must not configure inbatch for the other suites.
    assert "inbatch" not in pyproject["tool"]


def test_the_installed_binary_is_the_one_on_path(installed):
    found = shutil.which("inbatch", path=installed.env()["PATH"])
    assert found is not None
    assert pathlib.Path(found).resolve() == (installed.bin_dir / "inbatch").resolve()


def test_installed_inbatch_checks_the_examples(installed, repo: pathlib.Path):
    result = run(["inbatch", "check", "examples/"], cwd=repo, env=installed.env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INB001" in result.stdout
    assert " --> examples/analytics/n_plus_one.py:9:20" in result.stdout

    # Only INB001 below: the examples also hold findings of other rules.
    concise = run(
        ["inbatch", "check", "--select", "INB001", "--format", "concise", "examples/"], cwd=repo, env=installed.env()
    )
    assert concise.returncode == 1
    lines = concise.stdout.splitlines()
    assert len(lines) == 2, concise.stdout
    for line in lines:
        match = CONCISE.match(line)
        assert match, line
        assert match["code"] == "INB001"
        assert match["path"] == "examples/analytics/n_plus_one.py"


def test_installed_inbatch_exits_0_on_clean_code(installed, tmp_path: pathlib.Path):
    (tmp_path / "clean.py").write_text("def f(session, ids):\n    return list(ids)\n")
    result = run(["inbatch", "check", "."], cwd=tmp_path, env=installed.env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed!" in result.stdout


def test_python_m_inbatch(installed, repo: pathlib.Path, cargo_version: str):
    version = run([str(installed.python), "-m", "inbatch", "--version"], env=installed.env())
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"inbatch {cargo_version}"
    # The process is the binary's own: its exit code and output come through unchanged.
    check = run(
        [str(installed.python), "-m", "inbatch", "check", "--select", "INB001", "--format", "json", "examples/"],
        cwd=repo,
    )
    assert check.returncode == 1, check.stderr
    assert [d["code"] for d in json.loads(check.stdout)] == ["INB001", "INB001"]


def test_python_package_reads_the_version_from_metadata(installed, cargo_version: str):
    script = "import inbatch; print(inbatch.__version__); print(inbatch.find_inbatch_bin())"
    result = run([str(installed.python), "-c", script], env=installed.env())
    assert result.returncode == 0, result.stderr
    version, binary = result.stdout.splitlines()
    assert version == cargo_version
    assert pathlib.Path(binary).resolve() == (installed.bin_dir / "inbatch").resolve()


def test_installed_inbatch_writes_valid_sarif(installed, repo: pathlib.Path, sarif_schema: dict):
    import jsonschema

    result = run(["inbatch", "check", "--format", "sarif", "examples/"], cwd=repo, env=installed.env())
    assert result.returncode == 1, result.stderr
    jsonschema.Draft4Validator(sarif_schema).validate(json.loads(result.stdout))
