"""Tracing and logging for one demo service: the single set-up call its entry point makes.

Spans go to an OTLP collector when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set — the OpenTelemetry Collector in the compose
stack — and otherwise straight into Elasticsearch in Jaeger's document format (the embedded
stack has no Jaeger).
Logs from stdlib ``logging`` and ``structlog`` alike go through logging_ext: ECS JSON on
stdout and to the log topic in Kafka.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

import logging_ext
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
        "telemetry ready: spans to %s, logs to stdout and Kafka topic %s",
        destination,
        settings.produce_topic,
        extra={"labels": {"span_destination": destination}},
    )
    return Telemetry(service_name, provider, destination, close_logging)


def _configure_logging(service_name: str, settings: DemoSettings) -> Callable[[], None]:
    """The one place where a demo service's logging is configured: logging_ext, as a user's
    service would do it — ECS JSON on stdout and every record to the log topic in Kafka."""
    handle = logging_ext.configure_logging(
        service_name,
        kafka_bootstrap=list(settings.kafka_bootstrap),
        topic=settings.produce_topic,
        service_version=SERVICE_VERSION,
        environment=settings.demo_environment,
        # aiokafka's and the HTTP clients' chatter is not what the demo is about.
        logger_levels={"aiokafka": "WARNING", "httpx": "WARNING", "httpcore": "WARNING"},
    )
    return handle.close
