"""The dead-letter index document: payload as text, origin, reason."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from shipper.dlq import _letter_time, dead_letter_document
from shipper.transform import DeadLetter, fallback_id
from tests.support.shipping import KafkaMessage, leaf_paths
from tracelink.layout import DLQ_FIELDS, dlq_index


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


@pytest.mark.parametrize(
    "timestamp",
    [
        1_795_337_000_123_000,  # µs written where Kafka wants ms: past year 9999
        2**63 - 1,
        -1,
        -(2**63),
        9_214_646_400_000,  # 2262-01-01: past the supported range
    ],
)
def test_letter_time_out_of_range_is_now_not_a_crash(timestamp: int) -> None:
    before = datetime.now(UTC)
    letter = DeadLetter("not_json", "r", Message(b"x", timestamp=timestamp))
    doc = dead_letter_document(letter, 1024)
    stamp = datetime.fromisoformat(doc["@timestamp"])
    assert before <= stamp <= datetime.now(UTC)
    assert dlq_index("tl-dlq", _letter_time(letter)).startswith("tl-dlq-")


def test_letter_ids_are_unique_to_the_message() -> None:
    """A re-created topic reuses offsets: a new letter there must not meet the old one."""
    first = fallback_id(Message(b"one"))
    assert fallback_id(Message(b"one")) == first  # a replay writes the same document
    assert fallback_id(Message(b"two")) != first
    assert first.startswith("logs-1-7-")
