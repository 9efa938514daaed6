"""What a new user meets in an editor (issue 20): empty options as Neovim sends them, a pulling
client that cannot be told to pull again, configuration files the client does not watch, bad rule
codes, hover on suppression comments, where the inlay hint goes, "Ignore for this line" next to a
multi-line string, the open-files-only diagnostic mode, the opt-in unsafe fix-all and where INB102
points."""

import pathlib
import shutil

import pytest
from lsprotocol import types

from lsp_client import N_PLUS_ONE, position_of
from test_lsp_code_actions import actions_at, apply, edits_of
from test_lsp_hover import hover_at, inlay_hints

pytestmark = pytest.mark.asyncio

DJANGO = pathlib.Path(__file__).resolve().parent.parent / "editors" / "django_project"
VIEW_CODES = ["INB001", "INB002", "INB002", "INB201", "INB002"]


def codes(diagnostics):
    return [d.code for d in sorted(diagnostics, key=lambda d: (d.range.start.line, d.range.start.character))]


def django_project(root: pathlib.Path, filler: int = 0) -> pathlib.Path:
    """A copy of the Django fixture project (models in models.py, the view in views.py), with
    `filler` other modules so that indexing takes a while."""
    shutil.copytree(DJANGO, root, dirs_exist_ok=True)
    reports = root / "shop" / "reports"
    reports.mkdir()
    body = "".join(f"def report_{n}(rows):\n    return [r.id for r in rows if r.id > {n}]\n\n\n"
                   for n in range(60))
    for n in range(filler):
        (reports / f"report_{n}.py").write_text(body)
    return root / "shop" / "views.py"


@pytest.mark.parametrize("options", [[], {}, {"inbatch": []}])
async def test_empty_options_as_neovim_sends_them_are_no_options(lsp, options):
    server = await lsp(initialization_options=options)
    uri = server.open("a.py", N_PLUS_ONE)
    assert len(await server.diagnostics(uri, 1)) == 2
    server.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=[])
    )
    server.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=None)
    )
    await server.wait_for(lambda: server.published.latest(uri) is not None, "diagnostics")
    # A round trip, so that anything the notifications caused was sent before it answered.
    await hover_at(server, uri, types.Position(line=0, character=0))
    assert server.client.messages == [], [m.message for m in server.client.messages]


async def test_a_pulling_client_without_refresh_gets_every_finding_without_an_edit(lsp, tmp_path):
    views = django_project(tmp_path, filler=300)
    server = await lsp(pull=True, refresh=False)
    # Not offered pulls (it could not be told to pull again once the models are indexed):
    # diagnostics are pushed, and pushed again when the index is ready.
    assert server.result.capabilities.diagnostic_provider is None
    uri = server.open("shop/views.py", views.read_text())
    await server.wait_for(
        lambda: (latest := server.published.latest(uri)) is not None
        and codes(latest.diagnostics) == VIEW_CODES,
        "the five findings of the view, models included, without an edit",
    )


async def test_a_pulling_client_with_refresh_is_offered_pulls(lsp):
    server = await lsp(pull=True)
    assert server.result.capabilities.diagnostic_provider is not None


async def test_unwatched_configuration_files_are_seen(lsp, tmp_path):
    """A client that does not register file watchers (Neovim on Linux) is never told that
    pyproject.toml changed: the server looks itself."""
    server = await lsp(watch=False, n_plus_one_rules=False)
    uri = server.open("a.py", N_PLUS_ONE)

    def inb001():
        latest = server.published.latest(uri)
        return None if latest is None else [d for d in latest.diagnostics if d.code == "INB001"]

    await server.wait_for(lambda: inb001() is not None, "the first diagnostics")
    assert inb001() == [], "INB001 is off by default"
    assert server.client.registrations == []
    (tmp_path / "pyproject.toml").write_text("[tool.inbatch]\nextend-select = ['INB001']\n")
    await server.wait_for(lambda: len(inb001() or []) == 2,
                          "the findings after pyproject.toml turned INB001 on, on disk")
    (tmp_path / "pyproject.toml").unlink()
    await server.wait_for(lambda: inb001() == [], "the findings gone after pyproject.toml was deleted")


async def test_bad_rule_codes_are_reported_and_the_rest_kept(lsp):
    server = await lsp(initialization_options={
        "select": ["INB001", "INB999"], "ignore": ["INB4"], "batchSize": 500,
    })
    await server.wait_for(lambda: len(server.client.messages) >= 2, "two error messages")
    text = "\n".join(m.message for m in server.client.messages)
    assert "`INB999`" in text and "`INB4`" in text, text
    uri = server.open("a.py", N_PLUS_ONE)
    [first, _] = await server.diagnostics(uri, 1)
    # batchSize was kept, not dropped with the bad codes.
    hover = await hover_at(server, uri, first.range.start)
    assert "after the fix: 4" in hover.contents.value


async def test_a_select_of_only_unknown_codes_keeps_the_configured_rules(lsp):
    server = await lsp(initialization_options={"select": ["INB999"]})
    await server.wait_for(lambda: server.client.messages, "an error message")
    assert "`INB999`" in server.client.messages[0].message
    uri = server.open("a.py", N_PLUS_ONE)
    assert len(await server.diagnostics(uri, 1)) == 2


async def test_hover_on_the_codes_of_a_noqa_comment(lsp):
    text = N_PLUS_ONE.replace(
        "user_id=uid).all()\n        payments",
        "user_id=uid).all()  # noqa: E501, INB001\n        payments",
    )
    server = await lsp()
    uri = server.open("a.py", text)
    await server.diagnostics(uri, 1)
    hover = await hover_at(server, uri, position_of(text, "NB001\n"))
    assert hover is not None
    assert hover.contents.value.startswith("**INB001** `query-in-loop`"), hover.contents.value
    assert "## What it does" in hover.contents.value
    assert await hover_at(server, uri, position_of(text, "501, INB")) is None


