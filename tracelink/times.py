"""Timestamps as the shipper stores them: integer epoch microseconds and RFC 3339 UTC text.

One place for the rules every reader of producer time uses: RFC 3339 parsing (ASCII digits
only, any offset, up to nanosecond fractions, truncated to µs), formatting with six fraction
digits and ``Z``, and reading an epoch number whose unit is not stated (seconds,
milliseconds, microseconds or nanoseconds, decided by magnitude).

The range is what Elasticsearch's ``date_nanos`` can hold: 1970-01-01T00:00:00Z up to
2262-04-11T23:47:16.854775Z; times outside it are ``None``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = [
    "MAX_EPOCH_US",
    "MIN_EPOCH_US",
    "epoch_number_to_us",
    "format_rfc3339_us",
    "parse_rfc3339_us",
]

MIN_EPOCH_US: Final = 0
MAX_EPOCH_US: Final = (2**63 - 1) // 1000
"""The last microsecond ``date_nanos`` holds (signed 64-bit nanoseconds)."""

# [0-9], not \d: \d also matches other scripts' digits, which int() would accept.
_RFC3339: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:[.,]([0-9]{1,9}))?(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# Magnitude bounds of an epoch number of unknown unit. Seconds up to 1e11 reach the year
# 5138, so every plausible seconds value is below it, and every plausible milliseconds value
# (after 1973-03-03) above; the same factor separates ms/µs and µs/ns.
_SECONDS_BELOW: Final = 10**11
_MILLIS_BELOW: Final = 10**14
_MICROS_BELOW: Final = 10**17


def parse_rfc3339_us(text: str) -> int | None:
    """RFC 3339 with an offset (``Z``, ``+02:00``) → epoch µs; ``None`` when not one or out
    of range. A space or lower-case ``t``/``z`` and a comma before the fraction are accepted;
    fraction digits beyond microseconds are dropped (truncated, never rounded up)."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    try:
        when = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
        if sign is not None:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            if offset >= timedelta(hours=24):
                return None
            when -= offset if sign == "+" else -offset
    except (ValueError, OverflowError):
        return None
    delta = when - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000
    if fraction:
        micros += int(fraction[:6].ljust(6, "0"))
    return micros if MIN_EPOCH_US <= micros <= MAX_EPOCH_US else None


def format_rfc3339_us(epoch_us: int) -> str:
    """Epoch µs → ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC)."""
    when = _EPOCH + timedelta(microseconds=epoch_us)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch_number_to_us(value: int | float) -> int | None:
    """An epoch number of unstated unit → µs; ``None`` for booleans, NaN or out of range.

    The unit is decided by magnitude: below 1e11 seconds, below 1e14 milliseconds, below
    1e17 microseconds, else nanoseconds (so any time from 1973 to 5138 is read right).
    """
    if type(value) is bool or not isinstance(value, int | float):
        return None
    if type(value) is float and not math.isfinite(value):
        return None
    if value < 0:
        return None
    if value < _SECONDS_BELOW:
        micros = _scaled(value, 1_000_000)
    elif value < _MILLIS_BELOW:
        micros = _scaled(value, 1_000)
    elif value < _MICROS_BELOW:
        micros = int(value)
    else:
        micros = int(value) // 1_000
    return micros if MIN_EPOCH_US <= micros <= MAX_EPOCH_US else None


def _scaled(value: int | float, factor: int) -> int:
    if type(value) is int:
        return value * factor
    # Floats: round to the µs, so 1700000000.123456 is not 1700000000123455.
    return round(value * factor)
