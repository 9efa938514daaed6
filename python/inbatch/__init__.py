"""inbatch: finds N+1 query patterns in Python ORM code and rewrites them into batched queries.

The package only carries the ``inbatch`` binary (installed into the environment's scripts folder);
:func:`find_inbatch_bin` locates it for tools that want to run it.
"""

from __future__ import annotations

import os
import sys
import sysconfig

__all__ = ["__version__", "find_inbatch_bin"]


def _version() -> str:
    # Read from the installed distribution's metadata, which maturin fills from Cargo.toml: the
    # version is written in one place only.
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return "unknown"
    try:
        return version("inbatch")
    except PackageNotFoundError:
        return "unknown"


__version__ = _version()


def _user_scheme() -> str:
    if sys.version_info >= (3, 10):
        return sysconfig.get_preferred_scheme("user")
    if os.name == "nt":
        return "nt_user"
    if sys.platform == "darwin" and getattr(sys, "_framework", None):
        return "osx_framework_user"
    return "posix_user"


def find_inbatch_bin() -> str:
    """Returns the path of the ``inbatch`` binary installed with this package."""
    exe = "inbatch" + (sysconfig.get_config_var("EXE") or "")
    candidates = [
        # A virtualenv or a system install: the environment's scripts folder.
        os.path.join(sysconfig.get_path("scripts"), exe),
        # `pip install --user`.
        os.path.join(sysconfig.get_path("scripts", scheme=_user_scheme()), exe),
        # `pip install --target DIR`: DIR/bin beside the package.
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin", exe),
    ]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        "the inbatch binary was not found; looked in " + ", ".join(candidates)
    )
