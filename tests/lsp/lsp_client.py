"""The `lsp` fixture and helpers for the language server protocol tests: a pytest-lsp client
driving the real `inbatch server` binary over stdio, with helpers to open documents, edit them
and wait for the diagnostics of a given version."""

from __future__ import annotations

import asyncio
import os
import pathlib
import textwrap
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.client import JsonRPCClient
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

TIMEOUT = 20.0

# The N+1 rules are off by default (under 90 % precise on real code). The workspaces of these tests
# are projects that turn them on, as a user does, unless a test brings its own configuration.
N_PLUS_ONE_RULES = ["INB001", "INB002", "INB003", "INB005"]
N_PLUS_ONE_CONFIG = f"extend-select = {N_PLUS_ONE_RULES!r}\n".replace("'", '"')


def select_n_plus_one_rules(folder: pathlib.Path) -> None:
    """Writes `folder/inbatch.toml` selecting the N+1 rules, unless the folder already has an
    inbatch configuration (`inbatch.toml`, or `[tool.inbatch]` in `pyproject.toml`)."""
    pyproject = folder / "pyproject.toml"
    if (folder / "inbatch.toml").exists() or (
        pyproject.exists() and "[tool.inbatch]" in pyproject.read_text()
    ):
        return
    (folder / "inbatch.toml").write_text(N_PLUS_ONE_CONFIG)

N_PLUS_ONE = textwrap.dedent(
    """\
    from app.models import Payment, Session


    def get_user_analytics(user_ids):
        result = {}
        for uid in user_ids:
            sessions = Session.query.filter_by(user_id=uid).all()
            payments = Payment.query.filter_by(user_id=uid).all()
            result[uid] = (len(sessions), len(payments))
        return result
    """
)


def big_module(functions: int = 20, filler: int = 240) -> str:
    """A large module whose code actions are slow to build: `functions` N+1 loops (two
    findings each, each with a batched-rewrite fix), padded with `filler` ordinary lines each."""
    lines = ["from app.models import Payment, Session", "", ""]
    for f in range(functions):
        lines += [
            f"def analytics_{f}(user_ids):",
            "    result = {}",
            "    for uid in user_ids:",
            "        sessions = Session.query.filter_by(user_id=uid).all()",
            "        payments = Payment.query.filter_by(user_id=uid).all()",
        ]
        lines += [f"        total_{n} = len(payments) + {n}" for n in range(filler)]
        lines += ["    return result", "", ""]
    return "\n".join(lines) + "\n"


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def position_of(text: str, needle: str, encoding: str = "utf-16") -> types.Position:
    """The LSP position of the first occurrence of `needle`, in `encoding` code units."""
    before = text[: text.index(needle)]
    line = before.count("\n")
    prefix = before.rsplit("\n", 1)[-1]
    column = len(prefix.encode("utf-8")) if encoding == "utf-8" else utf16_len(prefix)
    return types.Position(line=line, character=column)


