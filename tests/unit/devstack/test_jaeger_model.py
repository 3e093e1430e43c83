"""The span → Jaeger v2.20 document conversion, field by field.

The reference fixture ``jaeger/es_01.json`` is the exact output of Jaeger v2.20's
``ToDBModel`` test (``internal/storage/v2/elasticsearch/tracestore/fixtures``); the OTLP
message below is the span that produced it, so the whole ``ToDBModel`` document must come out
byte for byte. The SDK-span tests then check that a Python span, encoded the way the SDK's
OTLP exporter encodes it, lands in the same document. What Jaeger then *stores* is that
document after the writer's tags-as-fields split (``span.kind`` and ``error`` always moved to
``tag``: ``factory.go`` ``ensureRequiredFields``, ``core/writer.go`` ``splitElevatedTags``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope as SdkScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status as SdkStatus
from opentelemetry.trace.status import StatusCode

from devstack.jaeger.model import (
    TagsAsFields,
    _go_json_float,
    _go_json_string,
    otlp_to_dbmodel_spans,
    otlp_to_jaeger_documents,
    service_document,
    service_document_id,
    service_index,
    span_document_id,
    span_index,
    spans_to_jaeger_documents,
)

FIXTURES = Path(__file__).parent / "fixtures"

# The span of es_01.json.
TRACE = bytes.fromhex("00000000000000010000000000000000")
OTHER_TRACE = bytes.fromhex("00000000000000ff0000000000000000")
START_NS = 1_485_467_191_639_875_000


def _sid(value: int) -> bytes:
    return value.to_bytes(8, "big")


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def _s(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def _request(
    span: Span, resource: list[KeyValue], scope: InstrumentationScope
) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=PbResource(attributes=resource),
                scope_spans=[ScopeSpans(scope=scope, spans=[span])],
            )
        ]
    )


def es_01_otlp() -> ExportTraceServiceRequest:
    span = Span(
        trace_id=TRACE,
        span_id=_sid(2),
        parent_span_id=_sid(3),
        flags=1,
        name="test-general-conversion",
        start_time_unix_nano=START_NS,
        end_time_unix_nano=START_NS + 5_000,
        attributes=[
            _kv("peer.service", _s("service-y")),
            _kv("peer.ipv4", AnyValue(int_value=23456)),
            _kv("blob", AnyValue(bytes_value=bytes.fromhex("00003039"))),
            _kv("temperature", AnyValue(double_value=72.5)),
        ],
        events=[
            Span.Event(
                time_unix_nano=START_NS,
                name="testing-event",
                attributes=[_kv("event-x", _s("event-y"))],
            ),
            Span.Event(time_unix_nano=START_NS, attributes=[_kv("x", _s("y"))]),
        ],
        links=[
            Span.Link(trace_id=TRACE, span_id=_sid(4)),
            Span.Link(
                trace_id=OTHER_TRACE,
                span_id=_sid(0xFF),
                attributes=[_kv("opentracing.ref_type", _s("child_of"))],
            ),
        ],
        status=Status(code=Status.STATUS_CODE_ERROR),
    )
    return _request(
        span,
        [_kv("service.name", _s("service-x")), _kv("sdk.version", _s("1.2.1"))],
        InstrumentationScope(name="testing-library", version="1.1.1"),
    )


def es_01_sdk_span() -> ReadableSpan:
    """The es_01 span as the Python SDK would hold it (its parent came over the wire)."""
    trace_id = int.from_bytes(TRACE, "big")
    return ReadableSpan(
        name="test-general-conversion",
        context=SpanContext(trace_id, 2, is_remote=False, trace_flags=TraceFlags(1)),
        parent=SpanContext(trace_id, 3, is_remote=True, trace_flags=TraceFlags(1)),
        resource=Resource({"service.name": "service-x", "sdk.version": "1.2.1"}),
        attributes={
            "peer.service": "service-y",
            "peer.ipv4": 23456,
            "blob": bytes.fromhex("00003039"),
            "temperature": 72.5,
        },
        events=[
            Event("testing-event", {"event-x": "event-y"}, timestamp=START_NS),
            Event("", {"x": "y"}, timestamp=START_NS),
        ],
        links=[
            Link(SpanContext(trace_id, 4, is_remote=True)),
            Link(
                SpanContext(int.from_bytes(OTHER_TRACE, "big"), 0xFF, is_remote=True),
                {"opentracing.ref_type": "child_of"},
            ),
        ],
        kind=SpanKind.INTERNAL,
        status=SdkStatus(StatusCode.ERROR),
        start_time=START_NS,
        end_time=START_NS + 5_000,
        instrumentation_scope=SdkScope("testing-library", "1.1.1"),
    )


def _go_indent(doc: Any) -> str:
    """What Go's json.Encoder with SetIndent("", "  ") writes (the fixture's format)."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# --- against Jaeger's own fixture --------------------------------------------------------


