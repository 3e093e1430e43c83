"""Bulk bodies and the per-item classification of bulk responses."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shipper.bulk import chunk_by_bytes, classify_response, create_item, is_retriable_status


def test_create_item_is_two_ndjson_lines() -> None:
    item = create_item("tl-logs-2026-11-22", 'id "quoted"\n', {"message": "é", "n": 1})
    action, source, end = item.split(b"\n")
    assert end == b""
    assert orjson.loads(action) == {
        "create": {"_index": "tl-logs-2026-11-22", "_id": 'id "quoted"\n'}
    }
    assert orjson.loads(source) == {"message": "é", "n": 1}


def test_chunks_respect_the_byte_limit_and_keep_order() -> None:
    items = [b"x" * 40, b"x" * 40, b"x" * 40, b"x" * 200, b"x" * 10]
    assert chunk_by_bytes(items, range(5), 100) == [[0, 1], [2], [3], [4]]
    assert chunk_by_bytes(items, [4, 0], 100) == [[4, 0]]
    assert chunk_by_bytes(items, [], 100) == []


def _item(status: int, error: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"status": status}
    if error is not None:
        result["error"] = error
    return {"create": result}


def test_all_created_short_cut() -> None:
    outcome = classify_response({"errors": False, "items": [_item(201)] * 3}, 3)
    assert (outcome.created, outcome.duplicates, outcome.retry, outcome.rejected) == (3, 0, [], [])


def test_items_are_classified_by_status() -> None:
    parse_error = {
        "type": "document_parsing_exception",
        "reason": "failed to parse field [trace.id]",
        "caused_by": {"type": "illegal_argument_exception", "reason": "Expected text"},
    }
    response = {
        "errors": True,
        "items": [
            _item(201),
            _item(409, {"type": "version_conflict_engine_exception", "reason": "exists"}),
            _item(429, {"type": "es_rejected_execution_exception", "reason": "queue full"}),
            _item(503, {"type": "unavailable_shards_exception", "reason": "no shard"}),
            _item(400, parse_error),
            _item(200),
        ],
    }
    outcome = classify_response(response, 6)
    assert outcome.created == 2
    assert outcome.duplicates == 1
    assert outcome.retry == [2, 3]
    [rejection] = outcome.rejected
    assert rejection.position == 4
    assert rejection.status == 400
    assert rejection.error_type == "document_parsing_exception"
    assert "failed to parse field [trace.id]" in rejection.reason
    assert "illegal_argument_exception: Expected text" in rejection.reason


@pytest.mark.parametrize(
    "response",
    [
        {"errors": True, "items": [_item(201)]},  # fewer items than sent
        {"errors": False},  # no items at all
        {"errors": True, "items": [_item(201), {"create": "garbage"}, {}]},
    ],
)
def test_items_missing_from_the_answer_are_retried(response: dict[str, Any]) -> None:
    outcome = classify_response(response, 3)
    assert outcome.created + len(outcome.retry) == 3
    assert 2 in outcome.retry


@pytest.mark.parametrize(
    ("status", "retriable"), [(429, True), (500, True), (503, True), (408, True), (400, False)]
)
def test_retriable_statuses(status: int, retriable: bool) -> None:
    assert is_retriable_status(status) is retriable
