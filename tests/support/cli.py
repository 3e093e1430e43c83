"""Run the ``tracelink`` console script the way a user would: the installed executable."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
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


class ShipProcess:
    """One ``tracelink ship`` child process with its output (stdout and stderr) in a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [tracelink_executable(), "ship"],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)
