"""The workspace's model index: a document is analysed with the models other files declare, as
`inbatch check` does, and re-analysed when a model file changes on disk."""

import json
import subprocess
import textwrap

import pytest
from lsprotocol import types
from lsp_client import select_n_plus_one_rules

pytestmark = pytest.mark.asyncio

MODELS = textwrap.dedent(
    """\
    from sqlalchemy import Column, ForeignKey, Integer, Numeric
    from sqlalchemy.orm import declarative_base, relationship

    Base = declarative_base()


    class User(Base):
        __tablename__ = "users"
        id = Column(Integer, primary_key=True)
        payments = relationship("Payment", back_populates="user"{lazy})


    class Payment(Base):
        __tablename__ = "payments"
        id = Column(Integer, primary_key=True)
        user_id = Column(ForeignKey("users.id"))
        amount = Column(Numeric, nullable=True)
        user = relationship("User", back_populates="payments")
    """
)

REPORT = textwrap.dedent(
    """\
    from app.models import Payment, User


    def revenue(session):
        users = session.query(User).all()
        totals = {}
        for user in users:
            totals[user.id] = sum(p.amount for p in user.payments)
        return totals
    """
)


def check_codes(inbatch_bin, workspace, relative):
    out = subprocess.run(
        [inbatch_bin, "check", "--format", "json", relative],
        cwd=workspace, capture_output=True, text=True, check=False,
    )
    assert out.returncode in (0, 1), out.stderr
    return sorted((d["code"], d["location"]["row"] - 1) for d in json.loads(out.stdout))


async def test_models_of_other_files_are_used_like_the_cli_does(lsp, inbatch_bin, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "models.py").write_text(MODELS.format(lazy=""))
    (tmp_path / "app" / "report.py").write_text(REPORT)
    select_n_plus_one_rules(tmp_path)  # before the CLI runs: the server's workspace config
    expected = check_codes(inbatch_bin, tmp_path, "app/report.py")
    assert expected, "the CLI finds something that needs the models"

    server = await lsp()
    uri = server.open("app/report.py", REPORT)

    def codes():
        latest = server.published.latest(uri)
        return latest and sorted((d.code, d.range.start.line) for d in latest.diagnostics)

    await server.wait_for(lambda: codes() == expected, f"the CLI's findings {expected}")

    # Loading the relationship eagerly, on disk, is seen by the open document.
    (tmp_path / "app" / "models.py").write_text(MODELS.format(lazy=', lazy="selectin"'))
    server.client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=server.uri("app/models.py"),
                                     type=types.FileChangeType.Changed)]
        )
    )
    expected_now = check_codes(inbatch_bin, tmp_path, "app/report.py")
    assert expected_now != expected
    await server.wait_for(lambda: codes() == expected_now, f"the CLI's findings {expected_now}")
