"""OTLP/JSON's ID rules, shared by the OTLP receiver (JSON → protobuf) and the shipper's
OTLP formats (protobuf → JSON for dead letters, and the IDs of OTLP/JSON payloads).

The spelling is the specification's ("JSON Protobuf Encoding" in ``docs/specification.md``
of open-telemetry/opentelemetry-proto: hex IDs, case-insensitive); the round trips go through
``google.protobuf.json_format`` as both sides do.
"""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from devstack.otlp_receiver import BadRequestError, decode_logs
from shipper.formats._record import Origin
from shipper.formats.otlp import decode_json, request_to_otlp_json
from tracelink.otlp_json import (
    InvalidIdError,
    has_id_size,
    hex_id_size,
    hex_to_id,
    id_to_hex,
    ids_from_protobuf_json,
    ids_to_protobuf_json,
)

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"
PARENT = "0102030405060708"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (TRACE, 16),
        (TRACE.upper(), 16),
        (SPAN, 8),
        ("", 0),
        ("abc", -1),  # odd length
        ("zz" * 8, -1),
        (SPAN[:8] + " " + SPAN[8:], -1),  # bytes.fromhex would skip the blank
        (" " + SPAN, -1),
        ("\u0660\u0661" * 8, -1),  # Unicode digits are not hex
    ],
)
def test_hex_id_size_and_hex_to_id_agree(text: str, size: int) -> None:
    assert hex_id_size(text) == size
    if size < 0:
        with pytest.raises(InvalidIdError, match="is not hex"):
            hex_to_id(text, "traceId")
    else:
        raw = hex_to_id(text)
        assert len(raw) == size
        assert id_to_hex(raw) == text.lower()


def test_the_length_rule() -> None:
    assert has_id_size(b"", 16)
    assert has_id_size(bytes(16), 16)
    assert not has_id_size(bytes(15), 16)


def _spans_json() -> dict[str, object]:
    span = {
        "traceId": TRACE.upper(),
        "spanId": SPAN,
        "parentSpanId": PARENT,
        "name": "GET /",
        "links": [{"traceId": TRACE, "spanId": PARENT}],
        "attributes": [{"key": "traceId", "value": {"stringValue": "not an ID"}}],
    }
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


def test_ids_round_trip_through_protobufs_json_mapping() -> None:
    request = ExportTraceServiceRequest()
    json_format.ParseDict(ids_to_protobuf_json(_spans_json()), request)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert (span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex()) == (
        TRACE,
        SPAN,
        PARENT,
    )
    assert span.links[0].span_id.hex() == PARENT
    # An attribute whose key is "traceId" is a value, not an ID field: untouched.
    assert span.attributes[0].value.string_value == "not an ID"
    back = ids_from_protobuf_json(json_format.MessageToDict(request))
    again = back["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert (again["traceId"], again["spanId"], again["parentSpanId"]) == (TRACE, SPAN, PARENT)
    assert again["links"][0] == {"traceId": TRACE, "spanId": PARENT}


def test_the_receiver_and_the_shipper_read_the_same_otlp_json_ids_alike() -> None:
    """The receiver's protobuf and the shipper's documents from one OTLP/JSON request; the
    shipper's own OTLP/JSON of that protobuf (a dead letter's payload) reads back the same."""
    record = {"timeUnixNano": "1544712660300000000", "traceId": TRACE.upper(), "spanId": SPAN}
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}
    received = decode_logs(json.dumps(body).encode(), "json")
    proto_record = received.resource_logs[0].scope_logs[0].log_records[0]
    assert (proto_record.trace_id.hex(), proto_record.span_id.hex()) == (TRACE, SPAN)
    rendered = request_to_otlp_json(received)
    parsed = json.loads(rendered)
    assert parsed["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] == TRACE
    origin = Origin("logs", 0, 7)
    [from_body] = decode_json(json.dumps(body).encode(), origin)  # type: ignore[misc]
    [from_rendered] = decode_json(rendered, origin)  # type: ignore[misc]
    for doc in (from_body.fields, from_rendered.fields):
        assert (doc["trace.id"], doc["span.id"]) == (TRACE, SPAN)


def test_an_id_with_a_blank_is_not_hex_for_either_side() -> None:
    """``bytes.fromhex`` skips blanks: the receiver took ``"eee19b7e c3c1b174"`` as a span ID
    the shipper calls invalid. Both follow one rule now: it is not hex."""
    spaced = SPAN[:8] + " " + SPAN[8:]
    record = {"traceId": TRACE, "spanId": spaced, "body": {"stringValue": "x"}}
    body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}).encode()
    with pytest.raises(BadRequestError, match=r"spanId .* is not hex"):
        decode_logs(body, "json")
    [shipped] = decode_json(body, Origin("logs", 0, 7))  # type: ignore[misc]
    assert "span.id" not in shipped.fields
    assert shipped.invalid == {"span_id": spaced}


def test_a_request_to_otlp_json_keeps_other_bytes_in_base64() -> None:
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.trace_id = bytes.fromhex(TRACE)
    record.body.bytes_value = b"\x00\x01"
    rendered = json.loads(request_to_otlp_json(request))
    out = rendered["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert out == {"traceId": TRACE, "body": {"bytesValue": "AAE="}}
