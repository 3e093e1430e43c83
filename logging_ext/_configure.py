"""``configure_logging``: one call at a service's entry point wires stdlib and structlog.

Both render through the same chain (:func:`~logging_ext.ecs_processors`) once per record,
and the rendered line goes to the stream and/or to Kafka. structlog runs natively (a
filtering bound logger, no detour through ``logging``), which keeps it as fast as structlog's
own recommended configuration.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import FrameType
from typing import Any, Final, Protocol

import structlog
from structlog.typing import EventDict, Processor

from logging_ext import _fields as ecs
from logging_ext._formatter import ECSFormatter, ecs_processors
from logging_ext._kafka import DEFAULT_QUEUE_SIZE, KafkaSender, LockFreeHandler
from logging_ext._notice import Notice
from logging_ext._processors import DEFAULT_REDACT_KEYS
from logging_ext._render import ECSRenderer, interpolation_failed, safe_str
from logging_ext._trace import TraceStamp, install_trace_record_factory
from tracelink.kafka_security import KafkaSecurity

__all__ = ["LoggingHandle", "configure_logging"]

_notice = Notice()


class TextSink(Protocol):
    """What ``configure_logging`` writes lines to: a text stream (``sys.stdout``, a file)."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


class _StdoutDefault:
    """``sys.stdout`` as it is when ``configure_logging`` runs, not when it was imported."""

    def __repr__(self) -> str:
        return "sys.stdout"


_STDOUT: Final = _StdoutDefault()


class _Pipeline:
    """Where a rendered record goes: one line on the stream, one message to Kafka."""

    def __init__(self, stream: TextSink | None, kafka: KafkaSender | None) -> None:
        self.stream = stream
        self.kafka = kafka
        # Reentrant, like logging's handler locks: a signal handler that logs while this
        # thread is writing must not deadlock.
        self._lock = threading.RLock()
        # A child forked while another thread held the lock would wait for it forever on
        # its first log line; logging's own at-fork hook only renews Handler.lock.
        _track(self)

    def renew_lock(self) -> None:
        """A fresh lock, in a forked child: the parent's may be held by a thread that the
        child does not have."""
        self._lock = threading.RLock()

    def emit(self, line: bytes, stamp: TraceStamp | None) -> None:
        stream = self.stream
        if stream is not None:
            text = line.decode("utf-8") + "\n"
            try:
                with self._lock:
                    stream.write(text)
                    stream.flush()
            except Exception as exc:  # noqa: BLE001 - a broken stream must not break the app
                _notice.warn("stream", f"cannot write log records to {stream!r}: {exc!r}")
        kafka = self.kafka
        if kafka is not None:
            kafka.submit(line, stamp)

    def flush(self) -> None:
        stream = self.stream
        if stream is not None:
            try:
                with self._lock:
                    stream.flush()
            except Exception:  # noqa: BLE001, S110 - nothing useful to do at flush time
                pass


_pipelines: weakref.WeakSet[_Pipeline] = weakref.WeakSet()
_fork_hook_installed = False


def _track(pipeline: _Pipeline) -> None:
    global _fork_hook_installed  # noqa: PLW0603 - installed once per process, on first use
    if not _fork_hook_installed:
        os.register_at_fork(after_in_child=_renew_locks_in_child)
        _fork_hook_installed = True
    _pipelines.add(pipeline)


def _renew_locks_in_child() -> None:
    """After ``fork()``: renew every lock that logging through the pipeline takes."""
    global _active_lock  # noqa: PLW0603 - a lock held by another thread at fork is unusable
    _active_lock = threading.RLock()
    _notice.renew_lock()
    for pipeline in list(_pipelines):
        pipeline.renew_lock()


class _PipelineHandler(LockFreeHandler):
    """The root handler: renders each stdlib record once, without taking the handler lock."""

    def __init__(self, formatter: ECSFormatter, pipeline: _Pipeline) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self._render = formatter.render
        self._pipeline = pipeline

    def emit(self, record: logging.LogRecord) -> None:
        line, stamp = self._render(record)
        self._pipeline.emit(line, stamp)

    def flush(self) -> None:
        self._pipeline.flush()


