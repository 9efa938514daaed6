"""INB003 across files in the server: a loop in one open document calling a helper of another
finds the helper's query through the workspace's function summaries, and an unsaved edit to the
helper updates the caller's diagnostics."""

import textwrap

import pytest
from lsp_client import position_of

pytestmark = pytest.mark.asyncio

HELPERS = textwrap.dedent(
    """\
    from models import Stat


    def load_stats(user_id):
        return {"ü": session.get(Stat, user_id)}
    """
)

# The helper no longer queries with its parameter.
HELPERS_WITHOUT_QUERY = HELPERS.replace("session.get(Stat, user_id)", "user_id")

VIEWS = textwrap.dedent(
    """\
    from helpers import load_stats


    def report(user_ids):
        return [load_stats(uid) for uid in user_ids]
    """
)

MODELS = textwrap.dedent(
    """\
    from sqlalchemy.orm import Mapped, mapped_column


    class Stat(Base):
        __tablename__ = "stats"
        id: Mapped[int] = mapped_column(primary_key=True)
    """
)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
async def test_editing_a_helper_updates_its_callers_diagnostics(lsp, tmp_path, encoding):
    for name, text in [("helpers.py", HELPERS), ("views.py", VIEWS), ("models.py", MODELS)]:
        (tmp_path / name).write_text(text, encoding="utf-8")
    server = await lsp(encodings=[encoding])
    helpers = server.open("helpers.py", HELPERS)
    views = server.open("views.py", VIEWS)

    def inb003():
        latest = server.published.latest(views)
        return [d for d in latest.diagnostics if d.code == "INB003"] if latest else []

    await server.wait_for(lambda: len(inb003()) == 1, "INB003 on the call in views.py")
    diagnostic = inb003()[0]
    assert diagnostic.range.start == position_of(VIEWS, "load_stats(uid)", encoding)
    in_helpers = [r for r in diagnostic.related_information or [] if r.location.uri == helpers]
    assert len(in_helpers) == 1, diagnostic.related_information
    query = in_helpers[0]
    assert "the query in `load_stats`" in query.message
    assert query.location.range.start == position_of(HELPERS, "session.get", encoding)
    assert query.location.range.end == position_of(HELPERS, "}", encoding)

    # Unsaved: the helper stops querying, and the caller's finding goes away.
    server.replace_all(helpers, HELPERS_WITHOUT_QUERY)
    await server.wait_for(lambda: server.published.latest(views) is not None and not inb003(),
                          "no INB003 in views.py once the helper no longer queries")

    # Back: it returns.
    server.replace_all(helpers, HELPERS)
    await server.wait_for(lambda: len(inb003()) == 1, "INB003 again in views.py")

    # Unsaved again, then closed without saving: the helper on disk queries, and so the caller's
    # finding comes back.
    server.replace_all(helpers, HELPERS_WITHOUT_QUERY)
    await server.wait_for(lambda: not inb003(), "no INB003 while the unsaved helper is open")
    server.close(helpers)
    await server.wait_for(lambda: len(inb003()) == 1, "INB003 back once the buffer is closed")


REPOSITORIES = textwrap.dedent(
    """\
    from typing import Generic, TypeVar

    from models import Stat

    T = TypeVar("T")


    class Repository(Generic[T]):
        def __init__(self, session):
            self.session = session

        @classmethod
        def from_session(cls, session):
            return cls(session)

        def get_by_id(self, key):
            return self.session.get(Stat, key)


    class StatRepository(Repository[Stat]):
        pass
    """
)

# The base class's method no longer queries.
REPOSITORIES_WITHOUT_QUERY = REPOSITORIES.replace("self.session.get(Stat, key)", "key")

REPORT = textwrap.dedent(
    """\
    from repositories import StatRepository


    def report(session, stat_ids):
        repo = StatRepository.from_session(session)
        return [repo.get_by_id(sid) for sid in stat_ids]
    """
)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
async def test_a_repository_method_in_another_file(lsp, tmp_path, encoding):
    for name, text in [("repositories.py", REPOSITORIES), ("report.py", REPORT),
                       ("models.py", MODELS)]:
        (tmp_path / name).write_text(text, encoding="utf-8")
    server = await lsp(encodings=[encoding])
    repositories = server.open("repositories.py", REPOSITORIES)
    report = server.open("report.py", REPORT)

    def inb003():
        latest = server.published.latest(report)
        return [d for d in latest.diagnostics if d.code == "INB003"] if latest else []

    await server.wait_for(lambda: len(inb003()) == 1, "INB003 on the repository call in report.py")
    diagnostic = inb003()[0]
    assert diagnostic.range.start == position_of(REPORT, "repo.get_by_id(sid)", encoding)
    assert "`Repository.get_by_id` uses `sid` as a query key" in diagnostic.message
    in_repositories = [r for r in diagnostic.related_information or []
                       if r.location.uri == repositories]
    assert [r.message for r in in_repositories] == [
        "`repo.get_by_id` runs `Repository.get_by_id`",
        "the query in `Repository.get_by_id`: `self.session.get(Stat, key)`",
    ]
    method, query = in_repositories
    assert method.location.range.start == position_of(REPOSITORIES, "get_by_id(self", encoding)
    assert query.location.range.start == position_of(REPOSITORIES, "self.session.get", encoding)

    # Unsaved: the base class's method stops querying, and the caller's finding goes away.
    server.replace_all(repositories, REPOSITORIES_WITHOUT_QUERY)
    await server.wait_for(lambda: server.published.latest(report) is not None and not inb003(),
                          "no INB003 in report.py once the repository no longer queries")

    server.replace_all(repositories, REPOSITORIES)
    await server.wait_for(lambda: len(inb003()) == 1, "INB003 again in report.py")
