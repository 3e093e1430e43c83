"""The renderer's hand-inlined steps against their plain versions: the cached
``@timestamp`` formatting, and reading a stdlib record's extras.

The renderer formats each millisecond once and appends the microseconds (inlined in its
hot path); :func:`plain_timestamp` formats with ``datetime``; ``tracelink.times`` (when
present) is the project's one RFC 3339 formatter. All must agree on every value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.typing import EventDict

from logging_ext._formatter import ECSFormatter
from logging_ext._records import record_extras
from logging_ext._render import ECSRenderer, plain_timestamp
from tracelink.times import MAX_EPOCH_US, MIN_EPOCH_US, format_rfc3339_us

# The project's time range (tracelink.times: 1970 to 2261, what date_nanos holds).
micros = st.integers(min_value=MIN_EPOCH_US, max_value=MAX_EPOCH_US)

# datetime-based formatting, and the project's one RFC 3339 formatter.
ORACLES: list[Callable[[int], str]] = [plain_timestamp, format_rfc3339_us]


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
    values = [min(MAX_EPOCH_US, start + sum(steps[: i + 1])) for i in range(len(steps))]
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
    assert _structlog_timestamps([MAX_EPOCH_US]) == ["2261-12-31T23:59:59.999999Z"]
    # The renderer itself goes beyond the project's range (a service's clock is its own).
    assert plain_timestamp(253_402_300_799_999_999) == "9999-12-31T23:59:59.999999Z"


def _noop(logger: object, method_name: str, event_dict: EventDict) -> EventDict:
    return event_dict


names = st.one_of(
    st.sampled_from(["event", "message", "trace.id", "order_id", "labels.x", "msg", "args"]),
    st.text(alphabet="abcdefghij_.", min_size=1, max_size=8),
)
# Not None: the generic chain reads trace.id=None as "no trace" (there is no other trace).
values = st.one_of(st.integers(-(2**63), 2**63), st.text(max_size=5), st.booleans())


@settings(max_examples=300)
@given(extra=st.dictionaries(names, values, max_size=6))
def test_the_inlined_extras_match_record_extras(extra: dict[str, object]) -> None:
    """render_record reads a record's extras with an inlined copy of record_extras (see
    there); the generic chain uses record_extras itself. Both records must be the same."""
    renderer = ECSRenderer("t", host_name="h", event_id=lambda: "id")
    fast = ECSFormatter(chain=[renderer])
    generic = ECSFormatter(chain=[_noop, renderer])
    assert fast._extras_steps is not None
    assert generic._extras_steps is None
    try:
        record = logging.getLogger("t").makeRecord(
            "t", logging.INFO, "f", 1, "m", (), None, extra=extra
        )
    except KeyError:
        return  # stdlib refuses extras named like record attributes ("message", "msg", ...)
    expected_extras = record_extras(record)
    rendered = orjson.loads(fast.render(record)[0])
    # The same fields (the generic chain may order aside-moved trace keys last).
    assert rendered == orjson.loads(generic.render(record)[0])
    for key, value in expected_extras.items():
        assert rendered.get(key, rendered.get(f"extra.{key}")) == value
