"""The execution harness: databases, query counting, running a fixture module, comparing results,
and driving `inbatch check --fix` on a copy of a fixture.

See README.md in this folder for the calling convention of fixture modules.
"""

from __future__ import annotations

import asyncio
import dataclasses
import decimal
import importlib.util
import inspect
import itertools
import json
import math
import pathlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
import warnings
from typing import Any

HARNESS_DIR = pathlib.Path(__file__).resolve().parent
FIXTURES_DIR = HARNESS_DIR.parent / "fixtures" / "fixes"
BATCH_SIZE = 1000

if str(HARNESS_DIR) not in sys.path:
    sys.path.insert(0, str(HARNESS_DIR))

import harness_data  # noqa: E402

# ---- cases -----------------------------------------------------------------------------------------

CASE_DEFAULTS = {
    "orm": "sqlalchemy",  # sqlalchemy | sqlalchemy-async | django
    "description": "",
    "queries_per_iteration": 1,  # queries the original runs per loop iteration
    # statements a rewrite may run per chunk of 1000 keys (default: queries_per_iteration)
    "queries_per_chunk": 0,
    "extra_queries": 0,  # queries outside the loop, the same in the original and in a rewrite
    # writes per iteration that stay in the rewrite's loop (a write to a model the batched reads
    # do not read): counted in the original's linear floor and added to the rewrite's bound
    "writes_per_iteration": 0,
    # keys per chunk in the rewrite's bound (queries_per_chunk·ceil(N/chunk_size) + ...): 500 for
    # SQLAlchemy's selectinload, which sends its IN list in batches of 500 parent keys
    "chunk_size": BATCH_SIZE,
    # A constant bound (eager loads: INB002/INB006/INB007): when set, a rewrite runs at most this many
    # statements for every counted input size, instead of the per-chunk bound above.
    "max_queries": 0,
    # Parameters one statement of a rewrite may bind regardless of the 1000-key chunk rule (0: none):
    # for eager loads whose ORM puts every parent key of the page in one IN list (Django's
    # prefetch_related; SQLAlchemy's selectinload batches them by 500 and needs no allowance).
    "max_params": 0,
    # The inputs run() is called with (default: every one of harness_data.INPUTS); `ten` and `big`
    # are always counted. Page-size cases (the input's length is a LIMIT) skip inputs that add
    # nothing but seconds of lazy loads, e.g. `dups_large` (a page of 1,200).
    "inputs": [],
    "input": "ids",  # ids | rows (see harness_data.as_rows)
    "generator": False,  # also call run() with one-shot generators of the inputs
    "unordered": False,  # compare lists/dicts as multisets: order across keys may change
    "error_types_may_differ": False,  # an exception must stay an exception, its type may change
    "nullable_sum": False,  # INB201: a TypeError from sum() over NULL may become the NULL-as-0 result
    # The findings `inbatch check` must report on original.py: exactly these codes, as many times as
    # listed (every rule, no --select). Empty: an INB001 case (at least one INB001 finding).
    "rules": [],
    # What a rewrite must return: "original" (what original.py returns) or "correct" (what the
    # hand-written correct.py returns, for originals that are wrong: INB102 loses rows, INB201 raises).
    "expected": "original",
    # For a case whose fix inbatch must refuse (it has no_fix.txt): text the reason inbatch gives must
    # contain, as it appears in the "no fix: ..." help line (and in hover). Empty: not checked.
    "no_fix_because": "",
}
EXPECTED_KINDS = ("original", "correct")


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    dir: pathlib.Path
    orm: str
    description: str
    queries_per_iteration: int | float  # a fraction where lazy loads repeat (identity map)
    queries_per_chunk: int
    extra_queries: int
    writes_per_iteration: int
    chunk_size: int
    max_queries: int
    max_params: int
    inputs: tuple[str, ...]
    input: str
    generator: bool
    unordered: bool
    error_types_may_differ: bool
    nullable_sum: bool
    rules: tuple[str, ...]
    expected: str
    no_fix_because: str

    @property
    def original(self) -> pathlib.Path:
        return self.dir / "original.py"

    @property
    def correct(self) -> pathlib.Path:
        """The hand-written correct implementation (`expected = "correct"` cases)."""
        return self.dir / "correct.py"

    @property
    def checked_rules(self) -> tuple[str, ...]:
        """The rules this case exercises: its fix must silence them, its rewrites must not trigger them."""
        return tuple(dict.fromkeys(self.rules)) or ("INB001",)

    @property
    def chunked_in(self) -> bool:
        """An INB301 case: the original binds every key in one statement; a rewrite may not, whatever
        the original did."""
        return "INB301" in self.rules

    @property
    def reference(self) -> pathlib.Path:
        return self.dir / "reference.py"

    @property
    def no_fix_reason(self) -> str | None:
        path = self.dir / "no_fix.txt"
        return path.read_text().strip() if path.is_file() else None

    def input_names(self) -> list[str]:
        names = list(self.inputs or harness_data.INPUTS)
        if self.generator:
            names += [f"{n}-generator" for n in harness_data.INPUTS]
        return names

    def make_input(self, name: str):
        base, _, kind = name.partition("-")
        ids = list(harness_data.INPUTS[base])
        value = harness_data.as_rows(ids) if self.input == "rows" else ids
        if kind == "generator":
            return (x for x in value)
        return value

    def max_rewritten_queries(self, distinct_keys: int) -> int:
        """The bound for a batched rewrite: per query in the loop one query per chunk, plus the
        queries outside the loop, plus one of slack; or the case's constant `max_queries`."""
        if self.max_queries:
            return self.max_queries
        chunks = math.ceil(distinct_keys / self.chunk_size)
        writes = self.writes_per_iteration * distinct_keys
        return self.per_chunk * chunks + writes + self.extra_queries + 1

    def describe_bound(self, distinct_keys: int) -> str:
        if self.max_queries:
            return f"max_queries = {self.max_queries} at every input size"
        return (
            f"{self.per_chunk}·ceil({distinct_keys}/{self.chunk_size}) + "
            f"{self.writes_per_iteration}·{distinct_keys} + {self.extra_queries} + 1 = "
            f"{self.max_rewritten_queries(distinct_keys)}"
        )

    @property
    def per_chunk(self) -> int:
        return self.queries_per_chunk or self.queries_per_iteration


