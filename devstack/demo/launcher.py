"""Run the five demo services as child processes on free ports, wired to each other.

Used by ``tracelink demo`` and by the integration tests::

    with DemoServices(kafka_bootstrap="127.0.0.1:9092", es_url="http://127.0.0.1:9200",
                      log_dir=Path(".tracelink/demo")) as demo:
        report = asyncio.run(drive_traffic(demo.gateway_url, 20))

Each service is ``python -m devstack.demo <service>`` with its configuration in the
environment; its stdout and stderr (its JSON log lines) go to ``<log_dir>/<service>.log``.
Like the stand-in servers, the services are supervised by :mod:`devstack.processes` and die
with the process that started them.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from devstack.demo.settings import SERVICES, ServiceName
from devstack.processes import ChildProcess, ProcessError, ProcessGroup, ServerProcess, http_ready
from devstack.standins import StandinError
from tracelink.topics import produce_topic

__all__ = ["DemoServiceError", "DemoServices"]


class DemoServiceError(StandinError):
    """A demo service could not be started (port taken, crashed, never ready)."""


class _ServiceProcess(ServerProcess):
    """One service, serving on a listening socket this process binds and hands down.

    Binding here and passing the socket (``TRACELINK_DEMO_LISTEN_FD``) leaves no window in
    which another program could take a port chosen for a service: every port is known, and
    held, before any service starts.
    """

    error = DemoServiceError

    def __init__(self, service: ServiceName, *, host: str, log_dir: Path) -> None:
        self.service = service
        # The wiring to the other services, set once every port is known.
        self.wiring: Mapping[str, str] = {}
        self._socket: socket.socket | None = self._listen(host, 0)
        super().__init__(
            service,
            [sys.executable, "-m", "devstack.demo", service],
            port=self._socket.getsockname()[1],
            host=host,
            log_path=log_dir / f"{service}.log",
            cwd=log_dir,
        )

    @staticmethod
    def _listen(host: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        return sock

    def launch(self, pass_fds: Sequence[int] = ()) -> None:
        if self.running:
            return
        if self._socket is None:
            # A restart: the port was released at the last stop.
            try:
                self._socket = self._listen(self.host, self.port)
            except OSError as exc:
                raise DemoServiceError(
                    f"{self.name}: cannot listen on port {self.port}: {exc}"
                ) from exc
        try:
            # Not ServerProcess.launch: the port is ours (held by the socket), not free.
            ChildProcess.launch(self, (*pass_fds, self._socket.fileno()))
        finally:
            # The child holds its own copy now.
            self._socket.close()
            self._socket = None

    def close(self) -> None:
        """Release the socket of a service that was never launched."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def environment(self) -> dict[str, str]:
        # The user's environment (virtualenv, OTEL_* settings) plus this service's wiring.
        env = {**os.environ, **self.wiring, "TRACELINK_DEMO_PORT": str(self.port)}
        if self._socket is not None:
            env["TRACELINK_DEMO_LISTEN_FD"] = str(self._socket.fileno())
        return env

    def is_ready(self) -> bool:
        return http_ready(self.host, self.port, "/readyz")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


# --- the Node.js gateway -------------------------------------------------------------------

GATEWAY_NODE_DIR = Path(__file__).resolve().parent / "gateway-node"


class _NodeGatewayProcess(_ServiceProcess):
    """The gateway as the Express service in ``gateway-node/`` (OpenTelemetry Node SDK,
    pino): spans and logs go over OTLP/HTTP to ``otlp_url``, the stack's receiver."""

    def __init__(self, *, host: str, log_dir: Path, otlp_url: str) -> None:
        super().__init__("gateway", host=host, log_dir=log_dir)
        self._otlp_url = otlp_url

    def argv(self) -> list[str]:
        node = shutil.which("node")
        if node is None or not (GATEWAY_NODE_DIR / "node_modules").is_dir():
            raise DemoServiceError(
                f"the Node.js gateway needs node and `npm ci` in {GATEWAY_NODE_DIR} "
                "(`make demo` does both)"
            )
        return [
            node,
            "--require",
            str(GATEWAY_NODE_DIR / "telemetry.js"),
            str(GATEWAY_NODE_DIR / "server.js"),
        ]

    def environment(self) -> dict[str, str]:
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self._otlp_url,
            # Short export delays, as the Python services': the demo reads its traces back
            # seconds after the traffic.
            "OTEL_BSP_SCHEDULE_DELAY": "500",
            "OTEL_BLRP_SCHEDULE_DELAY": "500",
            **super().environment(),
        }


