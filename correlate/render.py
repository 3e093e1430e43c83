"""The HTML view of a correlated trace: a server-rendered waterfall (Jinja2, autoescaped).

:func:`waterfall` turns a :class:`~correlate.join.CorrelatedTrace` into plain view rows
(positions in percent of the trace's timeline, colours by service, time offsets); the
templates in ``views/`` only lay them out. Every text from spans and logs is escaped by
Jinja2's autoescaping; only numbers computed here and fixed palette colours go into
``style`` attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined

from correlate.join import CorrelatedTrace
from correlate.logs import LogRecord, level_rank

__all__ = ["render_error", "render_trace", "waterfall"]

# Distinguishable on white, readable with white text (Tableau 10, darkened a little).
_PALETTE: Final = (
    "#3b6fb6",
    "#d9730d",
    "#2f9e44",
    "#c2255c",
    "#7048e8",
    "#0c8599",
    "#a0522d",
    "#5c7cfa",
    "#868e96",
    "#b8860b",
)
_MIN_BAR_PERCENT: Final = 0.3
# Bars at least this wide carry their duration inside; narrower ones beside them.
_LABEL_INSIDE_PERCENT: Final = 14.0
# Present on every record and of no help when reading a trace (the JSON keeps them).
_HIDDEN_FIELDS: Final = frozenset({"ecs.version"})


@dataclass(frozen=True, slots=True)
class LogRow:
    position: float | None
    offset: str
    level: str
    level_class: str
    service: str
    message: str
    event_id: str
    fields: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class SpanRow:
    span_id: str
    service: str
    operation: str
    color: str
    depth: int
    error: bool
    left: float
    width: float
    label_inside: bool
    start_offset: str
    duration: str
    tags: list[tuple[str, str]]
    events: list[tuple[str, str]]
    logs: list[LogRow]


@dataclass(frozen=True, slots=True)
class Waterfall:
    origin_us: int
    span_us: int
    ticks: list[tuple[float, str]]
    services: list[tuple[str, str]]
    spans: list[SpanRow]
    orphan_logs: list[LogRow]


def format_duration(micros: int) -> str:
    """``850 µs``, ``12.35 ms``, ``1.234 s``: short and unambiguous."""
    sign = "-" if micros < 0 else ""
    value = abs(micros)
    if value < 1_000:
        return f"{sign}{value} µs"
    if value < 1_000_000:
        return f"{sign}{value / 1_000:.2f} ms"
    return f"{sign}{value / 1_000_000:.3f} s"


def _level_class(level: str | None) -> str:
    rank = level_rank(level)
    if rank >= 40:
        return "error"
    if rank >= 30:
        return "warn"
    if rank >= 20:
        return "info"
    return "debug"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _log_row(log: LogRecord, origin_us: int, total_us: int) -> LogRow:
    position = (
        None
        if log.timestamp_us is None
        else round(min(max((log.timestamp_us - origin_us) / total_us * 100, 0), 100), 3)
    )
    offset = (
        "+" + format_duration(log.timestamp_us - origin_us)
        if log.timestamp_us is not None
        else "time?"
    )
    return LogRow(
        position=position,
        offset=offset,
        level=(log.level or "—").upper(),
        level_class=_level_class(log.level),
        service=log.service or "",
        message=log.message,
        event_id=log.event_id or "",
        fields=sorted(
            (key, _text(value)) for key, value in log.fields.items() if key not in _HIDDEN_FIELDS
        ),
    )


def waterfall(trace: CorrelatedTrace) -> Waterfall:
    """Positions and labels for the view; the timeline covers every span and every log."""
    starts = [span.start_us for span in trace.spans]
    ends = [span.start_us + span.duration_us for span in trace.spans]
    log_times = [
        log.timestamp_us
        for log in [*trace.orphan_logs, *(log for span in trace.spans for log in span.logs)]
        if log.timestamp_us is not None
    ]
    origin = min(starts + log_times, default=0)
    end = max(ends + log_times, default=origin)
    total = max(end - origin, 1)
    colors = {
        service: _PALETTE[index % len(_PALETTE)]
        for index, service in enumerate(trace.summary.services)
    }
    rows = []
    for span in trace.spans:
        left = min((span.start_us - origin) / total * 100, 100 - _MIN_BAR_PERCENT)
        width = min(max(span.duration_us / total * 100, _MIN_BAR_PERCENT), 100 - left)
        rows.append(
            SpanRow(
                span_id=span.span_id,
                service=span.service,
                operation=span.operation,
                color=colors.get(span.service, _PALETTE[-2]),
                depth=span.depth,
                error=span.error,
                left=round(left, 3),
                width=round(width, 3),
                label_inside=width >= _LABEL_INSIDE_PERCENT,
                start_offset="+" + format_duration(span.start_us - origin),
                duration=format_duration(span.duration_us),
                tags=sorted((key, _text(value)) for key, value in span.tags.items()),
                events=[
                    (
                        "+" + format_duration(event.timestamp_us - origin),
                        event.name or ", ".join(f"{k}={_text(v)}" for k, v in event.fields.items()),
                    )
                    for event in span.events
                ],
                logs=[_log_row(log, origin, total) for log in span.logs],
            )
        )
    ticks = [
        (fraction * 100, format_duration(round(total * fraction)))
        for fraction in (0, 0.25, 0.5, 0.75, 1)
    ]
    return Waterfall(
        origin_us=origin,
        span_us=total,
        ticks=ticks,
        services=list(colors.items()),
        spans=rows,
        orphan_logs=[_log_row(log, origin, total) for log in trace.orphan_logs],
    )


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("correlate", "views"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_trace(trace: CorrelatedTrace) -> str:
    """The complete HTML page for ``trace`` (links must already be set)."""
    template = _environment().get_template("trace.html.j2")
    return template.render(trace=trace, view=waterfall(trace), duration=format_duration)


def render_error(status: int, title: str, detail: str) -> str:
    """A small HTML page for an error answer of the view."""
    template = _environment().get_template("error.html.j2")
    return template.render(status=status, title=title, detail=detail)
