"""The renderer's cached ``@timestamp`` formatting against plain formatting.

The renderer formats each millisecond once and appends the microseconds (inlined in its
hot path); :func:`plain_timestamp` formats with ``datetime``; ``tracelink.times`` (when
present) is the project's one RFC 3339 formatter. All must agree on every value.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logging_ext._render import ECSRenderer, plain_timestamp

# 1970-01-01T00:00:00Z up to 9999-12-31T23:59:59.999999Z, in microseconds.
MAX_MICROS = 253_402_300_799_999_999
micros = st.integers(min_value=0, max_value=MAX_MICROS)


def _oracles() -> list[Callable[[int], str]]:
    oracles: list[Callable[[int], str]] = [plain_timestamp]
    try:
        times = importlib.import_module("tracelink.times")
    except ImportError:
        return oracles  # not in this tree yet: datetime-based formatting alone
    oracles.append(times.format_rfc3339_us)
    return oracles


ORACLES = _oracles()


def _structlog_timestamps(values: list[int]) -> list[str]:
    """``@timestamp`` of structlog events rendered in turn at each of ``values`` (µs)."""
    now = iter(values)
    renderer = ECSRenderer("t", host_name="h", clock=lambda: next(now) * 1000)
    return [
        orjson.loads(renderer.render(None, "info", {"event": "e"})[0])["@timestamp"] for _ in values
    ]


@pytest.mark.parametrize("oracle", ORACLES)
@settings(max_examples=500)
@given(values=st.lists(micros, min_size=1, max_size=20))
def test_structlog_events_match_plain_formatting(
    oracle: Callable[[int], str], values: list[int]
) -> None:
    assert _structlog_timestamps(values) == [oracle(v) for v in values]


@pytest.mark.parametrize("oracle", ORACLES)
@settings(max_examples=200)
@given(start=micros, steps=st.lists(st.integers(0, 2500), min_size=1, max_size=50))
def test_records_close_in_time_reuse_the_millisecond_correctly(
    oracle: Callable[[int], str], start: int, steps: list[int]
) -> None:
    """Consecutive records within and across milliseconds: the cached text must follow."""
    values = [min(MAX_MICROS, start + sum(steps[: i + 1])) for i in range(len(steps))]
    assert _structlog_timestamps(values) == [oracle(v) for v in values]


@pytest.mark.parametrize("oracle", ORACLES)
@settings(max_examples=300)
@given(value=st.integers(min_value=0, max_value=4_102_444_800_000_000))  # up to 2100
def test_stdlib_records_match_plain_formatting(oracle: Callable[[int], str], value: int) -> None:
    record = logging.makeLogRecord({"msg": "m", "created": value / 1_000_000})
    line, _ = ECSRenderer("t", host_name="h").render_record(record, stamped=False)
    # The record's float creation time, to the microsecond, as the renderer reads it.
    assert orjson.loads(line)["@timestamp"] == oracle(round(record.created * 1_000_000))


def test_known_values() -> None:
    assert plain_timestamp(0) == "1970-01-01T00:00:00.000000Z"
    assert plain_timestamp(1_795_343_027_123_456) == "2026-11-22T10:23:47.123456Z"
    assert _structlog_timestamps([1_795_343_027_123_456, 1_795_343_027_123_999]) == [
        "2026-11-22T10:23:47.123456Z",
        "2026-11-22T10:23:47.123999Z",
    ]
    assert _structlog_timestamps([MAX_MICROS]) == ["9999-12-31T23:59:59.999999Z"]
