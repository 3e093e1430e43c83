"""Formats meet the transform: final documents, per-record dead letters, ECS unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry._logs import SeverityNumber

from shipper.bulk import create_item
from shipper.dlq import dead_letter_document, letter_origin
from shipper.formats.dispatch import FormatDispatcher, Processed, RecordRef, refused
from shipper.transform import DeadLetter, IndexAction, Limits, Transformer
from tests.support.otlp import GOLDEN_SPAN, GOLDEN_TRACE, LogSpec, golden_request, sdk_request
from tests.support.otlp import to_json as otlp_json
from tests.support.shipping import KafkaMessage, encode, log_record

INGESTED = "2026-11-22T10:30:00.000000Z"
PINO_INGESTED = "2026-12-06T16:30:00.000000Z"  # the day the pino fixture was captured
PINO = (Path(__file__).parent / "fixtures" / "formats" / "pino-instrumentation.ndjson").read_bytes()


def dispatcher(**limits: Any) -> FormatDispatcher:
    return FormatDispatcher(Transformer("tracelink-logs", Limits(**limits)))


def process(
    formats: FormatDispatcher, message: KafkaMessage, ingested: str = INGESTED
) -> Processed:
    """Every outcome as a :class:`Processed` (an ECS message gives the transform's result)."""
    result = formats.process(message, ingested)
    if isinstance(result, IndexAction):
        return Processed("ecs", 1, [result], [message], [])
    if isinstance(result, DeadLetter):
        return Processed("ecs", 1, [], [], [result])
    return result


def ecs_corpus() -> list[bytes]:
    """ECS records as logging_ext and other ECS producers write them, good and repairable."""
    records = [encode(log_record(i, "r")) for i in range(5)]
    records += [
        encode(log_record(7, "r", **{"trace.id": "A3CE929D0E0E4736"})),
        encode(log_record(8, "r", **{"@timestamp": "2026-11-22T11:23:47+01:00"})),
        encode(log_record(9, "r", **{"event.id": None})),
        encode({"message": "bare"}),
        b'{"@timestamp":"2026-11-22T10:23:47.1Z","log":{"level":"info"},"message":"nested"}',
        b'{"@timestamp":"2026-11-22T10:23:47.1Z","log":{"level":"info"},"level":"x"}',
    ]
    return records


@pytest.mark.parametrize("value", ecs_corpus())
def test_ecs_documents_are_byte_for_byte_what_the_transform_makes(value: bytes) -> None:
    message = KafkaMessage(value)
    before = Transformer("tracelink-logs").transform(message, INGESTED)
    processed = process(dispatcher(), message)
    assert processed.format == "ecs"
    assert isinstance(before, IndexAction)
    (after,) = processed.actions
    assert create_item(after.index, after.doc_id, after.source) == create_item(
        before.index, before.doc_id, before.source
    )
    assert processed.refs == [message]


@pytest.mark.parametrize(
    "value", [b"", None, b"GET / HTTP/1.1", b"[1]", b'{"message": "caf\xe9"}', b"\n\x05ab"]
)
def test_ecs_dead_letters_are_what_they_were(value: bytes | None) -> None:
    message = KafkaMessage(value)
    before = Transformer("tracelink-logs").transform(message, INGESTED)
    processed = process(dispatcher(), message)
    assert isinstance(before, DeadLetter)
    if value == b"\n\x05ab":  # claims protobuf now (truncated), and is refused as such
        assert processed.letters[0].kind == "invalid_otlp_proto"
        return
    assert [(x.kind, x.reason) for x in processed.letters] == [(before.kind, before.reason)]


def test_pino_line_becomes_the_document_logging_ext_would_write() -> None:
    line = PINO.splitlines()[1]
    processed = process(dispatcher(), KafkaMessage(line, topic="gateway"), PINO_INGESTED)
    assert processed.format == "otel_json"
    (action,) = processed.actions
    doc = action.source
    assert doc["@timestamp"] == "2026-12-06T16:23:16.518000Z"
    assert doc["log"] == {"level": "info", "logger": "gateway"}
    assert doc["message"] == "proxying order lookup"
    assert doc["trace"] == {"id": "395ae83a02940333c6bc01fa77413b66", "sampled": True}
    assert doc["span"] == {"id": "8640d077a240f132"}
    assert doc["orderId"] == "o-1017"
    assert doc["tracelink"]["flags"] == ["missing_service"]
    assert doc["tracelink"]["origin"] == "gateway/2/41"
    assert action.flags == ["missing_service"]
    assert action.index == "tracelink-logs-2026-12-06"


def test_a_pino_line_outside_a_span_takes_the_traceparent_header() -> None:
    line = PINO.splitlines()[0]
    header = [("traceparent", f"00-{GOLDEN_TRACE}-{GOLDEN_SPAN}-01".encode())]
    processed = process(dispatcher(), KafkaMessage(line, headers=tuple(header)), PINO_INGESTED)
    (action,) = processed.actions
    assert action.source["trace"]["id"] == GOLDEN_TRACE
    assert action.source["tracelink"]["flags"] == ["missing_service", "trace_context_from_header"]


@pytest.mark.parametrize("encoding", ["proto", "json"])
def test_otlp_payload_one_document_per_record(encoding: str) -> None:
    request = golden_request()
    value = request.SerializeToString() if encoding == "proto" else otlp_json(request)
    message = KafkaMessage(value, topic="otlp_logs", partition=1, offset=5)
    processed = process(dispatcher(), message)
    assert processed.format == f"otlp_{encoding}"
    assert processed.records == 3
    assert not processed.letters
    declined, failed, cache = (action.source for action in processed.actions)
    assert [action.doc_id for action in processed.actions] == [
        "01JDQ7Z8K4M2",
        "otlp_logs-1-5-1",
        "otlp_logs-1-5-2",
    ]
    assert declined["tracelink"]["origin"] == "otlp_logs/1/5#0"
    assert declined["event"]["ingested"] == INGESTED
    assert declined["trace"] == {"id": GOLDEN_TRACE, "sampled": True}
    assert failed["error"]["type"] == "ValueError"
    assert cache["tracelink"]["flags"] == ["missing_service"]
    assert all(action.message is message for action in processed.actions)
    assert [ref.index for ref in processed.refs if isinstance(ref, RecordRef)] == [0, 1, 2]


def test_wrong_length_ids_reach_the_document_as_invalid() -> None:
    request = sdk_request([({"service.name": "x"}, [LogSpec("m")])])
    request.resource_logs[0].scope_logs[0].log_records[0].trace_id = b"\x01" * 8
    processed = process(dispatcher(), KafkaMessage(request.SerializeToString()))
    (action,) = processed.actions
    assert action.source["tracelink"]["invalid"] == {"trace_id": "01" * 8}
    assert action.flags == ["invalid_trace_id"]


def test_one_bad_record_is_a_dead_letter_alone() -> None:
    deep: Any = "leaf"
    for _ in range(30):
        deep = {"d": deep}
    request = sdk_request(
        [
            (
                {"service.name": "x"},
                [LogSpec("fine"), LogSpec(deep, SeverityNumber.INFO), LogSpec("ok")],
            )
        ]
    )
    message = KafkaMessage(request.SerializeToString(), topic="otlp_logs")
    processed = process(dispatcher(), message)
    assert [action.source["message"] for action in processed.actions] == ["fine", "ok"]
    (letter,) = processed.letters
    assert letter.kind == "too_deep"
    assert letter.record == 1
    assert letter_origin(letter) == "otlp_logs/2/41#1"
    assert letter.payload is not None
    alone = orjson.loads(letter.payload)
    assert len(alone["resourceLogs"][0]["scopeLogs"][0]["logRecords"]) == 1
    doc = dead_letter_document(letter, 64 * 1024)
    assert doc["tracelink"]["origin"] == "otlp_logs/2/41#1"
    assert doc["tracelink"]["payload"] == letter.payload.decode()


def test_a_record_elasticsearch_refuses_is_dead_lettered_alone() -> None:
    message = KafkaMessage(golden_request().SerializeToString(), topic="otlp_logs")
    processed = process(dispatcher(), message)
    letter = refused(processed.refs[2], "mapper_parsing_exception", "refused")
    assert letter.record == 2
    assert letter.payload is not None
    assert b'"cache"' in letter.payload
    plain = refused(message, "x", "y")
    assert (plain.record, plain.payload) == (None, None)


def test_a_message_claiming_otlp_that_is_not_is_one_dead_letter() -> None:
    processed = process(dispatcher(), KafkaMessage(b'{"resourceLogs": {}}'))
    assert processed.format == "otlp_json"
    (letter,) = processed.letters
    assert (letter.kind, letter.record) == ("invalid_otlp_json", None)
    assert "resourceLogs is an object, not a list" in letter.reason


def test_a_payload_over_the_message_limit_is_not_decoded() -> None:
    request = sdk_request([({"service.name": "x"}, [LogSpec("x" * 2000)])])
    processed = process(
        dispatcher(max_message_bytes=1024), KafkaMessage(request.SerializeToString())
    )
    assert [letter.kind for letter in processed.letters] == ["too_large"]


@pytest.mark.parametrize("pinned", ["otlp_proto", "otlp_json"])
def test_pinned_otlp_refuses_ecs(pinned: str) -> None:
    pinned_dispatcher = FormatDispatcher(Transformer("tracelink-logs"), pinned)
    processed = process(pinned_dispatcher, KafkaMessage(encode(log_record(1, "r"))))
    assert processed.actions == []
    assert processed.letters[0].kind.startswith(("invalid_otlp", "no_records"))
