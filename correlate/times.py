"""Times as the API reads and writes them: µs since the epoch ↔ RFC 3339 UTC text.

Parsing is :mod:`tracelink.times` (the project's one RFC 3339 rule: ASCII digits only, an
offset required); the range is its range, 1970-01-01T00:00:00Z to
2261-12-31T23:59:59.999999Z (what Elasticsearch's ``date_nanos`` holds, in whole years). A
query time outside it is a 400; a stored span time outside it makes that span unreadable
(a warning), never a 500.
"""

from __future__ import annotations

from typing import Any, Final

from tracelink.times import MAX_EPOCH_US, MIN_EPOCH_US, format_rfc3339_us, parse_rfc3339_us

__all__ = ["format_time_us", "in_time_range", "parse_bound_us", "parse_time_us"]

_MIN_US: Final = MIN_EPOCH_US
_MAX_US: Final = MAX_EPOCH_US
_MAX_DIGITS: Final = len(str(_MAX_US))


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


def parse_bound_us(value: str, *, margin_us: int = 0) -> int:
    """A ``start``/``end``/``since`` query value: RFC 3339 with an offset, or integer epoch µs.

    Accepted: the range above, minus ``margin_us`` at its end (the padding the caller adds to
    the window must still end inside the range). Raises ``ValueError`` with a message meant
    for the API user.
    """
    return _check_range(_parse_bound(value), margin_us)


def _parse_bound(value: str) -> int:
    text = value.strip()
    # ASCII only: str.isdigit() also accepts other scripts' digits ("١٢٣").
    if text.isascii() and text.isdigit():
        if len(text) > _MAX_DIGITS:
            raise ValueError("epoch microseconds out of range (1970 to 2261)")
        return int(text)
    parsed = parse_rfc3339_us(text)
    if parsed is None:
        if parse_rfc3339_us(text + "Z") is not None:
            raise ValueError("an RFC 3339 time needs an offset (Z or +hh:mm)")
        raise ValueError(
            "expected RFC 3339 (2026-11-22T10:23:47Z) between 1970 and 2261, or epoch microseconds"
        )
    return parsed


def _check_range(micros: int, margin_us: int) -> int:
    if micros < _MIN_US:
        raise ValueError("times before 1970-01-01T00:00:00Z are not supported")
    latest = _MAX_US - margin_us
    if micros > latest:
        shown = format_time_us(latest)
        if margin_us:
            raise ValueError(
                f"must not be after {shown} (the latest time the API handles, "
                f"minus the {margin_us // 1_000_000} s the window is padded by)"
            )
        raise ValueError(f"must not be after {shown}")
    return micros


def in_time_range(micros: int) -> bool:
    """Whether ``micros`` lies in the range above."""
    return _MIN_US <= micros <= _MAX_US
