"""Log documents (as the shipper indexes them) → the API's log model.

The shipper writes nested objects (``{"trace": {"id": …}}``); records indexed by other tools
may carry dotted keys (``{"trace.id": …}``). :func:`parse_log` accepts both and any mix. The
ECS fields the API shows get their own attributes; everything else stays in ``fields`` under
its dotted name, so nothing the producer wrote is hidden. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from correlate.times import parse_time_us
from tracelink.ids import normalize_span_id, normalize_trace_id
from tracelink.layout import LOG_FIELDS
from tracelink.levels import ERROR_LEVELS, LEVEL_NAMES, level_names_at_least, level_rank

# The level rules live in the one level table (tracelink.levels); re-exported for the API.
__all__ = [
    "ERROR_LEVELS",
    "LEVEL_NAMES",
    "LogRecord",
    "level_names_at_least",
    "level_rank",
    "parse_log",
]

_TIMESTAMP: Final = LOG_FIELDS["timestamp"]
_MESSAGE: Final = LOG_FIELDS["message"]
_LEVEL: Final = LOG_FIELDS["level"]
_LOGGER: Final = LOG_FIELDS["logger"]
_TRACE_ID: Final = LOG_FIELDS["trace_id"]
_SPAN_ID: Final = LOG_FIELDS["span_id"]
_SAMPLED: Final = LOG_FIELDS["sampled"]
_EVENT_ID: Final = LOG_FIELDS["event_id"]
_SERVICE: Final = LOG_FIELDS["service"]


# Plain (not slotted) dataclasses: orjson serialises those several times faster.
@dataclass
class LogRecord:
    """One log record as the API returns it (field order is the JSON order)."""

    timestamp: str | None
    timestamp_us: int | None
    level: str | None
    message: str
    service: str | None
    logger: str | None
    span_id: str | None
    event_id: str | None
    trace_id: str | None = None
    sampled: bool | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        # parse_log stores levels in lower case.
        return self.level in ERROR_LEVELS


def _flatten(source: Mapping[str, Any], prefix: str, into: dict[str, Any]) -> None:
    # dict, not Mapping: documents come from JSON, and the ABC check is the hot spot. The
    # second level is unrolled: most ECS fields are two deep (trace.id, log.level).
    for key, value in source.items():
        if type(value) is not dict or not value:
            into[prefix + key] = value
            continue
        outer = f"{prefix}{key}."
        for inner_key, inner in value.items():
            if type(inner) is dict and inner:
                _flatten(inner, f"{outer}{inner_key}.", into)
            else:
                into[outer + inner_key] = inner


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def parse_log(source: Mapping[str, Any], *, doc_id: str | None = None) -> LogRecord:
    """One log document's ``_source`` → :class:`LogRecord`. Never raises on odd content.

    IDs are normalised (32/16 lower-case hex); an ID that is not hex is kept in ``fields``
    under its ECS name and never used for joining. ``event_id`` falls back to the document
    ``_id`` (the shipper uses ``event.id`` as ``_id``).
    """
    flat: dict[str, Any] = {}
    _flatten(source, "", flat)

    raw_timestamp = flat.pop(_TIMESTAMP, None)
    raw_trace = flat.pop(_TRACE_ID, None)
    raw_span = flat.pop(_SPAN_ID, None)
    trace_id = normalize_trace_id(raw_trace) if isinstance(raw_trace, str) else None
    span_id = normalize_span_id(raw_span) if isinstance(raw_span, str) else None
    if raw_trace is not None and trace_id is None:
        flat[_TRACE_ID] = raw_trace
    if raw_span is not None and span_id is None:
        flat[_SPAN_ID] = raw_span
    sampled = flat.pop(_SAMPLED, None)
    level = _text(flat.pop(_LEVEL, None))
    event_id = _text(flat.pop(_EVENT_ID, None)) or doc_id
    return LogRecord(
        timestamp=_text(raw_timestamp),
        timestamp_us=parse_time_us(raw_timestamp),
        level=level.lower() if level is not None else None,
        message=_text(flat.pop(_MESSAGE, None)) or "",
        service=_text(flat.pop(_SERVICE, None)),
        logger=_text(flat.pop(_LOGGER, None)),
        span_id=span_id,
        event_id=event_id,
        trace_id=trace_id,
        sampled=sampled if isinstance(sampled, bool) else _sampled_text(sampled),
        fields=flat,
    )


def _sampled_text(value: Any) -> bool | None:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None
