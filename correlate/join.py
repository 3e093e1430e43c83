"""Spans + logs → the correlated trace (the correlate API's answer). Pure: no I/O, no clock.

:func:`join_trace` orders the spans depth-first (roots and children by start time), hangs
every log under its span by ``span.id``, collects the rest in ``orphan_logs``, summarises
the trace, and explains in ``warnings`` what a user would otherwise puzzle over: missing
spans (sampled out or not indexed), logs outside their span's time, missing parents,
duplicate span IDs, cycles and truncation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from correlate.logs import ERROR_LEVELS, LogRecord
from correlate.spans import Span, SpanEvent, SpanLink
from correlate.times import format_time_us

__all__ = ["CorrelatedTrace", "FirstError", "Summary", "TraceSpan", "join_trace"]

# How many example IDs a warning names; the counts are always complete.
_EXAMPLES = 3


@dataclass
class TraceSpan:
    """A span in the response: the span, its depth in the tree and its logs."""

    span_id: str
    parent_span_id: str | None
    service: str
    operation: str
    start: str
    start_us: int
    duration_us: int
    depth: int
    error: bool
    tags: dict[str, Any]
    process_tags: dict[str, Any]
    events: list[SpanEvent]
    links: list[SpanLink]
    logs: list[LogRecord]


@dataclass
class FirstError:
    """The earliest error of the trace: an error span or an error-level log."""

    kind: Literal["span", "log"]
    timestamp: str
    timestamp_us: int
    service: str | None
    span_id: str | None
    event_id: str | None
    message: str


@dataclass
class Summary:
    services: list[str]
    start: str | None
    start_us: int | None
    duration_us: int
    span_count: int
    log_count: int
    log_total: int
    error_count: int
    error_span_count: int
    error_log_count: int
    first_error: FirstError | None


@dataclass
class CorrelatedTrace:
    """The response of ``GET /correlate/{trace_id}``; ``links`` are filled in by the API."""

    trace_id: str
    summary: Summary
    spans: list[TraceSpan]
    orphan_logs: list[LogRecord]
    warnings: list[str]
    links: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.spans and not self.orphan_logs and self.summary.log_total == 0


def _examples(ids: Iterable[str]) -> str:
    listed = sorted(set(ids))
    shown = ", ".join(listed[:_EXAMPLES])
    return shown + (", …" if len(listed) > _EXAMPLES else "")


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _count(count: int, noun: str, singular_verb: str, plural_verb: str) -> str:
    """``1 span names`` / ``2 spans name``."""
    return f"{_plural(count, noun)} {singular_verb if count == 1 else plural_verb}"


def _seconds(micros: int) -> str:
    return f"{micros / 1_000_000:.3f} s"


def _dedupe(spans: Sequence[Span], warnings: list[str]) -> dict[str, Span]:
    """Spans by ID in start order; identical copies merged, conflicting ones reported."""
    by_id: dict[str, Span] = {}
    copies = 0
    conflicting: set[str] = set()
    for span in sorted(spans, key=lambda s: (s.start_us, s.span_id)):
        seen = by_id.get(span.span_id)
        if seen is None:
            by_id[span.span_id] = span
        elif seen == span:
            copies += 1
        else:
            conflicting.add(span.span_id)
    if copies:
        warnings.append(
            f"{_count(copies, 'span document', 'was', 'were')} stored more than once "
            "(identical copies, e.g. a retried write or an archived trace): shown once"
        )
    if conflicting:
        warnings.append(
            f"{_count(len(conflicting), 'span ID', 'occurs', 'occur')} more than once "
            f"with different content ({_examples(conflicting)}): only the earliest of each is shown"
        )
    return by_id


def _order(by_id: dict[str, Span], warnings: list[str]) -> list[tuple[Span, int]]:
    """Depth-first order with depths; roots and children by start time (``by_id`` order)."""
    children: dict[str, list[Span]] = defaultdict(list)
    roots: list[Span] = []
    orphaned: list[str] = []
    for span in by_id.values():
        parent = span.parent_span_id
        if parent is None or parent == span.span_id:
            roots.append(span)
        elif parent in by_id:
            children[parent].append(span)
        else:
            roots.append(span)
            orphaned.append(span.span_id)
    if orphaned:
        warnings.append(
            f"{_count(len(orphaned), 'span', 'names', 'name')} a parent that is not in the trace "
            f"({_examples(orphaned)}): the parent was not indexed (yet) or was dropped; "
            "shown as top-level spans"
        )

    ordered: list[tuple[Span, int]] = []
    visited: set[str] = set()

    def walk(root: Span) -> None:
        # Iterative: a pathological trace can be deeper than Python's recursion limit.
        stack = [(root, 0)]
        while stack:
            span, depth = stack.pop()
            if span.span_id in visited:
                continue
            visited.add(span.span_id)
            ordered.append((span, depth))
            stack.extend((child, depth + 1) for child in reversed(children.get(span.span_id, ())))

    for root in roots:
        walk(root)
    if len(visited) < len(by_id):
        # What is left hangs off a parent cycle (a → b → a): no root leads to it.
        in_cycles = [span for span in by_id.values() if span.span_id not in visited]
        warnings.append(
            f"the parent references of {_plural(len(in_cycles), 'span')} form a cycle "
            f"({_examples(s.span_id for s in in_cycles)}): shown from the earliest of them"
        )
        for span in in_cycles:
            if span.span_id not in visited:
                walk(span)
    return ordered


_UNTIMED = 2**63  # logs without a usable time sort last


def _log_time(log: LogRecord) -> int:
    stamp = log.timestamp_us
    return _UNTIMED if stamp is None else stamp


@dataclass
class _LogFacts:
    """What one pass over the (time-ordered) logs learns for the summary."""

    services: set[str] = field(default_factory=set)
    error_count: int = 0
    first_error: LogRecord | None = None
    first_us: int | None = None
    last_us: int | None = None


def _skew_warnings(outside: dict[str, list[int]], tolerance_us: int, warnings: list[str]) -> None:
    for service in sorted(outside):
        offsets = outside[service]
        warnings.append(
            f"service {service}: {_count(len(offsets), 'log', 'lies', 'lie')} outside its span's "
            f"time window by up to {_seconds(max(offsets))} (more than the "
            f"{_seconds(tolerance_us)} tolerance): clock skew between hosts, or logging "
            "after the span ended"
        )


def _orphan_warnings(orphans: Sequence[LogRecord], have_spans: bool, warnings: list[str]) -> None:
    if not have_spans:
        return
    without_span = [log for log in orphans if log.span_id is None]
    unsampled = [log for log in orphans if log.span_id is not None and log.sampled is False]
    unknown = [log for log in orphans if log.span_id is not None and log.sampled is not False]
    if unsampled:
        warnings.append(
            f"{_count(len(unsampled), 'log', 'comes', 'come')} from unsampled spans "
            "(trace.sampled=false): Jaeger never stored those spans"
        )
    if unknown:
        span_ids = {log.span_id for log in unknown if log.span_id is not None}
        warnings.append(
            f"{_count(len(unknown), 'log', 'refers', 'refer')} to "
            f"{_plural(len(span_ids), 'span')} that "
            f"{'is' if len(span_ids) == 1 else 'are'} not in the trace ({_examples(span_ids)}): "
            "not indexed yet, dropped, or "
            "outside the searched window"
        )
    if without_span:
        warnings.append(
            f"{_count(len(without_span), 'log', 'carries', 'carry')} the trace ID but no span ID"
        )


def _presence_warnings(
    spans: Sequence[Span], logs: Sequence[LogRecord], log_total: int, warnings: list[str]
) -> None:
    if not spans and logs:
        sampled = {log.sampled for log in logs}
        if False in sampled and True not in sampled:
            warnings.append(
                "no spans: the trace was not sampled (its logs carry trace.sampled=false), "
                "so Jaeger never stored its spans"
            )
        else:
            warnings.append(
                "no spans found: Jaeger may not have indexed them yet (it writes in batches), "
                "they may have been deleted by index retention, or they lie outside the "
                "searched window"
            )
    if spans and log_total == 0:
        warnings.append(
            "no logs found for this trace: its services may not log through tracelink, or "
            "the logs have not been shipped yet"
        )


def _first_error(spans: Iterable[Span], error_log: LogRecord | None) -> FirstError | None:
    candidates: list[FirstError] = []
    error_span = min((s for s in spans if s.error), key=lambda s: s.start_us, default=None)
    if error_span is not None:
        description = error_span.tags.get("otel.status_description") or error_span.tags.get(
            "error.message"
        )
        message = error_span.operation + (f": {description}" if description else "")
        candidates.append(
            FirstError(
                kind="span",
                timestamp=format_time_us(error_span.start_us),
                timestamp_us=error_span.start_us,
                service=error_span.service,
                span_id=error_span.span_id,
                event_id=None,
                message=message,
            )
        )
    if error_log is not None and error_log.timestamp_us is not None:
        candidates.append(
            FirstError(
                kind="log",
                timestamp=error_log.timestamp or format_time_us(error_log.timestamp_us),
                timestamp_us=error_log.timestamp_us,
                service=error_log.service,
                span_id=error_log.span_id,
                event_id=error_log.event_id,
                message=error_log.message,
            )
        )
    # On a tie the span wins: it is where the error happened, the log reports it.
    return min(candidates, key=lambda e: (e.timestamp_us, e.kind != "span"), default=None)


def _summary(
    spans: Sequence[Span],
    log_count: int,
    facts: _LogFacts,
    log_total: int,
    first_error: FirstError | None,
) -> Summary:
    services = {span.service for span in spans} | facts.services
    if spans:
        start: int | None = min(span.start_us for span in spans)
        end = max(span.end_us for span in spans)
    else:
        start = facts.first_us
        end = facts.last_us or 0
    error_spans = sum(1 for span in spans if span.error)
    return Summary(
        services=sorted(services),
        start=None if start is None else format_time_us(start),
        start_us=start,
        duration_us=0 if start is None else end - start,
        span_count=len(spans),
        log_count=log_count,
        log_total=max(log_total, log_count),
        error_count=error_spans + facts.error_count,
        error_span_count=error_spans,
        error_log_count=facts.error_count,
        first_error=first_error,
    )


def _place_logs(
    by_id: dict[str, Span],
    span_logs: dict[str, list[LogRecord]],
    logs: Sequence[LogRecord],
    tolerance_us: int,
) -> tuple[list[LogRecord], dict[str, list[int]], _LogFacts]:
    """Hang time-ordered ``logs`` under their spans (one pass: this is the hot loop)."""
    windows = {
        span_id: (
            span.start_us - tolerance_us,
            span.end_us + tolerance_us,
            span,
            span_logs[span_id],
        )
        for span_id, span in by_id.items()
    }
    orphans: list[LogRecord] = []
    outside: dict[str, list[int]] = defaultdict(list)
    facts = _LogFacts()
    services = facts.services
    for log in logs:
        stamp = log.timestamp_us
        service = log.service
        if service:
            services.add(service)
        if log.level in ERROR_LEVELS:
            facts.error_count += 1
            if facts.first_error is None and stamp is not None:
                facts.first_error = log
        entry = windows.get(log.span_id) if log.span_id is not None else None
        if entry is None:
            orphans.append(log)
            continue
        low, high, span, bucket = entry
        bucket.append(log)
        if stamp is not None and (stamp < low or stamp > high):
            outside[service or span.service].append(max(span.start_us - stamp, stamp - span.end_us))
    timed = (
        [log.timestamp_us for log in (logs[0], logs[-1]) if log.timestamp_us is not None]
        if logs
        else []
    )
    if timed:
        facts.first_us = timed[0]
        # Untimed logs sort last: the last timed one may sit before them.
        facts.last_us = next(
            log.timestamp_us for log in reversed(logs) if log.timestamp_us is not None
        )
    return orphans, outside, facts


def join_trace(
    trace_id: str,
    spans: Sequence[Span],
    logs: Sequence[LogRecord],
    *,
    log_total: int | None = None,
    skew_tolerance_us: int = 1_000_000,
    notes: Sequence[str] = (),
) -> CorrelatedTrace:
    """Join one trace's spans and logs.

    ``log_total`` is how many logs matched in storage (``len(logs)`` when not truncated);
    ``notes`` are warnings from reading (truncation, unreadable documents) and come first.
    Spans with the same ID are shown once; a log is under its span when its ``span_id``
    names a span of the trace, else in ``orphan_logs``. Logs keep time order everywhere.
    """
    warnings = list(notes)
    total = len(logs) if log_total is None else log_total
    by_id = _dedupe(spans, warnings)
    ordered = _order(by_id, warnings)

    # Stable: logs at the same instant keep the order storage gave (by event.id).
    sorted_logs = sorted(logs, key=_log_time)
    span_logs: dict[str, list[LogRecord]] = {span_id: [] for span_id in by_id}
    orphans, outside, facts = _place_logs(by_id, span_logs, sorted_logs, skew_tolerance_us)

    unique_spans = list(by_id.values())
    _presence_warnings(unique_spans, sorted_logs, total, warnings)
    _orphan_warnings(orphans, bool(unique_spans), warnings)
    _skew_warnings(outside, skew_tolerance_us, warnings)

    trace_spans = [
        TraceSpan(
            span_id=span.span_id,
            parent_span_id=span.parent_span_id,
            service=span.service,
            operation=span.operation,
            start=format_time_us(span.start_us),
            start_us=span.start_us,
            duration_us=span.duration_us,
            depth=depth,
            error=span.error,
            tags=span.tags,
            process_tags=span.process_tags,
            events=span.events,
            links=span.links,
            logs=span_logs[span.span_id],
        )
        for span, depth in ordered
    ]
    first_error = _first_error(unique_spans, facts.first_error)
    return CorrelatedTrace(
        trace_id=trace_id,
        summary=_summary(unique_spans, len(sorted_logs), facts, total, first_error),
        spans=trace_spans,
        orphan_logs=orphans,
        warnings=warnings,
    )
