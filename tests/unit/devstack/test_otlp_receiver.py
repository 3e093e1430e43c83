"""The OTLP receiver's pure parts: content types, OTLP/JSON, ID checks, Kafka messages, gzip.

OTLP/JSON here follows the specification's "JSON Protobuf Encoding" as its examples
(``examples/trace.json``, ``examples/logs.json`` of open-telemetry/opentelemetry-proto) spell
it: lowerCamelCase keys, hex trace and span IDs (any case), int64 as strings, enums as
integers. The exporters' own requests are in the integration tests.
"""

from __future__ import annotations

import argparse
import gzip
import json
import zlib

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devstack.otlp_receiver import (
    BadRequestError,
    TooLargeError,
    decode_logs,
    decode_traces,
    encode_message,
    gunzip_bounded,
    log_messages,
    media_encoding,
    split_valid_logs,
    split_valid_spans,
)

LOGS_JSON = {
    "resourceLogs": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "gateway"}}]
            },
            "scopeLogs": [
                {
                    "scope": {"name": "pino", "version": "10.4.0"},
                    "logRecords": [
                        {
                            "timeUnixNano": "1544712660300000000",
                            "severityNumber": 9,
                            "severityText": "info",
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "EEE19B7EC3C1B174",
                            "body": {"stringValue": "checkout"},
                            "attributes": [
                                {"key": "int.attribute", "value": {"intValue": "10"}},
                                {"key": "traceId", "value": {"stringValue": "not an ID"}},
                            ],
                            "futureField": {"ignored": True},
                        }
                    ],
                }
            ],
        }
    ]
}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/x-protobuf", "proto"),
        ("application/json", "json"),
        ("Application/JSON; charset=utf-8", "json"),
        ("text/plain", None),
        ("application/grpc", None),
        ("", None),
        (None, None),
    ],
)
def test_media_encoding(header: str | None, expected: str | None) -> None:
    assert media_encoding(header) == expected


def test_otlp_json_logs_decode_with_hex_ids_and_unknown_fields_ignored() -> None:
    request = decode_logs(json.dumps(LOGS_JSON).encode(), "json")
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    assert record.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert record.span_id.hex() == "eee19b7ec3c1b174"
    assert record.time_unix_nano == 1544712660300000000
    assert record.severity_number == 9
    assert record.body.string_value == "checkout"
    # An attribute *named* traceId is a value, not an ID: left as it is.
    assert record.attributes[1].value.string_value == "not an ID"
    assert record.attributes[0].value.int_value == 10


def test_otlp_json_and_protobuf_of_the_same_spans_decode_alike() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "gateway"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root"), tracer.start_as_current_span("child") as child:
        child.set_attribute("n", 3)
    provider.shutdown()
    encoded = encode_spans(memory.get_finished_spans())
    from_proto = decode_traces(encoded.SerializeToString(), "proto")
    assert from_proto == encoded
    # The same request as an OTLP/JSON exporter writes it (hex IDs).
    spans = []
    for span in encoded.resource_spans[0].scope_spans[0].spans:
        item = {
            "traceId": span.trace_id.hex().upper(),
            "spanId": span.span_id.hex(),
            "name": span.name,
            "kind": span.kind,
            "startTimeUnixNano": str(span.start_time_unix_nano),
            "endTimeUnixNano": str(span.end_time_unix_nano),
            "attributes": [
                {"key": kv.key, "value": {"intValue": str(kv.value.int_value)}}
                for kv in span.attributes
            ],
            "status": {},
        }
        if span.parent_span_id:
            item["parentSpanId"] = span.parent_span_id.hex()
        spans.append(item)
    body = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}
    from_json = decode_traces(json.dumps(body).encode(), "json")
    assert [
        (s.trace_id, s.span_id, s.parent_span_id, s.name, s.start_time_unix_nano)
        for s in from_json.resource_spans[0].scope_spans[0].spans
    ] == [
        (s.trace_id, s.span_id, s.parent_span_id, s.name, s.start_time_unix_nano)
        for s in encoded.resource_spans[0].scope_spans[0].spans
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe",
        b"[]",
        b'"text"',
        b'{"resourceSpans": 5}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}',
        b"{" * 10_000,
        b'{"a":' * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_bad_json_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequestError):
        decode_traces(body, "json")


def test_bad_protobuf_is_a_bad_request() -> None:
    with pytest.raises(BadRequestError):
        decode_traces(b"\x0a\xff\xff\xff\xff", "proto")
    with pytest.raises(BadRequestError):
        decode_logs(b"\xff" * 8, "proto")


def test_spans_with_invalid_ids_are_removed_and_counted() -> None:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    good = spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="good")
    spans.add(trace_id=b"\x00" * 16, span_id=b"\x02" * 8, name="zero trace")
    spans.add(trace_id=b"\x01" * 15, span_id=b"\x02" * 8, name="short trace")
    spans.add(trace_id=b"\x01" * 16, span_id=b"", name="no span id")
    spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, parent_span_id=b"\x03", name="parent")
    removed, reason = split_valid_spans(request)
    assert removed == 4
    assert "4 spans" in reason
    assert list(request.resource_spans[0].scope_spans[0].spans) == [good]
    assert split_valid_spans(request) == (0, "")


