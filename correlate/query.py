"""The Elasticsearch requests the API makes, as plain bodies. Pure: no I/O.

A trace is fetched with one ``_msearch`` carrying the span query and the log query
(:func:`trace_msearch`); pages beyond the first continue with ``search_after`` on a sort
that is stable (:data:`SPAN_SORT`, :data:`LOG_SORT`). Values from the request only ever
appear as ``term``/``terms``/``range`` values, never as query-string syntax or index names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from correlate.logs import level_names_at_least
from correlate.times import format_time_us
from tracelink.ids import jaeger_trace_id_variants
from tracelink.layout import LOG_FIELDS, jaeger_span_pattern, jaeger_span_read_alias

__all__ = [
    "LOG_SORT",
    "SPAN_SORT",
    "Window",
    "event_search",
    "log_indices",
    "log_search",
    "recent_traces_search",
    "search_header",
    "span_indices",
    "span_search",
    "trace_msearch",
]

_TIMESTAMP: Final = LOG_FIELDS["timestamp"]
_EVENT_ID: Final = LOG_FIELDS["event_id"]
_TRACE_ID: Final = LOG_FIELDS["trace_id"]

# Start time, then span ID: unique for every span but exact duplicates (which the join merges).
# unmapped_type keeps an index without the field (an empty or foreign index) from failing.
SPAN_SORT: Final = [
    {"startTime": {"order": "asc", "unmapped_type": "long"}},
    {"spanID": {"order": "asc", "unmapped_type": "keyword"}},
]
# event.id is unique per record (the shipper's _id), so this order is total.
LOG_SORT: Final = [
    {_TIMESTAMP: {"order": "asc", "unmapped_type": "date_nanos"}},
    {_EVENT_ID: {"order": "asc", "unmapped_type": "keyword"}},
]

# Indices created without the templates map IDs as text with a keyword sub-field
# (correlate.mappings): the same queries then go to "<field>.keyword".
_KEYWORD_SUBFIELD: Final = ".keyword"


def _exact(name: str, via_keyword: bool) -> str:
    return name + _KEYWORD_SUBFIELD if via_keyword else name


def _span_sort(via_keyword: bool) -> list[dict[str, Any]]:
    if not via_keyword:
        return SPAN_SORT
    return [SPAN_SORT[0], {_exact("spanID", True): {"order": "asc", "unmapped_type": "keyword"}}]


def _log_sort(via_keyword: bool) -> list[dict[str, Any]]:
    if not via_keyword:
        return LOG_SORT
    return [LOG_SORT[0], {_exact(_EVENT_ID, True): {"order": "asc", "unmapped_type": "keyword"}}]


@dataclass(frozen=True, slots=True)
class Window:
    """A time range in µs since the epoch; either end may be open."""

    start_us: int | None = None
    end_us: int | None = None

    def padded(self, padding_us: int) -> Window:
        return Window(
            None if self.start_us is None else max(self.start_us - padding_us, 0),
            None if self.end_us is None else self.end_us + padding_us,
        )

    @property
    def bounded(self) -> bool:
        return self.start_us is not None or self.end_us is not None


def _days(window: Window, max_days: int) -> list[datetime] | None:
    """The UTC days a closed window touches; ``None`` when open or longer than ``max_days``."""
    if window.start_us is None or window.end_us is None:
        return None
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    try:
        first = (epoch + timedelta(microseconds=window.start_us)).date()
        last = (epoch + timedelta(microseconds=window.end_us)).date()
    except OverflowError:
        # Beyond year 9999: the API refuses such bounds; never crash on one that slips in.
        return None
    count = (last - first).days + 1
    if count > max_days or count < 1:
        return None
    return [
        datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=offset)
        for offset in range(count)
    ]


def span_indices(
    jaeger_prefix: str, window: Window, *, max_days: int, read_alias: str | None = None
) -> list[str]:
    """Jaeger's span indices for ``window``: its days (any date separator, hourly suffixes)
    plus the rollover read alias; every span index when the window is open or too long.

    ``read_alias`` is a read alias of the user's choosing (Jaeger's
    ``indices.spans.rotation.manual_rollover.read_alias`` / ``auto_rollover.read_alias``:
    ``ManualRolloverRotation`` / ``AutoRolloverRotation`` in
    ``internal/storage/elasticsearch/config/config_rotation.go`` of Jaeger v2.20.0, used
    as given by ``internal/storage/elasticsearch/indices/build.go``, which defaults it to
    ``[<prefix>-]jaeger-span-read``): always searched, since its backing indices may be named
    anything. Elasticsearch searches an index reached through several names once.
    """
    days = _days(window, max_days)
    pattern = jaeger_span_pattern(jaeger_prefix)
    names: list[str]
    if days is None:
        names = [pattern]
    else:
        base = pattern.removesuffix("*")
        names = []
        for day in days:
            names.append(f"{base}{day:%Y-%m-%d}*")
            names.append(f"{base}{day:%Y.%m.%d}*")
        names.append(jaeger_span_read_alias(jaeger_prefix))
    if read_alias and read_alias not in names:
        names.append(read_alias)
    return names


def log_indices(log_prefix: str, window: Window, *, max_days: int) -> list[str]:
    """The daily log indices of ``window``, or the whole pattern when open or too long."""
    days = _days(window, max_days)
    if days is None:
        return [f"{log_prefix}-*"]
    return [f"{log_prefix}-{day:%Y-%m-%d}" for day in days]


def search_header(indices: list[str]) -> dict[str, Any]:
    """An ``_msearch`` header: a missing index or a pattern matching none is not an error."""
    return {
        "index": ",".join(indices),
        "ignore_unavailable": True,
        "allow_no_indices": True,
        "expand_wildcards": "open",
    }


def _range(
    field: str, window: Window, *, as_millis: bool, typed: bool = True
) -> dict[str, Any] | None:
    if not window.bounded:
        return None
    bounds: dict[str, Any] = {}
    if as_millis:
        if window.start_us is not None:
            bounds["gte"] = window.start_us // 1000
        if window.end_us is not None:
            bounds["lte"] = -(-window.end_us // 1000)
        if typed:
            # Jaeger's template maps startTimeMillis as a date; dynamic mapping as a long,
            # which takes the same numbers but no "format".
            bounds["format"] = "epoch_millis"
    else:
        if window.start_us is not None:
            bounds["gte"] = format_time_us(window.start_us)
        if window.end_us is not None:
            bounds["lte"] = format_time_us(window.end_us)
        # No "format": the field's own (date_nanos: strict_date_optional_time_nanos) applies.
    return {"range": {field: bounds}}


def _paged(
    filters: list[dict[str, Any]],
    sort: list[dict[str, Any]],
    size: int,
    search_after: list[Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "query": {"bool": {"filter": filters}},
        "sort": sort,
        "size": size,
        "track_total_hits": True,
    }
    if search_after is not None:
        body["search_after"] = search_after
    return body


def span_search(
    trace_id: str,
    window: Window,
    *,
    size: int,
    search_after: list[Any] | None = None,
    via_keyword: bool = False,
) -> dict[str, Any]:
    """Spans of ``trace_id`` (32 hex) in every text form Jaeger may have stored it.

    ``via_keyword``: for indices mapped without Jaeger's template (``traceID.keyword``).
    """
    filters: list[dict[str, Any]] = [
        {"terms": {_exact("traceID", via_keyword): jaeger_trace_id_variants(trace_id)}}
    ]
    bound = _range("startTimeMillis", window, as_millis=True, typed=not via_keyword)
    if bound is not None:
        filters.append(bound)
    return _paged(filters, _span_sort(via_keyword), size, search_after)


def log_search(
    trace_id: str,
    window: Window,
    *,
    size: int,
    search_after: list[Any] | None = None,
    via_keyword: bool = False,
) -> dict[str, Any]:
    """Logs of ``trace_id`` (32 hex, as the shipper stores it) in time order.

    ``via_keyword``: for indices mapped without tracelink's template (``trace.id.keyword``).
    """
    filters: list[dict[str, Any]] = [{"term": {_exact(_TRACE_ID, via_keyword): trace_id}}]
    if (bound := _range(_TIMESTAMP, window, as_millis=False)) is not None:
        filters.append(bound)
    return _paged(filters, _log_sort(via_keyword), size, search_after)


def trace_msearch(
    trace_id: str,
    *,
    span_index: list[str],
    log_index: list[str],
    window: Window,
    span_size: int,
    log_size: int,
) -> list[dict[str, Any]]:
    """The one ``_msearch`` (header, body, header, body) that fetches a trace's first pages."""
    return [
        search_header(span_index),
        span_search(trace_id, window, size=span_size),
        search_header(log_index),
        log_search(trace_id, window, size=log_size),
    ]


