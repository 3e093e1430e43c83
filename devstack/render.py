"""A correlated trace (the correlate API's JSON) as a terminal tree.

Pure: the answer of ``GET /correlate/{trace_id}`` in, text out. Colour is ANSI and optional
(off for pipes and ``NO_COLOR``), so the same text serves a terminal and a test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_trace"]

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_RED = "\x1b[31m"
_YELLOW = "\x1b[33m"
_SERVICE_COLOURS = ("\x1b[36m", "\x1b[35m", "\x1b[34m", "\x1b[32m", "\x1b[96m", "\x1b[95m")
_LEVEL_COLOURS = {
    "warning": _YELLOW,
    "warn": _YELLOW,
    "error": _BOLD + _RED,
    "critical": _BOLD + _RED,
    "fatal": _BOLD + _RED,
}
_MAX_MESSAGE = 160


class _Paint:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._services: dict[str, str] = {}

    def __call__(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self.enabled and code else text

    def service(self, name: str) -> str:
        code = self._services.setdefault(
            name, _SERVICE_COLOURS[len(self._services) % len(_SERVICE_COLOURS)]
        )
        return self(name, code)


def _ms(micros: float) -> str:
    return f"{micros / 1000:.1f} ms"


def _one_line(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= _MAX_MESSAGE else flat[: _MAX_MESSAGE - 1] + "…"


def _log_line(log: Mapping[str, Any], origin_us: int, indent: str, paint: _Paint) -> str:
    level = str(log.get("level") or "").lower()
    offset = (int(log.get("timestamp_us") or origin_us) - origin_us) / 1000
    label = paint(f"{level.upper():<7}", _LEVEL_COLOURS.get(level, _DIM))
    message = _one_line(str(log.get("message", "")))
    if level in {"error", "critical", "fatal"}:
        message = paint(message, _BOLD + _RED)
    return f"{indent}{paint(f'+{offset:8.1f} ms', _DIM)} {label} {message}"


def render_trace(result: Mapping[str, Any], *, color: bool = False) -> str:
    """The span tree with each span's logs under it, the errors highlighted."""
    paint = _Paint(color)
    summary: Mapping[str, Any] = result.get("summary") or {}
    spans: Sequence[Mapping[str, Any]] = result.get("spans") or []
    origin_us = min(
        [int(s["start_us"]) for s in spans]
        + [int(log["timestamp_us"]) for s in spans for log in s.get("logs") or []]
        + [int(log["timestamp_us"]) for log in result.get("orphan_logs") or []]
        or [0]
    )
    services = ", ".join(paint.service(name) for name in summary.get("services") or [])
    lines = [
        paint(f"trace {result.get('trace_id', '?')}", _BOLD),
        f"  services: {services}",
        f"  {summary.get('span_count', len(spans))} spans, {summary.get('log_count', 0)} logs, "
        f"{summary.get('error_count', 0)} errors, {_ms(int(summary.get('duration_us') or 0))}",
    ]
    first_error = summary.get("first_error")
    if first_error:
        what = first_error.get("message") or first_error.get("operation") or ""
        where = first_error.get("service") or ""
        lines.append("  first error: " + paint(f"{where}: {_one_line(str(what))}", _BOLD + _RED))
    lines.extend(paint(f"  ! {warning}", _YELLOW) for warning in result.get("warnings") or [])
    lines.append("")
    for span in spans:
        indent = "  " * int(span.get("depth") or 0)
        start = (int(span["start_us"]) - origin_us) / 1000
        marker = paint(" ✗ ERROR", _BOLD + _RED) if span.get("error") else ""
        timing = paint(f"@{start:.1f} ms, {_ms(int(span.get('duration_us') or 0))}", _DIM)
        lines.append(
            f"{indent}{paint.service(str(span.get('service', '?')))} "
            f"{paint(str(span.get('operation', '')), _BOLD)} {timing}{marker}"
        )
        lines.extend(
            _log_line(log, origin_us, indent + "  │ ", paint) for log in span.get("logs") or []
        )
    orphans = result.get("orphan_logs") or []
    if orphans:
        lines.append("")
        lines.append(paint(f"logs of this trace without a known span ({len(orphans)})", _BOLD))
        lines.extend(_log_line(log, origin_us, "  │ ", paint) for log in orphans)
    return "\n".join(lines)
