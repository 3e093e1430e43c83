"""The embedded development stack: stand-ins, setup, shipper and API as one unit.

``tracelink dev`` and ``tracelink demo`` run this in the foreground. Every part is a child
process (the stand-in servers, ``tracelink setup``, ``ship``, ``serve``) supervised by
:mod:`devstack.processes`: started in dependency order, checked until it answers, watched,
and stopped in reverse order; a part that fails to start stops everything already started.
Servers named by ``TRACELINK_KAFKA_BOOTSTRAP`` / ``TRACELINK_ES_URL`` are used as they are,
with no stand-in.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from aiokafka.errors import KafkaError

from devstack.processes import ChildProcess, ProcessGroup, ServerProcess, http_ready
from devstack.standins import ElasticsearchStandin, KafkaStandin
from tracelink.errors import ConfigError
from tracelink.kafka_security import PROTOCOL_VAR, KafkaSecurity, check_connection

__all__ = ["DevStack", "StackConfig", "StackEndpoints", "StackError"]


class StackError(RuntimeError):
    """A part of the stack could not start or has stopped unexpectedly."""


def _tracelink(
    name: str, command: str, *, env: Mapping[str, str], port: int, log_dir: Path
) -> ServerProcess:
    """``python -m tracelink <command>`` with the stack's environment, ready when its
    ``/readyz`` on ``port`` answers 200."""
    return ServerProcess(
        name,
        # The interpreter of this environment, so the child runs the same tracelink.
        [sys.executable, "-m", "tracelink", command],
        port=port,
        env=env,
        log_path=log_dir / f"{name}.log",
        cwd=log_dir,
        ready=lambda: http_ready("127.0.0.1", port, "/readyz"),
    )


def otlp_receiver_process(
    *, env: Mapping[str, str], host: str, port: int, log_dir: Path
) -> ServerProcess:
    """The OTLP/HTTP receiver (``python -m devstack.otlp_receiver``) on ``host:port``, ready
    when its ``/healthz`` answers; ``env`` gives it Kafka, Elasticsearch and the log topic."""
    # A wildcard address is reached (and advertised) through loopback.
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    return ServerProcess(
        "otlp-receiver",
        [sys.executable, "-m", "devstack.otlp_receiver"],
        port=port,
        host=probe_host,
        env={**env, "TRACELINK_OTLP_HOST": host, "TRACELINK_OTLP_PORT": str(port)},
        log_path=log_dir / "otlp-receiver.log",
        cwd=log_dir,
        ready=lambda: http_ready(probe_host, port, "/healthz"),
    )


@dataclass(frozen=True)
class StackConfig:
    """Where the stack lives and listens. ``None`` ports are chosen free at start."""

    data_dir: Path
    kafka_port: int | None = None
    es_port: int | None = None
    api_port: int = 8080
    metrics_port: int = 9464
    external_kafka: str | None = None
    external_es: str | None = None
    start_timeout: float = 60.0
    # The OTLP/HTTP receiver for services in other languages (port 0 = off).
    otlp_host: str = "127.0.0.1"
    otlp_port: int = 0
    # Extra TRACELINK_* variables for the shipper and the API (topics, prefixes, ...).
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls, data_dir: Path, **overrides: object) -> StackConfig:
        """External servers are taken from the variables the components themselves read."""
        values: dict[str, object] = {
            "data_dir": data_dir,
            "external_kafka": os.environ.get("TRACELINK_KAFKA_BOOTSTRAP") or None,
            "external_es": os.environ.get("TRACELINK_ES_URL") or None,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class StackEndpoints:
    """What is where once the stack runs."""

    kafka_bootstrap: str
    es_url: str
    api_url: str
    metrics_url: str
    data_dir: Path
    logs: Mapping[str, Path]
    kafka_is_standin: bool
    es_is_standin: bool
    # OTEL_EXPORTER_OTLP_ENDPOINT for services in other languages (None = receiver off).
    otlp_url: str | None = None


class DevStack:
    """Start, supervise and stop the stack; use as a context manager."""

    def __init__(self, config: StackConfig, *, say: Callable[[str], None] = print) -> None:
        self.config = config
        self._say = say
        self._parts = ProcessGroup()
        self._endpoints: StackEndpoints | None = None

    @property
    def endpoints(self) -> StackEndpoints:
        if self._endpoints is None:
            raise StackError("the stack is not running")
        return self._endpoints

    def start(self) -> StackEndpoints:
        """Start every part in order; on any failure stop what started and raise."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> StackEndpoints:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        timeout = cfg.start_timeout
        # Every part (shipper, demo services) reads the same TRACELINK_KAFKA_* variables.
        security = KafkaSecurity.from_env({**os.environ, **cfg.env})
        if cfg.external_kafka:
            bootstrap = cfg.external_kafka
            self._say(f"Kafka at {bootstrap}: {security.describe()}")
            self._check_kafka(security, bootstrap)
        elif security.protocol != "PLAINTEXT":
            raise ConfigError(
                PROTOCOL_VAR,
                f"{security.protocol} needs TRACELINK_KAFKA_BOOTSTRAP naming your cluster; "
                "the embedded Kafka stand-in speaks PLAINTEXT",
            )
        else:
            self._say("starting Kafka stand-in (Tansu) …")
            kafka = KafkaStandin(port=cfg.kafka_port, data_dir=cfg.data_dir / "kafka")
            self._parts.start(kafka, timeout)
            bootstrap = kafka.bootstrap
        if cfg.external_es:
            es_url = cfg.external_es
        else:
            self._say("starting Elasticsearch stand-in (noida-db) …")
            elastic = ElasticsearchStandin(
                port=cfg.es_port, data_dir=cfg.data_dir / "elasticsearch"
            )
            self._parts.start(elastic, timeout)
            es_url = elastic.url

        env = {
            **os.environ,
            **cfg.env,
            "TRACELINK_KAFKA_BOOTSTRAP": bootstrap,
            "TRACELINK_ES_URL": es_url,
            "TRACELINK_API_HOST": "127.0.0.1",
            "TRACELINK_API_PORT": str(cfg.api_port),
            "TRACELINK_METRICS_PORT": str(cfg.metrics_port),
        }
        self._say("installing index templates (tracelink setup) …")
        self._run_setup(env)
        self._say("starting the shipper (tracelink ship) …")
        log_dir = cfg.data_dir / "logs"
        self._parts.start(
            _tracelink("shipper", "ship", env=env, port=cfg.metrics_port, log_dir=log_dir),
            timeout,
        )
        self._say("starting the correlate API (tracelink serve) …")
        self._parts.start(
            _tracelink("api", "serve", env=env, port=cfg.api_port, log_dir=log_dir), timeout
        )
        otlp_url = self._start_otlp_receiver(env, log_dir)
        self._endpoints = StackEndpoints(
            kafka_bootstrap=bootstrap,
            es_url=es_url,
            api_url=f"http://127.0.0.1:{cfg.api_port}",
            metrics_url=f"http://127.0.0.1:{cfg.metrics_port}/metrics",
            data_dir=cfg.data_dir,
            logs={part.name: part.log_path for part in self._parts},
            kafka_is_standin=not cfg.external_kafka,
            es_is_standin=not cfg.external_es,
            otlp_url=otlp_url,
        )
        return self._endpoints

    def _start_otlp_receiver(self, env: Mapping[str, str], log_dir: Path) -> str | None:
        cfg = self.config
        if not cfg.otlp_port:
            return None
        self._say(f"starting the OTLP/HTTP receiver on {cfg.otlp_host}:{cfg.otlp_port} …")
        receiver = otlp_receiver_process(
            env=env, host=cfg.otlp_host, port=cfg.otlp_port, log_dir=log_dir
        )
        self._parts.start(receiver, cfg.start_timeout)
        return f"http://{receiver.host}:{cfg.otlp_port}"

    def _check_kafka(self, security: KafkaSecurity, bootstrap: str) -> None:
        """A cluster that refuses us (certificate, credentials) stops the start with the
        setting to fix (:class:`ConfigError`); one that is down is waited for by the shipper."""
        try:
            asyncio.run(check_connection(security, bootstrap, client_id="tracelink-dev"))
        except KafkaError as exc:
            self._say(f"Kafka at {bootstrap} is not reachable yet ({exc}); the shipper waits")

    def _run_setup(self, env: Mapping[str, str]) -> None:
        log_path = self.config.data_dir / "logs" / "setup.log"
        # Only this run's output in the log (and in the error below).
        log_path.unlink(missing_ok=True)
        setup = ChildProcess(
            "setup", [sys.executable, "-m", "tracelink", "setup"], env=env, log_path=log_path
        )
        code = setup.run(self.config.start_timeout)
        if code != 0:
            raise StackError(
                f"tracelink setup failed (exit {code}):\n"
                + log_path.read_text(errors="replace")[-2000:]
            )
        if not self.config.external_es:
            # The stand-in stack has no Jaeger: install the span index templates Jaeger would.
            from devstack.jaeger.templates import install_jaeger_templates_sync
            from tracelink.elasticsearch import make_sync_client
            from tracelink.settings import ElasticsearchSettings, load_settings

            settings = load_settings(ElasticsearchSettings, es_url=env["TRACELINK_ES_URL"])
            with make_sync_client(settings) as client:
                install_jaeger_templates_sync(client, settings.jaeger_index_prefix)

    def failed_part(self) -> str | None:
        """A description of the first part that has exited on its own, if any."""
        return self._parts.failed()

    def stop(self) -> None:
        """Stop every part in reverse order (the shipper drains first); idempotent."""
        # The shipper's drain is bounded by its own timeout; this bounds the rest.
        self._parts.stop(timeout=45.0)
        self._parts = ProcessGroup()
        self._endpoints = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
