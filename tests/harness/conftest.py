"""Fixtures of the fix-execution harness (see README.md in this folder)."""

import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import harness_runtime  # noqa: E402


@pytest.fixture(scope="session")
def harness(tmp_path_factory):
    h = harness_runtime.Harness(tmp_path_factory.mktemp("harness-db"))
    yield h
    h.close()


@pytest.fixture(scope="session")
def verifier(harness):
    return harness_runtime.Verifier(harness)
