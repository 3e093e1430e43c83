from __future__ import annotations

import subprocess
import sys

from tests.support.cli import tracelink_executable


def test_help_lists_the_tool() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tracelink", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "usage: tracelink" in result.stdout


def test_console_script_version() -> None:
    result = subprocess.run(
        [tracelink_executable(), "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("tracelink ")


def test_secrets_have_no_flags() -> None:
    """Secrets come from the environment only: a flag would show in the process list."""
    for command in ("serve", "setup"):
        result = subprocess.run(
            [tracelink_executable(), command, "--help"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0
        for flag in ("--es-password", "--es-api-key", "--api-token"):
            assert flag not in result.stdout
        assert "--es-url" in result.stdout
