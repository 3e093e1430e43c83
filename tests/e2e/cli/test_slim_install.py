"""The base install (``pip install tracelink``, no extra) is what a service needs and no more.

A fresh virtualenv gets the working tree installed without ``[server]``; there,
``import logging_ext`` and a full ``configure_logging`` run must not import any server-side
dependency, and the ``tracelink`` command says in one line which extra a subcommand needs.
"""

from __future__ import annotations

import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SERVER_MODULES = (
    "fastapi",
    "uvicorn",
    "elasticsearch",
    "jinja2",
    "pydantic_settings",
    "prometheus_client",
    "pydantic",
    "rison",
    "aiohttp",
    "httpx",
    "starlette",
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with ``pip install <this repository>``: the base install, no extra."""
    root = tmp_path_factory.mktemp("slim") / "venv"
    venv.create(root, with_pip=True)
    python = root / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(REPO)],
        check=True,
        timeout=900,
    )
    return root


def _run(venv_root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=venv_root,  # not the repository: the installed package, not the working tree
        env={"PATH": f"{venv_root / 'bin'}:/usr/bin:/bin", "HOME": str(venv_root)},
        check=False,
    )


def test_server_dependencies_are_not_installed(base_install: Path) -> None:
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    result = _run(base_install, str(base_install / "bin" / "python"), "-c", probe, *SERVER_MODULES)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_logging_ext_imports_and_runs_without_server_modules(base_install: Path) -> None:
    script = textwrap.dedent(
        f"""
        import io, logging, socket, sys

        import logging_ext
        import structlog

        with socket.socket() as sock:  # a port nobody listens on: Kafka unreachable
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        stream = io.StringIO()
        handle = logging_ext.configure_logging(
            "svc", kafka_bootstrap=f"127.0.0.1:{{port}}", stream=stream
        )
        logging.getLogger("svc").info("stdlib record")
        structlog.get_logger("svc").info("structlog event", order=1)
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("svc").exception("with a stack trace")
        handle.close(timeout=0.5)
        for message in ("stdlib record", "structlog event", "with a stack trace"):
            assert message in stream.getvalue(), stream.getvalue()
        loaded = sorted(
            name for name in sys.modules if name.partition(".")[0] in {SERVER_MODULES!r}
        )
        print("LOADED", loaded)
        """
    )
    result = _run(base_install, str(base_install / "bin" / "python"), "-c", script)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        ("ship", "server"),
        ("serve", "server"),
        ("setup", "server"),
        ("dev", "server,standins"),
        ("demo", "demo"),
    ],
)
def test_tracelink_names_the_extra_in_one_line_and_exits_2(
    base_install: Path, command: str, extra: str
) -> None:
    result = _run(base_install, str(base_install / "bin" / "tracelink"), command)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tracelink {command}: not installed")
    assert lines[0].endswith(f"pip install 'tracelink[{extra}]'")


def test_help_works_in_the_base_install(base_install: Path) -> None:
    result = _run(base_install, str(base_install / "bin" / "tracelink"), "--help")
    assert result.returncode == 0, result.stderr
    assert "ship" in result.stdout
