"""The shared processor chain, and the stdlib formatter that runs it.

One list of processors — structlog's contextvars, the trace stamp, redaction, the ECS
renderer — serves both worlds: structlog runs it as its processor chain, and
:class:`ECSFormatter` (a structlog ``ProcessorFormatter``) runs it as ``foreign_pre_chain``
+ ``processors`` for stdlib records, so third-party logs come out in the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from types import FunctionType
from typing import Any, Final

import structlog
from structlog.typing import EventDict, Processor

from logging_ext import _fields as ecs
from logging_ext._processors import (
    DEFAULT_REDACT_KEYS,
    RedactSecrets,
    add_trace_context,
    merge_contextvars,
)
from logging_ext._records import record_extras
from logging_ext._render import ECSRenderer, Rendered, interpolation_failed, safe_str
from logging_ext._trace import record_trace

__all__ = ["ECSFormatter", "ecs_processors", "event_dict_from_record", "resolve_service"]


def event_dict_from_record(record: logging.LogRecord) -> EventDict:
    """A stdlib record as a foreign event dict: message, extras, and the record itself."""
    msg = record.msg
    try:
        message = msg if type(msg) is str and not record.args else record.getMessage()
        event_dict: EventDict = {"event": message}
    except Exception as exc:  # noqa: BLE001 - bad %-args are the caller's bug, not a crash
        message, error = interpolation_failed(msg, record.args, exc)
        event_dict = {"event": message, ecs.RENDER_ERROR: error}
    event_dict.update(record_extras(record))
    if record.exc_info:
        event_dict["exc_info"] = record.exc_info
    if record.stack_info:
        event_dict["stack_info"] = record.stack_info
    event_dict["_record"] = record
    return event_dict


def resolve_service(
    service_name: str | None, service_version: str | None, environment: str | None
) -> tuple[str, str | None, str | None]:
    """Fill what was not given from the OpenTelemetry resource (tracer provider, else env).

    Argument > ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` (or the resource of the
    SDK tracer provider already installed) > nothing.
    """
    if service_name is not None and service_version is not None and environment is not None:
        return service_name, service_version, environment
    attributes = _resource_attributes()

    def attr(*names: str) -> str | None:
        for name in names:
            value = attributes.get(name)
            if isinstance(value, str) and value:
                return value
        return None

    return (
        service_name if service_name is not None else attr("service.name") or "unknown_service",
        service_version if service_version is not None else attr("service.version"),
        environment
        if environment is not None
        else attr("deployment.environment.name", "deployment.environment"),
    )


def _resource_attributes() -> Mapping[str, Any]:
    from opentelemetry import trace

    resource = getattr(trace.get_tracer_provider(), "resource", None)
    attributes = getattr(resource, "attributes", None)
    if isinstance(attributes, Mapping):
        return attributes
    from opentelemetry.sdk.resources import Resource

    return Resource.create().attributes


# Steps that must run where the log call is made (they read the caller's context).
_CALL_TIME_STEPS: Final = (
    merge_contextvars,
    structlog.contextvars.merge_contextvars,
    add_trace_context,
)


def _from_structlog(record: logging.LogRecord) -> bool:
    """Whether ``record`` carries an event dict from ``ProcessorFormatter.wrap_for_formatter``."""
    return type(record.msg) is dict and "_logger" in record.__dict__


def _acts_on_extras_only(step: object) -> bool:
    return step in _CALL_TIME_STEPS or isinstance(step, RedactSecrets)


def _direct(step: Processor) -> Processor:
    """``step`` itself when a function, else its bound ``__call__`` (RedactSecrets): calling
    that skips the per-call lookup of ``__call__`` on the instance's type."""
    if isinstance(step, FunctionType):
        return step
    # mypy takes Processor's __call__ for the alias's own and calls it not callable.
    call: Processor = step.__call__  # type: ignore[operator]
    return call


def ecs_processors(
    service_name: str | None = None,
    *,
    service_version: str | None = None,
    environment: str | None = None,
    redact_keys: Iterable[str] = DEFAULT_REDACT_KEYS,
    as_bytes: bool = False,
) -> list[Processor]:
    """The shared chain for a structlog configuration, ending in the ECS JSON renderer.

    ``[merge_contextvars, add_trace_context, RedactSecrets(redact_keys), ECSRenderer(...)]``
    (structlog's ``merge_contextvars``, skipped while nothing was ever bound); the renderer
    returns ``str`` for ``PrintLoggerFactory`` or, with ``as_bytes=True``,
    ``bytes`` for ``BytesLoggerFactory``. :class:`ECSFormatter` runs the same chain.
    """
    name, version, env = resolve_service(service_name, service_version, environment)
    return [
        merge_contextvars,
        add_trace_context,
        RedactSecrets(redact_keys),
        ECSRenderer(name, service_version=version, environment=env, as_bytes=as_bytes),
    ]


class ECSFormatter(structlog.stdlib.ProcessorFormatter):
    """A stdlib ``logging.Formatter`` that renders records as ECS JSON (the README's log record).

    A ``ProcessorFormatter`` running the shared chain (:func:`ecs_processors`, or ``chain``
    when given; it must end with the renderer): stdlib records go through all of it, with
    the call-time steps (contextvars, trace) as ``foreign_pre_chain``. Events that structlog
    passed through ``ProcessorFormatter.wrap_for_formatter`` already ran the call-time
    steps in structlog's chain and get only the rest, so both come out alike. The trace of
    a stdlib record is the one it was created in when
    :func:`~logging_ext.install_trace_record_factory` (or LoggingInstrumentor) is active,
    else the one current while formatting.

    Unlike its base class it neither copies nor modifies the record, and never raises.
    """

    def __init__(
        self,
        service_name: str | None = None,
        *,
        service_version: str | None = None,
        environment: str | None = None,
        redact_keys: Iterable[str] = DEFAULT_REDACT_KEYS,
        chain: Sequence[Processor] | None = None,
    ) -> None:
        if chain is None:
            chain = ecs_processors(
                service_name,
                service_version=service_version,
                environment=environment,
                redact_keys=redact_keys,
            )
        if not chain or not isinstance(chain[-1], ECSRenderer):
            raise TypeError("the chain must end with an ECSRenderer")
        renderer = chain[-1]
        steps = tuple(chain[:-1])
        call_time = [step for step in steps if step in _CALL_TIME_STEPS]
        later = [step for step in steps if step not in _CALL_TIME_STEPS]
        super().__init__(processors=[*later, renderer], foreign_pre_chain=call_time)
        self.renderer = renderer
        self._foreign_chain = steps
        self._wrapped_chain = tuple(later)
        # When every step only adds or masks extras (or is the trace stamp, which the
        # renderer reads from the record itself), stdlib records skip the event dict.
        self._extras_steps: tuple[Processor, ...] | None = None
        self._stamps = add_trace_context in steps
        if all(_acts_on_extras_only(step) for step in steps):
            self._extras_steps = tuple(
                _direct(step) for step in steps if step is not add_trace_context
            )
        self._render_record = renderer.render_record

    def format(self, record: logging.LogRecord) -> str:
        steps = self._extras_steps
        if steps is not None and type(record.msg) is not dict:
            return self._render_record(record, steps, self._stamps)[0].decode("utf-8")
        return self.render(record)[0].decode("utf-8")

    def render(self, record: logging.LogRecord) -> Rendered:
        """The record as ECS JSON bytes (no newline) and its trace stamp; never raises."""
        try:
            if _from_structlog(record):
                # An event dict from structlog's wrap_for_formatter: its chain already ran.
                method_name = safe_str(record.__dict__.get("_name", "info"))
                event_dict: EventDict = dict(record.msg)  # type: ignore[arg-type]
                event_dict["_record"] = record
                event_dict["_from_structlog"] = True
                chain = self._wrapped_chain
            else:
                steps = self._extras_steps
                if steps is not None:
                    return self._render_record(record, steps, self._stamps)
                method_name = record.levelname.lower()
                event_dict = event_dict_from_record(record)
                chain = self._foreign_chain
            for processor in chain:
                event_dict = processor(None, method_name, event_dict)  # type: ignore[assignment]
            return self.renderer.render(None, method_name, event_dict)
        except Exception as exc:  # noqa: BLE001 - logging never raises into the application
            stamp = record_trace(record)
            fallback: EventDict = {
                "event": safe_str(record.msg),
                "_record": record,
                ecs.RENDER_ERROR: f"{type(exc).__name__}: {safe_str(exc)}",
            }
            if stamp is not None:
                fallback[ecs.TRACE_ID], fallback[ecs.SPAN_ID], fallback[ecs.SAMPLED] = stamp
            return self.renderer.render(None, record.levelname.lower(), fallback)