class _SinkLogger:
    """What structlog's bound loggers write to: the pipeline, with the trace for Kafka.

    Every level method *is* the pipeline's ``emit`` (an instance attribute), which saves a
    call per record.
    """

    def __init__(self, factory: _SinkLoggerFactory, name: str) -> None:
        self.name = name
        self.factory = factory
        self._renderer = factory.renderer
        pipeline = factory.pipeline
        emit = pipeline.emit
        self.msg = self.debug = self.info = self.warning = self.warn = emit
        self.error = self.critical = self.fatal = self.exception = self.log = emit

    def fallback(self, method_name: str, event: object, exc: BaseException) -> None:
        """Emit a minimal record for an event the processor chain failed on."""
        event_dict: EventDict = {
            "event": safe_str(event),
            ecs.RENDER_ERROR: f"{type(exc).__name__}: {safe_str(exc)}",
        }
        self.msg(*self._renderer.render(self, method_name, event_dict))


_INTERNAL_MODULES: Final = ("structlog", "logging_ext")


def _caller_module() -> str:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not isinstance(name, str) or not name.startswith(_INTERNAL_MODULES):
            return name if isinstance(name, str) and name else "root"
        frame = frame.f_back
    return "root"


class _SinkLoggerFactory:
    def __init__(self, pipeline: _Pipeline, renderer: ECSRenderer) -> None:
        self.pipeline = pipeline
        self.renderer = renderer

    def __call__(self, *args: Any) -> _SinkLogger:
        name = args[0] if args and isinstance(args[0], str) and args[0] else _caller_module()
        return _SinkLogger(self, name)


# The structlog configuration that logging_ext made, as module state that every bound logger
# reads. structlog caches an assembled logger on first use (``cache_logger_on_first_use``),
# so a module-level ``structlog.get_logger()`` keeps the objects it was first built with;
# the level is therefore read from here on every call, and a logger whose sink belongs to
# another configuration rebuilds itself (see _follow_configuration). Costs two comparisons
# per event, where not caching would assemble a logger per event.
_min_level: int = logging.NOTSET
_current_factory: _SinkLoggerFactory | None = None


def _safe_proxy_to_logger(
    self: Any, method_name: str, event: object = None, **event_kw: Any
) -> Any:
    # structlog's BoundLoggerBase._proxy_to_logger, except that nothing escapes to the app,
    # and a logger assembled for an earlier configuration follows the current one.
    try:
        logger = self._logger
        if type(logger) is _SinkLogger and logger.factory is not _current_factory:
            return _follow_configuration(self, method_name, event, event_kw)
        args, kw = self._process_event(method_name, event, event_kw)
        return getattr(logger, method_name)(*args, **kw)
    except structlog.DropEvent:
        return None
    except Exception as exc:  # noqa: BLE001 - logging never raises into the application
        logger = self._logger
        if isinstance(logger, _SinkLogger) and logger.factory is _current_factory:
            logger.fallback(method_name, event, exc)
        else:
            _notice.warn("structlog", f"a structlog processor failed: {exc!r}")
        return None


def _follow_configuration(
    bound: Any, method_name: str, event: object, event_kw: dict[str, Any]
) -> Any:
    """Log through whatever structlog is configured with now, for a logger assembled under
    an earlier configuration (a second ``configure_logging()``, or after ``close()``)."""
    config = structlog.get_config()
    factory = config["logger_factory"]
    name = bound._logger.name
    if isinstance(factory, _SinkLoggerFactory):
        # logging_ext's again: rebuild this logger in place, so it stays on the fast path.
        bound._processors = config["processors"]
        bound._logger = sink = factory(name)
        args, kw = bound._process_event(method_name, event, event_kw)
        return getattr(sink, method_name)(*args, **kw)
    # Someone else's (the one close() restored): log as a logger assembled now would.
    fresh = structlog.get_logger(name).bind(**bound._context)
    return getattr(fresh, method_name)(event, **event_kw)