async def test_inlay_hint_goes_after_the_colon_with_a_tooltip(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    await server.diagnostics(uri, 1)
    [hint] = await inlay_hints(server, uri)
    header = position_of(N_PLUS_ONE, "for uid in user_ids:")
    assert (hint.position.line, hint.position.character) == (
        header.line, header.character + len("for uid in user_ids:")
    )
    tooltip = hint.tooltip.value
    assert "INB001" in tooltip and "line 7" in tooltip, tooltip


async def test_no_fix_means_no_promise_after_the_fix(lsp):
    text = (
        "from app.models import Session\n\n\n"
        "def f(user_ids):\n"
        "    while user_ids:\n"
        "        uid = user_ids.pop()\n"
        "        print(Session.query.filter_by(user_id=uid).first().name)\n"
    )
    server = await lsp()
    uri = server.open("a.py", text)
    [finding] = await server.diagnostics(uri, 1)
    hover = await hover_at(server, uri, finding.range.start)
    value = hover.contents.value
    assert "**No fix" in value, value
    assert "1 query per iteration; for 1,000 ids: 1,000 round trips\n" in value, value
    assert "after the fix" not in value, value


async def test_ignore_for_this_line_where_a_multi_line_string_starts(lsp):
    text = (
        "from app.models import Session\n\n\n"
        "def f(user_ids):\n"
        "    for uid in user_ids:\n"
        '        print(Session.query.filter_by(user_id=uid).first(), """a\n'
        'b""")\n'
    )
    server = await lsp()
    uri = server.open("a.py", text)
    [finding] = await server.diagnostics(uri, 1)
    actions = await actions_at(server, uri, finding)
    [ignore] = [a for a in actions if a.title == "Ignore INB001 for this line"]
    assert ignore.disabled is None
    resolved = await server.client.code_action_resolve_async(ignore)
    edits = edits_of(resolved, uri)
    assert edits, "an edit, not an empty one"
    fixed = apply(text, edits)
    assert fixed.endswith('b""")  # noqa: INB001\n'), fixed
    server.replace_all(uri, fixed)
    assert await server.diagnostics(uri) == []


async def test_open_files_only_by_default(lsp, tmp_path):
    (tmp_path / "on_disk.py").write_text(N_PLUS_ONE)
    server = await lsp(pull=True)
    await server.wait_for(lambda: server.client.diagnostic_refresh_count > 0, "the end of indexing")
    open_uri = server.open("open.py", N_PLUS_ONE)
    report = await server.client.workspace_diagnostic_async(
        types.WorkspaceDiagnosticParams(identifier="inbatch", previous_result_ids=[])
    )
    by_uri = {item.uri: item for item in report.items}
    assert list(by_uri[(tmp_path / "on_disk.py").as_uri()].items) == []
    assert len([d for d in by_uri[open_uri].items if d.code == "INB001"]) == 2


async def test_fix_all_including_unsafe_is_opt_in(lsp):
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    [first, _] = await server.diagnostics(uri, 1)
    plain = await actions_at(server, uri, first)
    fix_all = await actions_at(server, uri, first, only=["source.fixAll"])
    assert all(a.kind != "source.fixAllUnsafe.inbatch" for a in plain + fix_all)
    [unsafe] = await actions_at(server, uri, first, only=["source.fixAllUnsafe.inbatch"])
    resolved = await server.client.code_action_resolve_async(unsafe)
    fixed = apply(N_PLUS_ONE, edits_of(resolved, uri))
    assert "in_(" in fixed or "__in" in fixed, fixed


LOSSY = (
    "from sqlalchemy import ForeignKey\n"
    "from sqlalchemy.orm import Mapped, mapped_column\n\n\n"
    "class Session(Base):\n"
    "    __tablename__ = \"sessions\"\n"
    "    id: Mapped[int] = mapped_column(primary_key=True)\n"
    "    user_id: Mapped[int] = mapped_column(ForeignKey(\"users.id\"))\n\n\n"
    "def f(session):\n"
    "    by_user = {  # keyed by user\n"
    "        s.user_id: s  # one row per user, or so we thought\n"
    "        for s in session.query(Session).all()\n"
    "    }\n"
    "    return list(by_user.values())\n"
)


async def test_lossy_grouping_points_at_the_pair_and_quotes_no_comments(lsp):
    server = await lsp(initialization_options={"select": ["INB102"]})
    uri = server.open("a.py", LOSSY)
    [finding] = await server.diagnostics(uri, 1, code="INB102")
    start = position_of(LOSSY, "s.user_id: s")
    assert (finding.range.start, finding.range.end) == (
        start, types.Position(line=start.line, character=start.character + len("s.user_id: s"))
    )
    assert "#" not in finding.message, finding.message
    # "Ignore for this line" puts the comment on the pair's line, where the finding starts.
    actions = await actions_at(server, uri, finding)
    [ignore] = [a for a in actions if a.title == "Ignore INB102 for this line"]
    resolved = await server.client.code_action_resolve_async(ignore)
    fixed = apply(LOSSY, edits_of(resolved, uri))
    assert "        s.user_id: s  # one row per user, or so we thought  # noqa: INB102\n" in fixed, fixed
    server.replace_all(uri, fixed)
    assert await server.diagnostics(uri, code="INB102") == []
