"""Input formats: detection, and each format's decode, on bytes real producers wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from shipper.formats import Origin, Record, Rejected, ecs, otel_json, otlp
from shipper.formats.detect import detect
from tests.support.otlp import GOLDEN_SPAN, GOLDEN_TRACE, LogSpec, golden_request, sdk_request
from tests.support.otlp import to_json as otlp_json

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
ORIGIN = Origin("otlp_logs", 1, 5)
PINO = (FIXTURES / "pino-instrumentation.ndjson").read_bytes().splitlines()
# logstash-logback-encoder's standard fields with the Java agent's MDC keys (fixtures README).
LOGBACK = (
    b'{"@timestamp":"2026-11-22T11:23:47.123+01:00","@version":"1",'
    b'"message":"charging card","logger_name":"com.shop.payment.PaymentService",'
    b'"thread_name":"http-nio-8080-exec-3","level":"WARN","level_value":30000,'
    b'"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",'
    b'"trace_flags":"01"}'
)
LOGGING_EXT = (
    b'{"@timestamp":"2026-11-22T10:23:47.123456Z","log.level":"info","message":"order placed",'
    b'"log.logger":"shop","trace.id":"4bf92f3577b34da6a3ce929d0e0e4736",'
    b'"span.id":"00f067aa0ba902b7","trace.sampled":true,"event.id":"01JD","service.name":"shop"}'
)


def records(result: list[Record] | Rejected | None) -> list[Record]:
    assert isinstance(result, list), result
    return result


def rejected(result: list[Record] | Rejected | None) -> Rejected:
    assert isinstance(result, Rejected), result
    return result


# --- detection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (LOGGING_EXT, "ecs"),
        # A cheap byte test: the decoder hands this one back unchanged (see below).
        (b'{"@timestamp":"x","log":{"level":"info"},"message":"nested ECS"}', "otel_json"),
        (b'{"message":"no spelling of any other language"}', "ecs"),
        # An ECS record keeps the ECS path even with a neighbour's key.
        (b'{"trace.id":"4bf92f3577b34da6a3ce929d0e0e4736","msg":"x"}', "ecs"),
        # A key's text inside a value is no key.
        (b'{"message":"said \\"trace_id\\": here"}', "ecs"),
        (PINO[0], "otel_json"),
        (LOGBACK, "otel_json"),
        (b'{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}', "otel_json"),
        (b'{"resourceLogs":[]}', "otlp_json"),
        (b' {"resource_logs":[]}', "otlp_json"),
        (b'{"resourceSpans":[]}', "otlp_json"),  # the wrong signal: a claim, refused later
        (b'{"message":"resourceLogs","nested":{"resourceLogs":1}}', "ecs"),
        (b"\n\x04\n\x02\n\x00", "otlp_proto"),
        (b'\n{"msg":"a JSON line after a newline"}', "otel_json"),
        (b"", "ecs"),
        (b"plain text", "ecs"),
        (b"[1, 2]", "ecs"),
    ],
)
def test_detect(value: bytes, expected: str) -> None:
    assert detect(value)[0] == expected


def test_a_protobuf_whose_length_byte_is_a_brace_is_protobuf() -> None:
    request = sdk_request([({"service.name": "x"}, [LogSpec("y" * 80)])])
    value = request.SerializeToString()
    assert value[0] == 0x0A
    padded = b"\n{" + value[2:]  # the same shape: field 1, length 123
    assert detect(padded)[0] == "otlp_proto"


def test_detection_hands_over_what_it_parsed() -> None:
    fmt, parsed = detect(b'{"resourceLogs":"not a list"}')
    assert (fmt, parsed) == ("otlp_json", {"resourceLogs": "not a list"})


@pytest.mark.parametrize("pinned", ["otlp_proto", "otlp_json"])
def test_pinned_otlp_reads_everything_as_that(pinned: str) -> None:
    assert detect(LOGGING_EXT, pinned)[0] == pinned
    assert detect(b"", pinned)[0] == pinned


def test_pinned_ecs_never_tries_otlp() -> None:
    assert detect(b'{"resourceLogs":[]}', "ecs")[0] == "ecs"
    assert detect(b"\n\x04\n\x02\n\x00", "ecs")[0] == "ecs"
    assert detect(PINO[0], "ecs")[0] == "otel_json"  # spellings are still mapped


def test_ecs_needs_no_decoding() -> None:
    assert ecs.decode(LOGGING_EXT, ORIGIN) is None


# --- other languages' JSON -----------------------------------------------------------------


def test_pino_lines_as_pino_writes_them() -> None:
    decoded = [records(otel_json.decode(line, ORIGIN))[0] for line in PINO]
    outside, proxied, slow, failed, fatal = (record.fields for record in decoded)
    assert outside == {
        "@timestamp": "2026-12-06T16:23:16.517000Z",
        "log.level": "info",
        "message": "gateway started",
        "log.logger": "gateway",
        "process.pid": 11818,
        "host.name": "vm",
    }
    assert proxied["trace.id"] == "395ae83a02940333c6bc01fa77413b66"
    assert proxied["span.id"] == "8640d077a240f132"
    assert proxied["trace.sampled"] is True
    # What is not mapped stays under its own key.
    assert (proxied["orderId"], proxied["route"]) == ("o-1017", "/orders/:id")
    assert slow["log.level"] == "warn"
    assert failed["log.level"] == "error"
    assert failed["error.type"] == "Error"
    assert failed["error.message"] == "upstream returned 502"
    assert failed["error.stack_trace"].startswith("Error: upstream returned 502\n    at ")
    assert "err" not in failed
    assert fatal["log.level"] == "fatal"
    assert fatal["component"] == "auth"
    assert all(record.flags == ["missing_service"] for record in decoded)


def test_logback_line_with_the_java_agents_mdc_keys() -> None:
    (record,) = records(otel_json.decode(LOGBACK, ORIGIN))
    assert record.fields == {
        "@timestamp": "2026-11-22T11:23:47.123+01:00",  # ECS spelling: the transform's rules
        "log.level": "warn",
        "message": "charging card",
        "log.logger": "com.shop.payment.PaymentService",
        "trace.id": GOLDEN_TRACE,
        "span.id": GOLDEN_SPAN,
        "trace.sampled": True,
        "process.thread.name": "http-nio-8080-exec-3",
        "@version": "1",
        "level_value": 30000,
    }


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"traceId": "AB", "spanId": "CD", "traceFlags": 0}, {"trace.sampled": False}),
        ({"TraceId": "ab", "SpanId": "cd"}, {"trace.id": "ab", "span.id": "cd"}),
        ({"ts": 1_795_343_027.5}, {"@timestamp": "2026-11-22T10:23:47.500000Z"}),
        ({"timestamp": "2026-11-22T10:23:47Z"}, {"@timestamp": "2026-11-22T10:23:47.000000Z"}),
        ({"time": 1_795_343_027_123_456_789}, {"@timestamp": "2026-11-22T10:23:47.123456Z"}),
        ({"severity": "WARNING"}, {"log.level": "warning"}),
        ({"levelname": "Error"}, {"log.level": "error"}),
        ({"lvl": "dbug"}, {"log.level": "dbug"}),
        ({"logger": "a.b"}, {"log.logger": "a.b"}),
        ({"exception": "Traceback ..."}, {"error.stack_trace": "Traceback ..."}),
        (
            {"err": {"type": "E", "message": "m", "code": 7}},
            {"error.type": "E", "error.message": "m", "err": {"code": 7}},
        ),
    ],
)
def test_spellings(record: dict[str, Any], expected: dict[str, Any]) -> None:
    fields = otel_json.map_record(record)
    assert fields is not None
    for key, value in expected.items():
        assert fields[key] == value


def test_traceparent_field() -> None:
    fields = otel_json.map_record(
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "msg": "m"}
    )
    assert fields == {
        "message": "m",
        "trace.id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span.id": "00f067aa0ba902b7",
        "trace.sampled": False,
    }


def test_ecs_spellings_win_and_unusable_values_stay() -> None:
    fields = otel_json.map_record(
        {
            "@timestamp": "2026-11-22T10:23:47Z",
            "time": 5,
            "log": {"level": "info"},
            "level": 30,
            "msg": "m",
            "ts": "yesterday",
            "traceparent": "garbage",
        }
    )
    assert fields == {
        "message": "m",
        "@timestamp": "2026-11-22T10:23:47Z",
        "time": 5,
        "log": {"level": "info"},
        "level": 30,
        "ts": "yesterday",
        "traceparent": "garbage",
    }


def test_a_record_without_any_spelling_is_not_this_format() -> None:
    assert otel_json.decode(b'{"level": {"nested": 1}}', ORIGIN) is None
    assert otel_json.decode(b'{"log":{"level":"info"},"message":"nested ECS"}', ORIGIN) is None
    assert otel_json.decode(b"[1]", ORIGIN) is None
    assert otel_json.decode(b"{not json", ORIGIN) is None


def test_a_service_name_anywhere_is_not_flagged() -> None:
    (record,) = records(otel_json.decode(b'{"msg":"m","service":{"name":"gw"}}', ORIGIN))
    assert record.flags == []


# --- OTLP --------------------------------------------------------------------------------


def test_golden_otlp_proto_from_the_sdk_encoder() -> None:
    decoded = records(otlp.decode_proto(golden_request().SerializeToString(), ORIGIN))
    assert [record.index for record in decoded] == [0, 1, 2]
    declined, failed, cache = decoded
    assert declined.fields == {
        "@timestamp": "2026-11-22T10:23:47.123456Z",
        "log.level": "warn",
        "event.severity": 13,
        "message": "card declined",
        "trace.id": GOLDEN_TRACE,
        "trace.sampled": True,
        "span.id": GOLDEN_SPAN,
        "log.logger": "shop.checkout",
        "otel.scope.version": "2.1.0",
        "event.id": "01JDQ7Z8K4M2",  # log.record.uid
        "order.id": "o-1017",
        "service.name": "checkout",
        "service.version": "1.4.2",
        "service.environment": "prod",
        "host.name": "node-7",
        "k8s.pod.name": "checkout-5d9f",
    }
    assert declined.flags == []
    assert failed.fields["log.level"] == "error"  # no severity text: the number's range
    assert failed.fields["event.id"] == "otlp_logs-1-5-1"  # derived, replay-stable
    assert failed.fields["error.type"] == "ValueError"
    assert failed.fields["error.message"] == "card number rejected"
    assert "Traceback" in failed.fields["error.stack_trace"]
    assert cache.fields["body.structured"] == {"event": "cache.miss", "keys": [1, 2]}
    assert cache.fields["@timestamp"] == "2026-11-22T10:23:47.123456Z"  # observed time
    assert cache.fields["message"] == "kept"  # an attribute at its own key
    assert cache.fields["labels.tracelink_origin"] == "spoofed"  # a reserved key
    assert "service.name" not in cache.fields
    assert cache.flags == ["missing_service"]


def test_golden_otlp_json_decodes_to_the_same_documents() -> None:
    request = golden_request()
    proto = records(otlp.decode_proto(request.SerializeToString(), ORIGIN))
    text = otlp_json(request)
    assert b'"traceId":"' + GOLDEN_TRACE.encode() + b'"' in text  # hex, as OTLP/JSON
    from_json = records(otlp.decode_json(text, ORIGIN))
    assert [record.fields for record in from_json] == [record.fields for record in proto]
    assert [record.flags for record in from_json] == [record.flags for record in proto]


def test_otlp_json_with_proto_field_names_and_numbers() -> None:
    value = orjson.dumps(
        {
            "resource_logs": [
                {
                    "scope_logs": [
                        {
                            "log_records": [
                                {
                                    "time_unix_nano": 1_795_343_027_123_456_789,
                                    "severity_number": "SEVERITY_NUMBER_FATAL",
                                    "body": {"string_value": "down"},
                                    "trace_id": GOLDEN_TRACE.upper(),
                                    "span_id": GOLDEN_SPAN,
                                    "flags": 0,
                                }
                            ]
                        }
                    ]
                }
            ]
        }
    )
    (record,) = records(otlp.decode_json(value, ORIGIN))
    assert record.fields["log.level"] == "fatal"
    assert (record.fields["trace.id"], record.fields["trace.sampled"]) == (GOLDEN_TRACE, False)


def test_a_record_alone_is_its_own_otlp_json_payload() -> None:
    decoded = records(otlp.decode_proto(golden_request().SerializeToString(), ORIGIN))
    for record in decoded:
        assert record.alone is not None
        alone = orjson.loads(record.alone())
        ((resource,),) = [alone["resourceLogs"]]
        ((scope,),) = [resource["scopeLogs"]]
        assert len(scope["logRecords"]) == 1
        (again,) = records(otlp.decode_json(record.alone(), ORIGIN))
        expected = dict(record.fields)
        if expected["event.id"].startswith("otlp_logs-1-5"):
            # A derived ID is the position in the payload: alone it is the first.
            expected["event.id"] = "otlp_logs-1-5-0"
        assert again.fields == expected


def test_wrong_length_ids_are_kept_aside_and_flagged() -> None:
    request = sdk_request([({"service.name": "x"}, [LogSpec("m")])])
    log_record = request.resource_logs[0].scope_logs[0].log_records[0]
    log_record.trace_id = b"\x01" * 8
    log_record.span_id = b"\x02" * 9
    (record,) = records(otlp.decode_proto(request.SerializeToString(), ORIGIN))
    assert "trace.id" not in record.fields
    assert "span.id" not in record.fields
    assert record.invalid == {"trace_id": "01" * 8, "span_id": "02" * 9}
    assert record.flags == ["invalid_trace_id", "invalid_span_id"]


def test_all_zero_ids_are_no_context() -> None:
    value = orjson.dumps(
        {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "0" * 32}]}]}]}
    )
    (record,) = records(otlp.decode_json(value, ORIGIN))
    assert "trace.id" not in record.fields
    assert record.invalid is None


def test_ten_thousand_records_in_one_message() -> None:
    request = sdk_request([({"service.name": "x"}, [LogSpec(f"m{i}") for i in range(10_000)])])
    decoded = records(otlp.decode_proto(request.SerializeToString(), ORIGIN))
    assert len(decoded) == 10_000
    assert len({record.fields["event.id"] for record in decoded}) == 10_000


def test_truncated_protobuf_is_a_dead_letter() -> None:
    value = golden_request().SerializeToString()
    letter = rejected(otlp.decode_proto(value[: len(value) // 2], ORIGIN))
    assert letter.kind == "invalid_otlp_proto"
    assert "ExportLogsServiceRequest" in letter.reason


def test_a_traces_payload_is_a_dead_letter() -> None:
    traces = ExportTraceServiceRequest()
    span = traces.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = bytes.fromhex(GOLDEN_TRACE)
    span.span_id = bytes.fromhex(GOLDEN_SPAN)
    span.start_time_unix_nano = 1
    letter = rejected(otlp.decode_proto(traces.SerializeToString(), ORIGIN))
    assert letter.kind == "invalid_otlp_proto"


def test_a_metrics_payload_is_a_dead_letter() -> None:
    metrics = ExportMetricsServiceRequest()
    metric = metrics.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "http.server.duration"
    metric.gauge.data_points.add().as_double = 1.5
    letter = rejected(otlp.decode_proto(metrics.SerializeToString(), ORIGIN))
    assert letter.kind == "invalid_otlp_proto"


def test_a_payload_that_parses_with_fields_logs_do_not_have_is_a_dead_letter() -> None:
    # Span.kind is field 6 as a varint; LogRecord's field 6 is an attribute (a message):
    # protobuf keeps the mismatch as an unknown field instead of failing.
    traces = ExportTraceServiceRequest()
    traces.resource_spans.add().scope_spans.add().spans.add().kind = Span.SPAN_KIND_SERVER
    letter = rejected(otlp.decode_proto(traces.SerializeToString(), ORIGIN))
    assert letter.kind == "invalid_otlp_proto"
    assert "traces or metrics" in letter.reason


@pytest.mark.parametrize(
    "request_",
    [ExportLogsServiceRequest(), sdk_request([({"service.name": "x"}, [])])],
)
def test_no_records_is_a_dead_letter(request_: ExportLogsServiceRequest) -> None:
    request_.resource_logs.add().scope_logs.add()
    letter = rejected(otlp.decode_proto(request_.SerializeToString(), ORIGIN))
    assert letter.kind == "no_records"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"resourceLogs": {"not": "a list"}}, "resourceLogs is an object, not a list"),
        ({"resourceLogs": [{"scopeLogs": [{"logRecords": [7]}]}]}, "logRecords[0] is a number"),
        (
            {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]},
            "timeUnixNano is a string, not an integer",
        ),
        (
            {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"a": 1, "b": 2}}]}]}]},
            "an AnyValue has one",
        ),
        ({"resourceSpans": []}, "an OTLP resourceSpans payload, not logs"),
        ([1], "the message is a list, not an object"),
    ],
)
def test_malformed_otlp_json_is_a_dead_letter(payload: Any, reason: str) -> None:
    letter = rejected(otlp.decode_json(orjson.dumps(payload), ORIGIN))
    assert letter.kind == "invalid_otlp_json"
    assert reason in letter.reason


def test_otlp_json_without_records_and_not_json() -> None:
    assert rejected(otlp.decode_json(b'{"resourceLogs":[]}', ORIGIN)).kind == "no_records"
    assert rejected(otlp.decode_json(b"{", ORIGIN)).kind == "invalid_otlp_json"


def test_severity_and_body_kinds() -> None:
    request = sdk_request(
        [
            (
                {"service.name": "x"},
                [
                    LogSpec(42, SeverityNumber.INFO2, None),
                    LogSpec(b"\x00\x01", SeverityNumber.UNSPECIFIED, None),
                    LogSpec("t", SeverityNumber.WARN, "Warning"),
                ],
            )
        ]
    )
    number, binary, text = records(otlp.decode_proto(request.SerializeToString(), ORIGIN))
    assert number.fields["message"] == "42"
    assert number.fields["log.level"] == "info"
    assert binary.fields["body.binary"] == "AAE="
    assert "log.level" not in binary.fields
    assert text.fields["log.level"] == "warning"


def test_colliding_attributes_go_under_labels() -> None:
    request = sdk_request(
        [
            (
                {"service.name": "x", "log": "resource says log", "host.name": "h"},
                [
                    LogSpec(
                        "m",
                        attributes={
                            "message": "not the body",
                            "code": "short",
                            "code.function": "f",
                            "event.ingested": "forged",
                            "a..b": 1,
                        },
                    )
                ],
            )
        ]
    )
    (record,) = records(otlp.decode_proto(request.SerializeToString(), ORIGIN))
    fields = record.fields
    assert fields["message"] == "m"
    assert fields["labels.message"] == "not the body"
    assert fields["code"] == "short"
    assert fields["labels.code_function"] == "f"
    assert fields["labels.event_ingested"] == "forged"
    assert fields["labels.a__b"] == 1
    assert fields["labels.log"] == "resource says log"  # the record's log.* came first
    assert fields["host.name"] == "h"


def test_a_record_with_fields_of_a_newer_otlp_version_is_accepted() -> None:
    request = sdk_request([({"service.name": "x"}, [LogSpec("from the future")])])
    value = request.SerializeToString()
    # Field 99 (varint 1) inside the log record: unknown to these classes, as a field added
    # by a later OTLP version would be. Rebuild the nested lengths around it.
    record = request.resource_logs[0].scope_logs[0].log_records[0].SerializeToString()
    extended = record + bytes([0x98, 0x06, 0x01])
    scope = request.resource_logs[0].scope_logs[0]
    scope.ClearField("log_records")
    scope.log_records.add().ParseFromString(extended)
    value = request.SerializeToString()
    (decoded,) = records(otlp.decode_proto(value, ORIGIN))
    assert decoded.fields["message"] == "from the future"
