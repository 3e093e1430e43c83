"""The ECS JSON renderer: the last step of the shared chain, for structlog and stdlib alike.

It is the only place that writes the record's ECS fields (``@timestamp``, ``trace.id``, …),
which is what guarantees that structured extras never overwrite them. Rendering never
raises: values orjson cannot serialise fall back to their ``repr``, and a record that still
cannot be rendered becomes a minimal record that says so.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from itertools import islice
from typing import Any, Final

import orjson
import structlog.contextvars
from structlog.typing import EventDict, Processor, WrappedLogger

from logging_ext import _fields as ecs
from logging_ext._ids import uuid7, uuid7_at
from logging_ext._process import per_process
from logging_ext._processors import _bound_contextvars, merge_contextvars, move_foreign_trace_keys
from logging_ext._records import PLAIN_RECORD_LEN, RECORD_ATTRS
from logging_ext._trace import STAMP_ATTR, TraceStamp, record_trace
from tracelink.levels import STRUCTLOG_METHOD_LEVELS

__all__ = [
    "ECSRenderer",
    "Rendered",
    "interpolation_failed",
    "plain_timestamp",
    "safe_repr",
    "safe_str",
]

Rendered = tuple[bytes, TraceStamp | None]
"""One record as UTF-8 JSON (no trailing newline) and the trace it carries (Kafka key)."""

# structlog's method names that are not Python level names (log.warn, log.exception, …).
_LEVEL_ALIASES: Final = STRUCTLOG_METHOD_LEVELS

# Keys known not to conflict with contract fields; a cheap subset test skips the per-key
# check for the usual records. Bounded so that generated key names cannot grow it forever.
_safe_keys: set[str] = set()
_SAFE_KEYS_MAX = 8192

# Module constants: a global lookup is cheaper than an attribute lookup, once per field.
_TIMESTAMP: Final = ecs.TIMESTAMP
_LEVEL: Final = ecs.LEVEL
_MESSAGE: Final = ecs.MESSAGE
_LOGGER: Final = ecs.LOGGER
_TRACE_ID: Final = ecs.TRACE_ID
_SPAN_ID: Final = ecs.SPAN_ID
_SAMPLED: Final = ecs.SAMPLED
_EVENT_ID: Final = ecs.EVENT_ID
_SERVICE: Final = ecs.SERVICE
_PID: Final = ecs.PID
_THREAD: Final = ecs.THREAD
_RENDER_ERROR: Final = ecs.RENDER_ERROR
_CONFLICT_PREFIX: Final = ecs.CONFLICT_PREFIX
_PLAIN_RECORD_LEN: Final = PLAIN_RECORD_LEN

_NO_KWARGS: Final[Mapping[str, Any]] = {}
_MISSING: Final = object()
_MERGE_STEPS: Final = (merge_contextvars, structlog.contextvars.merge_contextvars)
# "000Z" ... "999Z": the microseconds within a millisecond, ready to append.
_MICROS_Z: Final = tuple(f"{us:03d}Z" for us in range(1000))
_orjson_dumps = orjson.dumps

_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


def safe_repr(value: object) -> str:
    """``repr(value)``, or a description of the object when its ``__repr__`` raises."""
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - user objects may raise anything from __repr__
        return f"<unrepresentable {type(value).__qualname__} object>"


def safe_str(value: object) -> str:
    """``str(value)``, falling back to :func:`safe_repr`."""
    if type(value) is str:
        return value
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - user objects may raise anything from __str__
        return safe_repr(value)


_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def plain_timestamp(micros: int) -> str:
    """``@timestamp`` for ``micros`` since the epoch, the plain way: RFC 3339 UTC with
    microseconds. The renderer's cached, inlined formatting must write exactly this (its
    tests compare the two); the last-resort record of :meth:`ECSRenderer._emergency` uses
    this one, so that it depends on nothing the failed rendering used."""
    moment = _EPOCH + datetime.timedelta(microseconds=micros)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def interpolation_failed(msg: object, args: object, exc: BaseException) -> tuple[str, str]:
    """The message and the ``tracelink.render_error`` text for ``msg % args`` that raised.

    Bad %-arguments are the caller's bug, and the record must still say what was logged:
    stdlib records and structlog events alike keep the template and the arguments' repr.
    """
    message = f"{safe_str(msg)} {safe_repr(args)}"
    return message, f"message formatting failed: {type(exc).__name__}: {safe_str(exc)}"


def _type_name(exc_type: type[BaseException]) -> str:
    module = getattr(exc_type, "__module__", "builtins")
    name = getattr(exc_type, "__qualname__", exc_type.__name__)
    return name if module == "builtins" else f"{module}.{name}"


_ExcInfo = tuple[type[BaseException], BaseException, Any]


def _exc_info(value: object) -> _ExcInfo | None:
    """Normalise structlog's/stdlib's ``exc_info`` (True, an exception, or a 3-tuple)."""
    if value is None or value is False:
        return None
    if value is True:
        current = sys.exc_info()
        return None if current[0] is None else current
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return value
    return None


def _format_exception(info: _ExcInfo) -> str:
    try:
        return "".join(traceback.format_exception(*info)).rstrip("\n")
    except Exception:  # noqa: BLE001 - a broken traceback must not lose the record
        return safe_repr(info[1])


def _stack_text(value: object) -> str | None:
    if isinstance(value, str):
        return value.rstrip("\n") or None
    if value is True:
        # structlog's stack_info=True: the stack of the logging call, without our frames.
        frame = sys._getframe(1)
        while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).startswith(
            _OWN_MODULES
        ):
            frame = frame.f_back
        stack = "".join(traceback.format_stack(frame)).rstrip("\n")
        return "Stack (most recent call last):\n" + stack
    return None


_OWN_MODULES: Final = ("structlog.", "logging_ext.", "structlog", "logging_ext")


_pid: int = -1
_thread_local = threading.local()


def _thread_name() -> str:
    # threading.current_thread().name costs two Python calls per record; the name is read
    # once per thread instead (a thread renamed after its first log keeps its old name).
    try:
        return _thread_local.name  # type: ignore[no-any-return]
    except AttributeError:
        name: str = threading.current_thread().name
        _thread_local.name = name
        return name


def _reset_pid() -> None:
    global _pid  # noqa: PLW0603 - refreshed in every forked child
    _pid = os.getpid()


def _default(value: object) -> str:
    return safe_repr(value)


def _sanitize(value: Any, depth: int = 0) -> Any:  # noqa: PLR0911 - one case per type
    """A JSON-safe copy of ``value``: what orjson refused becomes its ``repr``."""
    if depth > 64:
        return safe_repr(value)
    kind = type(value)
    if kind is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if kind is bool or kind is float or value is None:
        return value
    if kind is int:
        return value if _INT64_MIN <= value <= _UINT64_MAX else safe_repr(value)
    if isinstance(value, Mapping):
        try:
            items = list(value.items())
        except Exception:  # noqa: BLE001 - a mapping that cannot be iterated
            return safe_repr(value)
        return {
            _sanitize(key if type(key) is str else safe_str(key), depth + 1): _sanitize(
                item, depth + 1
            )
            for key, item in items
        }
    if isinstance(value, list | tuple):
        return [_sanitize(item, depth + 1) for item in value]
    try:
        orjson.dumps(value, default=_default)
    except (TypeError, ValueError, RecursionError):
        return safe_repr(value)
    return value


def dumps(document: Mapping[str, Any]) -> bytes:
    """``document`` as compact UTF-8 JSON; never raises on odd values (see module doc)."""
    try:
        return orjson.dumps(document, default=_default)
    except (TypeError, ValueError, RecursionError):
        return orjson.dumps(_sanitize(document), default=_default)


# Pre-serialised runs of fields. orjson writes a Fragment's bytes verbatim, so the JSON of
# several consecutive fields, minus the first key, can stand as that key's value:
# {"trace.id": <'"4bf9…","span.id":"00f0…","trace.sampled":true'>} serialises to exactly the
# bytes of the three fields. The fields that stay the same from record to record (the trace
# within a span; service, host, pid and thread) are then serialised once, not per record.
_Fragment = orjson.Fragment


def _run_of_fields(fields: Mapping[str, Any]) -> orjson.Fragment:
    """``fields`` as the value of their first key (see above); never raises."""
    first = next(iter(fields))
    try:
        text = orjson.dumps(fields)
    except (TypeError, ValueError):  # e.g. lone surrogates: what _line's fallback writes
        text = orjson.dumps(_sanitize(fields), default=_default)
    return _Fragment(text[len(orjson.dumps(first)) + 2 : -1])


# (trace_id, span_id, sampled, their fields, the stamp): the last trace rendered. Stamps
# come from _trace's caches, so the records of one span carry the very same tuple and
# strings, and the renderer checks by identity before calling _trace_fields. One tuple,
# replaced whole: threads can only miss it.
_NOTHING: Final = object()  # matches no value: the caches' initial entries
_last_trace: tuple[object, object, object, orjson.Fragment, TraceStamp] = (
    _NOTHING,
    _NOTHING,
    _NOTHING,
    _Fragment(b"null"),
    ("", "", False),
)


def _trace_fields(stamp: TraceStamp) -> orjson.Fragment | None:
    """The three trace fields, serialised once per trace; ``None`` for values other than
    strings (those are written field by field, as any value)."""
    global _last_trace  # noqa: PLW0603 - a one-entry cache, replaced atomically
    # Indexed, not unpacked: a stamp attribute set by hand as a longer tuple still renders.
    trace_id, span_id, sampled = stamp[0], stamp[1], stamp[2]
    if type(trace_id) is not str or type(span_id) is not str:
        return None
    last = _last_trace
    if trace_id == last[0] and span_id == last[1] and sampled is last[2]:
        fragment = last[3]  # the same trace in another tuple (LoggingInstrumentor's, …)
    else:
        fragment = _run_of_fields({_TRACE_ID: trace_id, _SPAN_ID: span_id, _SAMPLED: sampled})
    _last_trace = (trace_id, span_id, sampled, fragment, stamp)
    return fragment


_TAILS_MAX = 256
_TAIL_TYPES: Final = frozenset({str, int, type(None)})


class ECSRenderer:
    """Render an event dict as one ECS JSON record, the last processor.

    As a structlog processor it returns ``str`` (for ``PrintLogger`` and
    ``ProcessorFormatter``), or ``bytes`` with ``as_bytes=True`` (for ``BytesLogger``).
    :meth:`render` returns the bytes together with the trace stamp, for the Kafka key.

    Static fields come from the arguments; ``service_version``/``environment`` left as
    ``None`` are omitted. ``clock`` (nanoseconds since the epoch) and ``event_id`` exist for
    golden tests; stdlib records always use their own creation time.
    """

    def __init__(
        self,
        service_name: str,
        *,
        service_version: str | None = None,
        environment: str | None = None,
        host_name: str | None = None,
        as_bytes: bool = False,
        clock: Callable[[], int] = time.time_ns,
        event_id: Callable[[], str] = uuid7,
    ) -> None:
        self.service_name = service_name
        self.service_version = service_version
        self.environment = environment
        self.host_name = socket.gethostname() if host_name is None else host_name
        self.as_bytes = as_bytes
        self._clock = clock
        self._event_id = event_id
        self._uuid7 = event_id is uuid7
        service: dict[str, str] = {ecs.SERVICE: service_name}
        if service_version is not None:
            service[ecs.SERVICE_VERSION] = service_version
        if environment is not None:
            service[ecs.ENVIRONMENT] = environment
        service[ecs.HOST] = self.host_name
        service[ecs.ECS_VERSION] = ecs.ECS_VERSION_VALUE
        self._static = service
        # The static fields with process.pid and process.thread.name, which follow them:
        # serialised once per (pid, thread name), see _run_of_fields.
        self._last_tail: tuple[object, object, orjson.Fragment] = (
            _NOTHING,
            _NOTHING,
            _Fragment(b"null"),
        )
        self._tails: dict[tuple[object, object], orjson.Fragment] = {}
        self._millisecond: tuple[int, str] = (-1, "")
        # os.getpid() is a system call: cached, and refreshed in forked children.
        per_process(_reset_pid)

    def __call__(
        self, logger: WrappedLogger, method_name: str, event_dict: EventDict
    ) -> str | bytes:
        line = self.render(logger, method_name, event_dict)[0]
        return line if self.as_bytes else line.decode("utf-8")

    def _tail(self, pid: object, thread: object) -> orjson.Fragment | None:
        """The static fields, ``process.pid`` and ``process.thread.name`` as one run, for a
        (pid, thread) other than the last record's (:meth:`_line` checks that); ``None``
        for unusual values (written field by field)."""
        if type(pid) not in _TAIL_TYPES or type(thread) not in _TAIL_TYPES:
            return None
        key = (pid, thread)
        tails = self._tails
        fragment = tails.get(key)
        if fragment is None:
            fragment = _run_of_fields({**self._static, _PID: pid, _THREAD: thread})
            if len(tails) >= _TAILS_MAX:  # thread names can be made without end
                tails.clear()
            tails[key] = fragment
        self._last_tail = (pid, thread, fragment)
        return fragment

    def _new_millisecond(self, ms: int) -> str:
        """``@timestamp`` up to the millisecond ``ms``, remembered for the next record.

        With the cache check in :meth:`_line`, this is THE ``@timestamp`` implementation
        (inlined there: a call per record costs several per cent). :func:`plain_timestamp`
        is the plain version it is tested against.
        """
        second, fraction = divmod(ms, 1000)
        text = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(second))}.{fraction:03d}"
        self._millisecond = (ms, text)
        return text

    def render(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> Rendered:
        """The record as JSON bytes and its trace stamp; consumes ``event_dict``."""
        try:
            return self._render(logger, method_name, event_dict)
        except Exception as exc:  # noqa: BLE001 - logging never raises into the application
            return self._emergency(logger, method_name, event_dict, exc), None

    def render_args(
        self, logger: WrappedLogger, method_name: str, event_dict: EventDict
    ) -> tuple[Rendered, Mapping[str, Any]]:
        """:meth:`render` as structlog's ``(args, kwargs)`` for the wrapped logger's method."""
        try:
            return self._render(logger, method_name, event_dict), _NO_KWARGS
        except Exception as exc:  # noqa: BLE001 - logging never raises into the application
            return (self._emergency(logger, method_name, event_dict, exc), None), _NO_KWARGS

    def _render(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> Rendered:
        """A structlog event dict (or a stdlib record's foreign one) as ECS JSON."""
        pop = event_dict.pop
        record = pop("_record", None)
        message = pop("event", "")
        trace_id = pop(_TRACE_ID, None)
        span_id = pop(_SPAN_ID, None)
        sampled = pop(_SAMPLED, None)
        exc_info = pop("exc_info", None)
        stack_info = pop("stack_info", None)
        if record is None:
            micros = self._clock() // 1000
            level = _LEVEL_ALIASES.get(method_name, method_name)
            logger_name = getattr(logger, "name", None)
            if type(logger_name) is not str:
                logger_name = safe_str(pop("logger", ""))
            thread = _thread_name()
            pid = _pid
        else:
            pop("_from_structlog", None)
            micros = round(record.created * 1_000_000)
            level = record.levelname.lower()
            logger_name = record.name
            thread = record.threadName
            pid = record.process
            if exc_info is None and record.exc_info:
                exc_info = record.exc_info
        if type(message) is not str:
            message = safe_str(message)
        if trace_id is not None and span_id is not None:
            flag = sampled is True
            last = _last_trace
            # add_trace_context put the cached stamp's own strings here: its tuple, found by
            # identity, is what _line recognises without comparing strings.
            if trace_id is last[0] and span_id is last[1] and flag is last[2]:
                stamp: TraceStamp | None = last[4]
            else:
                stamp = (trace_id, span_id, flag)
        else:
            stamp = None
            if trace_id is not None or span_id is not None or sampled is not None:
                # Half a trace context is not one: keep what was given, aside.
                for key, value in ((_TRACE_ID, trace_id), (_SPAN_ID, span_id), (_SAMPLED, sampled)):
                    if value is not None:
                        event_dict[_CONFLICT_PREFIX + key] = value
        line = self._line(
            micros,
            level,
            message,
            logger_name,
            pid,
            thread,
            stamp,
            event_dict,
            exc_info,
            stack_info,
        )
        return line, stamp

    def render_record(
        self,
        record: logging.LogRecord,
        steps: Sequence[Processor] = (),
        stamped: bool = True,
    ) -> Rendered:
        """A stdlib record as ECS JSON: what :meth:`render` makes of its foreign event dict.

        ``steps`` run over the record's structured extras only; they must be steps for
        which that makes no difference (``merge_contextvars``, :class:`RedactSecrets`), and
        ``stamped`` stands for ``add_trace_context``. Skipping the event dict that the
        generic chain builds and takes apart again is what makes stdlib records cheap.
        """
        try:
            attrs = record.__dict__
            # THE implementation of reading a record's extras on the hot path; calling
            # _records.record_extras instead (its plain version, which the generic chain
            # uses and the tests compare this with) made stdlib rendering 6 % slower.
            extras: EventDict = {}
            if len(attrs) > _PLAIN_RECORD_LEN:
                for key in islice(attrs, _PLAIN_RECORD_LEN, None):
                    if key not in RECORD_ATTRS:
                        extras[_CONFLICT_PREFIX + key if key == "event" else key] = attrs[key]
            level = record.levelname.lower()
            for step in steps:
                if step is merge_contextvars:
                    if _bound_contextvars is not None and not _bound_contextvars:
                        continue  # its own first check, inlined: nothing was ever bound
                elif not extras and step not in _MERGE_STEPS:
                    continue  # the rest only mask what is there
                extras = step(None, level, extras)  # type: ignore[assignment]
            stamp: TraceStamp | None = None
            if stamped:
                stamp = attrs.get(STAMP_ATTR, _MISSING)
                if stamp is _MISSING:
                    stamp = record_trace(record)
            msg = record.msg
            try:
                message = msg if type(msg) is str and not record.args else record.getMessage()
            except Exception as exc:  # noqa: BLE001 - bad %-args are the caller's bug
                message, extras[_RENDER_ERROR] = interpolation_failed(msg, record.args, exc)
            if type(message) is not str:
                message = safe_str(message)
            line = self._line(
                round(record.created * 1_000_000),
                level,
                message,
                record.name,
                record.process,
                record.threadName,
                stamp,
                extras,
                record.exc_info,
                record.stack_info,
            )
            return line, stamp
        except Exception as exc:  # noqa: BLE001 - logging never raises into the application
            event_dict: EventDict = {"event": safe_str(record.msg), "_record": record}
            return self._emergency(None, safe_str(record.levelname).lower(), event_dict, exc), None

    # The one assembly of a line, for structlog events and stdlib records alike. One
    # function on purpose: it runs once per record, and calls are what costs here, so the
    # first checks of the caches (millisecond, tail, trace) are made inline and only a miss
    # calls out (_new_millisecond, _tail, _trace_fields).
    def _line(  # noqa: PLR0912, PLR0917 - the parts of a record; see above
        self,
        micros: int,
        level: str,
        message: str,
        logger_name: object,
        pid: object,
        thread: object,
        stamp: TraceStamp | None,
        extras: EventDict,
        exc_info: object,
        stack_info: object,
    ) -> bytes:
        """The record as compact UTF-8 JSON: contract fields first, then the extras; never
        raises on odd values (see the module doc)."""
        ms, us = divmod(micros, 1000)
        cached = self._millisecond
        timestamp = (cached[1] if cached[0] == ms else self._new_millisecond(ms)) + _MICROS_Z[us]
        event_id = uuid7_at(ms) if self._uuid7 else self._event_id()
        last_tail = self._last_tail
        # pid: the very int object for structlog events, an equal one on every stdlib record.
        if thread is last_tail[1] and (
            pid is last_tail[0] or (type(pid) is int and pid == last_tail[0])
        ):
            tail: orjson.Fragment | None = last_tail[2]
        else:
            tail = self._tail(pid, thread)
        if stamp is None:
            if tail is not None:
                out: dict[str, Any] = {
                    _TIMESTAMP: timestamp,
                    _LEVEL: level,
                    _MESSAGE: message,
                    _LOGGER: logger_name,
                    _EVENT_ID: event_id,
                    _SERVICE: tail,  # through process.thread.name
                }
            else:
                out = {
                    _TIMESTAMP: timestamp,
                    _LEVEL: level,
                    _MESSAGE: message,
                    _LOGGER: logger_name,
                    _EVENT_ID: event_id,
                    **self._static,
                    _PID: pid,
                    _THREAD: thread,
                }
        else:
            last = _last_trace
            fields = last[3] if stamp is last[4] else _trace_fields(stamp)
            if fields is not None and tail is not None:
                out = {
                    _TIMESTAMP: timestamp,
                    _LEVEL: level,
                    _MESSAGE: message,
                    _LOGGER: logger_name,
                    _TRACE_ID: fields,  # with span.id and trace.sampled
                    _EVENT_ID: event_id,
                    _SERVICE: tail,  # through process.thread.name
                }
            else:  # values the cached runs do not cover: field by field
                out = {
                    _TIMESTAMP: timestamp,
                    _LEVEL: level,
                    _MESSAGE: message,
                    _LOGGER: logger_name,
                    _TRACE_ID: stamp[0],
                    _SPAN_ID: stamp[1],
                    _SAMPLED: stamp[2],
                    _EVENT_ID: event_id,
                    **self._static,
                    _PID: pid,
                    _THREAD: thread,
                }
        if exc_info is not None:
            info = _exc_info(exc_info)
            if info is not None:
                out[ecs.ERROR_TYPE] = _type_name(info[0])
                out[ecs.ERROR_MESSAGE] = safe_str(info[1])
                out[ecs.ERROR_STACK] = _format_exception(info)
        if stack_info is not None:
            stack = _stack_text(stack_info)
            if stack is not None:
                out[ecs.STACK_INFO] = stack
        if extras:
            if extras.keys() <= _safe_keys:  # seen before, none reserved: nothing to rename
                out.update(extras)
            else:
                if _RENDER_ERROR in extras:  # ours, set by the steps that had to fall back
                    out[_RENDER_ERROR] = extras.pop(_RENDER_ERROR)
                if stamp is not None and (
                    _TRACE_ID in extras or _SPAN_ID in extras or _SAMPLED in extras
                ):
                    # A stdlib extra named like a trace field: the record's own trace wins.
                    # (structlog's event dicts never get here with one: _render took them.)
                    move_foreign_trace_keys(extras, stamp, drop_equal=True)
                _add_extras(out, extras)
        try:
            return _orjson_dumps(out)
        except TypeError:
            pass  # a value orjson does not know: retry with the repr fallback
        try:
            return _orjson_dumps(out, default=_default)
        except (TypeError, ValueError, RecursionError):
            return _orjson_dumps(_sanitize(out), default=_default)

    def _emergency(
        self, logger: WrappedLogger, method_name: str, event_dict: EventDict, exc: BaseException
    ) -> bytes:
        record = event_dict.get("_record")
        out: dict[str, Any] = {
            ecs.TIMESTAMP: plain_timestamp(time.time_ns() // 1000),
            ecs.LEVEL: _LEVEL_ALIASES.get(method_name, method_name),
            ecs.MESSAGE: safe_repr(event_dict.get("event")),
            ecs.LOGGER: getattr(record, "name", None) or safe_str(getattr(logger, "name", "")),
            ecs.EVENT_ID: uuid7(),
            **self._static,
            ecs.PID: _pid,
            ecs.RENDER_ERROR: f"{type(exc).__name__}: {safe_str(exc)}",
        }
        return dumps(out)


def _add_extras(out: dict[str, Any], extras: EventDict) -> None:
    for key, value in extras.items():
        name = key if type(key) is str else safe_str(key)
        if ecs.is_reserved(name):
            out[ecs.CONFLICT_PREFIX + name] = value
        else:
            out[name] = value
            if len(_safe_keys) < _SAFE_KEYS_MAX and type(key) is str:
                _safe_keys.add(key)