def load_case(case_dir: pathlib.Path) -> Case:
    meta = dict(CASE_DEFAULTS)
    toml_path = case_dir / "case.toml"
    if toml_path.is_file():
        data = tomllib.loads(toml_path.read_text())
        unknown = set(data) - set(CASE_DEFAULTS)
        if unknown:
            raise ValueError(f"{toml_path}: unknown keys {sorted(unknown)}")
        meta.update(data)
    if meta["expected"] not in EXPECTED_KINDS:
        raise ValueError(f"{toml_path}: expected must be one of {EXPECTED_KINDS}, not {meta['expected']!r}")
    meta["rules"] = tuple(meta["rules"])
    meta["inputs"] = tuple(meta["inputs"])
    missing = set(meta["inputs"]) - set(harness_data.INPUTS)
    if missing or (meta["inputs"] and not set(harness_data.COUNTED) <= set(meta["inputs"])):
        raise ValueError(f"{toml_path}: inputs must name inputs of harness_data.INPUTS, including {list(harness_data.COUNTED)}")
    return Case(name=case_dir.name, dir=case_dir, **meta)


def all_cases() -> list[Case]:
    return [load_case(d) for d in sorted(FIXTURES_DIR.iterdir()) if (d / "original.py").is_file()]


def listed_cases(path: pathlib.Path) -> list[str]:
    """Case names from a list file: one per line, `#` comments and blank lines ignored."""
    if not path.is_file():
        return []
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


_module_counter = itertools.count()


def load_module(path: pathlib.Path):
    """Import a fixture module from its file under a fresh, unique module name."""
    name = f"inbatch_fixture_{path.parent.name}_{path.stem}_{next(_module_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- results ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Outcome:
    value: Any = None  # normalised return value (see `normalize`)
    error: str | None = None  # exception type name when run() raised
    message: str | None = None
    queries: int = 0  # statements executed during the call
    max_params: int = 0  # most bound parameters in one of those statements (chunking shows here)

    def describe(self) -> str:
        if self.error:
            return f"raised {self.error}: {self.message}"
        return f"returned {self.value!r}"[:2000]


