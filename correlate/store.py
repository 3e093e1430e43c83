"""Reading spans and logs from Elasticsearch: the thin I/O around the pure modules.

Failures are told apart, because they ask different things of the user:

* :class:`StoreUnavailableError` (the API's 503): Elasticsearch is down, timed out, or
  failed on its side (5xx, 429) — retry later.
* :class:`StoreRefusedError` (the API's 502): Elasticsearch is up and refused the query
  (a 4xx, e.g. a field mapped as ``text`` where the query needs an exact one); its own
  reason is passed on, and where the cause is an index created without the index templates
  the answer says which index and field and what to install.

Indices created without the templates (Jaeger with ``create_mappings: false``, logs indexed
by another tool) are read through their ``.keyword`` sub-fields rather than refused: when a
search is refused, ``_field_caps`` tells which concrete indices map the IDs as ``text``, and
the search is run again over the indices grouped by how to read them (and, for that index
expression, from then on). Missing indices are not failures: a trace with no span or log
index is simply empty.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal

import orjson
from elasticsearch import ApiError, AsyncElasticsearch, ConnectionTimeout, TransportError
from elasticsearch.serializer import OrjsonSerializer

from correlate.assemble import (
    ItemSummary,
    Presentation,
    Search,
    TraceJob,
    assemble,
    page_step,
    shard_notes,
)
from correlate.logs import LogRecord, parse_log
from correlate.mappings import (
    LOG_ID_FIELDS,
    RECENT_FIELDS,
    SPAN_ID_FIELDS,
    ReadPlan,
    field_caps_fields,
    plan_reads,
)
from correlate.metrics import ApiMetrics
from correlate.offload import CpuPool
from correlate.query import (
    Window,
    event_search,
    log_indices,
    log_search,
    recent_traces_search,
    search_header,
    span_indices,
    span_search,
)
from correlate.settings import ApiSettings

__all__ = [
    "RawJsonSerializer",
    "StoreRefusedError",
    "StoreUnavailableError",
    "TraceStore",
]

_log = logging.getLogger("correlate")

_MAX_CHECKED = 1024

Reason = Literal["unreachable", "timeout", "failed"]

_INSTALL_SPANS = (
    "let Jaeger install its index templates (create_mappings: true, the default) before it "
    "creates the span indices"
)
_INSTALL_LOGS = (
    "run 'tracelink setup' (it installs the log index template) before the log indices are created"
)


class StoreUnavailableError(Exception):
    """Elasticsearch could not answer; ``detail`` says why, for the API's 503.

    ``reason`` is the class of the failure (``unreachable``, ``timeout``, ``failed``): what
    an unauthenticated health check may reveal.
    """

    def __init__(self, detail: str, reason: Reason = "failed") -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason


class StoreRefusedError(Exception):
    """Elasticsearch answered and refused the query; ``detail`` (its reason), for a 502."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class _Cursor:
    """Paging state of one query (spans or logs, over one group of indices)."""

    kind: Literal["spans", "logs"]
    indices: list[str]
    limit: int
    via_keyword: bool = False
    taken: int = 0
    total: int = 0
    last_sort: list[Any] | None = None
    more: bool = True

    @property
    def wanted(self) -> int:
        return min(self.total, self.limit) - self.taken

    def search(self, trace_id: str, window: Window, size: int) -> dict[str, Any]:
        build = span_search if self.kind == "spans" else log_search
        return build(
            trace_id, window, size=size, search_after=self.last_sort, via_keyword=self.via_keyword
        )


