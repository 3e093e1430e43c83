"""Raw ``_msearch`` answers → the finished response body. Pure; runs in a worker process.

The API keeps its event loop free of every CPU-heavy step of a big trace: the
Elasticsearch answers travel as the bytes they arrived as, and a worker process
(:mod:`correlate.offload`) decodes them, reads the span and log documents, joins them and
serialises the JSON or renders the HTML. Only bytes and small summaries cross the process
boundary, so nothing large is pickled.

:func:`summarise_msearch` tells the I/O side what it needs to page on (totals, the last
sort values, errors); :func:`assemble` builds the answer from every page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson

from correlate.join import CorrelatedTrace, join_trace
from correlate.links import kibana_discover_url
from correlate.logs import LogRecord, parse_log
from correlate.render import render_trace
from correlate.spans import Span, SpanFormatError, parse_span

__all__ = [
    "ItemSummary",
    "Presentation",
    "Search",
    "Step",
    "TraceJob",
    "assemble",
    "page_step",
    "shard_notes",
    "summarise_msearch",
]

_UNTIMED = 2**63


@dataclass(frozen=True)
class Search:
    """One search of an ``_msearch``: its cursor, page size, and the cursor's state before."""

    cursor: int
    size: int
    taken: int
    limit: int


@dataclass(frozen=True)
class ItemSummary:
    """What paging needs from one search of an ``_msearch`` answer.

    ``take``: how many of its hits to keep (the cursor's limit); ``more``: whether the
    cursor needs another page (this one was full and fewer than it wants were kept).
    """

    status: int | None = None
    error: Any = None
    total: int = 0
    take: int = 0
    more: bool = False
    last_sort: list[Any] | None = None
    shards_failed: int = 0
    shards_total: Any = None


def _summary(item: Any, search: Search) -> ItemSummary:
    if "error" in item:
        status = item.get("status")
        return ItemSummary(status=status if isinstance(status, int) else None, error=item["error"])
    hits_part = item.get("hits", {})
    hits = hits_part.get("hits", [])
    raw_total = hits_part.get("total", {})
    reported = (
        int(raw_total.get("value", 0)) if isinstance(raw_total, dict) else int(raw_total or 0)
    )
    total = max(reported, search.taken + len(hits))
    take = max(min(len(hits), search.limit - search.taken), 0)
    full = search.size > 0 and len(hits) >= search.size
    shards = item.get("_shards", {})
    return ItemSummary(
        total=total,
        take=take,
        more=full and min(total, search.limit) - (search.taken + take) > 0,
        last_sort=hits[-1].get("sort") if hits else None,
        shards_failed=int(shards.get("failed", 0) or 0),
        shards_total=shards.get("total", "?"),
    )


def summarise_msearch(raw: bytes, searches: Sequence[Search]) -> list[ItemSummary]:
    """One :class:`ItemSummary` per search of a raw ``_msearch`` answer, in order."""
    body = orjson.loads(raw) if raw else {}
    items = body.get("responses", []) if isinstance(body, dict) else []
    return [_summary(item, search) for item, search in zip(items, searches, strict=True)]


@dataclass(frozen=True)
class Step:
    """The outcome of one page: its summaries and, when it was the last, the answer."""

    summaries: list[ItemSummary]
    done: bool = False
    body: bytes | None = None


def page_step(job: TraceJob, raw: bytes, searches: Sequence[Search], totals: Sequence[int]) -> Step:
    """Account the page ``raw`` (answering ``searches``; ``totals`` per cursor so far) and,
    when no cursor needs more and nothing failed, finish the answer right away: a trace of
    one page is decoded once.
    """
    summaries = summarise_msearch(raw, searches)
    if any(item.error is not None or item.more for item in summaries):
        return Step(summaries)
    final = list(totals)
    for search, item in zip(searches, summaries, strict=True):
        final[search.cursor] = item.total
    finished = replace(
        job,
        pages=[*job.pages, raw],
        layout=[
            *job.layout,
            [(search.cursor, item.take) for search, item in zip(searches, summaries, strict=True)],
        ],
        span_total=sum(t for t, kind in zip(final, job.kinds, strict=True) if kind == "spans"),
        log_total=sum(t for t, kind in zip(final, job.kinds, strict=True) if kind == "logs"),
        notes=[*job.notes, *shard_notes(summaries)],
    )
    return Step(summaries, done=True, body=assemble(finished))