def test_otlp_span_becomes_es_01_byte_for_byte(shared_reference: Path) -> None:
    expected = (shared_reference / "jaeger" / "es_01.json").read_text()
    [doc] = otlp_to_dbmodel_spans(es_01_otlp())
    assert _go_indent(doc) == expected


def test_es_01_is_stored_with_error_as_a_field(shared_reference: Path) -> None:
    """The writer takes ``error`` (and ``span.kind``, absent here) out of ``tags`` into
    ``tag``; every other tag stays nested, in order."""
    expected = json.loads((shared_reference / "jaeger" / "es_01.json").read_text())
    [doc] = otlp_to_jaeger_documents(es_01_otlp())
    assert doc["tags"] == [tag for tag in expected["tags"] if tag["key"] != "error"]
    assert doc["tag"] == {"error": True}
    assert list(doc) == [*list(expected)[:10], "tag", *list(expected)[10:]]
    assert doc["process"] == expected["process"]


def test_sdk_span_matches_es_01_field_by_field(shared_reference: Path) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    expected = json.loads((shared_reference / "jaeger" / "es_01.json").read_text())
    [doc] = otlp_to_dbmodel_spans(encode_spans([es_01_sdk_span()]))

    assert list(doc) == list(expected)
    for name in ("traceID", "spanID", "parentSpanID", "operationName", "references"):
        assert doc[name] == expected[name], name
    for name in ("startTime", "startTimeMillis", "duration", "logs", "process"):
        assert doc[name] == expected[name], name
    # The Python SDK has no "unspecified" kind: its spans always carry span.kind, placed
    # after the attributes as Jaeger places it. Every other tag is the fixture's, in order.
    kind = {"key": "span.kind", "type": "string", "value": "internal"}
    assert doc["tags"] == [*expected["tags"][:-1], kind, expected["tags"][-1]]
    # The SDK's OTLP encoder puts only the is-remote bits into Span.flags (0x100 = known,
    # 0x200 = remote parent), not the W3C sampled bit; Jaeger stores what it receives.
    assert expected["flags"] == 1
    assert doc["flags"] == 0x300


def test_types_of_es_01_values_are_native(shared_reference: Path) -> None:
    expected = json.loads((shared_reference / "jaeger" / "es_01.json").read_text())
    [doc] = otlp_to_dbmodel_spans(es_01_otlp())
    for ours, theirs in zip(doc["tags"], expected["tags"], strict=True):
        assert type(ours["value"]) is type(theirs["value"]), ours["key"]


# --- the project's own fixtures ----------------------------------------------------------


