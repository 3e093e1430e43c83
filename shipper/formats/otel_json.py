"""JSON log records with other languages' OpenTelemetry spellings (one record per message).

The OpenTelemetry log-correlation instrumentations of other languages inject the trace
context under their own names: ``trace_id``/``span_id``/``trace_flags`` (Node.js pino,
winston and bunyan instrumentations; the Java agent's MDC keys, written by logback's and
log4j's JSON encoders — ``docs/logger-mdc-instrumentation.md`` of
opentelemetry-java-instrumentation), ``traceId``/``spanId``/``traceFlags`` and
``TraceId``/``SpanId`` (.NET, Go bridges), or a W3C ``traceparent`` field. Their loggers
also spell the other fields their own way. This module renames them to the ECS fields
``logging_ext`` writes; the transform then applies the same rules as to any ECS record
(IDs normalised to lower-case hex, the ``traceparent`` header fallback, limits, ``_id``).

Only top-level keys are read, and a field is mapped only when its ECS target is not
already in the record (the ECS spelling wins). What is mapped leaves its original key;
everything else stays under its own key, untouched.

====================================================  ================================
record (first present wins)                           document
====================================================  ================================
``trace_id``, ``traceId``, ``TraceId``                ``trace.id``
``span_id``, ``spanId``, ``SpanId``                   ``span.id``
``trace_flags``, ``traceFlags``, ``TraceFlags``       ``trace.sampled`` (bit 0; hex text
                                                      ``"01"`` or a number)
``traceparent`` (W3C), when no trace ID above         ``trace.id``, ``span.id``,
                                                      ``trace.sampled``
``level`` number (pino: 10 trace, 20 debug, 30        ``log.level`` (pino's name)
info, 40 warn, 50 error, 60 fatal)
``level``, ``severity``, ``levelname``, ``lvl`` text  ``log.level`` (lower-case)
``msg``                                               ``message``
``time``, ``timestamp``, ``ts``: RFC 3339 text, or    ``@timestamp`` (µs, UTC)
an epoch number whose unit is read from its
magnitude: < 1e11 s, < 1e14 ms, < 1e17 µs, else ns
``logger``, ``logger_name``; pino's ``name``          ``log.logger``
``err``, ``exception`` object: ``type``/``name``,     ``error.type``, ``error.message``,
``message``, ``stack``/``stack_trace``/``stacktrace``  ``error.stack_trace`` (other
                                                      members stay under the key)
``exception`` text, ``stack_trace`` text              ``error.stack_trace``
``pid`` number, ``hostname``, ``thread_name``         ``process.pid``, ``host.name``,
                                                      ``process.thread.name``
====================================================  ================================

A record that names none of these keys at the top level is not this format: it goes to
the transform exactly as it came. A record without ``service.name`` is flagged
``missing_service`` (no name is invented).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from shipper.formats._record import Origin, Record, Rejected
from tracelink.ids import parse_traceparent
from tracelink.levels import pino_level
from tracelink.times import epoch_number_to_us, format_rfc3339_us, parse_rfc3339_us

__all__ = ["FLAG_MISSING_SERVICE", "decode", "map_record"]

FLAG_MISSING_SERVICE: Final = "missing_service"

_TRACE_KEYS: Final = ("trace_id", "traceId", "TraceId")
_SPAN_KEYS: Final = ("span_id", "spanId", "SpanId")
_FLAGS_KEYS: Final = ("trace_flags", "traceFlags", "TraceFlags")
_LEVEL_KEYS: Final = ("level", "severity", "levelname", "lvl")
_TIME_KEYS: Final = ("time", "timestamp", "ts")
_LOGGER_KEYS: Final = ("logger", "logger_name")
_ERROR_KEYS: Final = ("err", "exception")
_ERROR_TYPE: Final = ("type", "name", "class")
_ERROR_STACK: Final = ("stack", "stack_trace", "stacktrace")


def decode(value: bytes, origin: Origin, parsed: Any = None) -> list[Record] | Rejected | None:
    """The record with its fields renamed, or ``None`` when the message is not this format
    (not a JSON object, or no key of another spelling): the transform then reads it as ECS
    and dead-letters it if it is not JSON. ``parsed`` is the value when already parsed."""
    del origin  # one record per message: the transform derives its _id from the origin
    if parsed is None:
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    if type(parsed) is not dict:
        return None
    fields = map_record(parsed)
    if fields is None:
        return None
    flags = [] if _has(fields, "service", "name") else [FLAG_MISSING_SERVICE]
    return [Record(fields, flags=flags)]


def map_record(record: dict[str, Any]) -> dict[str, Any] | None:
    """``record`` with the spellings of the module table renamed; ``None`` if none occurs."""
    rest = dict(record)
    mapped: dict[str, Any] = {}
    _map_time(rest, mapped)
    _map_level(rest, mapped)
    _map_text(rest, mapped, ("msg",), "message", "message")
    _map_logger(rest, mapped)
    _map_trace(rest, mapped)
    _map_error(rest, mapped)
    if not mapped:
        return None
    _map_process(rest, mapped)
    mapped.update(rest)
    return mapped


def _has(record: dict[str, Any], *path: str) -> bool:
    """Whether the ECS field ``path`` is in ``record``, dotted or nested."""
    if ".".join(path) in record:
        return True
    node: Any = record
    for part in path:
        if type(node) is not dict or part not in node:
            return False
        node = node[part]
    return True


def _map_time(rest: dict[str, Any], mapped: dict[str, Any]) -> None:
    if "@timestamp" in rest:
        return
    for key in _TIME_KEYS:
        value = rest.get(key)
        if type(value) is str:
            micros = parse_rfc3339_us(value)
        elif isinstance(value, int | float):  # bool too: epoch_number_to_us refuses it
            micros = epoch_number_to_us(value)
        else:
            continue
        if micros is not None:
            del rest[key]
            mapped["@timestamp"] = format_rfc3339_us(micros)
            return


def _map_level(rest: dict[str, Any], mapped: dict[str, Any]) -> None:
    if _has(rest, "log", "level"):
        return
    for key in _LEVEL_KEYS:
        value = rest.get(key)
        name: str | None = None
        if type(value) is int and key == "level":
            name = pino_level(value)
        elif type(value) is str and value.strip():
            name = value.strip().lower()
        if name is not None:
            del rest[key]
            mapped["log.level"] = name
            return


def _map_text(
    rest: dict[str, Any], mapped: dict[str, Any], keys: tuple[str, ...], target: str, *path: str
) -> bool:
    if _has(rest, *path):
        return False
    for key in keys:
        value = rest.get(key)
        if type(value) is str:
            del rest[key]
            mapped[target] = value
            return True
    return False


def _map_logger(rest: dict[str, Any], mapped: dict[str, Any]) -> None:
    if _map_text(rest, mapped, _LOGGER_KEYS, "log.logger", "log", "logger"):
        return
    # pino's `name` option names the logger; elsewhere `name` means anything.
    if "name" in rest and _is_pino(rest, mapped):
        _map_text(rest, mapped, ("name",), "log.logger", "log", "logger")


def _is_pino(rest: dict[str, Any], mapped: dict[str, Any]) -> bool:
    """pino's own line: a level was mapped and pino's ``pid`` and ``hostname`` are there."""
    return "log.level" in mapped and "pid" in rest and "hostname" in rest


def _map_trace(rest: dict[str, Any], mapped: dict[str, Any]) -> None:
    has_trace = _has(rest, "trace", "id") or _move_first(rest, mapped, _TRACE_KEYS, "trace.id")
    if not _has(rest, "span", "id"):
        _move_first(rest, mapped, _SPAN_KEYS, "span.id")
    if not _has(rest, "trace", "sampled"):
        for key in _FLAGS_KEYS:
            sampled = _sampled(rest.get(key))
            if sampled is not None:
                del rest[key]
                mapped["trace.sampled"] = sampled
                break
    header = rest.get("traceparent")
    if has_trace or type(header) is not str:
        return
    context = parse_traceparent(header)
    if context is None:
        return  # kept under its own key
    del rest["traceparent"]
    mapped["trace.id"], span_id, sampled = context
    if "span.id" not in mapped and not _has(rest, "span", "id"):
        mapped["span.id"] = span_id
    if "trace.sampled" not in mapped and not _has(rest, "trace", "sampled"):
        mapped["trace.sampled"] = sampled


def _move_first(
    rest: dict[str, Any], mapped: dict[str, Any], keys: tuple[str, ...], target: str
) -> bool:
    """Move the first of ``keys`` present to ``target``, whatever its value (the transform
    normalises IDs and flags unusable ones)."""
    for key in keys:
        if key in rest:
            mapped[target] = rest.pop(key)
            return True
    return False


def _sampled(value: Any) -> bool | None:
    """W3C trace flags (hex text such as ``"01"``, or a number) → the sampled bit."""
    if type(value) is bool:
        return value
    if type(value) is int:
        return bool(value & 0x01)
    if type(value) is str and 0 < len(value) <= 2:
        try:
            return bool(int(value, 16) & 0x01)
        except ValueError:
            return None
    return None


def _map_error(rest: dict[str, Any], mapped: dict[str, Any]) -> None:
    if "error" in rest or any(key.startswith("error.") for key in rest):
        return
    for key in _ERROR_KEYS:
        value = rest.get(key)
        if type(value) is dict:
            remaining = dict(value)
            found = False
            for target, names in (
                ("error.type", _ERROR_TYPE),
                ("error.message", ("message",)),
                ("error.stack_trace", _ERROR_STACK),
            ):
                for name in names:
                    if type(remaining.get(name)) is str:
                        mapped[target] = remaining.pop(name)
                        found = True
                        break
            if found:
                if remaining:
                    rest[key] = remaining
                else:
                    del rest[key]
                return
        elif type(value) is str and key == "exception":
            mapped["error.stack_trace"] = rest.pop(key)
            return
    stack = rest.get("stack_trace")
    if type(stack) is str:
        mapped["error.stack_trace"] = rest.pop("stack_trace")


def _map_process(rest: dict[str, Any], mapped: dict[str, Any]) -> None:
    """pino's ``pid``/``hostname`` and logstash's ``thread_name``, when this format applies."""
    if type(rest.get("pid")) is int and not _has(rest, "process", "pid"):
        mapped["process.pid"] = rest.pop("pid")
    if type(rest.get("hostname")) is str and not _has(rest, "host", "name"):
        mapped["host.name"] = rest.pop("hostname")
    if type(rest.get("thread_name")) is str and not _has(rest, "process", "thread", "name"):
        mapped["process.thread.name"] = rest.pop("thread_name")
