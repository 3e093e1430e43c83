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


# --- random payloads, for the oracle tests of the hot paths --------------------------------

# Keys that meet every rule of the mapping: ECS homes, collisions (``a`` beside ``a.b``),
# reserved roots, empty segments, too deep, the uid, and plain ones.
_KEYS = (
    "order.id",
    "thread.name",
    "service.name",
    "service.version",
    "deployment.environment",
    "deployment.environment.name",
    "service.instance.id",
    "host.name",
    "host",
    "log",
    "log.level",
    "trace.id",
    "span",
    "event",
    "event.ingested",
    "event.foo",
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    "event.name",
    "log.record.uid",
    "tracelink",
    "tracelink.origin",
    "@timestamp",
    "labels",
    "labels.order_id",
    "message",
    "a..b",
    ".x",
    "",
    "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r",
    "http.request.method",
    "http.request",
    "body",
)


def _random_any(rng: Any, value: Any, depth: int = 0) -> None:
    """Fill the ``AnyValue`` ``value`` with a random member (or leave it empty)."""
    kind = rng.choice(
        ["string"] * 6 + ["int", "bool", "double", "nan", "bytes", "empty", "kvlist", "array"]
    )
    if kind == "string":
        value.string_value = rng.choice(["x", "", "ünï", "v" * rng.choice([10, 5000, 40000])])
    elif kind == "int":
        value.int_value = rng.randint(-(2**63), 2**63 - 1)
    elif kind == "bool":
        value.bool_value = rng.random() < 0.5
    elif kind == "double":
        value.double_value = rng.uniform(-1e6, 1e6)
    elif kind == "nan":
        value.double_value = rng.choice([float("nan"), float("inf")])
    elif kind == "bytes":
        value.bytes_value = rng.randbytes(rng.randint(0, 8))
    elif kind == "kvlist" and depth < 20:
        for _ in range(rng.randint(0, 3)):
            kv = value.kvlist_value.values.add()
            kv.key = rng.choice(_KEYS)
            _random_any(rng, kv.value, depth + rng.choice([1, 1, 5]))
    elif kind == "array" and depth < 20:
        for _ in range(rng.randint(0, 3)):
            _random_any(rng, value.array_value.values.add(), depth + 1)


def _random_attributes(rng: Any, attributes: Any, most: int) -> None:
    for _ in range(rng.choice([0, 1, 2, 3, most])):
        kv = attributes.add()
        kv.key = rng.choice(_KEYS)
        if kv.key == "log.record.uid" and rng.random() < 0.6:
            kv.value.string_value = rng.choice(["uid-1", "", "u" * 600])
        elif rng.random() < 0.8:
            kv.value.string_value = f"v{rng.randint(0, 3)}"
        else:
            _random_any(rng, kv.value)


def random_request(rng: Any, now_ns: int = GOLDEN_NS) -> ExportLogsServiceRequest:
    """A random ``ExportLogsServiceRequest`` that meets every branch of the mapping; records
    repeat their shapes (the hot paths cache per shape). ``rng``: a ``random.Random``."""
    request = ExportLogsServiceRequest()
    for _ in range(rng.randint(1, 3)):
        resource_logs = request.resource_logs.add()
        _random_attributes(rng, resource_logs.resource.attributes, 8)
        for _ in range(rng.randint(1, 2)):
            scope_logs = resource_logs.scope_logs.add()
            scope_logs.scope.name = rng.choice(["", "shop.orders", "log"])
            scope_logs.scope.version = rng.choice(["", "2.1.0"])
            _random_attributes(rng, scope_logs.scope.attributes, 4)
            template = _random_record(rng, now_ns)
            for _ in range(rng.randint(1, 6)):
                record = scope_logs.log_records.add()
                record.CopyFrom(template if rng.random() < 0.6 else _random_record(rng, now_ns))
                if 0 < record.time_unix_nano < 2**63 and rng.random() < 0.5:
                    record.time_unix_nano += rng.randint(0, 3_000_000_000)
    return request


def _random_record(rng: Any, now_ns: int) -> Any:
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    record = LogRecord()
    record.time_unix_nano = rng.choice(
        [now_ns, now_ns, now_ns, 0, now_ns - 30 * 86_400 * 10**9, 2**64 - 1, 999]
    )
    record.observed_time_unix_nano = rng.choice([0, now_ns])
    record.severity_number = rng.choice([0, 9, 17, 30])
    record.severity_text = rng.choice(["", "INFO", " Warn ", "x"])
    if rng.random() < 0.9:
        _random_any(rng, record.body)
    record.trace_id = rng.choice(
        [b"", bytes(16), rng.randbytes(16), rng.randbytes(16), b"\x01" * 8]
    )
    record.span_id = rng.choice([b"", bytes(8), rng.randbytes(8), rng.randbytes(8), b"\x02" * 4])
    record.flags = rng.choice([0, 1, 257])
    record.event_name = rng.choice(["", "", "order.placed"])
    _random_attributes(rng, record.attributes, 70)
    return record
