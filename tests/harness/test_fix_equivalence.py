"""Executes every fixture of tests/fixtures/fixes against seeded SQLite databases and proves batched
rewrites equivalent to the N+1 originals (issue 4, "Tests") and the fixes of the review findings
INB101/INB102/INB201/INB301 correct (issue 5, "Tests"):

(a) reference.py, the hand-written rewrite of each case: always tested; proves the corpus and the
    harness; for `expected = "correct"` cases (the original is wrong), correct.py states the right
    answer, and the original must really differ from it somewhere;
(b) the output of `inbatch check --fix --unsafe-fixes` on a copy of original.py, for the cases listed
    in fixed_by_inbatch.txt (the engine owner adds a case there when its fix lands);
plus: every original.py is reported by inbatch (INB001 cases: at least one INB001, unless listed in
detection_pending.txt, and those must still be undetected; cases with `rules`: exactly those
findings), no hand-written rewrite triggers its case's rules, and the harness rejects known-broken
rewrites.
"""

import difflib
import pathlib
import shutil
import sys

import pytest

import harness_data
import harness_runtime
from harness_runtime import Case

HERE = pathlib.Path(__file__).resolve().parent
CASES = harness_runtime.all_cases()
BY_NAME = {c.name: c for c in CASES}
REFERENCE_CASES = [c for c in CASES if c.reference.is_file()]
CORRECT_CASES = [c for c in CASES if c.expected == "correct"]
INB001_CASES = [c for c in CASES if not c.rules]  # no `rules` in case.toml: an INB001 case
RULES_CASES = [c for c in CASES if c.rules]
FIXED_BY_INBATCH_FILE = HERE / "fixed_by_inbatch.txt"
DETECTION_PENDING_FILE = HERE / "detection_pending.txt"
FIXED_BY_INBATCH = harness_runtime.listed_cases(FIXED_BY_INBATCH_FILE)
DETECTION_PENDING = harness_runtime.listed_cases(DETECTION_PENDING_FILE)
REFERENCE_FLAGGED_PENDING_FILE = HERE / "reference_flagged_pending.txt"
REFERENCE_FLAGGED_PENDING = harness_runtime.listed_cases(REFERENCE_FLAGGED_PENDING_FILE)
MUTANTS = sorted((HERE / "mutants").glob("*.py"))

_reference_modules = {}


def reference_module(case: Case):
    if case.name not in _reference_modules:
        _reference_modules[case.name] = harness_runtime.load_module(case.reference)
    return _reference_modules[case.name]


def _ids(param):
    return param.name if isinstance(param, Case) else None


# ---- the corpus ----------------------------------------------------------------------------------


def test_corpus_is_consistent():
    assert len(CASES) >= 20, "the fixture corpus went missing"
    problems = []
    for case in CASES:
        # reference.py: the expected rewrite; no_fix.txt: why inbatch offers none (for now or ever).
        # Both may exist: the reference still proves what a future fix must produce.
        if case.expected == "correct":
            if not case.correct.is_file():
                problems.append(f"{case.name}: expected = \"correct\" needs correct.py")
        elif case.correct.is_file():
            problems.append(f"{case.name}: has correct.py, but case.toml lacks expected = \"correct\"")
        if not case.reference.is_file() and not case.no_fix_reason and case.expected != "correct":
            problems.append(f"{case.name}: needs reference.py or no_fix.txt (or both)")
        module = harness_runtime.load_module(case.original)
        if not callable(getattr(module, "run", None)):
            problems.append(f"{case.name}: original.py has no run()")
    for list_file, names in (
        (FIXED_BY_INBATCH_FILE, FIXED_BY_INBATCH),
        (DETECTION_PENDING_FILE, DETECTION_PENDING),
        (REFERENCE_FLAGGED_PENDING_FILE, REFERENCE_FLAGGED_PENDING),
    ):
        for name in names:
            if name not in BY_NAME:
                problems.append(f"{list_file.name}: no case named {name!r}")
    assert not problems, "\n".join(problems)


