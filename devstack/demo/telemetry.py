"""Tracing and logging for one demo service: the single set-up call its entry point makes.

Spans go to an OTLP collector when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set — Jaeger in the compose stack — and otherwise
straight into Elasticsearch in Jaeger's document format (the embedded stack has no Jaeger).
Logs come out of stdlib ``logging`` and ``structlog`` alike.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from devstack.demo.settings import DemoSettings
from tracelink import __version__

__all__ = ["SERVICE_VERSION", "Telemetry", "setup_telemetry"]

SERVICE_VERSION: Final = __version__
SERVICE_NAMESPACE: Final = "tracelink-demo"

# Short export delay: the demo reads its traces back seconds after the traffic.
_EXPORT_DELAY_MS: Final = 500


@dataclass
class Telemetry:
    """What :func:`setup_telemetry` set up; :meth:`close` flushes spans and logs (idempotent)."""

    service_name: str
    tracer_provider: TracerProvider
    span_destination: str
    _close_logging: Callable[[], None]
    _closed: bool = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Spans first: the exporter logs what it could not write.
        self.tracer_provider.shutdown()
        self._close_logging()


def _span_exporter(settings: DemoSettings) -> tuple[SpanExporter, str]:
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The exporter reads the standard OTEL_EXPORTER_OTLP_* variables itself.
        return OTLPSpanExporter(), f"OTLP {endpoint}"
    from devstack.jaeger import JaegerElasticsearchSpanExporter

    exporter = JaegerElasticsearchSpanExporter.from_settings(settings)
    return exporter, f"Elasticsearch {settings.es_url[0]} (Jaeger format)"


def setup_telemetry(service_name: str, settings: DemoSettings) -> Telemetry:
    """Set up tracing and logging for the demo service ``service_name``; call once, at start.

    Installs the global tracer provider (resource: ``service.name``, ``service.version``,
    ``service.namespace``, ``deployment.environment.name``) with a batching exporter, and
    routes every stdlib and structlog record of the process through one logging pipeline.
    """
    resource = Resource.create(
        {
            "service.name": service_name,
            "service.version": SERVICE_VERSION,
            "service.namespace": SERVICE_NAMESPACE,
            "deployment.environment.name": settings.demo_environment,
        }
    )
    provider = TracerProvider(resource=resource)
    exporter, destination = _span_exporter(settings)
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=_EXPORT_DELAY_MS)
    )
    trace.set_tracer_provider(provider)
    close_logging = _configure_logging(service_name, settings)
    # The Elasticsearch client logs every request at INFO; the span exporter would flood
    # the service's own logs with its writes.
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    logging.getLogger(__name__).info(
        "telemetry ready: spans to %s, logs to %s",
        destination,
        "stdout",
        extra={"labels": {"span_destination": destination}},
    )
    return Telemetry(service_name, provider, destination, close_logging)


def _configure_logging(service_name: str, settings: DemoSettings) -> Callable[[], None]:
    """The one place where a demo service's logging is configured.

    TEMPORARY FALLBACK — replaced by logging_ext as soon as it is available:

        import logging_ext

        handle = logging_ext.configure_logging(
            service_name,
            kafka_bootstrap=",".join(settings.kafka_bootstrap),
            topic=settings.log_topic,
            service_version=SERVICE_VERSION,
            environment=settings.demo_environment,
        )
        return handle.close

    Until then: ECS-style JSON lines on stdout, stamped with the current trace and span,
    and nothing sent to Kafka.
    """
    return _fallback_json_logging(service_name, settings.demo_environment)


# --- TEMPORARY FALLBACK (see _configure_logging) -------------------------------------------

_RECORD_ATTRIBUTES: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)


class _FallbackJsonFormatter(logging.Formatter):
    """One ECS-style JSON object per record, with the trace context current at format time."""

    def __init__(self, service_name: str, environment: str) -> None:
        super().__init__()
        self._static = {
            "service.name": service_name,
            "service.version": SERVICE_VERSION,
            "service.environment": environment,
            "host.name": socket.gethostname(),
            "ecs.version": "8.11.0",
        }

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "@timestamp": datetime.fromtimestamp(record.created, UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
            "log.level": record.levelname.lower(),
            "message": record.getMessage(),
            "log.logger": record.name,
            **self._static,
            "process.pid": record.process,
            "process.thread.name": record.threadName,
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            doc["trace.id"] = format(context.trace_id, "032x")
            doc["span.id"] = format(context.span_id, "016x")
            doc["trace.sampled"] = context.trace_flags.sampled
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["error.type"] = type(exc).__qualname__
            doc["error.message"] = str(exc)
            doc["error.stack_trace"] = "".join(traceback.format_exception(exc))
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in doc:
                doc[key] = value
        return json.dumps(doc, default=repr, ensure_ascii=False)


def _fallback_json_logging(service_name: str, environment: str) -> Callable[[], None]:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_FallbackJsonFormatter(service_name, environment))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.render_to_log_kwargs,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    def close() -> None:
        with contextlib.suppress(ValueError, OSError):
            handler.flush()
        root.removeHandler(handler)

    return close
