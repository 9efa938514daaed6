"""Every fix, checked by Python's own compiler (tree-sitter is lenient about some newline errors, and
parses a `from __future__` import anywhere, which CPython's compiler refuses): generated N+1 loops of
random names and shapes, and every fixture, fixed with `inbatch check --fix --unsafe-fixes -`, must
give code `compile()` accepts, and fixing the result again must change nothing."""

from __future__ import annotations

import random
import subprocess

import pytest

# The N+1 rules, whose fixes these tests check, are off by default: select them.
N_PLUS_ONE_RULES = ("--extend-select", "INB001,INB002,INB003,INB005")

SHAPES = [
    "session.query({m}).filter({m}.{c} == {k}).all()",
    "session.query({m}).filter_by({c}={k}).all()",
    "{m}.query.filter_by({c}={k}).first()",
    "session.query({m}).filter({m}.{c} == {k}).one()",
    "session.query({m}).filter_by({c}={k}).one_or_none()",
    "session.query({m}).filter_by({c}={k}).count()",
    "session.get({m}, {k})",
    "{m}.query.get({k})",
    "session.scalars(select({m}).where({m}.{c} == {k})).all()",
    "session.execute(select({m}).where({m}.{c} == {k})).scalars().all()",
    "list({m}.objects.filter({c}_id={k}))",
    "{m}.objects.get(pk={k})",
    "{m}.objects.filter({c}_id={k}).exists()",
    "{m}.objects.filter({c}_id={k}).count()",
    "session.query({m}).filter({m}.{c} == {k}).order_by({m}.id).first()",
]
NAMES = ["uid", "user", "row", "𝔲𝔦𝔡", "ключ", "key", "x", "item_", "chunk", "start", "keys"]


def generate(rng: random.Random) -> str:
    indent = rng.choice(["    ", "  ", "\t"])
    var = rng.choice(NAMES)
    ids = rng.choice(["user_ids", "ids", "rows", "users"])
    model = rng.choice(["User", "Order", "Payment", "M"])
    column = rng.choice(["user_id", "order_id", "email", "parent_id"])
    key = rng.choice([var, f"{var}.id", f'{var}["id"]'])
    # What a module may start with, and an import must stay below.
    header = rng.choice([[], ['"""Docstring."""'], ['"""Docstring."""', "from __future__ import annotations", ""],
                         ["#!/usr/bin/env python", "# -*- coding: utf-8 -*-"]])
    lines = header + ["from sqlalchemy import select", f"from app.models import {model}", "", ""]
    lines.append(f"def run(session, {ids}):")
    lines.append(f"{indent}result = {{}}")
    lines.append(f"{indent}for {var} in {ids}:")
    names = []
    for q in range(rng.randint(1, 3)):
        shape = rng.choice(SHAPES).format(m=model, c=column, k=key)
        lines.append(f"{indent * 2}q{q} = {shape}")
        names.append(f"q{q}")
    if rng.random() < 0.3:
        lines.append(f"{indent * 2}print({var})")
    lines.append(f"{indent * 2}result[{key}] = ({', '.join(names)},)")
    lines.append(f"{indent}return result")
    newline = rng.choice(["\n", "\n", "\r\n"])
    return newline.join(lines) + newline


def fix(inbatch_bin: str, text: str) -> str:
    result = subprocess.run(
        [inbatch_bin, "check", *N_PLUS_ONE_RULES, "--fix", "--unsafe-fixes", "--stdin-filename", "case.py", "-"],
        input=text.encode(), capture_output=True, timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr.decode()
    return result.stdout.decode()


CASES = 120


def test_fixes_of_generated_loops_parse_with_python(inbatch_bin):
    rng = random.Random(20240610)
    changed = 0
    for _ in range(CASES):
        text = generate(rng)
        compile(text, "case.py", "exec")
        fixed = fix(inbatch_bin, text)
        try:
            compile(fixed, "case.py", "exec")
        except SyntaxError as error:
            pytest.fail(f"{error}\n--- fixed:\n{fixed}\n--- from:\n{text}")
        if fixed != text:
            changed += 1
            assert fix(inbatch_bin, fixed) == fixed, f"a second pass changes:\n{fixed}"
    assert changed >= CASES // 3, f"only {changed} of {CASES} generated loops were fixed"


def test_fixes_of_fixtures_parse_with_python(inbatch_bin, repo):
    paths = sorted((repo / "tests" / "fixtures").rglob("original.py"))
    paths += sorted((repo / "tests" / "fixtures" / "rules").rglob("*.py"))
    paths += sorted((repo / "examples").rglob("*.py"))
    checked = 0
    for path in paths:
        text = path.read_text()
        try:
            compile(text, str(path), "exec")
        except SyntaxError:
            continue
        fixed = fix(inbatch_bin, text)
        try:
            compile(fixed, str(path), "exec")
        except SyntaxError as error:
            pytest.fail(f"{path}: {error}\n{fixed}")
        assert fix(inbatch_bin, fixed) == fixed, f"{path}: a second pass changes the fix"
        checked += 1
    assert checked >= 20