class _SearchRefusedError(Exception):
    """One search of an ``_msearch`` was refused (a 4xx); ``index`` is its index expression."""

    def __init__(self, index: str, status: Any, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.status = status
        self.reason = reason


def _reason(error: ApiError | TransportError) -> str:
    if isinstance(error, ApiError):
        info = error.info if isinstance(error.info, dict) else {}
        cause = info.get("error", {})
        reason = cause.get("reason") if isinstance(cause, dict) else None
        return f"HTTP {error.status_code}: {reason or error.message}"
    return type(error).__name__ + (f": {error.message}" if error.message else "")


def _failure(exc: ApiError | TransportError) -> StoreRefusedError | StoreUnavailableError:
    """Refused (a 4xx: the API's 502) or unavailable (down, timed out, 5xx, 429: 503)."""
    if isinstance(exc, ApiError):
        if _refused(exc.status_code):
            return StoreRefusedError(f"Elasticsearch refused the request: {_reason(exc)}")
        return StoreUnavailableError(f"Elasticsearch did not answer: {_reason(exc)}", "failed")
    reason: Reason = "timeout" if isinstance(exc, ConnectionTimeout) else "unreachable"
    return StoreUnavailableError(f"Elasticsearch did not answer: {_reason(exc)}", reason)


def _error_reason(error: Any) -> str:
    """Elasticsearch's own words for a search error: the root cause, else the reason."""
    if not isinstance(error, dict):
        return str(error)
    causes = error.get("root_cause")
    if isinstance(causes, list) and causes and isinstance(causes[0], dict):
        cause = causes[0]
        return f"{cause.get('type', 'error')}: {cause.get('reason', '')}".strip()
    caused_by = error.get("caused_by")
    if isinstance(caused_by, dict) and caused_by.get("reason"):
        return f"{caused_by.get('type', 'error')}: {caused_by['reason']}"
    return f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()


def _refused(status: Any) -> bool:
    # 408 and 429 are Elasticsearch being busy, not refusing: those stay "unavailable".
    return isinstance(status, int) and 400 <= status < 500 and status not in (408, 429)


class TraceStore:
    """Span and log queries for the API, over one shared ``AsyncElasticsearch`` client."""

    def __init__(
        self,
        client: AsyncElasticsearch,
        settings: ApiSettings,
        metrics: ApiMetrics,
        cpu: CpuPool,
        raw_client: AsyncElasticsearch | None = None,
    ) -> None:
        """``raw_client`` answers with undecoded bodies (:class:`RawJsonSerializer`): a
        trace's pages are decoded by ``cpu``'s workers, never on the event loop.
        """
        self._client = client
        self._raw_client = raw_client or client
        self._settings = settings
        self._metrics = metrics
        self._cpu = cpu
        # Index expressions a search was refused for because of their mappings: planned
        # with _field_caps before every search from then on (one more round trip, only
        # for deployments whose indices were created without the templates).
        self._checked: set[tuple[str, str]] = set()

    async def _call(self, operation: str, request: Any) -> dict[str, Any]:
        started = time.perf_counter()
        self._metrics.es_requests.labels(operation).inc()
        try:
            response = await request
        except (ApiError, TransportError) as exc:
            self._metrics.es_errors.labels(operation).inc()
            raise _failure(exc) from exc
        finally:
            self._metrics.es_latency.labels(operation).observe(time.perf_counter() - started)
        body = response.body
        return body if isinstance(body, dict) else {}

    async def ping(self) -> dict[str, Any]:
        """The cluster's ``GET /`` answer; :class:`StoreUnavailableError` when unreachable."""
        return await self._call("info", self._client.info())

    async def _msearch(self, searches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The answers of ``searches`` (header, body pairs), in order.

        Raises :class:`_SearchRefusedError` for the first search Elasticsearch refused (4xx),
        :class:`StoreUnavailableError` for one it failed on its side.
        """
        body = await self._call("msearch", self._client.msearch(searches=searches))
        responses = body.get("responses", [])
        for number, item in enumerate(responses):
            if "error" in item:
                raise self._search_failure(searches, number, item.get("status"), item["error"])
        return list(responses)

    async def _msearch_raw(self, searches: list[dict[str, Any]]) -> bytes:
        """A trace ``_msearch``, its answer undecoded (decoding is the workers' job)."""
        started = time.perf_counter()
        self._metrics.es_requests.labels("msearch").inc()
        try:
            response = await self._raw_client.msearch(searches=searches)
        except (ApiError, TransportError) as exc:
            self._metrics.es_errors.labels("msearch").inc()
            raise _failure(exc) from exc
        finally:
            self._metrics.es_latency.labels("msearch").observe(time.perf_counter() - started)
        body = response.body
        return body.data if isinstance(body, RawJson) else orjson.dumps(body)

    def _check(self, summaries: Sequence[ItemSummary], searches: list[dict[str, Any]]) -> None:
        """Raise for the first search Elasticsearch refused or failed (as :meth:`_msearch`)."""
        for number, item in enumerate(summaries):
            if item.error is not None:
                raise self._search_failure(searches, number, item.status, item.error)

    def _search_failure(
        self, searches: list[dict[str, Any]], number: int, status: Any, error: Any
    ) -> _SearchRefusedError | StoreUnavailableError:
        """The exception for search ``number`` of ``searches`` that answered ``error``."""
        self._metrics.es_errors.labels("msearch").inc()
        reason = _error_reason(error)
        header = searches[2 * number] if 2 * number < len(searches) else {}
        if _refused(status):
            return _SearchRefusedError(str(header.get("index", "?")), status, reason)
        return StoreUnavailableError(
            f"Elasticsearch could not run the search (HTTP {status}): {reason}"
        )

    async def _plan(
        self, kind: str, indices: list[str], fields: Sequence[str], install: str
    ) -> ReadPlan:
        """How to read ``indices`` (one ``_field_caps`` request)."""
        caps = await self._call(
            "field_caps",
            self._client.field_caps(
                index=",".join(indices),
                fields=field_caps_fields(fields),
                include_unmapped=True,
                ignore_unavailable=True,
                allow_no_indices=True,
                expand_wildcards="open",
            ),
        )
        plan = plan_reads(caps, fields, install)
        for problem in plan.problems:
            _log.warning("%s indices: %s", kind, problem)
        return plan

    async def _groups(
        self, kind: str, indices: list[str], fields: Sequence[str], install: str, *, force: bool
    ) -> tuple[list[tuple[list[str], bool]], list[str]]:
        """Index groups to search as ``(indices, via_keyword)``, and problems to report.

        Without a known mapping problem (and not ``force``): ``indices`` as they are.
        """
        key = (kind, ",".join(indices))
        if not force and key not in self._checked:
            return [(indices, False)], []
        plan = await self._plan(kind, indices, fields, install)
        if plan.needs_keyword:
            if len(self._checked) >= _MAX_CHECKED:
                # Bounded: every distinct window is its own expression.
                self._checked.clear()
            self._checked.add(key)
        groups = [(names, via) for names, via in ((plan.exact, False), (plan.via_keyword, True))]
        return [(names, via) for names, via in groups if names], plan.problems

    async def fetch_trace(
        self, trace_id: str, window: Window, *, limit_logs: int, presentation: Presentation
    ) -> bytes | None:
        """The finished answer for a trace (:func:`correlate.assemble.assemble`): every span
        (up to ``api_max_spans``) and the first ``limit_logs`` logs; ``None`` when storage
        has neither.

        The first pages of both come in one ``_msearch``; larger traces continue with
        ``search_after`` rounds, each one ``_msearch`` for whichever queries need more. The
        workers account each page and build the answer with the last one. A refused search
        is diagnosed once with ``_field_caps`` and, where the cause is an index mapped
        without the templates, run again reading it through ``.keyword``.
        """
        settings = self._settings
        searched = window.padded(settings.api_window_padding * 1_000_000)
        span_names = span_indices(
            settings.jaeger_index_prefix,
            searched,
            max_days=settings.api_window_max_days,
            read_alias=settings.jaeger_span_read_alias,
        )
        log_names = log_indices(
            settings.log_index_prefix, searched, max_days=settings.api_window_max_days
        )
        fetch = partial(
            self._fetch,
            trace_id=trace_id,
            searched=searched,
            span_names=span_names,
            log_names=log_names,
            limit_logs=limit_logs,
            presentation=presentation,
        )
        try:
            return await fetch(force=False)
        except _SearchRefusedError as refused:
            first = refused
        try:
            return await fetch(force=True)
        except _SearchRefusedError as again:
            raise StoreRefusedError(
                f"Elasticsearch refused the search of {again.index} (HTTP {again.status}): "
                f"{again.reason}"
            ) from first

    async def _fetch(
        self,
        *,
        trace_id: str,
        searched: Window,
        span_names: list[str],
        log_names: list[str],
        limit_logs: int,
        presentation: Presentation,
        force: bool,
    ) -> bytes | None:
        settings = self._settings
        page = settings.api_page_size
        span_groups, span_problems = await self._groups(
            "span", span_names, SPAN_ID_FIELDS, _INSTALL_SPANS, force=force
        )
        log_groups, log_problems = await self._groups(
            "log", log_names, LOG_ID_FIELDS, _INSTALL_LOGS, force=force
        )
        cursors = [
            _Cursor("spans", names, settings.api_max_spans, via) for names, via in span_groups
        ] + [_Cursor("logs", names, limit_logs, via) for names, via in log_groups]
        job = TraceJob(
            trace_id=trace_id,
            pages=[],
            layout=[],
            kinds=[cursor.kind for cursor in cursors],
            notes=[f"not searched: {problem}" for problem in span_problems + log_problems],
            span_total=0,
            log_total=0,
            max_spans=settings.api_max_spans,
            limit_logs=limit_logs,
            skew_tolerance_us=settings.api_clock_skew_tolerance_ms * 1000,
            presentation=presentation,
        )
        pending = [(number, min(page, cursor.limit)) for number, cursor in enumerate(cursors)]
        if not pending:
            return await self._cpu.run(assemble, job)
        while True:
            searches: list[dict[str, Any]] = []
            specs: list[Search] = []
            for number, size in pending:
                cursor = cursors[number]
                searches += [search_header(cursor.indices), cursor.search(trace_id, searched, size)]
                specs.append(Search(number, size, cursor.taken, cursor.limit))
            raw = await self._msearch_raw(searches)
            totals = [cursor.total for cursor in cursors]
            step = await self._cpu.run(page_step, job, raw, specs, totals)
            self._check(step.summaries, searches)
            if step.done:
                return step.body
            for spec, item in zip(specs, step.summaries, strict=True):
                cursor = cursors[spec.cursor]
                cursor.total = item.total
                cursor.taken += item.take
                cursor.last_sort = item.last_sort
                cursor.more = item.more
            job = replace(
                job,
                pages=[*job.pages, raw],
                layout=[
                    *job.layout,
                    [
                        (spec.cursor, item.take)
                        for spec, item in zip(specs, step.summaries, strict=True)
                    ],
                ],
                notes=[*job.notes, *shard_notes(step.summaries)],
            )
            pending = [
                (number, min(page, cursor.wanted))
                for number, cursor in enumerate(cursors)
                if cursor.more
            ]

    async def find_log(self, event_id: str) -> LogRecord | None:
        """The log record with ``event.id`` (or ``_id``) ``event_id``, newest copy first."""
        indices = log_indices(self._settings.log_index_prefix, Window(), max_days=1)
        try:
            responses = await self._msearch([search_header(indices), event_search(event_id)])
        except _SearchRefusedError as refused:
            raise StoreRefusedError(
                f"Elasticsearch refused the search of {refused.index} (HTTP {refused.status}): "
                f"{refused.reason}"
            ) from None
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
        records: list[LogRecord] = []
        for force in (False, True):
            groups, problems = await self._groups(
                "log", indices, RECENT_FIELDS, _INSTALL_LOGS, force=force
            )
            searches: list[dict[str, Any]] = []
            for names, via in groups:
                searches += [
                    search_header(names),
                    recent_traces_search(
                        window, service=service, level=level, size=limit, via_keyword=via
                    ),
                ]
            if not searches:
                if problems:
                    raise StoreRefusedError("; ".join(problems))
                return []
            try:
                responses = await self._msearch(searches)
            except _SearchRefusedError as refused:
                if force:
                    raise StoreRefusedError(
                        f"Elasticsearch refused the search of {refused.index} "
                        f"(HTTP {refused.status}): {refused.reason}"
                    ) from None
                continue
            records = [
                parse_log(hit.get("_source") or {}, doc_id=hit.get("_id"))
                for response in responses
                for hit in response.get("hits", {}).get("hits", [])
            ]
            if len(groups) > 1:
                # Each group was collapsed and sorted on its own: merge, newest first.
                records.sort(key=_newest_first)
            break
        newest: dict[str, LogRecord] = {}
        for record in records:
            if record.trace_id is not None and record.trace_id not in newest:
                newest[record.trace_id] = record
        return list(newest.values())[:limit]


_UNTIMED = 2**63


def _earliest_first(record: LogRecord) -> tuple[int, str]:
    stamp = record.timestamp_us
    return (_UNTIMED if stamp is None else stamp, record.event_id or "")


def _newest_first(record: LogRecord) -> int:
    stamp = record.timestamp_us
    return _UNTIMED if stamp is None else -stamp


class RawJson:
    """An Elasticsearch answer's body as it arrived (decoded later, off the event loop)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class RawJsonSerializer(OrjsonSerializer):
    """Serialises requests as usual; hands answers over undecoded, as :class:`RawJson`."""

    def loads(self, data: bytes) -> Any:
        return RawJson(data)
