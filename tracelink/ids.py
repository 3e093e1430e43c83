"""Trace and span identifier rules, shared by the shipper, the API and the span reader.

The join key between Jaeger's spans and tracelink's logs is the trace ID as 32 lower-case
hex digits. Jaeger has stored it as 16 digits for 64-bit IDs and, before
1.16, without leading zeros (``reference/jaeger/NOTES.md``); W3C and OpenTelemetry use 32.
"""

from __future__ import annotations

import re

__all__ = [
    "CANONICAL_SPAN_ID",
    "CANONICAL_TRACE_ID",
    "SPAN_ID_HEX",
    "TRACE_ID_HEX",
    "format_span_id",
    "format_trace_id",
    "is_canonical_span_id",
    "is_canonical_trace_id",
    "is_null_id",
    "jaeger_trace_id_variants",
    "normalize_span_id",
    "normalize_trace_id",
    "parse_traceparent",
]

TRACE_ID_HEX = 32
SPAN_ID_HEX = 16

# `\Z`, not `$`: `$` also matches before a trailing newline, so "abc\n" would pass.
_HEX = re.compile(r"^[0-9a-fA-F]+\Z")
# What normalize_*_id return (except all zeros), for hot paths that check before normalising.
CANONICAL_TRACE_ID = re.compile(r"[0-9a-f]{32}")
CANONICAL_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_NULL_ID = re.compile(r"0*")
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?\Z")


def normalize_trace_id(value: str) -> str | None:
    """1–32 hex digits (any case) → 32 lower-case hex; ``None`` when not a usable trace ID.

    All-zero IDs are W3C's "invalid" and are ``None`` too: they must never join anything.
    """
    if not 0 < len(value) <= TRACE_ID_HEX or not _HEX.match(value):
        return None
    normalized = value.lower().rjust(TRACE_ID_HEX, "0")
    return None if normalized == "0" * TRACE_ID_HEX else normalized


def normalize_span_id(value: str) -> str | None:
    """1–16 hex digits (any case) → 16 lower-case hex; ``None`` when unusable or all zero."""
    if not 0 < len(value) <= SPAN_ID_HEX or not _HEX.match(value):
        return None
    normalized = value.lower().rjust(SPAN_ID_HEX, "0")
    return None if normalized == "0" * SPAN_ID_HEX else normalized


def is_canonical_trace_id(value: str) -> bool:
    """Whether ``value`` is already what :func:`normalize_trace_id` returns (the fast check)."""
    return bool(CANONICAL_TRACE_ID.fullmatch(value)) and value != "0" * TRACE_ID_HEX


def is_canonical_span_id(value: str) -> bool:
    """Whether ``value`` is already what :func:`normalize_span_id` returns (the fast check)."""
    return bool(CANONICAL_SPAN_ID.fullmatch(value)) and value != "0" * SPAN_ID_HEX


def is_null_id(value: str) -> bool:
    """Whether ``value`` says "no ID" rather than a wrong one: empty or only zeros (any
    length; W3C's invalid all-zero ID, and what some clients write outside a span)."""
    return _NULL_ID.fullmatch(value) is not None


def format_trace_id(trace_id: int) -> str:
    """An OpenTelemetry integer trace ID as 32 lower-case hex."""
    return format(trace_id, "032x")


def format_span_id(span_id: int) -> str:
    """An OpenTelemetry integer span ID as 16 lower-case hex."""
    return format(span_id, "016x")


def jaeger_trace_id_variants(trace_id: str) -> list[str]:
    """Every text form Jaeger may have stored for the normalised 32-hex ``trace_id``.

    ``traceID`` is a keyword field, so a trace fetch must ask for each form exactly: the full
    32 digits (Jaeger ≥ 2.7), 16 digits when the high half is zero (1.16–2.6), and the
    leading-zero-stripped form (< 1.16).
    """
    variants = [trace_id]
    if trace_id.startswith("0" * 16):
        variants.append(trace_id[16:])
    stripped = trace_id.lstrip("0")
    if stripped and stripped not in variants:
        variants.append(stripped)
    return variants


def parse_traceparent(value: str | bytes) -> tuple[str, str, bool] | None:
    """A W3C ``traceparent`` → ``(trace_id, span_id, sampled)``; ``None`` when invalid."""
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    match = _TRACEPARENT.match(text.strip())
    if match is None or match.group(1) == "ff":
        return None
    trace_id = normalize_trace_id(match.group(2))
    span_id = normalize_span_id(match.group(3))
    if trace_id is None or span_id is None:
        return None
    return trace_id, span_id, bool(int(match.group(4), 16) & 0x01)
