"""The dead-letter index document: payload as text, origin, reason."""

from __future__ import annotations

import base64
from typing import Any

from shipper.dlq import dead_letter_document
from shipper.transform import DeadLetter
from tests.support.shipping import KafkaMessage, leaf_paths
from tracelink.layout import DLQ_FIELDS


def Message(value: bytes | None, **fields: Any) -> KafkaMessage:  # noqa: N802 - reads as a type
    return KafkaMessage(value, partition=1, offset=7, **fields)


def test_text_payload() -> None:
    doc = dead_letter_document(DeadLetter("not_json", "not JSON: x", Message(b"oops")), 1024)
    assert doc == {
        "@timestamp": "2026-11-22T08:43:20.123000Z",
        "error": {"type": "not_json", "message": "not JSON: x"},
        "tracelink": {
            "origin": "logs/1/7",
            "kafka": {"topic": "logs", "partition": 1, "offset": 7},
            "payload": "oops",
            "payload_bytes": 4,
            "payload_encoding": "utf-8",
            "payload_truncated": False,
        },
    }
    assert leaf_paths(doc) == set(DLQ_FIELDS.values())


def test_binary_payload_is_base64() -> None:
    doc = dead_letter_document(DeadLetter("not_utf8", "r", Message(b"\xff\xfe\x00")), 1024)
    assert doc["tracelink"]["payload_encoding"] == "base64"
    assert base64.b64decode(doc["tracelink"]["payload"]) == b"\xff\xfe\x00"


def test_large_payload_is_cut_without_breaking_a_character() -> None:
    value = "é".encode() * 1000
    doc = dead_letter_document(DeadLetter("too_large", "r", Message(value)), 1025)
    meta = doc["tracelink"]
    assert meta["payload_encoding"] == "utf-8"
    assert meta["payload"] == "é" * 512
    assert meta["payload_bytes"] == 2000
    assert meta["payload_truncated"] is True


def test_empty_value_and_no_timestamp() -> None:
    doc = dead_letter_document(DeadLetter("empty", "r", Message(None, timestamp=None)), 1024)
    assert doc["tracelink"]["payload"] == ""
    assert doc["tracelink"]["payload_bytes"] == 0
    assert doc["@timestamp"].endswith("Z")