def test_seeded_data_has_the_edge_cases(verifier):
    """The data really contains what the comparisons rely on."""
    case = BY_NAME["filter_eq_all"]
    tag, items = verifier.original(case, "big").value  # ("dict", [(uid, ("list", [("tuple", [id, amount])]))])
    assert tag == "dict"
    lists = [payments for _, (_, payments) in items]
    amounts = [pair[1] for payments in lists for _, pair in payments]
    assert any(len(p) == 0 for p in lists), "no key without rows"
    assert any(len(p) >= 2 for p in lists), "no key with several rows"
    assert None in amounts, "no NULL amount"
    assert len(set(harness_data.INPUTS["dups_large"])) < len(harness_data.INPUTS["dups_large"]) > 1000
    # The SPEC §1 original really hits a NULL amount (so its INB201 oracle is exercised) ...
    assert verifier.original(BY_NAME["spec_example"], "big").error == "TypeError"
    # ... and `.one()` really raises on unknown ids.
    assert verifier.original(BY_NAME["one"], "unknown").error == "NoResultFound"
    # The review findings' originals are wrong where the issue says: the half-fixed SPEC §1 code
    # loses sessions (wrong counts even without NULLs) and raises on NULL amounts ...
    half = BY_NAME["spec_half_fixed"]
    assert verifier.original(half, "ten").error is None
    assert verifier.original(half, "ten").value != verifier.correct(half, "ten").value
    assert verifier.original(half, "big").error == "TypeError"
    # ... INB201's sum raises where correct.py counts NULL as 0, and INB301's IN list is unbounded.
    nullable = BY_NAME["inb201_sum_nullable"]
    assert verifier.original(nullable, "big").error == "TypeError"
    assert verifier.correct(nullable, "big").error is None
    assert verifier.original(BY_NAME["inb301_unbounded_in"], "big").max_params >= 2500


# ---- (a) hand-written reference rewrites -------------------------------------------------------------


@pytest.mark.parametrize(
    "case, input_name",
    [(c, n) for c in REFERENCE_CASES for n in c.input_names()],
    ids=[f"{c.name}-{n}" for c in REFERENCE_CASES for n in c.input_names()],
)
def test_reference_is_equivalent(verifier, case, input_name):
    problems = verifier.check_input(case, reference_module(case), input_name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=_ids)
def test_reference_query_counts(verifier, case):
    problems = verifier.check_counts(case, reference_module(case))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", CORRECT_CASES, ids=_ids)
def test_original_is_wrong(verifier, case):
    """An `expected = "correct"` case must demonstrate its bug: on some input the original returns
    something else than correct.py (or raises where it does not). Otherwise the case proves nothing
    a plain equivalence case would not."""
    assert verifier.original_is_wrong(case), f"{case.name}/original.py agrees with correct.py on every input"


@pytest.mark.parametrize("case", CORRECT_CASES, ids=_ids)
def test_correct_query_counts(verifier, case):
    """correct.py itself keeps the query bound its case.toml sets for rewrites (so the bound is
    achievable), and never binds more than 1000 keys in one statement."""
    module = harness_runtime.load_module(case.correct)
    problems = verifier.check_counts(case, module)
    for name in ("big", "dups_large"):
        outcome = verifier.correct(case, name)
        if outcome.max_params > harness_runtime.BATCH_SIZE + verifier.PARAM_SLACK:
            problems.append(f"[{case.name} / {name}] correct.py binds {outcome.max_params} parameters in one statement")
    assert not problems, "\n".join(problems)


# ---- detection: every original is an INB001 finding ------------------------------------------------


@pytest.mark.parametrize("case", [c for c in INB001_CASES if c.name not in DETECTION_PENDING], ids=_ids)
def test_original_is_reported_as_inb001(inbatch_bin, case):
    findings = harness_runtime.inb001_findings(inbatch_bin, case.original)
    assert findings, f"inbatch reports no INB001 in {case.original}"


if DETECTION_PENDING:  # no test at all (rather than a skipped one) while the list is empty

    @pytest.mark.parametrize("case", [BY_NAME[n] for n in DETECTION_PENDING if n in BY_NAME], ids=_ids)
    def test_detection_pending_is_still_pending(inbatch_bin, case):
        findings = harness_runtime.inb001_findings(inbatch_bin, case.original)
        assert not findings, f"inbatch now reports INB001 for {case.name}: remove it from {DETECTION_PENDING_FILE.name}"


@pytest.mark.parametrize("case", RULES_CASES, ids=_ids)
def test_original_reports_exactly_its_rules(inbatch_bin, case):
    """`inbatch check` (every rule) reports exactly the case's `rules` on original.py, each as many
    times as listed: the models are found through the project root, and no other rule fires."""
    found = harness_runtime.findings(inbatch_bin, case.original)
    assert sorted(d["code"] for d in found) == sorted(case.rules), (
        f"expected {sorted(case.rules)} on {case.original}, got: {harness_runtime.describe_findings(found)}"
    )


def hand_written(case: Case) -> list[pathlib.Path]:
    return [p for p in (case.reference, case.correct) if p.is_file()]