def apply_utf16_edit(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def offset_to_position(text: str, offset: int) -> types.Position:
    before = text[:offset]
    line = before.count("\n")
    return types.Position(line=line, character=utf16_len(before.rsplit("\n", 1)[-1]))


class Published:
    """Every `publishDiagnostics` the client received, per URI, in order."""

    def __init__(self) -> None:
        self.by_uri: dict[str, list[types.PublishDiagnosticsParams]] = {}

    def record(self, params: types.PublishDiagnosticsParams) -> None:
        self.by_uri.setdefault(params.uri, []).append(params)

    def latest(self, uri: str) -> types.PublishDiagnosticsParams | None:
        return (self.by_uri.get(uri) or [None])[-1]


def make_client(unanswered: tuple[str, ...] = ()) -> LanguageClient:
    """A pytest-lsp client recording diagnostics and registrations. The server's requests named in
    `unanswered` (e.g. `client/registerCapability`) are recorded and never answered, like a client
    that does not implement them."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = Published()  # type: ignore[attr-defined]
    client.registrations = []  # type: ignore[attr-defined]
    client.unanswered = []  # type: ignore[attr-defined]
    client.unanswered_tasks = []  # type: ignore[attr-defined]
    features = dict(DEFAULT_CLIENT_FEATURES)

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.published.record(params)  # type: ignore[attr-defined]

    def register(client: LanguageClient, params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    def never_answer(method: str):
        async def handler(client: LanguageClient, params: Any) -> None:
            client.unanswered.append((method, params))  # type: ignore[attr-defined]
            client.unanswered_tasks.append(asyncio.current_task())  # type: ignore[attr-defined]
            await asyncio.Event().wait()

        return handler

    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    features[types.CLIENT_REGISTER_CAPABILITY] = register
    for method in unanswered:
        features[method] = never_answer(method)
    register_lsp_features(client, features)
    return client


def capabilities(*, encodings: list[str] | None = None, pull: bool = False,
                 resolve: bool = True, refresh: bool = True,
                 watch: bool = True) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind(e) for e in encodings]
            if encodings is not None
            else None,
        ),
        window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=types.WorkspaceClientCapabilities(
            configuration=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
            did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(
                dynamic_registration=watch
            ),
            diagnostics=types.DiagnosticWorkspaceClientCapabilities(refresh_support=refresh),
        ),
        text_document=types.TextDocumentClientCapabilities(
            synchronization=types.TextDocumentSyncClientCapabilities(),
            hover=types.HoverClientCapabilities(
                content_format=[types.MarkupKind.Markdown, types.MarkupKind.PlainText]
            ),
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
                related_information=True,
                version_support=True,
                code_description_support=True,
                data_support=True,
            ),
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(
                        value_set=[types.CodeActionKind.QuickFix, types.CodeActionKind.Source]
                    )
                ),
                is_preferred_support=True,
                data_support=True,
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"])
                if resolve
                else None,
            ),
            diagnostic=types.DiagnosticClientCapabilities(related_document_support=False)
            if pull
            else None,
        ),
    )


class Server:
    """One running `inbatch server` with a connected client."""

    def __init__(self, client: LanguageClient, workspace: pathlib.Path,
                 result: types.InitializeResult):
        self.client = client
        self.workspace = workspace
        self.result = result
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}

    @property
    def published(self) -> Published:
        return self.client.published  # type: ignore[attr-defined]

    def uri(self, name: str) -> str:
        return (self.workspace / name).as_uri()

    def open(self, name: str, text: str) -> str:
        uri = self.uri(name)
        self.versions[uri] = 1
        self.texts[uri] = text
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=text
                )
            )
        )
        return uri

    def change(self, uri: str, *changes: Any) -> int:
        """Sends one didChange with the given content changes; returns the new version."""
        self.versions[uri] += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self.versions[uri]
                ),
                content_changes=list(changes),
            )
        )
        return self.versions[uri]

    def replace_all(self, uri: str, text: str) -> int:
        self.texts[uri] = text
        return self.change(uri, types.TextDocumentContentChangeWholeDocument(text=text))

    def edit(self, uri: str, start: int, end: int, new: str) -> int:
        """Replaces the Python-string range [start, end) of the tracked text (UTF-16 positions)."""
        text = self.texts[uri]
        change = types.TextDocumentContentChangePartial(
            range=types.Range(
                start=offset_to_position(text, start), end=offset_to_position(text, end)
            ),
            text=new,
        )
        self.texts[uri] = apply_utf16_edit(text, start, end, new)
        return self.change(uri, change)

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=uri)
            )
        )

    async def diagnostics(self, uri: str, version: int | None = None,
                          code: str | None = "INB001") -> list[types.Diagnostic]:
        """The diagnostics published for `version` (the latest sent version by default), of rule
        `code` only unless it is `None`: the suites test the protocol on INB001, and must not
        break each time a new rule also finds something in their snippets."""
        want = self.versions.get(uri) if version is None else version
        async with asyncio.timeout(TIMEOUT):
            while True:
                latest = self.published.latest(uri)
                if latest is not None and latest.version == want:
                    return [d for d in latest.diagnostics if code is None or d.code == code]
                await asyncio.sleep(0.005)

    async def wait_for(self, condition, what: str) -> None:
        try:
            async with asyncio.timeout(TIMEOUT):
                while not condition():
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None


@pytest_asyncio.fixture
async def lsp(inbatch_bin, tmp_path):
    """A factory: `server = await lsp(...)` starts and initialises a server."""
    started: list[LanguageClient] = []

    async def start(*, env: dict[str, str] | None = None, encodings: list[str] | None = None,
                    pull: bool = False, resolve: bool = True,
                    refresh: bool = True, watch: bool = True,
                    initialization_options: Any = None,
                    workspace: pathlib.Path | None = None,
                    unanswered: tuple[str, ...] = (),
                    command: tuple[str, ...] | None = None,
                    process_id: int | str | None = None,
                    read_stderr: bool = True,
                    n_plus_one_rules: bool = True) -> Server:
        """Starts `inbatch server` (or `command`, which starts it) and initialises it.
        `process_id` is this process's by default; `"command"` is the started command's.
        `read_stderr=False` leaves the server's standard error unread, as many editors do.
        `refresh=False`: no `workspace/diagnostic/refresh` support (Neovim 0.11); `watch=False`:
        no dynamic registration of file watchers (Neovim on Linux).
        The workspace selects the N+1 rules in an `inbatch.toml` (see `select_n_plus_one_rules`)
        unless `n_plus_one_rules=False`: then only the rules on by default run."""
        folder = workspace or tmp_path
        if n_plus_one_rules:
            select_n_plus_one_rules(folder)
        client = make_client(unanswered)
        started.append(client)
        server_env = {**os.environ, "INBATCH_LOG": "info,inbatch=debug", **(env or {})}
        program, *args = command or (inbatch_bin, "server")
        if read_stderr:
            await client.start_io(program, *args, env=server_env)
        else:
            # pygls's own start, without pytest-lsp's task forwarding standard error.
            await JsonRPCClient.start_io(client, program, *args, env=server_env)
            client.stderr_unread = True  # type: ignore[attr-defined]
        if process_id == "command":
            process_id = client._server.pid
        result = await asyncio.wait_for(
            client.initialize_session(
                types.InitializeParams(
                    capabilities=capabilities(encodings=encodings, pull=pull, resolve=resolve,
                                              refresh=refresh, watch=watch),
                    workspace_folders=[types.WorkspaceFolder(uri=folder.as_uri(), name="ws")],
                    initialization_options=initialization_options,
                    process_id=process_id,
                )
            ),
            TIMEOUT,
        )
        return Server(client, folder, result)

    yield start

    async def drain(stream: asyncio.StreamReader) -> None:
        while await stream.read(65536):
            pass

    for client in started:
        process = client._server
        # pygls cannot fail the handlers of requests it never answered when the server exits.
        for task in client.unanswered_tasks:  # type: ignore[attr-defined]
            task.cancel()
        await asyncio.sleep(0)
        if getattr(client, "stderr_unread", False):
            # A standard error left unread must drain, or the process is never seen to end.
            asyncio.ensure_future(drain(process.stderr))
        try:
            if process is not None and process.returncode is None:
                await asyncio.wait_for(client.shutdown_session(), 5)
        except Exception:
            pass
        if process is not None and process.returncode is None:
            process.kill()
        await asyncio.wait_for(client.stop(), 10)