def _interpolate(event: object, args: tuple[Any, ...], kw: dict[str, Any]) -> object:
    """``event % args`` as structlog does it (one non-empty mapping: by name); when that
    raises, what stdlib records get: the template with the arguments' repr, and
    ``tracelink.render_error`` saying why."""
    try:
        if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
            return event % args[0]  # type: ignore[operator]
        return event % args  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - bad %-args are the caller's bug, not a crash
        message, kw[ecs.RENDER_ERROR] = interpolation_failed(event, args, exc)
        return message


# structlog's level names, and its asynchronous methods (which interpolate, then run the
# synchronous path in an executor): ours interpolate safely first and delegate with no args.
_LEVEL_NAMES: Final = (
    (logging.CRITICAL, "critical"),
    (logging.ERROR, "error"),
    (logging.WARNING, "warning"),
    (logging.INFO, "info"),
    (logging.DEBUG, "debug"),
)
_ALL_LEVELS: Final[Any] = structlog.make_filtering_bound_logger(logging.NOTSET)


def _level_name(level: int) -> str:
    for number, name in _LEVEL_NAMES:
        if level >= number:
            return name
    return "notset"


def _level_method(name: str, number: int) -> Callable[..., Any]:
    def method(self: Any, event: object = None, *args: Any, **kw: Any) -> Any:
        if number < _min_level:
            return None
        if args:
            event = _interpolate(event, args, kw)
        return self._proxy_to_logger(name, event, **kw)

    method.__name__ = name
    return method


def _async_level_method(name: str, number: int) -> Callable[..., Any]:
    run = getattr(_ALL_LEVELS, f"a{name}")

    async def method(self: Any, event: object = None, *args: Any, **kw: Any) -> Any:
        if number < _min_level:
            return None
        if args:
            event = _interpolate(event, args, kw)
        return await run(self, event, **kw)

    method.__name__ = f"a{name}"
    return method


def _log(self: Any, level: int, event: object = None, *args: Any, **kw: Any) -> Any:
    if not isinstance(level, int) or level < _min_level:
        return None
    if args:
        event = _interpolate(event, args, kw)
    return self._proxy_to_logger(_level_name(level), event, **kw)


async def _alog(self: Any, level: int, event: object = None, *args: Any, **kw: Any) -> Any:
    if not isinstance(level, int) or level < _min_level:
        return None
    if args:
        event = _interpolate(event, args, kw)
    return await _ALL_LEVELS.alog(self, level, event, **kw)


class _BoundLogger(structlog.BoundLoggerBase):
    """structlog's filtering bound logger, with three differences: the level is
    ``configure_logging``'s current one, bad %-arguments become a render error instead of a
    ``TypeError``, and a cached logger follows reconfiguration (see ``_min_level``)."""

    _proxy_to_logger = _safe_proxy_to_logger
    debug = _level_method("debug", logging.DEBUG)
    info = msg = _level_method("info", logging.INFO)
    warning = warn = _level_method("warning", logging.WARNING)
    error = _level_method("error", logging.ERROR)
    critical = fatal = _level_method("critical", logging.CRITICAL)
    exception = _ALL_LEVELS.exception  # error(..., exc_info=True)
    log = _log
    adebug = _async_level_method("debug", logging.DEBUG)
    ainfo = amsg = _async_level_method("info", logging.INFO)
    awarning = awarn = _async_level_method("warning", logging.WARNING)
    aerror = _async_level_method("error", logging.ERROR)
    acritical = afatal = _async_level_method("critical", logging.CRITICAL)
    aexception = _ALL_LEVELS.aexception  # error(..., exc_info=...) in the executor
    alog = _alog

    def is_enabled_for(self, level: int) -> bool:
        return level >= _min_level

    def get_effective_level(self) -> int:
        return _min_level


def _level_number(level: str | int, what: str = "level") -> int:
    if isinstance(level, bool):
        raise ValueError(f"invalid log {what}: {level!r}")
    if isinstance(level, int):
        return level
    if isinstance(level, str):
        number = logging.getLevelNamesMapping().get(level.strip().upper())
        if number is not None:
            return number
    names = ", ".join(sorted(logging.getLevelNamesMapping()))
    raise ValueError(f"invalid log {what} {level!r}; expected one of {names} or a number")


