"""Times as the API reads and writes them: µs since the epoch ↔ RFC 3339 UTC text."""

from __future__ import annotations

from typing import Any, Final

from tracelink.times import MAX_EPOCH_US, format_rfc3339_us, parse_rfc3339_us

__all__ = ["format_time_us", "parse_bound_us", "parse_time_us"]

# The range tracelink.times accepts (1970 to 2261, what date_nanos holds).
_MIN_US: Final = 0
_MAX_US: Final = MAX_EPOCH_US


def parse_time_us(value: Any) -> int | None:
    """``@timestamp`` (RFC 3339 with up to ns, or epoch milliseconds) → µs since the epoch.

    Digits beyond microseconds are truncated; a time without an offset is UTC (as
    Elasticsearch reads it); ``None`` when the value is not a time.
    """
    if isinstance(value, str):
        micros = parse_rfc3339_us(value)
        return micros if micros is not None else parse_rfc3339_us(value + "Z")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and _MIN_US <= value * 1000 <= _MAX_US:
        return int(value * 1000)
    return None


def format_time_us(value: int) -> str:
    """µs since the epoch → ``2026-11-22T10:23:47.123456Z``."""
    return format_rfc3339_us(min(max(value, _MIN_US), _MAX_US))


def parse_bound_us(value: str) -> int:
    """A ``start``/``end`` query value: RFC 3339 with an offset, or integer epoch µs.

    Raises ``ValueError`` with a message meant for the API user.
    """
    text = value.strip()
    if text.isdigit():
        micros = int(text)
        if micros > _MAX_US:
            raise ValueError("epoch microseconds out of range")
        return micros
    parsed = parse_rfc3339_us(text)
    if parsed is None:
        if parse_rfc3339_us(text + "Z") is not None:
            raise ValueError("an RFC 3339 time needs an offset (Z or +hh:mm)")
        raise ValueError(
            "expected RFC 3339 (2026-11-22T10:23:47Z) between 1970 and 2261, or epoch microseconds"
        )
    return parsed
