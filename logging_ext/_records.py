"""Reading stdlib ``LogRecord``\\ s: which attributes are the caller's structured extras."""

from __future__ import annotations

import logging
from itertools import islice
from typing import Any, Final

from logging_ext._fields import CONFLICT_PREFIX
from logging_ext._trace import OTEL_RECORD_ATTRS, STAMP_ATTR

__all__ = ["PLAIN_RECORD_LEN", "RECORD_ATTRS", "record_extras"]

# Attributes every LogRecord has (plus what formatters, structlog and LoggingInstrumentor
# add); anything else in record.__dict__ came from ``extra=`` and is a structured field.
RECORD_ATTRS: Final = frozenset(
    {
        *logging.makeLogRecord({}).__dict__,
        "message",
        "asctime",
        "taskName",
        STAMP_ATTR,
        *OTEL_RECORD_ATTRS,
        "_logger",
        "_name",
        "_from_structlog",
    }
)

# How many attributes LogRecord.__init__ sets. It sets them before anything else can, so a
# record's extras are always past this prefix of its __dict__, and a record this size has
# none: cheaper than comparing key sets on every record.
PLAIN_RECORD_LEN: Final = len(logging.makeLogRecord({}).__dict__)


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a stdlib record carries (``extra=``), in order.

    ``ECSRenderer.render_record`` reads them with an inlined copy of this loop (a call per
    record cost 6 % there); the tests hold the two to the same result.

    An extra named ``event`` (structlog's message key) comes back as ``extra.event``, as
    every extra that conflicts with a contract field is written by the renderer.
    """
    attrs = record.__dict__
    extras: dict[str, Any] = {}
    # Extras come after what LogRecord.__init__ set (see PLAIN_RECORD_LEN): islice skips
    # those without looking at them, and yields nothing for a record without extras.
    for key in islice(attrs, PLAIN_RECORD_LEN, None):
        if key not in RECORD_ATTRS:
            extras[CONFLICT_PREFIX + key if key == "event" else key] = attrs[key]
    return extras
