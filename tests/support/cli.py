"""Run the ``tracelink`` console script the way a user would: the installed executable."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def tracelink_executable() -> str:
    """The ``tracelink`` script of the running environment (the venv's, not a global one)."""
    beside = Path(sys.executable).with_name("tracelink")
    if beside.is_file():
        return str(beside)
    found = shutil.which("tracelink")
    if found is None:
        raise RuntimeError("the tracelink console script is not installed (pip install -e .)")
    return found
