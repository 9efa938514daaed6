"""`--format sarif` against the SARIF 2.1.0 JSON schema, and `--format github` lines by regex.

The schema (sarif-schema-2.1.0.json beside this file) is the OASIS SARIF TC's, copied from
`sarif-2.1/schema/sarif-schema-2.1.0.json` of the oasis-tcs/sarif-spec repository (errata01, last
changed there on 2024-05-02), used under the OASIS IPR Policy that governs that repository. It is
committed because tests reach only package registries: no PyPI package ships it (sarif-om and
jschema-to-python carry Python classes generated from it, sarif-tools neither). It is a draft-04
schema, validated with jsonschema's Draft4Validator.
"""

from __future__ import annotations

import copy
import json
import pathlib
import re
import subprocess

import jsonschema
import pytest

GITHUB = re.compile(
    r"^::(?P<command>warning|notice) file=(?P<file>[^,:]+),line=(?P<line>\d+),col=(?P<col>\d+),"
    r"endLine=(?P<end_line>\d+),endColumn=(?P<end_col>\d+),title=(?P<title>INB\d{3})::(?P<message>[^\r\n]+)$"
)

N_PLUS_ONE = 'def f(session, ids):\n    for uid in ids:\n        print(session.get(User, "%d,x:y" % uid))\n'


def check(inbatch_bin: str, cwd: pathlib.Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [inbatch_bin, "check", *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def validator(sarif_schema: dict) -> jsonschema.Draft4Validator:
    jsonschema.Draft4Validator.check_schema(sarif_schema)
    return jsonschema.Draft4Validator(sarif_schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def assert_valid(validator: jsonschema.Draft4Validator, log: dict) -> None:
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:20])


@pytest.fixture()
def weird_project(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "my pkg").mkdir()
    (tmp_path / "my pkg" / "vüe,1:x.py").write_text(N_PLUS_ONE, encoding="utf-8")
    (tmp_path / "clean.py").write_text("x = 1\n")
    (tmp_path / "inbatch.toml").write_text('extend-select = ["INB001"]\n')
    return tmp_path


def test_sarif_of_the_examples_is_valid(inbatch_bin, repo, validator):
    result = check(inbatch_bin, repo, "--format", "sarif", "examples/")
    assert result.returncode == 1, result.stderr
    log = json.loads(result.stdout)
    assert_valid(validator, log)
    results = log["runs"][0]["results"]
    inb001 = [r for r in results if r["ruleId"] == "INB001"]
    assert len(inb001) == 2, results
    assert all(r["fixes"] and r["relatedLocations"] for r in inb001)


def test_sarif_with_odd_paths_fixes_and_stdin_is_valid(inbatch_bin, weird_project, validator):
    result = check(inbatch_bin, weird_project, "--format", "sarif")
    assert result.returncode == 1, result.stderr
    log = json.loads(result.stdout)
    assert_valid(validator, log)
    (only,) = log["runs"][0]["results"]
    location = only["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "my%20pkg/v%C3%BCe%2C1%3Ax.py", "uriBaseId": "%SRCROOT%"}

    stdin = check(inbatch_bin, weird_project, "--format", "sarif", "--stdin-filename", "a b.py", "-", stdin=N_PLUS_ONE)
    assert stdin.returncode == 1, stdin.stderr
    assert_valid(validator, json.loads(stdin.stdout))

    clean = check(inbatch_bin, weird_project, "--format", "sarif", "clean.py")
    assert clean.returncode == 0, clean.stderr
    log = json.loads(clean.stdout)
    assert_valid(validator, log)
    assert log["runs"][0]["results"] == []


def test_the_schema_check_is_not_vacuous(inbatch_bin, repo, validator):
    log = json.loads(check(inbatch_bin, repo, "--format", "sarif", "examples/").stdout)
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["level"] = "warn"
    assert list(validator.iter_errors(broken))
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert list(validator.iter_errors(broken))
    broken = copy.deepcopy(log)
    del broken["version"]
    assert list(validator.iter_errors(broken))


def test_sarif_driver_lists_every_rule(inbatch_bin, repo):
    listed = subprocess.run([inbatch_bin, "rule", "--all"], capture_output=True, text=True, timeout=60).stdout
    codes = re.findall(r"^# [a-z0-9-]+ \((INB\d{3})\)$", listed, flags=re.M)
    assert codes, listed
    log = json.loads(check(inbatch_bin, repo, "--format", "sarif", "examples/").stdout)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == codes
    for rule in rules:
        page = f"docs/rules/{rule['id']}.md"
        assert rule["helpUri"] == f"https://github.com/inbatch/inbatch/blob/main/{page}"
        assert (repo / page).is_file(), f"{page} is checked in"
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["markdown"].startswith("## What it does")
    for result in log["runs"][0]["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_github_lines_match_the_workflow_command_syntax(inbatch_bin, repo):
    result = check(inbatch_bin, repo, "--format", "github", "examples/")
    assert result.returncode == 1, result.stderr
    diagnostics = json.loads(check(inbatch_bin, repo, "--format", "json", "examples/").stdout)
    lines = result.stdout.splitlines()
    assert len(lines) == len(diagnostics)
    assert sum(d["code"] == "INB001" for d in diagnostics) == 2
    for line, diagnostic in zip(lines, diagnostics):
        match = GITHUB.match(line)
        assert match, line
        assert match["command"] == {"warning": "warning", "information": "notice"}[diagnostic["severity"]]
        assert match["file"] == diagnostic["filename"]
        assert (int(match["line"]), int(match["col"])) == (diagnostic["location"]["row"], diagnostic["location"]["column"])
        assert (int(match["end_line"]), int(match["end_col"])) == (
            diagnostic["end_location"]["row"],
            diagnostic["end_location"]["column"],
        )
        assert match["title"] == diagnostic["code"]
        assert match["message"] == diagnostic["message"]


def test_github_escapes_percent_comma_and_colon(inbatch_bin, weird_project):
    result = check(inbatch_bin, weird_project, "--format", "github")
    assert result.returncode == 1, result.stderr
    (line,) = result.stdout.splitlines()
    match = GITHUB.match(line)
    assert match, line
    assert match["file"] == "my pkg/vüe%2C1%3Ax.py"
    assert match["message"].startswith('`session.get(User, "%25d,x:y" %25 uid)`'), line