def test_log_records_with_wrong_length_ids_are_removed_and_counted() -> None:
    request = decode_logs(json.dumps(LOGS_JSON).encode(), "json")
    records = request.resource_logs[0].scope_logs[0].log_records
    records.add(body={"string_value": "outside any span"})
    records.add(trace_id=b"\x01" * 8, body={"string_value": "a 64-bit trace ID"})
    removed, reason = split_valid_logs(request)
    assert removed == 1
    assert "wrong length" in reason
    assert [r.body.string_value for r in records] == ["checkout", "outside any span"]


def _logs(resources: int, body_bytes: int) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    for index in range(resources):
        rl = request.resource_logs.add()
        rl.resource.attributes.add(key="service.name").value.string_value = f"svc-{index}"
        rl.scope_logs.add().log_records.add().body.string_value = "x" * body_bytes
    return request


def test_a_request_that_fits_is_one_kafka_message_as_the_collector_writes_it() -> None:
    request = _logs(3, 100)
    values, refused = log_messages(request)
    assert refused == 0
    assert values == [(request.SerializeToString(), 3)]
    assert log_messages(ExportLogsServiceRequest()) == ([], 0)


def test_a_request_too_large_for_one_message_is_split_per_resource() -> None:
    request = _logs(3, 400)
    values, refused = log_messages(request, max_bytes=1000)
    assert refused == 0
    assert len(values) == 3
    assert [records for _value, records in values] == [1, 1, 1]
    decoded = [ExportLogsServiceRequest.FromString(v) for v, _records in values]
    assert [d.resource_logs[0] for d in decoded] == list(request.resource_logs)
    # A single resource above the limit cannot be sent: its records are refused.
    request.resource_logs[1].scope_logs[0].log_records.add().body.string_value = "y" * 900
    values, refused = log_messages(request, max_bytes=1000)
    assert (len(values), refused) == (2, 2)


def test_gunzip_is_bounded() -> None:
    assert gunzip_bounded(gzip.compress(b"abc"), 10) == b"abc"
    with pytest.raises(TooLargeError):
        gunzip_bounded(gzip.compress(b"\x00" * 10_000), 1000)
    with pytest.raises(BadRequestError):
        gunzip_bounded(b"not gzip", 1000)
    with pytest.raises(BadRequestError):
        gunzip_bounded(gzip.compress(b"abcdef" * 100)[:-12], 10_000)
    # A raw deflate stream is not gzip.
    with pytest.raises(BadRequestError):
        gunzip_bounded(zlib.compress(b"abc"), 1000)


def test_responses_are_in_the_request_encoding() -> None:
    response = ExportLogsServiceResponse()
    assert encode_message(response, "proto") == b""
    assert json.loads(encode_message(response, "json")) == {}
    response.partial_success.rejected_log_records = 2
    response.partial_success.error_message = "2 log records refused"
    assert json.loads(encode_message(response, "json")) == {
        "partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "2 log records refused"}
    }
    assert ExportLogsServiceResponse.FromString(encode_message(response, "proto")) == response


# --- where `tracelink dev` puts it --------------------------------------------------------


def _dev_args(*argv: str) -> argparse.Namespace:
    from devstack.dev_command import configure_parser

    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return parser.parse_args(list(argv))


def test_the_receiver_listens_on_4318_of_loopback_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from devstack.dev_command import _otlp_address

    monkeypatch.delenv("TRACELINK_OTLP_HOST", raising=False)
    monkeypatch.delenv("TRACELINK_OTLP_PORT", raising=False)
    assert _otlp_address(_dev_args()) == ("127.0.0.1", 4318)


def test_flags_win_over_the_environment_and_0_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from devstack.dev_command import _otlp_address

    monkeypatch.setenv("TRACELINK_OTLP_HOST", "0.0.0.0")
    monkeypatch.setenv("TRACELINK_OTLP_PORT", "14318")
    assert _otlp_address(_dev_args()) == ("0.0.0.0", 14318)
    assert _otlp_address(_dev_args("--otlp-port", "0")) == ("0.0.0.0", 0)
    assert _otlp_address(_dev_args("--otlp-host", "127.0.0.2")) == ("127.0.0.2", 14318)


def test_a_bad_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from devstack.dev_command import _otlp_address
    from tracelink.settings import ConfigError

    monkeypatch.setenv("TRACELINK_OTLP_PORT", "70000")
    with pytest.raises(ConfigError, match="TRACELINK_OTLP_PORT"):
        _otlp_address(_dev_args())
    with pytest.raises(SystemExit):
        _dev_args("--otlp-port", "-1")
