"""Child processes, supervised: the one way tracelink starts, watches and stops programs.

Everything the embedded stack runs is a child process of ``tracelink dev`` / ``tracelink
demo`` (or of pytest): the stand-in servers (:mod:`devstack.standins`), ``tracelink setup``,
``ship`` and ``serve`` (:mod:`devstack.stack`), the demo services
(:mod:`devstack.demo.launcher`). They all go through :class:`ChildProcess`, which guarantees:

- **start**: the command runs in its own session (a Ctrl-C in the terminal reaches only the
  parent, which then stops the children in order), with the given environment and working
  directory, stdin from ``/dev/null``, stdout and stderr appended to its log file;
- **die with the parent**: on Linux the child gets SIGTERM when the thread that started it
  ends (``prctl(PR_SET_PDEATHSIG)``), so a crashed or killed parent leaves no orphans —
  start children from a long-lived thread (the main thread), not from a short-lived worker;
- **ready**: :meth:`~ChildProcess.wait_ready` polls the readiness check until it says yes;
  if the child exits first or the deadline passes, the child is stopped and the error
  carries the tail of its log;
- **stop**: SIGTERM (the child shuts down cleanly: the shipper drains, servers save their
  data, services flush telemetry), SIGKILL once ``timeout`` has passed; idempotent; the exit
  status stays readable as :attr:`~ChildProcess.exit_code` (negative: killed by a signal).

:class:`ServerProcess` adds a loopback port (free by default) that must be free before the
start, and :class:`ProcessGroup` starts several children in order (or all at once) and
stops them in reverse order.

Adding a part to the dev stack or the demo — say an OTLP receiver or a Node.js gateway — is
a command plus a readiness check::

    port = free_port()
    group.start(
        ServerProcess(
            "otlp-gateway",
            ["node", "gateway.js", "--port", str(port)],
            port=port,
            log_path=log_dir / "otlp-gateway.log",
            env={**os.environ, "OTEL_SERVICE_NAME": "otlp-gateway"},
            ready=lambda: http_ready("127.0.0.1", port, "/healthz"),
        ),
        timeout=30,
    )  # returns once /healthz answers 200; stopped with the rest, in reverse order

A child that binds its port itself has a moment between ``free_port()`` and its bind in
which another program could take the port; :mod:`devstack.demo.launcher` shows how to
close that window (bind here, pass the socket with ``launch(pass_fds=...)``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import http.client
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self, TypeVar

__all__ = [
    "ChildProcess",
    "ProcessError",
    "ProcessGroup",
    "ServerProcess",
    "free_port",
    "http_ready",
    "port_is_free",
    "tcp_ready",
]

_PR_SET_PDEATHSIG = 1
# How often a readiness check is repeated while waiting.
_POLL_S = 0.05


class ProcessError(RuntimeError):
    """A child process could not be started (cannot run, port taken, exited, never ready)."""


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


def http_ready(host: str, port: int, path: str = "/", *, timeout: float = 1.0) -> bool:
    """True when ``GET http://host:port/path`` answers 200."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def tcp_ready(host: str, port: int, *, timeout: float = 0.5) -> bool:
    """True when ``host:port`` accepts a TCP connection."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildProcess:
    """One supervised child process (see the module docstring for the guarantees).

    ``command``, ``env`` (``None``: this process's environment) and ``ready`` (``None``:
    ready once started) can be given here or provided by a subclass overriding
    :meth:`argv`, :meth:`environment` and :meth:`is_ready`. Errors are ``error`` (a
    :class:`ProcessError` subclass of the subclass's choosing).
    """

    error: ClassVar[type[ProcessError]] = ProcessError

    def __init__(
        self,
        name: str,
        command: Sequence[str] = (),
        *,
        log_path: Path,
        ready: Callable[[], bool] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.cwd = cwd
        self._command = list(command)
        self._ready_check = ready
        self._env = dict(env) if env is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.exit_code: int | None = None

    # --- what to run (constructor arguments, or subclass hooks) ----------------------------
    def argv(self) -> list[str]:
        return list(self._command)

    def environment(self) -> dict[str, str] | None:
        return dict(self._env) if self._env is not None else None

    def is_ready(self) -> bool:
        return self._ready_check() if self._ready_check is not None else True

    # --- state ----------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def poll(self) -> int | None:
        """The exit code if the child has ended on its own since it started, else ``None``."""
        return self._proc.poll() if self._proc is not None else None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # --- lifecycle ------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> Self:
        """Launch and return once ready (see :meth:`wait_ready`); idempotent while running."""
        self.launch()
        self.wait_ready(timeout)
        return self

    def launch(self, pass_fds: Sequence[int] = ()) -> None:
        """Start the child without waiting for it to be ready, keeping ``pass_fds`` open in
        it; a no-op while it runs. Children launched first and then waited for start in
        parallel."""
        if self.running:
            return
        argv = self.argv()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.cwd is not None:
            self.cwd.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.environment(),
                pass_fds=tuple(pass_fds),
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            )
        except OSError as exc:
            self._close_log()
            raise self.error(f"{self.name}: cannot run {argv[0]}: {exc}") from exc

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Return once the launched child is ready; stops it and raises if it exits first
        or is not ready within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.poll()
            if code is not None:
                self.stop()
                raise self.error(
                    f"{self.name} exited with code {code} during start-up; "
                    f"its log ({self.log_path}):\n{self.log_tail(20)}"
                )
            if self.is_ready():
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_S)
        self.stop()
        raise self.error(f"{self.name} did not answer within {timeout:.0f}s; see {self.log_path}")

    def run(self, timeout: float) -> int:
        """Run a one-shot child to completion and return its exit code; stops it and raises
        if it takes longer than ``timeout`` seconds."""
        self.launch()
        assert self._proc is not None
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise self.error(
                f"{self.name} did not finish within {timeout:.0f}s; see {self.log_path}"
            ) from None
        self.stop()
        assert self.exit_code is not None
        return self.exit_code

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; idempotent."""
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
        self._forget(proc)

    def kill(self) -> None:
        """SIGKILL at once: a crash, for fault tests (nothing is flushed or saved)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)
        self._forget(proc)

    def _forget(self, proc: subprocess.Popen[bytes] | None) -> None:
        if proc is not None:
            # The exit status of the last run (negative: killed by that signal).
            self.exit_code = proc.returncode
        self._proc = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} pid={self.pid} exit_code={self.exit_code}>"


class ServerProcess(ChildProcess):
    """A child that listens on ``host:port`` (a free port when ``port`` is ``None``).

    The port must be free when the child is launched, else :attr:`error` says so.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str] = (),
        *,
        port: int | None,
        log_path: Path,
        host: str = "127.0.0.1",
        ready: Callable[[], bool] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        super().__init__(name, command, log_path=log_path, ready=ready, env=env, cwd=cwd)
        self.host = host
        self.port = port if port is not None else free_port(host)

    def launch(self, pass_fds: Sequence[int] = ()) -> None:
        if self.running:
            return
        if not port_is_free(self.port, self.host):
            raise self.error(
                f"{self.name}: port {self.host}:{self.port} is already in use; "
                "choose another port or stop what is listening there"
            )
        super().launch(pass_fds)