class DemoServices:
    """The gateway, order, payment, inventory and notification services as child processes.

    ``start()`` launches all five at once and returns when every one answers ``/readyz``
    (the notification service only once its Kafka consumer has partitions); ``stop()``
    sends SIGTERM (graceful: spans and logs are flushed) and SIGKILLs what is left after
    the timeout. Both are idempotent; the object is a context manager. The ports are
    reserved (bound) from construction on; ``stop()`` releases them even if never started.
    With ``otlp_url`` (an OTLP/HTTP receiver) the gateway is the Node.js service in
    ``gateway-node/``; without, the Python one. ``log_topic`` is a ``TRACELINK_LOG_TOPIC``
    value: the services write their logs to its first topic.
    """

    def __init__(
        self,
        *,
        kafka_bootstrap: str,
        es_url: str,
        log_dir: Path,
        host: str = "127.0.0.1",
        jaeger_index_prefix: str = "",
        log_topic: str = "logs",
        events_topic: str = "order.events",
        seed: int = 7,
        failure_rate: float = 0.2,
        environment: str = "demo",
        extra_env: Mapping[str, str] | None = None,
        otlp_url: str | None = None,
    ) -> None:
        self.log_dir = log_dir
        # The services only produce logs: the one topic producers write to (the first of a
        # TRACELINK_LOG_TOPIC list; ConfigError for a bad one, before any port is taken).
        log_topic = produce_topic(log_topic)
        processes: dict[ServiceName, _ServiceProcess] = {}
        try:
            for service in SERVICES:
                if service == "gateway" and otlp_url:
                    # The Node.js gateway when an OTLP receiver is there to take its telemetry.
                    processes[service] = _NodeGatewayProcess(
                        host=host, log_dir=log_dir, otlp_url=otlp_url
                    )
                    continue
                processes[service] = _ServiceProcess(service, host=host, log_dir=log_dir)
        except OSError as exc:
            for process in processes.values():
                process.close()
            raise DemoServiceError(f"cannot listen on {host}: {exc}") from exc
        urls = {service: process.url for service, process in processes.items()}
        env = {
            "TRACELINK_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "TRACELINK_ES_URL": es_url,
            "TRACELINK_JAEGER_INDEX_PREFIX": jaeger_index_prefix,
            # One topic: the Node.js gateway's kafkajs producer uses it as it is.
            "TRACELINK_LOG_TOPIC": log_topic,
            "TRACELINK_DEMO_HOST": host,
            "TRACELINK_DEMO_ORDER_URL": urls["order"],
            "TRACELINK_DEMO_PAYMENT_URL": urls["payment"],
            "TRACELINK_DEMO_INVENTORY_URL": urls["inventory"],
            "TRACELINK_DEMO_EVENTS_TOPIC": events_topic,
            "TRACELINK_DEMO_SEED": str(seed),
            "TRACELINK_DEMO_FAILURE_RATE": str(failure_rate),
            "TRACELINK_DEMO_ENVIRONMENT": environment,
            # Log lines reach the file as they are written.
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self._group = ProcessGroup()
        for process in processes.values():
            process.wiring = env
            self._group.add(process)
        self._services = processes

    @property
    def urls(self) -> dict[ServiceName, str]:
        return {service: process.url for service, process in self._services.items()}

    @property
    def gateway_url(self) -> str:
        return self._services["gateway"].url

    @property
    def running(self) -> bool:
        return all(process.running for process in self._services.values())

    def pid(self, service: ServiceName) -> int | None:
        return self._services[service].pid

    def exit_code(self, service: ServiceName) -> int | None:
        """How ``service``'s last run ended (0 = clean; ``None`` while running or never run)."""
        return self._services[service].exit_code

    def log_path(self, service: ServiceName) -> Path:
        """The file holding ``service``'s output (JSON log lines, one per record)."""
        return self._services[service].log_path

    def log_tail(self, service: ServiceName, lines: int = 40) -> str:
        return self._services[service].log_tail(lines)

    def start(self, timeout: float = 60.0) -> Self:
        """Launch every service, then wait until all are ready; on failure stop them all."""
        try:
            self._group.start_all(timeout)
        except ProcessError as exc:
            self.stop()
            raise DemoServiceError(f"demo service failed to start: {exc}") from exc
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every service (SIGTERM, then SIGKILL after ``timeout``); idempotent."""
        for process in self._services.values():
            process.close()
        # In parallel: each service takes a moment to drain and flush its telemetry.
        self._group.stop(timeout, parallel=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
