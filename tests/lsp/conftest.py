"""The `lsp` fixture (see lsp_client.py) for the language server protocol tests."""

from lsp_client import lsp  # noqa: F401
