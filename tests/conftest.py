"""Shared pytest fixtures: where the inbatch binary and the repository are."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo() -> pathlib.Path:
    return REPO


@pytest.fixture(scope="session")
def inbatch_bin() -> str:
    path = os.environ.get("INBATCH_BIN", str(REPO / "target" / "debug" / "inbatch"))
    assert pathlib.Path(path).is_file(), f"inbatch binary not found at {path}; tests/run builds it"
    return path
