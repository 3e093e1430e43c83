"""Reading spans and logs from Elasticsearch: the thin I/O around the pure modules.

Every failure to reach or use Elasticsearch (down, timed out, refused, a failed search)
becomes :class:`StoreUnavailableError` with a sentence for the API user; the API answers 503.
Missing indices are not failures: a trace with no span or log index is simply empty.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, TransportError

from correlate.logs import LogRecord, parse_log
from correlate.metrics import ApiMetrics
from correlate.query import (
    Window,
    event_search,
    log_indices,
    log_search,
    recent_traces_search,
    search_header,
    span_indices,
    span_search,
    trace_msearch,
)
from correlate.settings import ApiSettings
from correlate.spans import Span, SpanFormatError, parse_span

__all__ = ["FetchedTrace", "StoreUnavailableError", "TraceStore"]


class StoreUnavailableError(Exception):
    """Elasticsearch could not answer; ``detail`` says why, for the API's 503."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class FetchedTrace:
    """What storage holds for one trace, plus what the reader wants the user to know."""

    spans: list[Span]
    logs: list[LogRecord]
    log_total: int
    notes: list[str] = field(default_factory=list)
    es_requests: int = 0


@dataclass
class _Cursor:
    """Paging state of one query (spans or logs) across ``_msearch`` rounds."""

    indices: list[str]
    limit: int
    hits: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    last_page_full: bool = False

    @property
    def wanted(self) -> int:
        return min(self.total, self.limit) - len(self.hits)

    def more(self) -> bool:
        return self.last_page_full and self.wanted > 0


def _reason(error: ApiError | TransportError) -> str:
    if isinstance(error, ApiError):
        info = error.info if isinstance(error.info, dict) else {}
        cause = info.get("error", {})
        reason = cause.get("reason") if isinstance(cause, dict) else None
        return f"HTTP {error.status_code}: {reason or error.message}"
    return type(error).__name__ + (f": {error.message}" if error.message else "")


