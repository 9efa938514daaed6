"""One project layer: the server and `inbatch check` give the same findings on the same files,
whatever the layout (a monorepo of services with same-named modules, an excluded folder of
models, a src layout). The server is opened on the folder the CLI runs in."""

import json
import pathlib
import shutil
import subprocess
import textwrap

import pytest

pytestmark = pytest.mark.asyncio

QUERYING_HELPER = textwrap.dedent(
    """\
    from app.models import User


    def load(session, uid):
        return session.query(User).filter(User.id == uid).first()
    """
)

PURE_HELPER = textwrap.dedent(
    """\
    def load(session, uid):
        return {"id": uid}
    """
)

VIEW = textwrap.dedent(
    """\
    from app.helpers import load


    def view(session, ids):
        return [load(session, i) for i in ids]
    """
)

MODELS = textwrap.dedent(
    """\
    from sqlalchemy import Column, ForeignKey, Integer, Numeric
    from sqlalchemy.orm import declarative_base, relationship

    Base = declarative_base()


    class User(Base):
        __tablename__ = "users"
        id = Column(Integer, primary_key=True)
        payments = relationship("Payment")


    class Payment(Base):
        __tablename__ = "payments"
        id = Column(Integer, primary_key=True)
        user_id = Column(ForeignKey("users.id"))
        amount = Column(Numeric, nullable=True)
    """
)

REPORT = textwrap.dedent(
    """\
    from legacy.models import Payment


    def total(payments: list[Payment]):
        return sum(p.amount for p in payments)
    """
)


def write(root, files):
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def cli_findings(inbatch_bin, workspace):
    out = subprocess.run(
        [inbatch_bin, "check", "--format", "json", "."],
        cwd=workspace, capture_output=True, text=True, check=False,
    )
    assert out.returncode in (0, 1), out.stderr
    found = {}
    for d in json.loads(out.stdout):
        path = (workspace / d["filename"]).resolve() if not d["filename"].startswith("/") else d["filename"]
        found.setdefault(str(path), []).append((d["code"], d["location"]["row"] - 1))
    return {path: sorted(codes) for path, codes in found.items()}


async def server_findings(server, workspace, relatives):
    uris = {relative: server.open(relative, (workspace / relative).read_text()) for relative in relatives}

    def published():
        result = {}
        for relative, uri in uris.items():
            latest = server.published.latest(uri)
            if latest is None:
                return None
            result[relative] = sorted((d.code, d.range.start.line) for d in latest.diagnostics)
        return result

    return published, uris


async def assert_same_findings(lsp, inbatch_bin, workspace, relatives):
    expected_by_path = cli_findings(inbatch_bin, workspace)
    expected = {r: expected_by_path.get(str((workspace / r).resolve()), []) for r in relatives}
    server = await lsp(workspace=workspace, n_plus_one_rules=False)
    published, _ = await server_findings(server, workspace, relatives)
    try:
        await server.wait_for(lambda: published() == expected, f"the CLI's findings {expected}")
    except AssertionError as error:
        raise AssertionError(f"{error}; the server published {published()}") from None
    return expected


async def test_a_monorepo_of_services_with_same_named_modules(lsp, inbatch_bin, tmp_path):
    config = '[project]\nname = "svc"\n\n[tool.inbatch]\nselect = ["INB003"]\n'
    write(tmp_path, {
        "svc_a/pyproject.toml": config,
        "svc_a/app/__init__.py": "",
        "svc_a/app/models.py": MODELS,
        "svc_a/app/helpers.py": QUERYING_HELPER,
        "svc_a/app/views.py": VIEW,
        "svc_b/pyproject.toml": config,
        "svc_b/app/__init__.py": "",
        "svc_b/app/helpers.py": PURE_HELPER,
        "svc_b/app/views.py": VIEW,
    })
    expected = await assert_same_findings(
        lsp, inbatch_bin, tmp_path, ["svc_a/app/views.py", "svc_b/app/views.py"])
    assert expected["svc_a/app/views.py"], "the CLI follows svc_a's own helper"
    assert not expected["svc_b/app/views.py"], "svc_b's helper runs no query"


async def test_models_in_an_excluded_folder(lsp, inbatch_bin, tmp_path):
    write(tmp_path, {
        "pyproject.toml": '[project]\nname = "app"\n\n[tool.inbatch]\nselect = ["INB201"]\n'
                          'extend-exclude = ["legacy"]\n',
        "legacy/__init__.py": "",
        "legacy/models.py": MODELS,
        "app/__init__.py": "",
        "app/report.py": REPORT,
    })
    expected = await assert_same_findings(lsp, inbatch_bin, tmp_path, ["app/report.py"])
    assert not expected["app/report.py"], "models of an excluded folder are not the project's"


async def test_a_src_layout(lsp, inbatch_bin, tmp_path):
    write(tmp_path, {
        "pyproject.toml": '[project]\nname = "app"\n\n[tool.inbatch]\nselect = ["INB003"]\n',
        "src/app/__init__.py": "",
        "src/app/models.py": MODELS,
        "src/app/helpers.py": QUERYING_HELPER,
        "src/app/views.py": VIEW,
    })
    expected = await assert_same_findings(lsp, inbatch_bin, tmp_path, ["src/app/views.py"])
    assert expected["src/app/views.py"], "the CLI resolves `app.helpers` under src/"