def shard_notes(summaries: Sequence[ItemSummary]) -> list[str]:
    return [
        f"{item.shards_failed} of {item.shards_total} Elasticsearch shards failed to answer: "
        "the trace may be incomplete"
        for item in summaries
        if item.shards_failed
    ]


@dataclass(frozen=True)
class Presentation:
    """How to present the trace: links (Kibana's needs the trace's times) and the format."""

    links: dict[str, str] = field(default_factory=dict)
    kibana_url: str = ""
    kibana_log_data_view: str = ""
    output: Literal["json", "html"] = "json"


@dataclass(frozen=True)
class TraceJob:
    """Everything needed to build one trace's answer (picklable: bytes and plain values).

    ``layout[page][item]`` is ``(cursor, take)``: which cursor the page's ``item``-th search
    belongs to and how many of its hits to keep. ``kinds[cursor]`` is ``spans`` or ``logs``.
    """

    trace_id: str
    pages: list[bytes]
    layout: list[list[tuple[int, int]]]
    kinds: list[Literal["spans", "logs"]]
    notes: list[str]
    span_total: int
    log_total: int
    max_spans: int
    limit_logs: int
    skew_tolerance_us: int
    presentation: Presentation


def _hits(job: TraceJob) -> list[list[dict[str, Any]]]:
    by_cursor: list[list[dict[str, Any]]] = [[] for _ in job.kinds]
    for raw, items in zip(job.pages, job.layout, strict=True):
        body = orjson.loads(raw)
        for response, (cursor, take) in zip(body.get("responses", []), items, strict=True):
            by_cursor[cursor].extend(response.get("hits", {}).get("hits", [])[:take])
    return by_cursor


def _parse_spans(trace_id: str, hits: Sequence[dict[str, Any]]) -> tuple[list[Span], str | None]:
    spans: list[Span] = []
    problems: list[str] = []
    for hit in hits:
        try:
            span = parse_span(hit.get("_source") or {})
        except SpanFormatError as exc:
            problems.append(f"{hit.get('_index')}/{hit.get('_id')}: {exc}")
            continue
        if span.trace_id == trace_id:
            spans.append(span)
    if not problems:
        return spans, None
    return spans, (
        f"{len(problems)} span document(s) could not be read and are not shown "
        f"(first: {problems[0]})"
    )


def _earliest_first(record: LogRecord) -> tuple[int, str]:
    stamp = record.timestamp_us
    return (_UNTIMED if stamp is None else stamp, record.event_id or "")


def correlated_trace(job: TraceJob) -> CorrelatedTrace:
    """Decode, read, join and link the trace of ``job``."""
    by_cursor = _hits(job)
    pairs = list(zip(job.kinds, by_cursor, strict=True))
    span_hits = [hit for kind, hits in pairs if kind == "spans" for hit in hits]
    log_groups = [hits for kind, hits in pairs if kind == "logs"]
    spans, unreadable = _parse_spans(job.trace_id, span_hits[: job.max_spans])
    logs = [
        parse_log(hit.get("_source") or {}, doc_id=hit.get("_id"))
        for hits in log_groups
        for hit in hits
    ]
    if len(log_groups) > 1:
        # Groups read differently sort on differently mapped fields: merge by time.
        logs.sort(key=_earliest_first)
        logs = logs[: job.limit_logs]
    notes = list(job.notes)
    if unreadable:
        notes.append(unreadable)
    if job.span_total > job.max_spans:
        notes.append(
            f"showing the first {job.max_spans} of {job.span_total} spans "
            "(the API's span limit, TRACELINK_API_MAX_SPANS)"
        )
    if job.log_total > len(logs):
        notes.append(
            f"showing the first {len(logs)} of {job.log_total} logs (limit_logs={job.limit_logs})"
        )
    trace = join_trace(
        job.trace_id,
        spans,
        logs,
        log_total=job.log_total,
        skew_tolerance_us=job.skew_tolerance_us,
        notes=notes,
    )
    start_us = trace.summary.start_us
    end_us = None if start_us is None else start_us + trace.summary.duration_us
    shown = job.presentation
    trace.links = {
        **shown.links,
        "kibana": kibana_discover_url(
            shown.kibana_url,
            shown.kibana_log_data_view,
            job.trace_id,
            start_us=start_us,
            end_us=end_us,
        ),
    }
    return trace


def assemble(job: TraceJob) -> bytes | None:
    """The finished body (JSON, or UTF-8 HTML), or ``None`` when the trace is empty."""
    trace = correlated_trace(job)
    if trace.empty:
        return None
    if job.presentation.output == "html":
        return render_trace(trace).encode()
    return orjson.dumps(trace)
