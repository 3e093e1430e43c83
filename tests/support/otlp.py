"""OTLP log payloads written by the OpenTelemetry Python SDK's own exporter encoding.

``encode_logs`` (``opentelemetry-exporter-otlp-proto-common``) is what the SDK's OTLP log
exporters send; the payloads here go through it, not through hand-made protobuf, with
fixed times and IDs so that tests can state the documents they expect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from shipper.formats.otlp import request_to_otlp_json

__all__ = ["GOLDEN_SPAN", "GOLDEN_TRACE", "LogSpec", "golden_request", "sdk_request", "to_json"]

GOLDEN_TRACE = "5b8efff798038103d269b633813fc60c"
GOLDEN_SPAN = "eee19b7ec3c1b174"
# 2026-11-22T10:23:47.123456789Z
GOLDEN_NS = 1_795_343_027_123_456_789


@dataclass
class LogSpec:
    """One record to emit through the SDK."""

    body: Any
    severity: SeverityNumber = SeverityNumber.INFO
    severity_text: str | None = "INFO"
    timestamp_ns: int | None = GOLDEN_NS
    observed_ns: int | None = None
    trace_id: str | None = None
    span_id: str | None = None
    sampled: bool = True
    attributes: Mapping[str, Any] = field(default_factory=dict)
    logger: str = "shop.checkout"
    exception: BaseException | None = None


def sdk_request(
    groups: Iterable[tuple[Mapping[str, Any], list[LogSpec]]],
) -> ExportLogsServiceRequest:
    """One ``ExportLogsServiceRequest`` of the given (resource attributes, records) groups."""
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    providers = []
    for resource, specs in groups:
        provider = LoggerProvider(resource=Resource(dict(resource)))
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        providers.append(provider)
        for spec in specs:
            context = None
            if spec.trace_id is not None and spec.span_id is not None:
                span_context = SpanContext(
                    int(spec.trace_id, 16),
                    int(spec.span_id, 16),
                    is_remote=False,
                    trace_flags=TraceFlags(TraceFlags.SAMPLED if spec.sampled else 0),
                )
                context = trace.set_span_in_context(NonRecordingSpan(span_context))
            provider.get_logger(spec.logger, "2.1.0").emit(
                timestamp=spec.timestamp_ns,
                observed_timestamp=spec.observed_ns or spec.timestamp_ns or GOLDEN_NS,
                context=context,
                severity_number=spec.severity,
                severity_text=spec.severity_text,
                body=spec.body,
                attributes=dict(spec.attributes),
                exception=spec.exception,
            )
    request = encode_logs(exporter.get_finished_logs())
    for provider in providers:
        provider.shutdown()
    return request


def golden_request() -> ExportLogsServiceRequest:
    """Two services' records and one resource that names no service."""
    try:
        raise ValueError("card number rejected")
    except ValueError as exc:
        error = exc
    checkout = {
        "service.name": "checkout",
        "service.version": "1.4.2",
        "deployment.environment.name": "prod",
        "host.name": "node-7",
        "k8s.pod.name": "checkout-5d9f",
    }
    return sdk_request(
        [
            (
                checkout,
                [
                    LogSpec(
                        "card declined",
                        SeverityNumber.WARN,
                        "WARN",
                        trace_id=GOLDEN_TRACE,
                        span_id=GOLDEN_SPAN,
                        attributes={"order.id": "o-1017", "log.record.uid": "01JDQ7Z8K4M2"},
                    ),
                    LogSpec(
                        "payment failed",
                        SeverityNumber.ERROR,
                        None,
                        trace_id=GOLDEN_TRACE,
                        span_id=GOLDEN_SPAN,
                        exception=error,
                    ),
                ],
            ),
            (
                {"telemetry.sdk.language": "python"},
                [
                    LogSpec(
                        {"event": "cache.miss", "keys": [1, 2]},
                        SeverityNumber.DEBUG,
                        None,
                        timestamp_ns=None,
                        logger="cache",
                        attributes={"message": "kept", "tracelink.origin": "spoofed"},
                    )
                ],
            ),
        ]
    )


def to_json(request: ExportLogsServiceRequest) -> bytes:
    """The OTLP/JSON form of ``request`` (what the Collector's ``otlp_json`` encoding writes)."""
    return request_to_otlp_json(request)