SHOP_MODELS = textwrap.dedent(
    """\
    from django.db import models


    class Customer(models.Model):
        name = models.CharField(max_length=50)


    class Order(models.Model):
        customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    """
)

ARCHIVE_MODELS = textwrap.dedent(
    """\
    from django.db import models


    class Order(models.Model):
        customer_name = models.CharField(max_length=50)
    """
)


def order_view(app):
    return textwrap.dedent(
        f"""\
        from {app}.models import Order


        def names():
            return [order.customer for order in Order.objects.all()]
        """
    )


async def test_same_named_models_in_two_apps_resolve_through_their_imports(lsp, inbatch_bin, tmp_path):
    write(tmp_path, {
        "pyproject.toml": '[project]\nname = "site"\n\n[tool.inbatch]\nselect = ["INB002"]\n',
        "shop/__init__.py": "",
        "shop/models.py": SHOP_MODELS,
        "shop/views.py": order_view("shop"),
        "archive/__init__.py": "",
        "archive/models.py": ARCHIVE_MODELS,
        "archive/views.py": order_view("archive"),
    })
    expected = await assert_same_findings(
        lsp, inbatch_bin, tmp_path, ["shop/views.py", "archive/views.py"])
    assert expected["shop/views.py"], "shop's Order has a foreign key, loaded per order"
    assert not expected["archive/views.py"], "archive's Order has no relationship"


FIXTURE_PROJECTS = sorted(
    path for path in (pathlib.Path(__file__).parents[1] / "fixtures" / "rules").glob("*/*")
    if path.is_dir()
)


@pytest.mark.parametrize("project", FIXTURE_PROJECTS, ids=lambda p: f"{p.parent.name}/{p.name}")
async def test_every_fixture_project_gets_the_clis_findings(lsp, inbatch_bin, tmp_path, project):
    workspace = tmp_path / project.name
    shutil.copytree(project, workspace)
    (workspace / "inbatch.toml").write_text('select = ["ALL"]\n')
    relatives = sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*.py"))
    expected = await assert_same_findings(lsp, inbatch_bin, workspace, relatives)
    assert any(expected.values()), f"{project.name} has findings to compare"


async def test_models_in_a_gitignored_folder(lsp, inbatch_bin, tmp_path):
    write(tmp_path, {
        "pyproject.toml": '[project]\nname = "app"\n\n[tool.inbatch]\nselect = ["INB201"]\n',
        ".gitignore": "legacy/\n",
        "legacy/__init__.py": "",
        "legacy/models.py": MODELS,
        "app/__init__.py": "",
        "app/report.py": REPORT,
    })
    expected = await assert_same_findings(lsp, inbatch_bin, tmp_path, ["app/report.py"])
    assert not expected["app/report.py"], "models of a gitignored folder are not the project's"


async def test_a_nested_project_excludes_its_own_folders(lsp, inbatch_bin, tmp_path):
    # The outer configuration excludes nothing; the service's own excludes its `legacy` models.
    # `other/` is checked first, so a walk that took the first file's settings for the whole run
    # would keep the service's legacy models.
    write(tmp_path, {
        "pyproject.toml": '[project]\nname = "site"\n\n[tool.inbatch]\nselect = ["INB201"]\n',
        "other/__init__.py": "",
        "svc/pyproject.toml": '[project]\nname = "svc"\n\n[tool.inbatch]\nselect = ["INB201"]\n'
                              'extend-exclude = ["legacy"]\n',
        "svc/legacy/__init__.py": "",
        "svc/legacy/models.py": MODELS,
        "svc/app/__init__.py": "",
        "svc/app/report.py": REPORT,
    })
    expected = await assert_same_findings(lsp, inbatch_bin, tmp_path, ["svc/app/report.py"])
    assert not expected["svc/app/report.py"], "the service's excluded models are not its own"


async def test_a_workspace_folder_inside_a_project(lsp, inbatch_bin, tmp_path):
    # Opened on `proj/svc`, which has no marker: modules are named from `proj`, as the CLI run
    # in `proj/svc` names them.
    write(tmp_path, {
        "proj/pyproject.toml": '[project]\nname = "proj"\n\n[tool.inbatch]\nselect = ["INB003"]\n',
        "proj/svc/__init__.py": "",
        "proj/svc/app/__init__.py": "",
        "proj/svc/app/models.py": MODELS,
        "proj/svc/app/helpers.py": QUERYING_HELPER.replace("from app.", "from svc.app."),
        "proj/svc/app/views.py": VIEW.replace("from app.", "from svc.app."),
    })
    expected = await assert_same_findings(lsp, inbatch_bin, tmp_path / "proj/svc", ["app/views.py"])
    assert expected["app/views.py"], "the CLI resolves `svc.app.helpers` from the project's root"
