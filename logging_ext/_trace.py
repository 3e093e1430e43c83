"""The trace context current where a log call is made, cheaply.

The naive ``get_current_span().get_span_context()`` plus hex formatting costs more than a
microsecond per record. Two things make it cheap here:

* the current OpenTelemetry context is read straight from its ``ContextVar`` when the SDK's
  default runtime context is in use (checked once; any other runtime context goes through
  the public API), and
* the formatted ``(trace_id, span_id, sampled)`` triple is cached per span object, so a span
  that logs many records formats its IDs once, and
* the last context looked up is remembered with its triple: while a span stays current,
  the context variable holds the very same (immutable) ``Context`` object, so one identity
  check answers the lookup without touching the span at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace

from tracelink.ids import format_span_id, format_trace_id

__all__ = [
    "STAMP_ATTR",
    "TraceStamp",
    "current_trace",
    "install_trace_record_factory",
    "record_trace",
    "traceparent",
]

TraceStamp = tuple[str, str, bool]
"""``(trace_id, span_id, sampled)``: 32 and 16 lower-case hex digits and the W3C flag."""

# The attribute the record factory sets on every stdlib LogRecord: a TraceStamp or None.
STAMP_ATTR: Final = "_logging_ext_trace"
# What opentelemetry-instrumentation-logging's LoggingInstrumentor sets ("0" = no span).
OTEL_RECORD_ATTRS: Final = ("otelTraceID", "otelSpanID", "otelTraceSampled", "otelServiceName")

_CACHE_MAX = 256
# id(span) -> (span, stamp). Holding the span keeps its id from being reused while cached.
_cache: dict[int, tuple[object, TraceStamp | None]] = {}
# (Context, its stamp) of the last lookup on the fast route. OpenTelemetry Contexts are
# immutable, so the same object always means the same span; holding it keeps its id from
# being reused. One tuple, replaced whole, so threads and asyncio tasks (each with their
# own current Context) can only miss it, never read another's stamp.
_last: tuple[object, TraceStamp | None] = (object(), None)


def _span_getter() -> tuple[Callable[[], Any], object]:
    """``(get the current Context, the span key)`` — the ContextVar when that is safe."""
    try:
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
        from opentelemetry.trace.propagation import _SPAN_KEY

        runtime = otel_context._RUNTIME_CONTEXT
        var = getattr(runtime, "_current_context", None)
        if type(runtime) is ContextVarsRuntimeContext and isinstance(var, ContextVar):
            return var.get, _SPAN_KEY
    except (ImportError, AttributeError):  # a different opentelemetry-api layout
        pass
    return otel_context.get_current, _SPAN_KEY_PUBLIC


# The public route: a key under which get_current() never holds a value, so the fast lookup
# misses and `current_trace` falls back to trace.get_current_span().
_SPAN_KEY_PUBLIC = object()
_get_context, _span_key = _span_getter()
_public_route = _span_key is _SPAN_KEY_PUBLIC


def _stamp_of(span: object) -> TraceStamp | None:
    if not isinstance(span, trace.Span):
        return None
    try:
        ctx = span.get_span_context()
    except Exception:  # noqa: BLE001 - a broken third-party span must not break logging
        return None
    if ctx is None or not ctx.is_valid:
        return None
    return format_trace_id(ctx.trace_id), format_span_id(ctx.span_id), ctx.trace_flags.sampled


def current_trace() -> TraceStamp | None:
    """The stamp of the span current in this context, ``None`` outside a valid span.

    Unsampled spans have a stamp too (``sampled`` False): their IDs are still valid.
    """
    global _last  # noqa: PLW0603 - a one-entry cache, replaced atomically
    if _public_route:
        span: object = trace.get_current_span()
    else:
        context = _get_context()
        last = _last
        if last[0] is context:
            return last[1]
        span = context.get(_span_key)
        if span is None:
            _last = (context, None)
            return None
        stamp = _span_stamp(span)
        _last = (context, stamp)
        return stamp
    return _span_stamp(span)


def _span_stamp(span: object) -> TraceStamp | None:
    """The stamp of ``span``, formatted once per span (see the module doc)."""
    entry = _cache.get(id(span))
    if entry is not None and entry[0] is span:
        return entry[1]
    stamp = _stamp_of(span)
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[id(span)] = (span, stamp)
    return stamp


def record_trace(record: logging.LogRecord) -> TraceStamp | None:
    """The trace a stdlib record was created in.

    From the record factory's stamp when it ran; else from LoggingInstrumentor's attributes;
    else the context current now (right for handlers that format synchronously).
    """
    attrs = record.__dict__
    stamp = attrs.get(STAMP_ATTR, _MISSING)
    if stamp is not _MISSING:
        return stamp  # type: ignore[no-any-return]
    otel_trace_id = attrs.get("otelTraceID")
    if isinstance(otel_trace_id, str):
        otel_span_id = attrs.get("otelSpanID")
        if otel_trace_id == "0" or not isinstance(otel_span_id, str):
            return None
        return otel_trace_id, otel_span_id, bool(attrs.get("otelTraceSampled"))
    return current_trace()


_MISSING: Final = object()


def traceparent(stamp: TraceStamp) -> str:
    """The W3C ``traceparent`` header value for ``stamp``."""
    return f"00-{stamp[0]}-{stamp[1]}-{'01' if stamp[2] else '00'}"


def install_trace_record_factory() -> Callable[[], None]:
    """Stamp every stdlib ``LogRecord`` with the trace context current at its creation.

    Chains the record factory in place (like LoggingInstrumentor), so the stamp is right even
    when a ``QueueHandler`` formats the record later in another thread. Installing twice is
    harmless. Returns a function that removes the hook again: it restores the previous
    factory when ours is still the outermost, and otherwise turns ours into a pass-through so
    that factories chained on top of it keep working.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "_logging_ext_active", False):
        return _noop
    previous = current
    active = True  # a closure cell: the cheapest flag to read once per record
    stamp_now = current_trace

    # LogRecord's own parameters, spelled out: forwarding *args/**kwargs costs more per
    # record than everything else this factory does.
    def factory(  # noqa: PLR0917
        name: str,
        level: int,
        pathname: str,
        lineno: int,
        msg: object,
        args: Any,
        exc_info: Any,
        func: str | None = None,
        sinfo: str | None = None,
        **kwargs: Any,
    ) -> logging.LogRecord:
        if kwargs:
            record = previous(
                name, level, pathname, lineno, msg, args, exc_info, func, sinfo, **kwargs
            )
        else:
            record = previous(name, level, pathname, lineno, msg, args, exc_info, func, sinfo)
        if active:
            # current_trace's first check, inlined: calls cost here. On the public route
            # _last keeps its initial entry, which matches no context.
            last = _last
            record._logging_ext_trace = last[1] if _get_context() is last[0] else stamp_now()
        return record

    factory._logging_ext_active = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)

    def uninstall() -> None:
        nonlocal active
        if not active:
            return
        active = False
        factory._logging_ext_active = False  # type: ignore[attr-defined]
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)

    return uninstall


def _noop() -> None:
    return None
