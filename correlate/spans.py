"""Jaeger span documents of every era → one span model.

Jaeger has written several document shapes into Elasticsearch and they coexist in real
clusters: 16- or 32-digit (or leading-zero-stripped) trace IDs, tag values as strings or as
native JSON, ``parentSpanID`` present or only ``references``, and "tags as fields" (``tag`` /
``process.tag`` objects whose keys have ``@`` for ``.``). :func:`parse_span` accepts all of
them and returns a :class:`Span` with normalised IDs and typed tag values. Pure: no I/O.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from correlate.times import in_time_range
from tracelink.ids import normalize_span_id, normalize_trace_id

__all__ = ["Span", "SpanEvent", "SpanFormatError", "SpanLink", "parse_span"]

CHILD_OF: Final = "CHILD_OF"
FOLLOWS_FROM: Final = "FOLLOWS_FROM"
UNKNOWN_SERVICE: Final = "unknown"

# Jaeger's default replacement for "." in tags-as-fields keys (es.tags-as-fields.dot-replacement).
_DOT_REPLACEMENT: Final = "@"


class SpanFormatError(ValueError):
    """A span document without a usable trace ID, span ID, start time or duration."""


@dataclass
class SpanEvent:
    """A span log / OTel span event: a point in time with fields (``event`` is its name)."""

    timestamp_us: int
    name: str | None
    fields: dict[str, Any]


@dataclass
class SpanLink:
    """A reference that is not the parent: ``FOLLOWS_FROM``, or ``CHILD_OF`` another trace."""

    ref_type: str
    trace_id: str
    span_id: str


@dataclass
class Span:
    """One span, whichever era of Jaeger wrote it. IDs are normalised lower-case hex."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    service: str
    operation: str
    start_us: int
    duration_us: int
    error: bool
    tags: dict[str, Any] = field(default_factory=dict)
    process_tags: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    links: list[SpanLink] = field(default_factory=list)
    flags: int = 0

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us


def parse_span(doc: Mapping[str, Any]) -> Span:
    """Turn one Jaeger span document (``_source``) into a :class:`Span`.

    The parent is ``parentSpanID`` when present (Jaeger ≥ 2.20), else the first ``CHILD_OF``
    reference with the same trace ID; every other reference is kept as a link. ``error`` is
    the ``error`` tag or ``otel.status_code=ERROR``. Raises :class:`SpanFormatError` when
    the document has no usable trace ID, span ID or start time.
    """
    trace_id = _trace_id(doc.get("traceID"))
    if trace_id is None:
        raise SpanFormatError(f"traceID {doc.get('traceID')!r} is not a trace ID")
    span_id = _span_id(doc.get("spanID"))
    if span_id is None:
        raise SpanFormatError(f"spanID {doc.get('spanID')!r} is not a span ID")
    start_us = _start_us(doc)
    if start_us is None:
        raise SpanFormatError(f"span {span_id} has no startTime")
    if not in_time_range(start_us):
        raise SpanFormatError(
            f"span {span_id} has startTime {start_us}, outside 1970..9999 (µs since the epoch)"
        )
    duration_us = max(_int(doc.get("duration")) or 0, 0)
    if not in_time_range(start_us + duration_us):
        raise SpanFormatError(
            f"span {span_id} has duration {duration_us} µs, which ends after the year 9999"
        )

    tags = _tag_map(doc.get("tags"), doc.get("tag"))
    process = doc.get("process")
    process = process if isinstance(process, Mapping) else {}
    parent, links = _parent_and_links(trace_id, doc.get("parentSpanID"), doc.get("references"))
    service = process.get("serviceName")
    operation = doc.get("operationName")
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        service=service if isinstance(service, str) and service else UNKNOWN_SERVICE,
        operation=operation if isinstance(operation, str) else "",
        start_us=start_us,
        duration_us=duration_us,
        error=_is_error(tags),
        tags=tags,
        process_tags=_tag_map(process.get("tags"), process.get("tag")),
        events=_events(doc.get("logs")),
        links=links,
        flags=_int(doc.get("flags")) or 0,
    )


