"""Which format a message claims, decided cheaply before anything decodes it (pure).

Detection looks at bytes, never guesses by trial: a message is read as the format it
claims, and a message that claims a format it then does not satisfy (a truncated protobuf,
an OTLP/JSON object whose ``resourceLogs`` is not a list) is a dead letter with that reason,
never silently read as something else.

``auto`` rules, in order:

1. A value that starts with ``{`` (after JSON whitespace) is JSON. It claims ``otlp_json``
   when its top-level object has ``resourceLogs`` (or the proto spelling ``resource_logs``);
   it is ``otel_json`` when it names, at the top level, a field of another language's
   OpenTelemetry log correlation or its usual neighbours (``trace_id``, ``traceId``,
   ``traceparent``, ``msg``, ``level``, ``time``, …) and carries no ECS ``trace.id`` (its
   decoder hands a record back unchanged when that key is not at the top level after all);
   otherwise it is ``ecs``, read exactly as before formats existed.
2. A value whose first byte is ``0x0A`` — field 1 (``resource_logs``), wire type 2, the
   first byte of every non-empty ``ExportLogsServiceRequest`` — claims ``otlp_proto``
   (unless it is JSON after leading newlines, which JSON parsing decides).
3. Anything else (empty, not UTF-8, not an object) takes the ``ecs`` path, whose dead
   letters say what is wrong with it, as before.

A pinned format (``TRACELINK_LOG_FORMAT``) skips the detection between payload formats:
``otlp_proto`` and ``otlp_json`` read every message as that; ``ecs`` reads every message as
one JSON record (other languages' spellings are still mapped; OTLP is never tried).
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from shipper.formats._record import ECS, OTEL_JSON, OTLP_JSON, OTLP_PROTO

__all__ = ["AUTO", "PINNABLE", "detect"]

AUTO: Final = "auto"
PINNABLE: Final = (AUTO, ECS, OTLP_PROTO, OTLP_JSON)

_JSON_WHITESPACE: Final = b" \t\r\n"
_PROTO_FIRST: Final = 0x0A
_BRACE: Final = 0x7B
# A key of another language's spelling, as a key (quote, name, quote, colon). Inside a JSON
# string a quote is escaped (\"), so the text of a message cannot match.
_FOREIGN: Final = re.compile(
    # trace_id traceId traceparent trace_flags traceFlags time timestamp ts TraceId
    # TraceFlags span_id spanId severity stack_trace SpanId msg level levelname lvl logger
    # logger_name err exception — as a trie: the scan stops at quotes only.
    rb'"(?:t(?:race(?:_id|Id|_flags|Flags|parent)|ime(?:stamp)?|s)'
    rb"|T(?:race(?:Id|Flags))|s(?:pan(?:_id|Id)|everity|tack_trace)|SpanId|msg"
    rb'|l(?:evel(?:name)?|vl|ogger(?:_name)?)|e(?:rr|xception))"\s*:'
)
_ECS_TRACE: Final = b'"trace.id"'
_ECS: Final = (ECS, None)
# Top-level keys that claim an OTLP/JSON payload; spans and metrics are claims too, so that a
# Collector pipeline writing the wrong signal to the log topic is a dead letter, not a record.
_OTLP_KEYS: Final = ("resourceLogs", "resource_logs", "resourceSpans", "resourceMetrics")
# Every claiming key starts so: one scan tells whether to look closer.
_OTLP_MARK: Final = b'"resource'
_OTLP_MARKS: Final = tuple(f'"{key}"'.encode() for key in _OTLP_KEYS)


def detect(value: bytes | None, pinned: str = AUTO) -> tuple[str, Any]:  # noqa: PLR0911
    """``(format, parsed)`` for a message value; ``parsed`` is the JSON value when detection
    had to parse it (so decoding need not parse again), else ``None``."""
    if pinned in (OTLP_PROTO, OTLP_JSON):
        return pinned, None
    if not value:
        return _ECS
    first = value[0]
    if first == _BRACE and _ECS_TRACE in value and _OTLP_MARK not in value:
        return _ECS  # logging_ext's record in a span: the usual message, decided in two scans
    if first != _BRACE:
        stripped = value.lstrip(_JSON_WHITESPACE)
        if stripped[:1] != b"{":
            return (OTLP_PROTO if first == _PROTO_FIRST and pinned == AUTO else ECS), None
        if first == _PROTO_FIRST and pinned == AUTO:
            # A protobuf whose length byte happens to be "{" also starts so: JSON decides.
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError:
                return OTLP_PROTO, None
            return _json_kind(value, parsed, pinned)
    return _json_kind(value, None, pinned)


def _json_kind(value: bytes, parsed: Any, pinned: str) -> tuple[str, Any]:
    if pinned == AUTO and _OTLP_MARK in value and any(mark in value for mark in _OTLP_MARKS):
        # Only a top-level key is a claim; the text may also sit in a nested object.
        if parsed is None:
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError:
                return ECS, None  # the ecs path dead-letters it as not JSON
        if type(parsed) is dict and any(key in parsed for key in _OTLP_KEYS):
            return OTLP_JSON, parsed
    if _ECS_TRACE not in value and _FOREIGN.search(value):
        return OTEL_JSON, parsed
    return ECS, None
