"""Jaeger span documents of every era → one span model (golden and edge cases)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from correlate.spans import Span, SpanEvent, SpanFormatError, SpanLink, parse_span

FIXTURES = Path(__file__).parent / "fixtures"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# What Jaeger's own test fixtures (es_01 v2, its string-tag twin) must become.
V2_EXPECTED = Span(
    trace_id="00000000000000010000000000000000",
    span_id="0000000000000002",
    parent_span_id="0000000000000003",
    service="service-x",
    operation="test-general-conversion",
    start_us=1485467191639875,
    duration_us=5,
    error=True,
    tags={
        "otel.scope.name": "testing-library",
        "otel.scope.version": "1.1.1",
        "peer.service": "service-y",
        "peer.ipv4": 23456,
        "blob": "00003039",
        "temperature": 72.5,
        "error": True,
    },
    process_tags={"sdk.version": "1.2.1"},
    events=[
        SpanEvent(
            1485467191639875, "testing-event", {"event": "testing-event", "event-x": "event-y"}
        ),
        SpanEvent(1485467191639875, None, {"x": "y"}),
    ],
    links=[
        SpanLink("FOLLOWS_FROM", "00000000000000010000000000000000", "0000000000000004"),
        SpanLink("CHILD_OF", "00000000000000ff0000000000000000", "00000000000000ff"),
    ],
    flags=1,
)  # fmt: skip


@pytest.mark.parametrize("name", ["es_01.json", "es_01_string_tags.json"])
def test_jaeger_v2_fixtures(shared_reference: Path, name: str) -> None:
    assert parse_span(load(shared_reference / "jaeger" / name)) == V2_EXPECTED


def test_jaeger_v1_fixture(shared_reference: Path) -> None:
    span = parse_span(load(shared_reference / "jaeger" / "v1" / "es_01.json"))
    assert span.trace_id == "00000000000000000000000000000001"
    assert span.span_id == "0000000000000002"
    # No parentSpanID in v1: the first CHILD_OF of the same trace is the parent.
    assert span.parent_span_id == "0000000000000003"
    assert span.links == [
        SpanLink("FOLLOWS_FROM", "00000000000000000000000000000001", "0000000000000004"),
        SpanLink("CHILD_OF", "000000000000000000000000000000ff", "00000000000000ff"),
    ]
    assert span.error is True
    assert span.tags == {
        "peer.service": "service-y",
        "peer.ipv4": 23456,
        "error": True,
        "temperature": 72.5,
        "blob": "00003039",
    }
    assert span.process_tags == {"peer.ipv4": 23456, "error": True}
    assert span.events[0] == SpanEvent(1485467191639875, "123415", {"event": 123415})


def test_leading_zero_stripped_era() -> None:
    span = parse_span(load(FIXTURES / "jaeger-1.15-stripped.json"))
    assert span.trace_id == "0000000000000000a1b2c3d4e5f60718"
    assert span.span_id == "0000000000000abc"
    assert span.parent_span_id == "000000000000001f"
    assert span.tags == {"items": 3, "cache.hit": False, "ratio": 0.25, "error": False}
    assert span.error is False
    assert span.process_tags == {"hostname": "inv-1"}


def test_tags_as_fields_with_at_for_dots() -> None:
    span = parse_span(load(FIXTURES / "jaeger-1.60-tags-as-fields.json"))
    assert span.trace_id == "00000000000000000000000000000001"
    assert span.parent_span_id == "00000000000000a1"  # the CHILD_OF, not the earlier FOLLOWS_FROM
    assert span.links == [
        SpanLink("FOLLOWS_FROM", "00000000000000000000000000000001", "00000000000000f0")
    ]
    assert span.tags == {
        "span.kind": "client",
        "http.status_code": "500",
        "http.method": "POST",
        "otel.status_code": "ERROR",
    }
    assert span.error is True  # otel.status_code=ERROR
    assert span.process_tags == {"host.name": "pay-1"}
    # Events in time order, named by their "event" field.
    assert [(event.name, event.timestamp_us) for event in span.events] == [
        ("send", 1795341600055000),
        ("retry", 1795341600060000),
    ]
    assert span.events[1].fields == {"event": "retry", "attempt": 2}


def test_native_values_and_references_only() -> None:
    span = parse_span(load(FIXTURES / "jaeger-2.6-native-references-only.json"))
    assert span.parent_span_id == "53995c3f42cd8ad8"
    # A second CHILD_OF is kept as a link, not lost.
    assert span.links == [
        SpanLink("CHILD_OF", "4bf92f3577b34da6a3ce929d0e0e4736", "1111111111111111")
    ]
    assert span.tags["retries"] == 2
    assert span.tags["amount"] == 12.5
    assert span.error is True
    assert span.events == []


def test_jaeger_2_20_root_span() -> None:
    """A root as Jaeger 2.20 stores it: no ``parentSpanID``, ``references``/``logs`` null,
    ``span.kind`` only in ``tag`` (the writer always moves it there), ``flags`` omitted."""
    span = parse_span(load(FIXTURES / "jaeger-2.20-root.json"))
    assert span.parent_span_id is None
    assert span.links == []
    assert span.events == []
    assert span.flags == 0  # omitted when 0
    assert span.tags == {"span.kind": "server"}
    assert span.error is False


def test_zero_parent_span_id_is_a_root() -> None:
    doc = load(FIXTURES / "jaeger-2.20-root.json")
    doc["parentSpanID"] = "0000000000000000"
    assert parse_span(doc).parent_span_id is None


def test_span_kind_and_error_stored_as_fields_are_read() -> None:
    """Since Jaeger 2.8 the writer stores ``span.kind`` and ``error`` in ``tag``; the
    embedded stack writes the same document (tests/unit/devstack/fixtures)."""
    devstack = Path(__file__).parents[1] / "devstack" / "fixtures" / "jaeger_server_span.json"
    doc = load(devstack)
    assert "error" in doc["tag"]
    span = parse_span(doc)
    assert span.error is True
    assert span.tags["span.kind"] == "server"
    assert span.tags["error"] is True
    assert span.tags["http.response.status_code"] == 502


def test_parent_span_id_wins_and_its_reference_is_not_a_link() -> None:
    doc = load(FIXTURES / "jaeger-2.6-native-references-only.json")
    doc["parentSpanID"] = "1111111111111111"
    span = parse_span(doc)
    assert span.parent_span_id == "1111111111111111"
    assert span.links == [
        SpanLink("CHILD_OF", "4bf92f3577b34da6a3ce929d0e0e4736", "53995c3f42cd8ad8")
    ]


def test_child_of_another_trace_is_never_the_parent() -> None:
    doc = load(FIXTURES / "jaeger-2.20-root.json")
    doc["references"] = [{"refType": "CHILD_OF", "traceID": "ff" * 16, "spanID": "12" * 8}]
    span = parse_span(doc)
    assert span.parent_span_id is None
    assert span.links == [SpanLink("CHILD_OF", "ff" * 16, "12" * 8)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"traceID": "zz"}, "traceID"),
        ({"traceID": None}, "traceID"),
        ({"traceID": "0" * 32}, "traceID"),
        ({"spanID": ""}, "spanID"),
        ({"spanID": 7}, "spanID"),
        ({"startTime": None, "startTimeMillis": None}, "startTime"),
    ],
)
def test_unusable_documents_raise(change: dict[str, Any], message: str) -> None:
    doc = {**load(FIXTURES / "jaeger-2.20-root.json"), **change}
    with pytest.raises(SpanFormatError, match=message):
        parse_span(doc)


def test_odd_but_usable_documents() -> None:
    doc: dict[str, Any] = {
        "traceID": "ABC",
        "spanID": "DEF",
        "startTimeMillis": 1795341600000,
        "tags": [
            {"key": "n", "type": "int64", "value": "99999999999999999999999"},
            {"key": "b", "type": "bool", "value": "maybe"},
            {"key": "f", "type": "float64", "value": "x"},
            {"type": "string", "value": "keyless"},
            "junk",
        ],
        "references": [{"refType": "CHILD_OF", "spanID": "00"}, 5],
        "logs": ["junk", {"fields": None}],
        "process": "junk",
        "duration": -5,
    }
    span = parse_span(doc)
    assert span.trace_id == "00000000000000000000000000000abc"
    assert span.span_id == "0000000000000def"
    assert span.start_us == 1795341600000000
    assert span.duration_us == 0
    assert span.service == "unknown"
    assert span.operation == ""
    # Values that do not fit their declared type (or int64) stay text: JSON-safe.
    assert span.tags == {"n": "99999999999999999999999", "b": "maybe", "f": "x"}
    assert span.parent_span_id is None
    assert span.events == [SpanEvent(0, None, {})]


@pytest.mark.parametrize(
    ("start", "duration", "message"),
    [
        (2**63 - 1, 10, "outside 1970..9999"),
        (-5, 10, "outside 1970..9999"),
        (1_795_343_027_000_000, 2**63 - 1, "ends after the year 9999"),
    ],
)
def test_times_beyond_the_calendar_are_unreadable_not_a_crash(
    start: int, duration: int, message: str
) -> None:
    # startTime + duration beyond 64 bits made the summary unserialisable (a 500).
    doc = {
        "traceID": "ab" * 16,
        "spanID": "cd" * 8,
        "startTime": start,
        "duration": duration,
        "process": {"serviceName": "s"},
    }
    with pytest.raises(SpanFormatError, match=message):
        parse_span(doc)