def _server_span() -> ReadableSpan:
    trace_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736
    start = 1_764_405_827_123_456_789  # 2025-11-29T08:43:47.123456789Z
    return ReadableSpan(
        name="POST /orders",
        context=SpanContext(
            trace_id,
            0x00F067AA0BA902B7,
            is_remote=False,
            trace_flags=TraceFlags(1),
            trace_state=TraceState([("vendor", "a1"), ("other", "b2")]),
        ),
        parent=None,
        resource=Resource(
            {
                "telemetry.sdk.language": "python",
                "service.name": "order",
                "service.version": "1.4.0",
                "deployment.environment.name": "demo",
            }
        ),
        attributes={
            "http.request.method": "POST",
            "http.response.status_code": 502,
            "order.items": ("sku-1", "sku-<2>"),
            "order.weights": (1.5, 2.0),
            "retry.enabled": True,
        },
        events=[
            Event(
                "exception",
                {"exception.type": "TimeoutError", "exception.message": "db write timed out"},
                timestamp=start + 40_000_999,
            ),
            Event("checkpoint", {"event": "explicit", "step": 3}, timestamp=start + 41_000_000),
        ],
        links=[],
        kind=SpanKind.SERVER,
        status=SdkStatus(StatusCode.ERROR, "db write timed out"),
        start_time=start,
        end_time=start + 52_345_678,
        instrumentation_scope=SdkScope("opentelemetry.instrumentation.fastapi", "0.66b2"),
    )


def test_server_span_matches_own_fixture() -> None:
    expected = (FIXTURES / "jaeger_server_span.json").read_text()
    [doc] = spans_to_jaeger_documents([_server_span()])
    assert _go_indent(doc) == expected


def test_root_span_without_events_or_links_has_null_lists() -> None:
    """At Jaeger v2.20.0: ``parentSpanID`` is ``omitempty`` (``tracestore/core/dbmodel/
    model.go`` line 48); no links and no parent give ``references`` nil and no events give
    ``logs`` nil (``tracestore/to_dbmodel.go`` 234-236, 271-273), written as ``null``; the
    writer's split leaves ``tags`` as ``make([]KeyValue, 0)`` = ``[]`` (``core/writer.go``
    182-184) and ``tag`` is ``omitempty`` (model.go 60)."""
    span = ReadableSpan(
        name="idle",
        context=SpanContext(1, 1, is_remote=False),
        resource=Resource({"service.name": "solo"}),
        start_time=10_000,
        end_time=20_000,
        instrumentation_scope=SdkScope(""),
    )
    [doc] = spans_to_jaeger_documents([span])
    assert "parentSpanID" not in doc
    assert doc["traceID"] == "00000000000000000000000000000001"
    assert doc["references"] is None
    assert doc["logs"] is None
    assert doc["flags"] == 0x100
    # span.kind is stored as a field; the nested list left empty is [] (not null).
    assert doc["tags"] == []
    assert doc["tag"] == {"span@kind": "internal"}
    # Only service.name: an empty (not null) tag list, as Jaeger's make([]KeyValue, 0, n).
    assert doc["process"] == {"serviceName": "solo", "tags": []}


def test_span_kind_and_error_are_stored_as_fields_unless_all_are() -> None:
    span = Span(
        trace_id=TRACE,
        span_id=_sid(1),
        name="charge",
        kind=Span.SpanKind.SPAN_KIND_CLIENT,
        status=Status(code=Status.StatusCode.STATUS_CODE_ERROR, message="declined"),
        start_time_unix_nano=1_000,
        end_time_unix_nano=2_000,
        attributes=[_kv("peer.service", _s("bank"))],
    )
    request = _request(span, [_kv("service.name", _s("payment"))], InstrumentationScope())
    [stored] = otlp_to_jaeger_documents(request)
    assert stored["tags"] == [
        {"key": "peer.service", "type": "string", "value": "bank"},
        {"key": "otel.status_description", "type": "string", "value": "declined"},
    ]
    # Go writes a map with its keys sorted.
    assert list(stored["tag"].items()) == [("error", True), ("span@kind", "client")]
    # Before the writer (ToDBModel), both are nested tags, after the attributes.
    [converted] = otlp_to_dbmodel_spans(request)
    assert [tag["key"] for tag in converted["tags"]] == [
        "peer.service",
        "span.kind",
        "error",
        "otel.status_description",
    ]
    assert "tag" not in converted
    # tags_as_fields.all: every non-binary tag is a field, the nested list is [].
    [everything] = otlp_to_jaeger_documents(request, tags_as_fields=TagsAsFields(all=True))
    assert everything["tags"] == []
    assert list(everything["tag"]) == [
        "error",
        "otel@status_description",
        "peer@service",
        "span@kind",
    ]