def normalize(value, unordered: bool = False):
    """Turn a result into plain, comparable data. ORM rows become (model name, column values) from
    what is already loaded (never triggers a lazy load); lists and dicts keep their order unless
    `unordered`, then they are compared as multisets."""
    def norm(v):
        if v is None or isinstance(v, (bool, int, float, str, bytes, decimal.Decimal)):
            return v
        if isinstance(v, dict):
            items = [(norm(k), norm(x)) for k, x in v.items()]
            return ("dict", sorted(items, key=repr) if unordered else items)
        if isinstance(v, (list, tuple)) or _is_sequence_result(v):
            items = [norm(x) for x in v]
            tag = "tuple" if isinstance(v, tuple) else "list"
            return (tag, sorted(items, key=repr) if unordered else items)
        if isinstance(v, (set, frozenset)):
            return ("set", sorted((norm(x) for x in v), key=repr))
        row = _orm_row(v)
        if row is not None:
            return row
        raise TypeError(f"harness cannot compare a {type(v).__name__}; return plain data or ORM rows")

    return norm(value)


def _is_sequence_result(v) -> bool:
    try:
        from sqlalchemy.engine import Row
    except ImportError:  # pragma: no cover
        return False
    return isinstance(v, Row)


def _orm_row(v):
    try:
        from sqlalchemy import inspect as sa_inspect

        state = sa_inspect(v, raiseerr=False)
    except Exception:
        state = None
    if state is not None and hasattr(state, "mapper") and hasattr(state, "dict"):
        cols = tuple(sorted((a.key, state.dict.get(a.key, "<unloaded>")) for a in state.mapper.column_attrs))
        return ("row", type(v).__name__, cols)
    if "django.db.models" in sys.modules:
        from django.db import models

        if isinstance(v, models.Model):
            cols = tuple(sorted((f.attname, getattr(v, f.attname)) for f in v._meta.concrete_fields))
            return ("row", type(v).__name__, cols)
    return None


def _null_safe_sum(iterable, start=0):
    return sum((0 if x is None else x for x in iterable), start)


# ---- databases ---------------------------------------------------------------------------------------


class SQLAlchemyEnv:
    """One SQLite file, seeded once, used by a sync engine (with `db_session` / `Model.query`) and
    an async engine (aiosqlite). Counts statements with `before_cursor_execute`."""

    def __init__(self, db_path: pathlib.Path):
        from sqlalchemy import create_engine, event, insert
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        import harness_models as m

        self.models = m
        self.engine = create_engine(f"sqlite:///{db_path}")
        m.Base.metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            conn.execute(insert(m.User), harness_data.users())
            conn.execute(insert(m.Session), harness_data.sessions())
            conn.execute(insert(m.Payment), harness_data.payments())
            conn.execute(insert(m.Profile), harness_data.profiles())
            conn.execute(insert(m.Customer), harness_data.customers())
            order_rows = harness_data.orders()
            conn.execute(insert(m.Order), order_rows)
            conn.execute(insert(m.OrderItem), harness_data.order_items(len(order_rows)))
        m.db_session.configure(bind=self.engine)
        self.async_engine = create_async_engine(f"sqlite+aiosqlite:///{db_path}", poolclass=NullPool)
        self.loop = asyncio.new_event_loop()
        self.count = self.max_params = 0
        self.counting = False
        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        event.listen(self.async_engine.sync_engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, conn, cursor, statement, parameters, context, executemany):
        if self.counting:
            self.count += 1
            if parameters and not executemany:
                self.max_params = max(self.max_params, len(parameters))

    def close(self):
        self.models.db_session.remove()
        self.loop.run_until_complete(self.async_engine.dispose())
        self.loop.close()
        self.engine.dispose()

    def run(self, fn, arg, unordered: bool) -> Outcome:
        """Call `fn(session, arg)` in a fresh session (empty identity map, rolled back after)."""
        db_session = self.models.db_session
        db_session.remove()
        session = db_session()
        try:
            return _call(self, lambda: fn(session, arg), unordered)
        finally:
            db_session.remove()

    def run_async(self, fn, arg, unordered: bool) -> Outcome:
        """Await `fn(async_session, arg)` in a fresh `AsyncSession` (rolled back after)."""
        from sqlalchemy.ext.asyncio import AsyncSession

        async def go():
            async with AsyncSession(self.async_engine, expire_on_commit=False) as session:
                _start(self)
                try:
                    value = await fn(session, arg)
                except Exception as exc:  # noqa: BLE001 - compared, not hidden
                    return _failed(self, exc)
                return _returned(self, value, unordered)

        return self.loop.run_until_complete(go())