@pytest.mark.parametrize(
    "case", [c for c in RULES_CASES if c.name not in REFERENCE_FLAGGED_PENDING and hand_written(c)], ids=_ids
)
def test_hand_written_rewrite_triggers_none_of_its_rules(inbatch_bin, case):
    """reference.py / correct.py are correct code in the shape the fixes produce: none of the case's
    rules fires on them (known false positives in reference_flagged_pending.txt)."""
    for path in hand_written(case):
        found = harness_runtime.findings(inbatch_bin, path, case.checked_rules)
        assert not found, f"inbatch reports on {path}: {harness_runtime.describe_findings(found)}"


@pytest.mark.parametrize("case", [c for c in REFERENCE_CASES if c.name not in REFERENCE_FLAGGED_PENDING and not c.rules], ids=_ids)
def test_reference_is_not_reported_as_inb001(inbatch_bin, case):
    """The batched shape is the fix, not the problem: a chunk loop and dict lookups are no N+1
    (and the fix could not be idempotent otherwise)."""
    findings = harness_runtime.inb001_findings(inbatch_bin, case.reference)
    assert not findings, f"inbatch reports INB001 in {case.reference}: " + "; ".join(
        f"{d['location']['row']}:{d['location']['column']} {d['message']}" for d in findings
    )


if REFERENCE_FLAGGED_PENDING:

    @pytest.mark.parametrize("case", [BY_NAME[n] for n in REFERENCE_FLAGGED_PENDING if n in BY_NAME], ids=_ids)
    def test_reference_false_positive_is_still_pending(inbatch_bin, case):
        findings = [f for p in hand_written(case) for f in harness_runtime.findings(inbatch_bin, p, case.checked_rules)]
        assert findings, (
            f"inbatch no longer flags {case.name}'s hand-written rewrite: remove it from "
            f"{REFERENCE_FLAGGED_PENDING_FILE.name}"
        )


# ---- refused fixes: inbatch says why -----------------------------------------------------------------


REFUSED_CASES = [c for c in CASES if c.no_fix_because]


def test_refused_cases_are_consistent():
    """A case naming the reason of a refusal has no_fix.txt, and its refusal is checked by (b) too."""
    assert REFUSED_CASES, "the refused-fix cases went missing"
    problems = [f"{c.name}: no_fix_because without no_fix.txt" for c in REFUSED_CASES if not c.no_fix_reason]
    problems += [f"{c.name}: not in {FIXED_BY_INBATCH_FILE.name}" for c in REFUSED_CASES if c.name not in FIXED_BY_INBATCH]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", REFUSED_CASES, ids=_ids)
def test_refused_fix_says_why(inbatch_bin, case, tmp_path):
    """Where batching would change behaviour (a signal receiver, a `save()` override, a loop that reads
    the flushed id), inbatch still reports the case's rules, offers no fix, and says why: the reason
    the help line (and hover) shows is the one the case names. The mutants of these cases prove the
    naive rewrite wrong by running it."""
    found, reasons = harness_runtime.refusal_reasons(inbatch_bin, case, tmp_path)
    assert sorted(d["code"] for d in found) == sorted(case.rules), harness_runtime.describe_findings(found)
    offered = [d for d in found if d.get("fix")]
    assert not offered, f"inbatch offers a fix: {harness_runtime.describe_findings(offered)}"
    assert any(case.no_fix_because in reason for reason in reasons), (
        f"expected a reason with {case.no_fix_because!r}, inbatch gives {reasons}"
    )


# ---- (b) inbatch's own fixes (opt-in per case) ------------------------------------------------------


def verify_inbatch_fix(inbatch_bin: str, verifier, case: Case, workdir: pathlib.Path) -> list[str]:
    """The (b) check for one case: inbatch's rewrite of a copy of original.py must exist (unless the
    case has no_fix.txt), parse, behave like the original (or correct.py) on every input, stay within
    the query bound and be idempotent. Returns the problems (empty: the fix is proven)."""
    path, before, after = harness_runtime.apply_fix(inbatch_bin, case, workdir)
    diff = "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), "original.py", "fixed"))
    if after == before:
        if case.no_fix_reason:
            return []
        return [
            f"`inbatch check --fix --unsafe-fixes` left {case.name}/original.py unchanged, and the case has "
            "no no_fix.txt saying why no fix is expected"
        ]
    if case.no_fix_reason:
        return [f"{case.name} has no_fix.txt ({case.no_fix_reason}), yet inbatch rewrote it:\n{diff}"]
    try:
        compile(after, str(path), "exec")
    except SyntaxError as exc:
        return [f"the fixed {case.name}/original.py does not parse: {exc}\n{diff}"]
    module = harness_runtime.load_module(path)
    problems = verifier.check_module(case, module)
    problems += harness_runtime.check_fix_idempotent(inbatch_bin, path, case.checked_rules)
    if problems:
        problems.append(f"the fix:\n{diff}")
    return problems