def _trace_id(value: Any) -> str | None:
    return normalize_trace_id(value) if isinstance(value, str) else None


def _span_id(value: Any) -> str | None:
    return normalize_span_id(value) if isinstance(value, str) else None


_INT64: Final = range(-(2**63), 2**63)


def _int(value: Any) -> int | None:
    """An int64 from a native or string-era value; ``None`` when not one (JSON-safe)."""
    number: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = int(value)
    return number if number is not None and number in _INT64 else None


def _start_us(doc: Mapping[str, Any]) -> int | None:
    start = _int(doc.get("startTime"))
    if start is not None:
        return start
    millis = _int(doc.get("startTimeMillis"))
    return None if millis is None else millis * 1000


def _typed_value(kind: Any, value: Any) -> Any:
    """A tag value as its declared type; string-era values (``"true"``, ``"123"``) decoded."""
    if not isinstance(value, str):
        return value
    decoded: Any = value
    if kind == "bool":
        lowered = value.lower()
        if lowered in ("true", "false"):
            decoded = lowered == "true"
    elif kind in ("int64", "float64"):
        with contextlib.suppress(ValueError):
            decoded = _int(value) if kind == "int64" else float(value)
        if decoded is None:
            decoded = value
    # string, binary (lower-case hex) and unknown kinds stay text.
    return decoded


def _key_value_list(items: Any) -> Iterable[tuple[str, Any]]:
    if not isinstance(items, list):
        return
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            yield item["key"], _typed_value(item.get("type", "string"), item.get("value"))


def _tags_as_fields(mapping: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if not isinstance(mapping, Mapping):
        return
    for key, value in mapping.items():
        name = prefix + str(key).replace(_DOT_REPLACEMENT, ".")
        if isinstance(value, Mapping):
            yield from _tags_as_fields(value, name + ".")
        else:
            yield name, value


def _tag_map(nested: Any, as_fields: Any) -> dict[str, Any]:
    """``tags[]`` and ``tag{}`` (one span may use both) as one ``{key: typed value}`` map."""
    tags = dict(_key_value_list(nested))
    tags.update(_tags_as_fields(as_fields))
    return tags


def _is_error(tags: Mapping[str, Any]) -> bool:
    flag = tags.get("error")
    if flag is True or (isinstance(flag, str) and flag.lower() == "true"):
        return True
    status = tags.get("otel.status_code")
    return isinstance(status, str) and status.upper() == "ERROR"


def _parent_and_links(
    trace_id: str, parent_field: Any, references: Any
) -> tuple[str | None, list[SpanLink]]:
    parent = _span_id(parent_field)
    refs: list[SpanLink] = []
    if isinstance(references, list):
        for ref in references:
            if not isinstance(ref, Mapping):
                continue
            ref_trace = _trace_id(ref.get("traceID")) or trace_id
            ref_span = _span_id(ref.get("spanID"))
            if ref_span is None:
                continue
            kind = ref.get("refType")
            refs.append(SpanLink(kind if isinstance(kind, str) else CHILD_OF, ref_trace, ref_span))
    # The reference that is the parent is not also a link.
    parent_ref = next(
        (
            ref
            for ref in refs
            if ref.ref_type == CHILD_OF
            and ref.trace_id == trace_id
            and (parent is None or ref.span_id == parent)
        ),
        None,
    )
    if parent is None and parent_ref is not None:
        parent = parent_ref.span_id
    return parent, [ref for ref in refs if ref is not parent_ref]


def _events(logs: Any) -> list[SpanEvent]:
    if not isinstance(logs, list):
        return []
    events: list[SpanEvent] = []
    for entry in logs:
        if not isinstance(entry, Mapping):
            continue
        fields = dict(_key_value_list(entry.get("fields")))
        name = fields.get("event")
        events.append(
            SpanEvent(
                timestamp_us=_int(entry.get("timestamp")) or 0,
                name=None if name is None else str(name),
                fields=fields,
            )
        )
    events.sort(key=lambda event: event.timestamp_us)
    return events