class DjangoEnv:
    """The standalone Django of `harness_django`; counts statements with `execute_wrapper`."""

    def __init__(self):
        import harness_django

        self.connection = harness_django.connection
        self.count = self.max_params = 0
        self.counting = False

    def _wrapper(self, execute, sql, params, many, context):
        if self.counting:
            self.count += 1
            if params and not many:
                self.max_params = max(self.max_params, len(params))
        return execute(sql, params, many, context)

    def run(self, fn, arg, unordered: bool) -> Outcome:
        from django.db import transaction

        with self.connection.execute_wrapper(self._wrapper):
            with transaction.atomic():
                outcome = _call(self, lambda: fn(arg), unordered)
                transaction.set_rollback(True)
        return outcome

    def close(self):
        pass


def _start(env):
    env.count, env.max_params, env.counting = 0, 0, True


def _failed(env, exc) -> Outcome:
    env.counting = False
    return Outcome(error=type(exc).__name__, message=str(exc)[:300], queries=env.count, max_params=env.max_params)


def _returned(env, value, unordered: bool) -> Outcome:
    env.counting = False
    # Normalised after counting; only already-loaded columns are read, so this runs no SQL anyway.
    return Outcome(value=normalize(value, unordered), queries=env.count, max_params=env.max_params)


def _call(env, thunk, unordered: bool) -> Outcome:
    _start(env)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. LegacyAPIWarning for Query.get()
            value = thunk()
    except Exception as exc:  # noqa: BLE001 - compared, not hidden
        return _failed(env, exc)
    return _returned(env, value, unordered)


class Harness:
    """Runs fixture modules on the seeded databases. One per test session."""

    def __init__(self, workdir: pathlib.Path):
        self.workdir = workdir
        self._sa: SQLAlchemyEnv | None = None
        self._dj: DjangoEnv | None = None

    @property
    def sa(self) -> SQLAlchemyEnv:
        if self._sa is None:
            self._sa = SQLAlchemyEnv(self.workdir / "harness.sqlite3")
        return self._sa

    @property
    def dj(self) -> DjangoEnv:
        if self._dj is None:
            self._dj = DjangoEnv()
        return self._dj

    def close(self):
        for env in (self._sa, self._dj):
            if env is not None:
                env.close()

    def run(self, case: Case, module, input_name: str, *, patch_sum: bool = False) -> Outcome:
        fn = module.run
        if patch_sum:
            # The INB201 oracle: the original with a sum() that reads NULL as 0. A module global
            # shadows the builtin, so the original's text stays untouched.
            module.sum = _null_safe_sum
        try:
            arg = case.make_input(input_name)
            if case.orm == "django":
                return self.dj.run(fn, arg, case.unordered)
            if case.orm == "sqlalchemy-async":
                assert inspect.iscoroutinefunction(fn), f"{case.name}: run() must be `async def`"
                return self.sa.run_async(fn, arg, case.unordered)
            if case.orm == "sqlalchemy":
                return self.sa.run(fn, arg, case.unordered)
            raise ValueError(f"{case.name}: unknown orm {case.orm!r}")
        finally:
            if patch_sum:
                del module.sum


def equivalent(
    case: Case, original: Outcome, rewritten: Outcome, oracle: Outcome | None = None, *, label: str = "original"
) -> str | None:
    """None when `rewritten` behaves like `original` (the expected outcome: the original's, or
    correct.py's, named by `label`), else an explanation.

    - results must be equal (as multisets where the case is `unordered`);
    - an exception must stay an exception of the same type (any type if `error_types_may_differ`);
    - `nullable_sum` cases: where the original raised TypeError (sum over a NULL amount), the
      rewrite may instead return what `oracle` (the original with a NULL-as-0 sum) returns.
    """
    if original.error is None and rewritten.error is None:
        if original.value == rewritten.value:
            return None
        return f"results differ:\n  {label + ':':11} {original.describe()}\n  {'rewritten:':11} {rewritten.describe()}"
    if original.error and rewritten.error:
        if original.error == rewritten.error or case.error_types_may_differ:
            return None
        return f"different exceptions: {label} {original.describe()}; rewritten {rewritten.describe()}"
    if case.nullable_sum and original.error == "TypeError" and rewritten.error is None and oracle is not None:
        if oracle.error is None and oracle.value == rewritten.value:
            return None
        return (
            "original raised TypeError (NULL in sum) and the rewrite returns something other than the "
            f"NULL-as-0 result:\n  oracle:    {oracle.describe()}\n  rewritten: {rewritten.describe()}"
        )
    return f"{label} {original.describe()}\nrewritten {rewritten.describe()}"


# ---- inbatch -----------------------------------------------------------------------------------------


