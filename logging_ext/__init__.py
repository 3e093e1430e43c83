"""Stamp trace context on stdlib and structlog records, render ECS JSON, ship to Kafka.

Most services need one call at their entry point::

    handle = logging_ext.configure_logging("orders", kafka_bootstrap="kafka:9092")
    ...
    handle.close()  # at shutdown; interpreter exit flushes too

The other names are the pieces for wiring logging yourself: :func:`add_trace_context`
(structlog processor), :func:`install_trace_record_factory` (stdlib, stamps at record
creation), :class:`ECSFormatter` / :func:`ecs_processors` (the shared ECS JSON chain),
:class:`KafkaHandler`, :class:`RedactSecrets`, :func:`with_context` /
:class:`ContextThreadPoolExecutor` (carry the trace into threads) and
:class:`AccessLogMiddleware` (ASGI access log inside the server span). Importing this
package configures nothing.
"""

from logging_ext._asgi import AccessLogMiddleware
from logging_ext._configure import LoggingHandle, configure_logging
from logging_ext._executor import ContextThreadPoolExecutor, with_context
from logging_ext._formatter import ECSFormatter, ecs_processors
from logging_ext._kafka import KafkaHandler
from logging_ext._processors import RedactSecrets, add_trace_context
from logging_ext._trace import install_trace_record_factory

__all__ = [
    "AccessLogMiddleware",
    "ContextThreadPoolExecutor",
    "ECSFormatter",
    "KafkaHandler",
    "LoggingHandle",
    "RedactSecrets",
    "add_trace_context",
    "configure_logging",
    "ecs_processors",
    "install_trace_record_factory",
    "with_context",
]