def test_empty_span_name_is_sanitized() -> None:
    span = Span(trace_id=TRACE, span_id=_sid(1), start_time_unix_nano=1, end_time_unix_nano=2)
    [doc] = otlp_to_jaeger_documents(_request(span, [], InstrumentationScope()))
    assert doc["operationName"] == "empty-span-name"
    assert service_document(doc)[1]["operationName"] == "empty-span-name"


def test_zero_duration_is_sanitized_with_a_warning_tag() -> None:
    span = Span(
        trace_id=TRACE,
        span_id=_sid(9),
        name="instant",
        start_time_unix_nano=START_NS,
        end_time_unix_nano=START_NS,
    )
    [doc] = otlp_to_jaeger_documents(_request(span, [_kv("service.name", _s("x"))], SdkScopePb()))
    assert doc["duration"] == 0
    warning = doc["tags"][0]
    assert warning["key"] == "@jaeger@warnings"
    assert warning["type"] == "string"
    assert json.loads(warning["value"]) == [
        "Negative duration detected, sanitizing end timestamp. Original end timestamp: "
        "2017-01-26 21:46:31.639875 +0000 UTC, adjusted to: "
        "2017-01-26 21:46:31.639875001 +0000 UTC"
    ]


def SdkScopePb() -> InstrumentationScope:  # noqa: N802 - reads like the message it builds
    return InstrumentationScope()


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ([], "missing-service-name"),
        ([_kv("service.name", _s(""))], "empty-service-name"),
        ([_kv("service.name", AnyValue(int_value=7))], "service-name-wrong-type"),
        ([_kv("host.name", _s("h"))], "missing-service-name"),
    ],
)
def test_service_name_sanitizer(resource: list[KeyValue], expected: str) -> None:
    span = Span(trace_id=TRACE, span_id=_sid(1), start_time_unix_nano=1, end_time_unix_nano=2)
    [doc] = otlp_to_jaeger_documents(_request(span, resource, InstrumentationScope()))
    assert doc["process"]["serviceName"] == expected
    assert all(tag["key"] != "service.name" for tag in doc["process"]["tags"] or [])


def test_event_attribute_named_event_wins_over_the_event_name() -> None:
    span = Span(
        trace_id=TRACE,
        span_id=_sid(1),
        start_time_unix_nano=1_000,
        end_time_unix_nano=2_000,
        events=[
            Span.Event(name="named", time_unix_nano=1_500, attributes=[_kv("event", _s("attr"))]),
            Span.Event(time_unix_nano=1_999),
        ],
    )
    [doc] = otlp_to_jaeger_documents(_request(span, [], InstrumentationScope()))
    assert doc["logs"] == [
        {"timestamp": 1, "fields": [{"key": "event", "type": "string", "value": "attr"}]},
        {"timestamp": 1, "fields": []},
    ]
    assert doc["process"] == {"serviceName": "missing-service-name", "tags": []}


def test_link_to_the_parent_overrides_the_parent_reference_type() -> None:
    span = Span(
        trace_id=TRACE,
        span_id=_sid(5),
        parent_span_id=_sid(3),
        start_time_unix_nano=1_000,
        end_time_unix_nano=2_000,
        links=[
            Span.Link(trace_id=TRACE, span_id=_sid(3)),
            Span.Link(trace_id=TRACE, span_id=_sid(4)),
        ],
    )
    [doc] = otlp_to_jaeger_documents(_request(span, [], InstrumentationScope()))
    assert doc["parentSpanID"] == "0000000000000003"
    assert doc["references"] == [
        {"refType": "FOLLOWS_FROM", "traceID": TRACE.hex(), "spanID": "0000000000000003"},
        {"refType": "FOLLOWS_FROM", "traceID": TRACE.hex(), "spanID": "0000000000000004"},
    ]