class LoggingHandle:
    """What :func:`configure_logging` set up. :meth:`close` undoes it; twice is harmless.

    ``sent``/``dropped``/``failed`` count Kafka delivery (all zero without Kafka).
    """

    def __init__(
        self,
        *,
        formatter: ECSFormatter,
        pipeline: _Pipeline,
        restore: Sequence[Callable[[], None]],
        flush_timeout: float,
    ) -> None:
        self.formatter = formatter
        self._pipeline = pipeline
        self._restore = restore
        self._flush_timeout = flush_timeout
        self._lock = threading.Lock()
        self._closed = False

    @property
    def kafka(self) -> KafkaSender | None:
        """The Kafka sender, when ``kafka_bootstrap`` was given."""
        return self._pipeline.kafka

    @property
    def sent(self) -> int:
        """Records acknowledged by Kafka."""
        return 0 if self.kafka is None else self.kafka.sent

    @property
    def dropped(self) -> int:
        """Records never handed to Kafka: queue full, or still queued (or submitted) at close."""
        return 0 if self.kafka is None else self.kafka.dropped

    @property
    def failed(self) -> int:
        """Records Kafka refused, that could not be Kafka messages, or in flight at close."""
        return 0 if self.kafka is None else self.kafka.failed

    @property
    def closed(self) -> bool:
        return self._closed

    def flush(self, timeout: float | None = None) -> bool:
        """Flush the stream and wait for Kafka delivery of what was logged so far.

        Returns False when Kafka delivery did not finish within ``timeout`` (default: the
        configured ``flush_timeout``).
        """
        self._pipeline.flush()
        kafka = self.kafka
        return True if kafka is None else kafka.drain(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush (Kafka within ``timeout``, default ``flush_timeout``), stop the Kafka sender,
        and restore the logging configuration found by :func:`configure_logging`.
        """
        global _active  # noqa: PLW0603
        with self._lock:
            if self._closed:
                return
            self._closed = True
        kafka = self.kafka
        if kafka is not None:
            kafka.close(self._flush_timeout if timeout is None else timeout)
        self._pipeline.flush()
        for undo in reversed(self._restore):
            undo()
        with _active_lock:
            if _active is self:
                _active = None

    def __enter__(self) -> LoggingHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_active: LoggingHandle | None = None
_active_lock = threading.RLock()


def configure_logging(
    service_name: str,
    *,
    level: str | int = "INFO",
    stream: TextSink | _StdoutDefault | None = _STDOUT,
    kafka_bootstrap: str | Sequence[str] | None = None,
    topic: str = "logs",
    service_version: str | None = None,
    environment: str | None = None,
    redact_keys: Iterable[str] = DEFAULT_REDACT_KEYS,
    logger_levels: Mapping[str, str | int] | None = None,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    flush_timeout: float = 5.0,
    producer_config: Mapping[str, Any] | None = None,
    capture_warnings: bool = False,
    kafka_security: KafkaSecurity | None = None,
) -> LoggingHandle:
    """Render every stdlib and structlog record of this process as ECS JSON.

    Call once at the entry point. Afterwards every stdlib record (third-party loggers
    included, as long as they propagate to the root logger) and every
    ``structlog.get_logger()`` event is one JSON line on ``stream`` (``sys.stdout`` by
    default, ``None`` for none) and, when ``kafka_bootstrap`` is given, one message on
    ``topic`` (keyed by the trace ID) sent in the background: logging never blocks on Kafka,
    records wait out Kafka outages in the ``queue_size`` queue, and records that do not fit
    it are dropped and counted. Calling it again reaches every structlog logger, cached ones too.

    - ``level``: the root logger's level and structlog's filtering level;
      ``logger_levels`` sets individual stdlib loggers (``{"aiokafka": "WARNING"}``).
    - ``service_version`` / ``environment``: when ``None``, taken from the OpenTelemetry
      resource (the installed SDK tracer provider, else ``OTEL_RESOURCE_ATTRIBUTES``).
    - ``redact_keys``: key fragments whose values are masked in structured extras.
    - ``flush_timeout``: how long ``close()`` and interpreter exit wait for Kafka.
    - ``kafka_security``: how to connect to Kafka (TLS, SASL) as a
      :class:`tracelink.kafka_security.KafkaSecurity`; when ``None``, read from the
      ``TRACELINK_KAFKA_*`` variables the shipper reads (``PLAINTEXT`` when unset). A broker
      that refuses the connection (untrusted certificate, wrong credentials) is reported on
      stderr naming the setting to fix, and retried; it never raises into the application.
    - ``producer_config``: extra ``AIOKafkaProducer`` arguments (compression, timeouts);
      they win over ``kafka_security``; ``acks`` defaults to ``"all"``.
    - ``capture_warnings``: route ``warnings`` through logging (``py.warnings``).

    Replaces the root logger's handlers and structlog's configuration; the returned
    handle's ``close()`` restores both. Calling again closes the previous handle first.
    Bad arguments raise ``ValueError`` naming the argument; nothing is changed then.
    """
    if not isinstance(service_name, str) or not service_name.strip():
        raise ValueError("service_name must be a non-empty string")
    level_number = _level_number(level)
    levels = {
        name: _level_number(value, f"level for logger {name!r}")
        for name, value in (logger_levels or {}).items()
    }
    out = sys.stdout if isinstance(stream, _StdoutDefault) else stream
    if out is not None and not callable(getattr(out, "write", None)):
        raise ValueError(f"stream must be a text stream with write(), got {out!r}")
    chain = ecs_processors(
        service_name,
        service_version=service_version,
        environment=environment,
        redact_keys=redact_keys,
    )
    formatter = ECSFormatter(chain=chain)
    kafka = None
    if kafka_bootstrap is not None:
        kafka = KafkaSender(
            kafka_bootstrap,
            topic,
            queue_size=queue_size,
            flush_timeout=flush_timeout,
            producer_config=producer_config,
            kafka_security=kafka_security,
        )

    with _active_lock:
        if _active is not None:
            _active.close()
        pipeline = _Pipeline(out, kafka)
        restore = [
            _configure_root(_PipelineHandler(formatter, pipeline), level_number),
            *(_set_level(name, value) for name, value in levels.items()),
            install_trace_record_factory(),
            _configure_structlog(chain, level_number, pipeline),
        ]
        if capture_warnings:
            logging.captureWarnings(True)
            restore.append(lambda: logging.captureWarnings(False))
        handle = LoggingHandle(
            formatter=formatter, pipeline=pipeline, restore=restore, flush_timeout=flush_timeout
        )
        _set_active(handle)
    return handle


def _set_active(handle: LoggingHandle) -> None:
    global _active  # noqa: PLW0603 - one active configuration per process
    _active = handle


def _configure_root(handler: logging.Handler, level: int) -> Callable[[], None]:
    root = logging.getLogger()
    previous_handlers = list(root.handlers)
    previous_level = root.level
    for old in previous_handlers:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)

    def restore() -> None:
        root.removeHandler(handler)
        for old in previous_handlers:
            if old not in root.handlers:
                root.addHandler(old)
        root.setLevel(previous_level)
        handler.close()

    return restore


def _set_level(name: str, level: int) -> Callable[[], None]:
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(level)
    return lambda: logger.setLevel(previous)


def _configure_structlog(
    chain: Sequence[Processor], level: int, pipeline: _Pipeline
) -> Callable[[], None]:
    global _min_level, _current_factory  # see _min_level
    previous = structlog.get_config() if structlog.is_configured() else None
    renderer = chain[-1]
    assert isinstance(renderer, ECSRenderer)
    factory = _SinkLoggerFactory(pipeline, renderer)
    structlog.configure(
        processors=[*chain[:-1], renderer.render_args],
        wrapper_class=_BoundLogger,
        logger_factory=factory,
        context_class=dict,
        cache_logger_on_first_use=True,
    )
    _min_level, _current_factory = level, factory

    def restore() -> None:
        global _min_level, _current_factory  # see _min_level
        if _current_factory is factory:
            # Cached loggers now log through whatever configuration is current.
            _min_level, _current_factory = logging.NOTSET, None
        if structlog.get_config().get("logger_factory") is not factory:
            return  # reconfigured by someone else since: theirs now
        if previous is None:
            structlog.reset_defaults()
        else:
            structlog.configure(**previous)

    return restore