# Defined only when a case is listed, so that an empty list collects nothing (no skip, no xfail).
if FIXED_BY_INBATCH:

    @pytest.mark.parametrize("case", [BY_NAME.get(n, n) for n in FIXED_BY_INBATCH], ids=FIXED_BY_INBATCH)
    def test_inbatch_fix_is_equivalent(inbatch_bin, verifier, case, tmp_path):
        assert isinstance(case, Case), f"{FIXED_BY_INBATCH_FILE.name} lists an unknown case {case!r}"
        problems = verify_inbatch_fix(inbatch_bin, verifier, case, tmp_path / case.name)
        assert not problems, "\n".join(problems)


# ---- CPython compiles every fixed fixture ---------------------------------------------------------

# The module starts a fix must keep in place: an import inserted above `from __future__` (or the
# docstring) parses with tree-sitter, but CPython refuses the file.
MODULE_HEADERS = {
    "as-is": "",
    "docstring-future": '"""A module docstring."""\nfrom __future__ import annotations\n\n',
    "shebang-coding": "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n",
}


@pytest.mark.parametrize("header", list(MODULE_HEADERS.values()), ids=list(MODULE_HEADERS))
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_every_fixed_fixture_compiles(inbatch_bin, case, header, tmp_path):
    """Every fixture, fixed by `inbatch check --fix --unsafe-fixes` (listed in fixed_by_inbatch.txt
    or not), compiles with CPython's own compile() and still starts with its header."""
    path, before, after = harness_runtime.apply_fix(inbatch_bin, case, tmp_path / case.name, header)
    try:
        compile(after, str(path), "exec")
    except SyntaxError as exc:
        diff = "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), "original.py", "fixed"))
        pytest.fail(f"the fixed {case.name}/original.py does not compile: {exc}\n{diff}")
    assert after.startswith(header), after[:300]


STAND_IN = """#!{python}
# A stand-in for the inbatch binary: `check --fix ... FILE` replaces FILE with {replacement!r}
# (or leaves it alone when that is empty); `check --format json ...` reports nothing.
import pathlib, shutil, sys
args = sys.argv[1:]
if "--fix" in args:
    if {replacement!r}:
        shutil.copyfile({replacement!r}, args[-1])
else:
    print("[]")
"""


def stand_in_binary(tmp_path: pathlib.Path, replacement: pathlib.Path | None) -> str:
    path = tmp_path / "inbatch-stand-in"
    path.write_text(STAND_IN.format(python=sys.executable, replacement=str(replacement or "")))
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(
    "case_name, replacement, expect_ok",
    [
        ("filter_by_all", "reference", True),
        ("spec_example", "reference", True),
        ("one", "reference", True),
        ("several_queries", "reference", True),
        ("django_get_pk", "reference", True),
        ("write_before_query", None, True),  # unchanged, and no_fix.txt says why
        ("filter_by_all", None, False),  # unchanged without no_fix.txt
        ("filter_by_all", "mutants/filter_by_all__unknown_is_none.py", False),
        ("write_before_query", "../filter_by_all/reference.py", False),  # rewritten despite no_fix.txt
    ],
)
def test_fix_pipeline_with_a_stand_in_binary(verifier, tmp_path, case_name, replacement, expect_ok):
    """Proves the (b) machinery before inbatch has fixes: a stand-in "fixes" by copying a file."""
    case = BY_NAME[case_name]
    if replacement == "reference":
        source = case.reference
    elif replacement and replacement.startswith("mutants/"):
        source = HERE / replacement
    elif replacement:
        source = (case.dir / replacement).resolve()
    else:
        source = None
    problems = verify_inbatch_fix(stand_in_binary(tmp_path, source), verifier, case, tmp_path / "work")
    if expect_ok:
        assert not problems, "\n".join(problems)
    else:
        assert problems, "the (b) check accepted a rewrite it must reject"


# ---- the harness catches broken rewrites -----------------------------------------------------------


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.stem for m in MUTANTS])
def test_harness_rejects_broken_rewrite(verifier, mutant):
    case = BY_NAME[mutant.stem.split("__")[0]]
    problems = verifier.check_module(case, harness_runtime.load_module(mutant), first_only=True)
    assert problems, f"the harness accepted {mutant.name}, a known-broken rewrite of {case.name}"