def run_inbatch(inbatch_bin: str, *args: str, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess:
    inbatch_bin = str(pathlib.Path(inbatch_bin).resolve())
    proc = subprocess.run([inbatch_bin, *args], capture_output=True, text=True, cwd=cwd, timeout=60)
    assert proc.returncode in (0, 1), (
        f"inbatch {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    return proc


def findings(inbatch_bin: str, path: pathlib.Path, rules: tuple[str, ...] | None = None) -> list[dict]:
    """`inbatch check --format json` on one file: every finding of every rule (those off by
    default included), or only those of `rules`."""
    select = ["--select", ",".join(rules) if rules else "ALL"]
    proc = run_inbatch(inbatch_bin, "check", *select, "--format", "json", str(path))
    return [d for d in json.loads(proc.stdout or "[]") if not rules or d["code"] in rules]


def inb001_findings(inbatch_bin: str, path: pathlib.Path) -> list[dict]:
    return findings(inbatch_bin, path, ("INB001",))


def describe_findings(found: list[dict]) -> str:
    return "; ".join(f"{d['code']} {d['location']['row']}:{d['location']['column']} {d['message'][:120]}" for d in found)


# Modules a fixture imports; copied next to the fixed copy so that inbatch sees the model definitions.
MODEL_FILES = ["harness_models.py", "harness_django.py", "harness_djapp"]


def copy_model_files(workdir: pathlib.Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        src = HARNESS_DIR / name
        if src.is_dir():
            shutil.copytree(src, workdir / name, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        else:
            shutil.copyfile(src, workdir / name)


def apply_fix(
    inbatch_bin: str, case: Case, workdir: pathlib.Path, header: str = ""
) -> tuple[pathlib.Path, str, str]:
    """Copy the case's original.py (and the model modules) into `workdir`, below `header` (a
    docstring, `from __future__` imports), and run `inbatch check --fix --unsafe-fixes` on the
    copy. Returns (path of the copy, text before, after)."""
    copy_model_files(workdir)
    target = workdir / "original.py"
    target.write_text(header + case.original.read_text())
    before = target.read_text()
    run_inbatch(inbatch_bin, "check", "--select", "ALL", "--fix", "--unsafe-fixes", target.name, cwd=workdir)
    return target, before, target.read_text()


def refusal_reasons(inbatch_bin: str, case: Case, workdir: pathlib.Path) -> tuple[list[dict], list[str]]:
    """What inbatch says about a case whose fix it must refuse: the findings of the case's rules on a
    copy of original.py next to the model modules (JSON), and the reasons of the "no fix: ..." help
    lines of the text output (the same text hover shows)."""
    copy_model_files(workdir)
    target = workdir / "original.py"
    shutil.copyfile(case.original, target)
    found = [d for d in findings(inbatch_bin, target, case.checked_rules)]
    select = ",".join(case.checked_rules)
    proc = run_inbatch(inbatch_bin, "check", "--select", select, "--no-color", target.name, cwd=workdir)
    reasons = []
    for line in proc.stdout.splitlines():
        _, marker, rest = line.partition("= help: no fix: ")
        if marker:
            reasons.append(rest.rsplit("; see `inbatch rule", 1)[0])
    return found, reasons


def check_fix_idempotent(inbatch_bin: str, path: pathlib.Path, rules: tuple[str, ...] = ("INB001",)) -> list[str]:
    """The SPEC §2 idempotence guarantee for a file inbatch has already fixed: a second
    `--fix --unsafe-fixes` changes nothing, and none of `rules` fires any more. Returns the problems."""
    problems = []
    fixed = path.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        # Next to the model modules, as in the first run: the relationship rules (INB002/6/7) need
        # the model index (without it INB007 would report the eager load INB002 just added).
        copy_model_files(pathlib.Path(tmp))
        again = pathlib.Path(tmp) / path.name
        again.write_text(fixed)
        run_inbatch(
            inbatch_bin, "check", "--select", "ALL", "--fix", "--unsafe-fixes", again.name, cwd=again.parent
        )
        if again.read_text() != fixed:
            problems.append("a second `--fix --unsafe-fixes` changed the file again")
    remaining = findings(inbatch_bin, path, rules)
    if remaining:
        problems.append(f"still reported on the rewritten file: {describe_findings(remaining)}")
    return problems


# ---- verification ----------------------------------------------------------------------------------


class Verifier:
    """Checks a rewritten module against its case's original. Original outcomes are computed once
    per (case, input) and shared by every rewrite checked against them."""

    # A chunked statement may carry a few bound parameters besides the chunk (extra conditions).
    PARAM_SLACK = 10

    def __init__(self, harness: Harness):
        self.harness = harness
        self._modules: dict[pathlib.Path, Any] = {}
        self._outcomes: dict[tuple[str, str, str], Outcome] = {}

    def _module(self, path: pathlib.Path):
        if path not in self._modules:
            self._modules[path] = load_module(path)
        return self._modules[path]

    def original_module(self, case: Case):
        return self._module(case.original)

    def original(self, case: Case, input_name: str, *, oracle: bool = False) -> Outcome:
        key = (case.name, input_name, "oracle" if oracle else "original")
        if key not in self._outcomes:
            self._outcomes[key] = self.harness.run(case, self.original_module(case), input_name, patch_sum=oracle)
        return self._outcomes[key]

    def correct(self, case: Case, input_name: str) -> Outcome:
        """What correct.py returns (`expected = "correct"` cases)."""
        key = (case.name, input_name, "correct")
        if key not in self._outcomes:
            self._outcomes[key] = self.harness.run(case, self._module(case.correct), input_name)
        return self._outcomes[key]

    def expected(self, case: Case, input_name: str) -> tuple[str, Outcome]:
        """(label, outcome) a rewrite must match: the original's, or correct.py's."""
        if case.expected == "correct":
            return "correct.py", self.correct(case, input_name)
        return "original", self.original(case, input_name)

    def check_input(self, case: Case, module, input_name: str) -> list[str]:
        """Problems of `module` on one input (empty when it returns what the original, or for
        `expected = "correct"` cases correct.py, returns)."""
        label, expected = self.expected(case, input_name)
        oracle = None
        if case.expected == "original" and case.nullable_sum and expected.error == "TypeError":
            oracle = self.original(case, input_name, oracle=True)
        rewritten = self.harness.run(case, module, input_name)
        problems = []
        diff = equivalent(case, expected, rewritten, oracle, label=label)
        if diff:
            problems.append(f"[{case.name} / {input_name}] {diff}")
        # An INB301 case exists to chunk the original's unbounded IN list: its size grants nothing.
        allowed = BATCH_SIZE + self.PARAM_SLACK
        if not case.chunked_in:
            allowed = max(expected.max_params, case.max_params, allowed)
        if rewritten.max_params > allowed:
            problems.append(
                f"[{case.name} / {input_name}] a statement of the rewrite binds {rewritten.max_params} "
                f"parameters (allowed {allowed}; {label} at most {expected.max_params}): the IN list is not "
                f"chunked by {BATCH_SIZE}"
            )
        return problems

    def original_is_wrong(self, case: Case) -> dict[str, tuple[Outcome, Outcome]]:
        """{input: (original, correct.py)} where the two differ (`expected = "correct"` cases)."""
        out = {}
        for name in case.input_names():
            original, correct = self.original(case, name), self.correct(case, name)
            if equivalent(case, correct, original, label="correct.py"):
                out[name] = (original, correct)
        return out

    def counts(self, case: Case, module) -> dict[str, tuple[int, int]]:
        """{input name: (original queries, rewritten queries)} for the counted inputs."""
        out = {}
        for name in harness_data.COUNTED:
            # A nullable-sum original stops at the first NULL; its NULL-as-0 twin runs every query.
            original = self.original(case, name, oracle=case.nullable_sum)
            out[name] = (original.queries, self.harness.run(case, module, name).queries)
        return out

    def check_counts(self, case: Case, module) -> list[str]:
        problems = []
        for name, (orig, rew) in self.counts(case, module).items():
            n = harness_data.COUNTED[name]
            linear = (case.queries_per_iteration + case.writes_per_iteration) * n + case.extra_queries
            if orig < linear:
                problems.append(
                    f"[{case.name} / {name}] the original ran {orig} queries for {n} ids, expected at least "
                    f"{linear} (queries_per_iteration={case.queries_per_iteration}): case.toml is wrong"
                )
            bound = case.max_rewritten_queries(n)
            if rew > bound:
                problems.append(
                    f"[{case.name} / {name}] the rewrite ran {rew} queries for {n} ids; allowed "
                    f"{case.describe_bound(n)}"
                )
        return problems

    def check_module(self, case: Case, module, *, first_only: bool = False) -> list[str]:
        """Every input and the query counts (`first_only`: stop at the first failing check)."""
        problems = []
        for name in case.input_names():
            problems += self.check_input(case, module, name)
            if problems and first_only:
                return problems
        return problems + self.check_counts(case, module)