def test_attribute_values_keep_jaeger_types() -> None:
    kvlist = KeyValueList(
        values=[_kv("z", AnyValue(int_value=1)), _kv("a", AnyValue(bytes_value=b"\x01\x02"))]
    )
    span = Span(
        trace_id=TRACE,
        span_id=_sid(1),
        start_time_unix_nano=1_000,
        end_time_unix_nano=2_000,
        attributes=[
            _kv("f.integral", AnyValue(double_value=3.0)),
            _kv("f.nan", AnyValue(double_value=math.nan)),
            _kv("f.inf", AnyValue(double_value=-math.inf)),
            _kv(
                "list",
                AnyValue(array_value=ArrayValue(values=[_s("a&b"), AnyValue(double_value=1e21)])),
            ),
            _kv(
                "list.nan",
                AnyValue(array_value=ArrayValue(values=[AnyValue(double_value=math.nan)])),
            ),
            _kv("map", AnyValue(kvlist_value=kvlist)),
            _kv("empty", AnyValue()),
        ],
    )
    [doc] = otlp_to_jaeger_documents(_request(span, [], InstrumentationScope()))
    assert doc["tags"] == [
        {"key": "f.integral", "type": "float64", "value": 3},
        {"key": "f.nan", "type": "float64", "value": "NaN"},
        {"key": "f.inf", "type": "float64", "value": "-Inf"},
        {"key": "list", "type": "string", "value": '["a\\u0026b",1e+21]'},
        {"key": "list.nan", "type": "string", "value": ""},
        {"key": "map", "type": "string", "value": '{"a":"AQI=","z":1}'},
        {"key": "empty", "type": "string", "value": None},
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (72.5, "72.5"),
        (3.0, "3"),
        (-0.0, "-0"),
        (0.1, "0.1"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1e16, "10000000000000000"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (-1.5e-7, "-1.5e-7"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (123456.789, "123456.789"),
    ],
)
def test_go_float_text(value: float, text: str) -> None:
    assert _go_json_float(value) == text


def test_go_string_escaping() -> None:
    assert _go_json_string('<a href="x">&\u2028é\x01\n') == (
        '"\\u003ca href=\\"x\\"\\u003e\\u0026\\u2028é\\u0001\\n"'
    )


def test_tags_as_fields_moves_selected_tags_and_keeps_binary_nested() -> None:
    [doc] = otlp_to_jaeger_documents(es_01_otlp(), tags_as_fields=TagsAsFields(all=True))
    assert doc["tags"] == [{"key": "blob", "type": "binary", "value": "00003039"}]
    assert doc["tag"] == {
        "otel@scope@name": "testing-library",
        "otel@scope@version": "1.1.1",
        "peer@service": "service-y",
        "peer@ipv4": 23456,
        "temperature": 72.5,
        "error": True,
    }
    assert doc["process"] == {
        "serviceName": "service-x",
        "tags": [],
        "tag": {"sdk@version": "1.2.1"},
    }
    assert list(doc).index("tag") == list(doc).index("tags") + 1

    [some] = otlp_to_jaeger_documents(
        es_01_otlp(),
        tags_as_fields=TagsAsFields(keys=frozenset({"peer.service"}), dot_replacement="_"),
    )
    # The configured keys, plus error (span.kind would be too, were it set).
    assert some["tag"] == {"error": True, "peer_service": "service-y"}
    assert "tag" not in some["process"]
    assert len(some["tags"]) == 5


def test_indices_and_ids() -> None:
    [doc] = otlp_to_jaeger_documents(es_01_otlp())
    assert span_index(doc) == "jaeger-span-2017-01-26"
    assert span_index(doc, "prod") == "prod-jaeger-span-2017-01-26"
    assert service_index(doc, "prod") == "prod-jaeger-service-2017-01-26"
    assert span_document_id(doc) == f"{TRACE.hex()}-0000000000000002"
    assert service_document(doc) == (
        service_document_id("service-x", "test-general-conversion"),
        {"serviceName": "service-x", "operationName": "test-general-conversion"},
    )
    # FNV-1a 64 test vectors; Jaeger formats the hash without zero padding.
    assert service_document_id("", "") == "cbf29ce484222325"
    assert service_document_id("a", "") == "af63dc4c8601ec8c"
    assert service_document_id("", "a") == "af63dc4c8601ec8c"