class TraceStore:
    """Span and log queries for the API, over one shared ``AsyncElasticsearch`` client."""

    def __init__(
        self, client: AsyncElasticsearch, settings: ApiSettings, metrics: ApiMetrics
    ) -> None:
        self._client = client
        self._settings = settings
        self._metrics = metrics

    async def _call(self, operation: str, request: Any) -> dict[str, Any]:
        started = time.perf_counter()
        self._metrics.es_requests.labels(operation).inc()
        try:
            response = await request
        except (ApiError, TransportError) as exc:
            self._metrics.es_errors.labels(operation).inc()
            raise StoreUnavailableError(f"Elasticsearch did not answer: {_reason(exc)}") from exc
        finally:
            self._metrics.es_latency.labels(operation).observe(time.perf_counter() - started)
        body = response.body
        return body if isinstance(body, dict) else {}

    async def ping(self) -> dict[str, Any]:
        """The cluster's ``GET /`` answer; :class:`StoreUnavailableError` when unreachable."""
        return await self._call("info", self._client.info())

    async def _msearch(self, searches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = await self._call("msearch", self._client.msearch(searches=searches))
        responses = body.get("responses", [])
        for item in responses:
            if "error" in item:
                error = item["error"]
                reason = error.get("reason") if isinstance(error, dict) else error
                raise StoreUnavailableError(
                    f"Elasticsearch could not run the search (HTTP {item.get('status')}): {reason}"
                )
        return list(responses)

    async def fetch_trace(self, trace_id: str, window: Window, *, limit_logs: int) -> FetchedTrace:
        """Every span (up to ``api_max_spans``) and the first ``limit_logs`` logs of a trace.

        The first pages of both come in one ``_msearch``; larger traces continue with
        ``search_after`` rounds, each one ``_msearch`` for whichever queries need more.
        """
        settings = self._settings
        searched = window.padded(settings.api_window_padding * 1_000_000)
        page = settings.api_page_size
        spans = _Cursor(
            span_indices(
                settings.jaeger_index_prefix, searched, max_days=settings.api_window_max_days
            ),
            settings.api_max_spans,
        )
        logs = _Cursor(
            log_indices(settings.log_index_prefix, searched, max_days=settings.api_window_max_days),
            limit_logs,
        )
        notes: list[str] = []
        first = await self._msearch(
            trace_msearch(
                trace_id,
                span_index=spans.indices,
                log_index=logs.indices,
                window=searched,
                span_size=min(page, spans.limit),
                log_size=min(page, logs.limit),
            )
        )
        requests = 1
        for cursor, response in zip((spans, logs), first, strict=True):
            _take(cursor, response, min(page, cursor.limit), notes)

        while spans.more() or logs.more():
            searches: list[dict[str, Any]] = []
            pending: list[tuple[_Cursor, int]] = []
            for cursor, build in ((spans, span_search), (logs, log_search)):
                if cursor.more():
                    size = min(page, cursor.wanted)
                    after = cursor.hits[-1].get("sort")
                    searches += [
                        search_header(cursor.indices),
                        build(trace_id, searched, size=size, search_after=after),
                    ]
                    pending.append((cursor, size))
            responses = await self._msearch(searches)
            requests += 1
            for (cursor, size), response in zip(pending, responses, strict=True):
                _take(cursor, response, size, notes)

        parsed_spans, unreadable = _parse_spans(trace_id, spans.hits)
        if unreadable:
            notes.append(unreadable)
        if spans.total > spans.limit:
            notes.append(
                f"showing the first {spans.limit} of {spans.total} spans "
                "(the API's span limit, TRACELINK_API_MAX_SPANS)"
            )
        if logs.total > len(logs.hits):
            notes.append(
                f"showing the first {len(logs.hits)} of {logs.total} logs (limit_logs={limit_logs})"
            )
        return FetchedTrace(
            spans=parsed_spans,
            logs=[parse_log(hit.get("_source") or {}, doc_id=hit.get("_id")) for hit in logs.hits],
            log_total=logs.total,
            notes=notes,
            es_requests=requests,
        )

    async def find_log(self, event_id: str) -> LogRecord | None:
        """The log record with ``event.id`` (or ``_id``) ``event_id``, newest copy first."""
        indices = log_indices(self._settings.log_index_prefix, Window(), max_days=1)
        responses = await self._msearch([search_header(indices), event_search(event_id)])
        hits = responses[0].get("hits", {}).get("hits", [])
        if not hits:
            return None
        return parse_log(hits[0].get("_source") or {}, doc_id=hits[0].get("_id"))

    async def recent_traces(
        self, window: Window, *, service: str | None, level: str | None, limit: int
    ) -> list[LogRecord]:
        """The newest matching log of each of the ``limit`` most recently active traces."""
        settings = self._settings
        indices = log_indices(
            settings.log_index_prefix, window, max_days=settings.api_window_max_days
        )
        responses = await self._msearch(
            [
                search_header(indices),
                recent_traces_search(window, service=service, level=level, size=limit),
            ]
        )
        hits = responses[0].get("hits", {}).get("hits", [])
        records = [parse_log(hit.get("_source") or {}, doc_id=hit.get("_id")) for hit in hits]
        return [record for record in records if record.trace_id is not None]


def _take(cursor: _Cursor, response: dict[str, Any], size: int, notes: list[str]) -> None:
    hits_part = response.get("hits", {})
    total = hits_part.get("total", {})
    hits = hits_part.get("hits", [])
    cursor.total = max(
        int(total.get("value", 0)) if isinstance(total, dict) else int(total or 0),
        len(cursor.hits) + len(hits),
    )
    cursor.hits.extend(hits[: max(cursor.limit - len(cursor.hits), 0)])
    cursor.last_page_full = size > 0 and len(hits) >= size
    shards = response.get("_shards", {})
    failed = int(shards.get("failed", 0) or 0)
    if failed:
        notes.append(
            f"{failed} of {shards.get('total', '?')} Elasticsearch shards failed to answer: "
            "the trace may be incomplete"
        )


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
