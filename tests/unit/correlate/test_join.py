"""The join: spans + logs → the correlated trace, its summary and its warnings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from correlate.join import CorrelatedTrace, join_trace
from correlate.logs import LogRecord
from correlate.spans import Span

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1_795_341_600_000_000


def sid(n: int) -> str:
    return f"{n:016x}"


def span(
    n: int,
    parent: int | None,
    start_ms: float,
    duration_ms: float = 10,
    *,
    service: str = "svc",
    error: bool = False,
    **tags: Any,
) -> Span:
    return Span(
        trace_id=TRACE,
        span_id=sid(n),
        parent_span_id=None if parent is None else sid(parent),
        service=service,
        operation=f"op{n}",
        start_us=T0 + int(start_ms * 1000),
        duration_us=int(duration_ms * 1000),
        error=error,
        tags=dict(tags),
    )


def log(
    event: str,
    span_n: int | None,
    at_ms: float | None,
    *,
    level: str = "info",
    service: str | None = "svc",
    sampled: bool | None = True,
) -> LogRecord:
    return LogRecord(
        timestamp=None,
        timestamp_us=None if at_ms is None else T0 + int(at_ms * 1000),
        level=level,
        message=f"message {event}",
        service=service,
        logger="app",
        span_id=None if span_n is None else sid(span_n),
        event_id=event,
        trace_id=TRACE,
        sampled=sampled,
    )


def order(trace: CorrelatedTrace) -> list[tuple[int, int]]:
    return [(int(s.span_id, 16), s.depth) for s in trace.spans]


def warned(trace: CorrelatedTrace, needle: str) -> bool:
    return any(needle in warning for warning in trace.warnings)


def test_depth_first_children_by_start_time() -> None:
    spans = [
        span(1, None, 0, 100),
        span(4, 2, 30),
        span(2, 1, 20),
        span(3, 1, 5),
        span(5, 2, 25),
        span(6, 3, 6),
    ]
    trace = join_trace(TRACE, spans, [])
    assert order(trace) == [(1, 0), (3, 1), (6, 2), (2, 1), (5, 2), (4, 2)]
    assert trace.spans[0].start == "2026-11-22T10:00:00.000000Z"


def test_several_roots_by_start_time() -> None:
    trace = join_trace(TRACE, [span(2, None, 50), span(1, None, 10), span(3, 2, 60)], [])
    assert order(trace) == [(1, 0), (2, 0), (3, 1)]
    assert len(trace.warnings) == 1
    assert trace.warnings[0].startswith("no logs found for this trace")


def test_equal_start_times_break_ties_by_span_id() -> None:
    trace = join_trace(TRACE, [span(1, None, 0), span(9, 1, 5), span(3, 1, 5)], [])
    assert order(trace) == [(1, 0), (3, 1), (9, 1)]


def test_logs_hang_under_their_span_in_time_order() -> None:
    logs = [log("b", 2, 30), log("a", 2, 21), log("c", 1, 1), log("d", 1, None)]
    trace = join_trace(TRACE, [span(1, None, 0, 100), span(2, 1, 20)], logs)
    assert [[rec.event_id for rec in s.logs] for s in trace.spans] == [["c", "d"], ["a", "b"]]
    assert trace.orphan_logs == []
    assert trace.warnings == []


def test_missing_parent_becomes_a_root_with_a_warning() -> None:
    trace = join_trace(TRACE, [span(1, None, 0), span(2, 77, 5), span(3, 2, 6)], [log("x", 3, 6)])
    assert order(trace) == [(1, 0), (2, 0), (3, 1)]
    assert warned(trace, "1 span names a parent that is not in the trace (0000000000000002)")


def test_parent_cycle_is_broken_and_reported() -> None:
    trace = join_trace(TRACE, [span(1, 2, 0), span(2, 1, 5), span(3, None, 10)], [])
    assert sorted(order(trace)) == [(1, 0), (2, 1), (3, 0)]
    assert warned(trace, "form a cycle")


def test_self_parent_is_a_root() -> None:
    trace = join_trace(TRACE, [span(1, 1, 0)], [])
    assert order(trace) == [(1, 0)]


def test_identical_duplicates_merge_conflicting_ones_are_reported() -> None:
    trace = join_trace(TRACE, [span(1, None, 0), span(1, None, 0), span(2, 1, 5)], [])
    assert order(trace) == [(1, 0), (2, 1)]
    assert warned(trace, "1 span document was stored more than once")
    conflicting = join_trace(TRACE, [span(1, None, 0), span(1, None, 3)], [])
    assert order(conflicting) == [(1, 0)]
    assert conflicting.spans[0].start_us == T0  # the earliest
    assert warned(conflicting, "occurs more than once with different content (0000000000000001)")


def test_orphans_are_explained() -> None:
    logs = [
        log("no-span", None, 1),
        log("unknown", 99, 2),
        log("unsampled", 98, 3, sampled=False),
    ]
    trace = join_trace(TRACE, [span(1, None, 0)], logs)
    assert [rec.event_id for rec in trace.orphan_logs] == ["no-span", "unknown", "unsampled"]
    assert warned(trace, "1 log carries the trace ID but no span ID")
    assert warned(trace, "refers to 1 span that is not in the trace (0000000000000063)")
    assert warned(trace, "comes from unsampled spans")


def test_logs_without_spans_sampled_out() -> None:
    trace = join_trace(TRACE, [], [log("a", 5, 0, sampled=False), log("b", 5, 1, sampled=False)])
    assert trace.spans == []
    assert len(trace.orphan_logs) == 2
    assert warned(trace, "the trace was not sampled")
    assert not warned(trace, "unsampled spans")  # said once, not twice


def test_logs_without_spans_not_indexed_yet() -> None:
    trace = join_trace(TRACE, [], [log("a", 5, 0, sampled=True)])
    assert warned(trace, "Jaeger may not have indexed them yet")
    assert not trace.empty
    assert trace.summary.start_us == T0
    assert trace.summary.duration_us == 0


def test_empty() -> None:
    trace = join_trace(TRACE, [], [])
    assert trace.empty
    assert trace.summary.start is None
    assert trace.summary.first_error is None
    # Logs exist in storage but none returned (limit_logs=0): not empty.
    assert not join_trace(TRACE, [], [], log_total=3).empty


def test_clock_skew_per_service() -> None:
    spans = [span(1, None, 0, 100, service="a"), span(2, 1, 10, 10, service="b")]
    logs = [
        log("in-window", 2, 15, service="b"),
        log("slightly-late", 2, 20.5, service="b"),  # within the 1 s tolerance
        log("early", 2, -2000, service="b"),
        log("late", 1, 3600, service="a"),
        log("later", 1, 5100, service="a"),
    ]
    trace = join_trace(TRACE, spans, logs, skew_tolerance_us=1_000_000)
    skew = [w for w in trace.warnings if "time window by up to" in w]
    tail = (
        "(more than the 1.000 s tolerance): clock skew between hosts, "
        "or logging after the span ended"
    )
    assert skew == [
        f"service a: 2 logs lie outside its span's time window by up to 5.000 s {tail}",
        f"service b: 1 log lies outside its span's time window by up to 2.010 s {tail}",
    ]
    # Skewed logs still sit under their span: the span ID is the truth, not the clock.
    assert [rec.event_id for rec in trace.spans[1].logs] == ["early", "in-window", "slightly-late"]


def test_summary_and_first_error() -> None:
    spans = [
        span(1, None, 0, 100, service="front"),
        span(2, 1, 10, 50, service="pay", error=True, **{"otel.status_description": "declined"}),
        span(3, 1, 5, 200, service="stock"),
    ]
    logs = [
        log("w", 3, 6, level="warning", service="stock"),
        log("e1", 2, 12, level="error", service="pay"),
        log("e0", None, 9, level="critical", service="mailer"),
    ]
    trace = join_trace(TRACE, spans, logs, log_total=3)
    summary = trace.summary
    assert summary.services == ["front", "mailer", "pay", "stock"]
    assert summary.start_us == T0
    assert summary.duration_us == 205_000
    assert (summary.span_count, summary.log_count, summary.log_total) == (3, 3, 3)
    assert (summary.error_count, summary.error_span_count, summary.error_log_count) == (3, 1, 2)
    first = summary.first_error
    assert first is not None
    assert (first.kind, first.event_id, first.service) == ("log", "e0", "mailer")
    # Without that log, the error span comes first (at 10 ms, before the log at 12 ms).
    trace = join_trace(TRACE, spans, logs[:2])
    first = trace.summary.first_error
    assert first is not None
    assert (first.kind, first.span_id, first.message) == ("span", sid(2), "op2: declined")


def test_span_wins_a_tie_for_first_error() -> None:
    trace = join_trace(TRACE, [span(1, None, 0, error=True)], [log("e", 1, 0, level="error")])
    assert trace.summary.first_error is not None
    assert trace.summary.first_error.kind == "span"


def test_notes_come_first_and_truncation_is_counted() -> None:
    trace = join_trace(
        TRACE, [span(1, None, 0)], [log("a", 1, 1)], log_total=50, notes=["showing the first 1"]
    )
    assert trace.warnings[0] == "showing the first 1"
    assert trace.summary.log_total == 50


def test_output_matches_the_published_schema() -> None:
    spans = [span(1, None, 0, error=True, flag=True, ratio=1.5), span(2, 1, 3)]
    trace = join_trace(TRACE, spans, [log("a", 1, 1), log("b", None, None)])
    trace.links = {"jaeger": "http://j/trace/x"}
    document = orjson.loads(orjson.dumps(trace))
    TypeAdapter(CorrelatedTrace).validate_python(document)
    assert set(document) == {"trace_id", "summary", "spans", "orphan_logs", "warnings", "links"}
    assert set(document["spans"][0]) >= {
        "span_id", "parent_span_id", "service", "operation", "start", "start_us",
        "duration_us", "depth", "error", "tags", "events", "logs",
    }  # fmt: skip
    assert set(document["orphan_logs"][0]) >= {
        "timestamp", "timestamp_us", "level", "message", "service", "logger", "span_id",
        "event_id", "fields",
    }  # fmt: skip


# --- properties over arbitrary span forests (and garbage parent links) ---------------------


@st.composite
def traces(draw: st.DrawFn) -> tuple[list[Span], list[LogRecord]]:
    count = draw(st.integers(0, 25))
    spans = [
        span(
            n,
            draw(st.one_of(st.none(), st.integers(1, count + 3))),
            draw(st.integers(0, 50)),
            draw(st.integers(0, 20)),
        )
        for n in range(1, count + 1)
    ]
    spans += draw(st.lists(st.sampled_from(spans), max_size=3)) if spans else []
    logs = [
        log(
            f"e{i}", draw(st.one_of(st.none(), st.integers(1, count + 3))), draw(st.integers(0, 80))
        )
        for i in range(draw(st.integers(0, 30)))
    ]
    return spans, logs


@settings(max_examples=200, deadline=None)
@given(traces())
def test_every_span_and_log_appears_exactly_once(
    data: tuple[Sequence[Span], Sequence[LogRecord]],
) -> None:
    spans, logs = data
    trace = join_trace(TRACE, spans, logs)
    ids = [s.span_id for s in trace.spans]
    assert len(ids) == len(set(ids)) == len({s.span_id for s in spans})
    placed = [rec.event_id for s in trace.spans for rec in s.logs] + [
        rec.event_id for rec in trace.orphan_logs
    ]
    assert sorted(placed) == sorted(rec.event_id for rec in logs)  # type: ignore[type-var]
    position = {s.span_id: i for i, s in enumerate(trace.spans)}
    for index, item in enumerate(trace.spans):
        parent = item.parent_span_id
        if item.depth > 0:
            # A child comes after its parent, one level deeper, inside the parent's subtree.
            assert parent is not None
            assert position[parent] < index
            assert trace.spans[position[parent]].depth == item.depth - 1
        for entry in item.logs:
            assert entry.span_id == item.span_id
    for orphan in trace.orphan_logs:
        assert orphan.span_id not in position
    times = [rec.timestamp_us or 0 for rec in trace.orphan_logs]
    assert times == sorted(times)


@pytest.mark.parametrize("depth", [5000])
def test_deep_chains_do_not_recurse(depth: int) -> None:
    spans = [span(1, None, 0)] + [span(n, n - 1, n) for n in range(2, depth + 1)]
    trace = join_trace(TRACE, spans, [])
    assert trace.spans[-1].depth == depth - 1
