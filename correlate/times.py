"""Times as the API reads and writes them: µs since the epoch ↔ RFC 3339 UTC text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

__all__ = ["format_time_us", "in_time_range", "parse_bound_us", "parse_time_us"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Far enough to cover any real trace, near enough that datetime arithmetic cannot overflow.
_MIN_US: Final = 0
_MAX_US: Final = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def _to_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_time_us(value: Any) -> int | None:
    """``@timestamp`` (RFC 3339 with up to ns, or epoch milliseconds) → µs since the epoch.

    Digits beyond microseconds are truncated; a time without an offset is UTC (as
    Elasticsearch reads it); ``None`` when the value is not a time.
    """
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return _to_us(moment)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and _MIN_US <= value * 1000 <= _MAX_US:
        return int(value * 1000)
    return None


def format_time_us(value: int) -> str:
    """µs since the epoch → ``2026-11-22T10:23:47.123456Z``."""
    moment = _EPOCH + timedelta(microseconds=min(max(value, _MIN_US), _MAX_US))
    # isoformat is several times faster than strftime; the offset of UTC is always +00:00.
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_bound_us(value: str, *, margin_us: int = 0) -> int:
    """A ``start``/``end``/``since`` query value: RFC 3339 with an offset, or integer epoch µs.

    Accepted: 1970-01-01T00:00:00Z up to 9999-12-31T23:59:59.999999Z minus ``margin_us``
    (the padding the caller adds to the window must still end inside that range). Raises
    ``ValueError`` with a message meant for the API user.
    """
    return _check_range(_parse_bound(value), margin_us)


def _parse_bound(value: str) -> int:
    text = value.strip()
    # ASCII only: str.isdigit() also accepts other scripts' digits ("١٢٣").
    if text.isascii() and text.isdigit():
        if len(text) > _MAX_DIGITS:
            raise ValueError("epoch microseconds out of range")
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("expected RFC 3339 (2026-11-22T10:23:47Z) or epoch microseconds") from None
    if moment.tzinfo is None:
        raise ValueError("an RFC 3339 time needs an offset (Z or +hh:mm)")
    return _to_us(moment)


# The range the API handles is the range of RFC 3339 years (1970 .. 9999, UTC); the same
# bounds as tracelink.times' MIN_EPOCH_US / MAX_EPOCH_US.
_MAX_DIGITS: Final = len(str(_MAX_US))


def _check_range(micros: int, margin_us: int) -> int:
    if micros < _MIN_US:
        raise ValueError("times before 1970-01-01T00:00:00Z are not supported")
    latest = _MAX_US - margin_us
    if micros > latest:
        shown = format_time_us(latest)
        if margin_us:
            raise ValueError(
                f"must not be after {shown} (9999-12-31T23:59:59.999999Z, the latest time "
                f"the API handles, minus the {margin_us // 1_000_000} s the window is padded by)"
            )
        raise ValueError(f"must not be after {shown}")
    return micros


def in_time_range(micros: int) -> bool:
    """Whether ``micros`` lies in 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z."""
    return _MIN_US <= micros <= _MAX_US
