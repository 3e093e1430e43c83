"""The shared level table and timestamp rules."""

from __future__ import annotations

import pytest

from tracelink.levels import (
    ERROR_LEVELS,
    STRUCTLOG_METHOD_LEVELS,
    level_names_at_least,
    level_rank,
    pino_level,
    severity_number_level,
    stdlib_level,
)
from tracelink.times import (
    MAX_EPOCH_US,
    MIN_EPOCH_US,
    epoch_number_to_us,
    format_rfc3339_us,
    parse_rfc3339_us,
)

# 2026-11-22T10:23:47.123456Z
US = 1_795_343_027_123_456


def test_aliases_rank_alike() -> None:
    assert level_rank("warn") == level_rank("WARNING") == 30
    assert level_rank("err") == level_rank("error") < level_rank("fatal") == level_rank("crit")
    assert level_rank(None) == level_rank("chatty") == level_rank("info")
    assert {"error", "err", "critical", "crit", "fatal", "alert", "emerg"} <= ERROR_LEVELS
    assert "warn" not in ERROR_LEVELS
    assert "warn" in level_names_at_least("WARNING")
    with pytest.raises(ValueError, match="unknown level"):
        level_names_at_least("loud")


@pytest.mark.parametrize(
    ("number", "name"),
    [(10, "trace"), (20, "debug"), (30, "info"), (40, "warn"), (50, "error"), (60, "fatal")],
)
def test_pino_levels(number: int, name: str) -> None:
    assert pino_level(number) == name


def test_numbers_outside_the_tables() -> None:
    assert pino_level(35) is None
    assert stdlib_level(30) == "warning"
    assert stdlib_level(35) is None
    assert STRUCTLOG_METHOD_LEVELS["fatal"] == "critical"


@pytest.mark.parametrize(
    ("number", "name"),
    [
        (0, None),
        (1, "trace"),
        (4, "trace"),
        (5, "debug"),
        (9, "info"),
        (12, "info"),
        (13, "warn"),
        (16, "warn"),
        (17, "error"),
        (20, "error"),
        (21, "fatal"),
        (24, "fatal"),
        (25, None),
    ],
)
def test_severity_number_ranges(number: int, name: str | None) -> None:
    assert severity_number_level(number) == name


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-22T10:23:47.123456Z",
        "2026-11-22T10:23:47.123456789Z",  # nanoseconds are cut, not rounded
        "2026-11-22T11:23:47.123456+01:00",
        "2026-11-22 05:23:47,123456-05:00",
        "2026-11-22t10:23:47.123456z",
    ],
)
def test_rfc3339(text: str) -> None:
    assert parse_rfc3339_us(text) == US


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-22T10:23:47",  # no offset: not RFC 3339
        "2026-13-22T10:23:47Z",
        "1969-12-31T23:59:59Z",
        "2026-11-22T10:23:4\u0667Z",  # an Arabic-Indic digit
        "2026-11-22T10:23:47+24:00",
        "",
    ],
)
def test_not_rfc3339(text: str) -> None:
    assert parse_rfc3339_us(text) is None


def test_format_round_trip() -> None:
    assert format_rfc3339_us(US) == "2026-11-22T10:23:47.123456Z"
    assert format_rfc3339_us(MIN_EPOCH_US) == "1970-01-01T00:00:00.000000Z"
    assert parse_rfc3339_us(format_rfc3339_us(MAX_EPOCH_US)) == MAX_EPOCH_US


@pytest.mark.parametrize(
    "value",
    [
        1_795_343_027.123456,  # seconds
        1_795_343_027_123.456,  # milliseconds
        1_795_343_027_123_456,  # microseconds
        1_795_343_027_123_456_789,  # nanoseconds
    ],
)
def test_epoch_units_by_magnitude(value: float) -> None:
    assert epoch_number_to_us(value) == US


def test_epoch_whole_units() -> None:
    assert epoch_number_to_us(1_795_343_027) == 1_795_343_027_000_000
    assert epoch_number_to_us(1_795_343_027_123) == 1_795_343_027_123_000


@pytest.mark.parametrize("value", [True, -1, float("nan"), float("inf"), 10**40])
def test_epoch_refused(value: float) -> None:
    assert epoch_number_to_us(value) is None