def event_search(event_id: str) -> dict[str, Any]:
    """One log record by ``event.id`` (also its ``_id`` as the shipper writes it)."""
    return {
        "query": {
            "bool": {
                "should": [
                    {"term": {_EVENT_ID: event_id}},
                    # Indices mapped without tracelink's template (text + keyword sub-field).
                    {"term": {_exact(_EVENT_ID, True): event_id}},
                    {"ids": {"values": [event_id]}},
                ],
                "minimum_should_match": 1,
            }
        },
        "sort": [{_TIMESTAMP: {"order": "desc", "unmapped_type": "date_nanos"}}],
        "size": 1,
    }


def recent_traces_search(
    window: Window,
    *,
    service: str | None,
    level: str | None,
    size: int,
    via_keyword: bool = False,
) -> dict[str, Any]:
    """The newest log of each trace whose logs match the filter, newest trace first.

    ``via_keyword``: for indices mapped without tracelink's template (``<field>.keyword``).
    """
    filters: list[dict[str, Any]] = [{"exists": {"field": _TRACE_ID}}]
    if (bound := _range(_TIMESTAMP, window, as_millis=False)) is not None:
        filters.append(bound)
    if service is not None:
        filters.append({"term": {_exact(LOG_FIELDS["service"], via_keyword): service}})
    if level is not None:
        filters.append(
            {"terms": {_exact(LOG_FIELDS["level"], via_keyword): level_names_at_least(level)}}
        )
    return {
        "query": {"bool": {"filter": filters}},
        "collapse": {"field": _exact(_TRACE_ID, via_keyword)},
        "sort": [{_TIMESTAMP: {"order": "desc", "unmapped_type": "date_nanos"}}],
        "size": size,
        "track_total_hits": False,
    }