_C = TypeVar("_C", bound=ChildProcess)


class ProcessGroup:
    """Children that run together: started in order (or launched together and then waited
    for), stopped in reverse order of joining."""

    def __init__(self) -> None:
        self._children: list[ChildProcess] = []

    def __iter__(self) -> Iterator[ChildProcess]:
        return iter(list(self._children))

    def __len__(self) -> int:
        return len(self._children)

    def add(self, child: ChildProcess) -> ChildProcess:
        """Join ``child`` to the group without starting it."""
        if child not in self._children:
            self._children.append(child)
        return child

    def start(self, child: _C, timeout: float) -> _C:
        """Join ``child`` and start it (returns once it is ready). When it fails, it is
        stopped and the error raised; the rest of the group keeps running."""
        self.add(child)
        child.start(timeout)
        return child

    def start_all(self, timeout: float) -> None:
        """Launch every child that is not running, then wait until each is ready; on any
        failure stop the whole group (all at once: they were started as peers) and raise."""
        try:
            for child in self._children:
                child.launch()
            for child in self._children:
                child.wait_ready(timeout)
        except BaseException:
            self.stop(parallel=True)
            raise

    def failed(self) -> str | None:
        """A description of the first child that has exited on its own, if any."""
        for child in self._children:
            code = child.poll()
            if code is not None:
                return (
                    f"{child.name} exited with code {code}; its log ({child.log_path}):\n"
                    + child.log_tail(20)
                )
        return None

    def stop(self, timeout: float = 10.0, *, parallel: bool = False) -> None:
        """Stop every child, last joined first (or all at once with ``parallel``: for peers
        that each take a moment to shut down); each gets SIGTERM, then SIGKILL after
        ``timeout`` seconds. Idempotent."""
        children = list(reversed(self._children))
        if not parallel or len(children) < 2:
            for child in children:
                child.stop(timeout)
            return
        with ThreadPoolExecutor(max_workers=len(children)) as pool:
            for future in [pool.submit(child.stop, timeout) for child in children]:
                future.result()

    def clear(self) -> None:
        """Stop everything and forget the children."""
        self.stop()
        self._children.clear()
