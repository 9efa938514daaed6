"""Imports added by fixes go where isort would put them (issue #19): every fixture whose imports
`ruff check --select I` (isort's order, default settings) accepts is still accepted after
`inbatch check --fix --unsafe-fixes`.

Each fixture is checked in a folder of its own, next to a stub for every module it imports that is
neither the standard library nor installed (`models`, `app`, `harness_models`): those are the
project's own modules, so ruff sorts them as first party, as it would in the project."""

from __future__ import annotations

import ast
import importlib.metadata
import pathlib
import shutil
import subprocess
import sys

import pytest

# The N+1 rules, whose fixes these tests check, are off by default: select them.
N_PLUS_ONE_RULES = ("--extend-select", "INB001,INB002,INB003,INB005")

RUFF = pathlib.Path(sys.executable).with_name("ruff")


def fixtures(repo: pathlib.Path) -> list[pathlib.Path]:
    paths = sorted((repo / "tests" / "fixtures" / "fixes").rglob("original.py"))
    paths += sorted((repo / "tests" / "fixtures" / "rules").rglob("*.py"))
    paths += sorted((repo / "examples").rglob("*.py"))
    return paths


def project_modules(tree: ast.Module) -> set[str]:
    """The modules the file imports that are not the standard library or installed (dotted)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    # Installed distributions, not whatever is importable: the harness puts its model modules on
    # sys.path when its tests run in the same session.
    installed = importlib.metadata.packages_distributions()
    return {
        name
        for name in names
        if name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] not in installed
    }


def write_stubs(folder: pathlib.Path, modules: set[str]) -> None:
    """Empty modules (and packages) for `modules`: ruff looks for the whole dotted path."""
    packages = {".".join(m.split(".")[:i]) for m in modules for i in range(1, m.count(".") + 1)}
    for package in packages:
        path = folder.joinpath(*package.split("."))
        path.mkdir(parents=True, exist_ok=True)
        (path / "__init__.py").touch()
    for module in modules - packages:
        folder.joinpath(*module.split(".")).with_suffix(".py").touch()


def ruff_accepts(folder: pathlib.Path, name: str) -> tuple[bool, str]:
    result = subprocess.run(
        [str(RUFF), "check", "--isolated", "--no-cache", "--select", "I", name],
        cwd=folder, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0, result.stdout


def test_ruff_is_installed():
    assert RUFF.is_file(), f"ruff not found next to {sys.executable}; tests/run installs it"


def test_fixed_fixtures_keep_isort_order(inbatch_bin, repo, tmp_path):
    checked = changed = 0
    problems = []
    for index, path in enumerate(fixtures(repo)):
        text = path.read_text()
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        folder = tmp_path / str(index)
        folder.mkdir()
        write_stubs(folder, project_modules(tree))
        target = folder / "case.py"
        shutil.copyfile(path, target)
        accepted, _ = ruff_accepts(folder, target.name)
        if not accepted:
            continue
        result = subprocess.run(
            [inbatch_bin, "check", *N_PLUS_ONE_RULES, "--fix", "--unsafe-fixes", target.name],
            cwd=folder, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode in (0, 1), f"{path}: {result.stderr}"
        checked += 1
        if target.read_text() == text:
            continue
        changed += 1
        accepted, report = ruff_accepts(folder, target.name)
        if not accepted:
            problems.append(f"{path.relative_to(repo)}:\n{report}\n{target.read_text()}")
    assert not problems, "\n\n".join(problems)
    # Not vacuous: most fixtures start in isort's order, and their fixes add or merge imports.
    assert checked >= 30 and changed >= 20, (checked, changed)


HEADERS = [
    "#!/usr/bin/env python\n",
    "# -*- coding: utf-8 -*-\n",
    '"""A module docstring."""\n',
    '"""A module docstring."""\nfrom __future__ import annotations\n\n',
    "from __future__ import annotations\n\n",
]


@pytest.mark.parametrize("header", HEADERS, ids=["shebang", "coding", "docstring", "docstring-future", "future"])
def test_imports_go_below_the_module_header(inbatch_bin, repo, tmp_path, header):
    """Whatever the module starts with, the fixed file compiles with CPython and starts with it
    (an import above `from __future__` or the docstring made CPython refuse the file)."""
    fixed_some = 0
    for index, path in enumerate(fixtures(repo)):
        text = path.read_text()
        if "__future__" in text:
            continue
        try:
            compile(header + text, str(path), "exec")
        except SyntaxError:
            continue
        target = tmp_path / f"{index}.py"
        target.write_text(header + text)
        result = subprocess.run(
            [inbatch_bin, "check", *N_PLUS_ONE_RULES, "--fix", "--unsafe-fixes", target.name],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode in (0, 1), f"{path}: {result.stderr}"
        fixed = target.read_text()
        assert fixed.startswith(header), f"{path}: the header moved:\n{fixed[:400]}"
        try:
            compile(fixed, str(target), "exec")
        except SyntaxError as error:
            pytest.fail(f"{path} with {header!r}: {error}\n{fixed}")
        fixed_some += fixed != header + text
    assert fixed_some >= 20
