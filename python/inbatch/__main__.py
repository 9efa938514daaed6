"""``python -m inbatch ARGS``: runs the ``inbatch`` binary installed with this package."""

from __future__ import annotations

import os
import sys

from inbatch import find_inbatch_bin


def main() -> None:
    binary = os.fsdecode(find_inbatch_bin())
    if sys.platform == "win32":
        import subprocess

        sys.exit(subprocess.run([binary, *sys.argv[1:]]).returncode)
    # Replace this process, so that signals, exit codes and standard streams are the binary's own.
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    main()
