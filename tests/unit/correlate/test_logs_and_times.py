"""Log documents → the API's log model; the API's time parsing and formatting."""

from __future__ import annotations

from typing import Any

import pytest

from correlate.logs import LogRecord, level_names_at_least, level_rank, parse_log
from correlate.times import format_time_us, parse_bound_us, parse_time_us
from tests.support.jaeger import log_document

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


@pytest.mark.parametrize("dotted", [False, True])
def test_nested_and_dotted_documents_read_the_same(dotted: bool) -> None:
    doc = log_document(
        trace_id=TRACE,
        span_id=SPAN,
        timestamp="2026-11-22T10:23:47.123456Z",
        message="card declined",
        event_id="01936f6e",
        service="checkout",
        level="ERROR",
        dotted=dotted,
        extra={"error.type": "CardDeclined", "labels.order_id": "o-1", "host.name": "h1"},
    )
    record = parse_log(doc, doc_id="ignored")
    assert record == LogRecord(
        timestamp="2026-11-22T10:23:47.123456Z",
        timestamp_us=1795343027123456,
        level="error",
        message="card declined",
        service="checkout",
        logger="checkout.app",
        span_id=SPAN,
        event_id="01936f6e",
        trace_id=TRACE,
        sampled=True,
        fields={
            "ecs.version": "8.11.0",
            "error.type": "CardDeclined",
            "labels.order_id": "o-1",
            "host.name": "h1",
        },
    )
    assert record.is_error


def test_mixed_keys_ids_normalised_and_bad_ids_kept_visible() -> None:
    doc: dict[str, Any] = {
        "@timestamp": "2026-11-22T10:23:47.123456789Z",
        "trace": {"id": TRACE.upper()},
        "span.id": "not-a-span",
        "trace.sampled": "false",
        "labels": {},
        "message": 42,
    }
    record = parse_log(doc, doc_id="doc-7")
    assert record.trace_id == TRACE
    assert record.span_id is None
    assert record.fields == {"span.id": "not-a-span", "labels": {}}
    assert record.sampled is False
    assert record.event_id == "doc-7"  # falls back to _id
    assert record.message == "42"
    assert record.timestamp_us == 1795343027123456  # ns truncated to µs
    assert record.level is None
    assert not record.is_error


def test_empty_document() -> None:
    record = parse_log({})
    assert record.timestamp_us is None
    assert record.trace_id is None
    assert record.message == ""
    assert record.fields == {}


def test_levels() -> None:
    assert level_rank("WARNING") == level_rank("warn") == 30
    assert level_rank(None) == level_rank("chatty") == 20
    assert level_names_at_least("error") == sorted(
        ["alert", "crit", "critical", "emerg", "emergency", "err", "error", "fatal"]
    )
    assert "warn" in level_names_at_least("WARNING")
    with pytest.raises(ValueError, match="unknown level"):
        level_names_at_least("loud")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-22T10:23:47.123456Z", 1795343027123456),
        ("2026-11-22T10:23:47Z", 1795343027000000),
        ("2026-11-22T11:23:47.5+01:00", 1795343027500000),
        ("2026-11-22T10:23:47.123456", 1795343027123456),  # no offset: UTC, as ES reads it
        (1795343027123, 1795343027123000),  # epoch millis
        ("yesterday", None),
        (True, None),
        (None, None),
        (1e300, None),
    ],
)
def test_parse_time_us(value: Any, expected: int | None) -> None:
    assert parse_time_us(value) == expected


def test_format_time_us() -> None:
    assert format_time_us(1795343027123456) == "2026-11-22T10:23:47.123456Z"
    assert format_time_us(0) == "1970-01-01T00:00:00.000000Z"
    assert format_time_us(-5) == "1970-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1795343027123456", 1795343027123456),
        ("2026-11-22T10:23:47.123456Z", 1795343027123456),
        (" 2026-11-22T11:23:47+01:00 ", 1795343027000000),
    ],
)
def test_parse_bound(value: str, expected: int) -> None:
    assert parse_bound_us(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-11-22T10:23:47", "offset"),
        ("soon", "RFC 3339"),
        ("-5", "RFC 3339"),
        ("1" * 30, "out of range"),
        ("1969-12-31T23:59:59Z", "between 1970 and 2261"),
        ("\u0662\u0660\u0662\u0666-11-22T10:23:47Z", "RFC 3339"),  # non-ASCII digits
    ],
)
def test_parse_bound_rejects(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_bound_us(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2261-12-31T23:00:00Z", "must not be after 2261-12-31T22:59:59.999999Z"),
        ("9214646399999999", "must not be after"),
        ("2261-12-31T23:59:59-23:59", "RFC 3339"),  # UTC: year 2262, past date_nanos
        ("9999-12-31T23:00:00Z", "between 1970 and 2261"),
        ("253402300799999999", "out of range"),
        ("0001-01-01T00:00:00+23:59", "RFC 3339"),
        ("10000-01-01T00:00:00Z", "RFC 3339"),
        ("2026-12-31T23:59:60Z", "RFC 3339"),  # a leap second: not in Python's range
        ("2026-11-22T10:00:00+24:00", "RFC 3339"),
        ("\u0661\u0662\u0663", "RFC 3339"),  # digits, but not ASCII ones
        ("9" * 5000, "out of range"),
    ],
)
def test_parse_bound_keeps_the_padded_window_in_range(value: str, message: str) -> None:
    # One hour of padding must still fit before the end of the range (2261, date_nanos).
    with pytest.raises(ValueError, match=message):
        parse_bound_us(value, margin_us=3_600_000_000)


def test_parse_bound_accepts_the_edges_of_the_range() -> None:
    assert parse_bound_us("0") == 0
    assert parse_bound_us("2261-12-31T23:59:59.999999Z") == 9_214_646_399_999_999
    assert parse_bound_us("2261-12-31T22:59:59.999999Z", margin_us=3_600_000_000) == (
        9_214_642_799_999_999
    )
