"""The one RFC 3339 parser/formatter: strict text, ASCII digits, a bounded range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelink.times import (
    MAX_EPOCH_US,
    MIN_EPOCH_US,
    epoch_number_to_us,
    format_rfc3339_us,
    format_rfc3339_us_fast,
    is_canonical_utc,
    kafka_millis_to_us,
    normalize_rfc3339,
    parse_rfc3339_us,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def test_range_is_what_date_nanos_holds_in_whole_years() -> None:
    assert format_rfc3339_us(MIN_EPOCH_US) == "1970-01-01T00:00:00.000000Z"
    assert format_rfc3339_us(MAX_EPOCH_US) == "2261-12-31T23:59:59.999999Z"
    with pytest.raises(ValueError, match="range"):
        format_rfc3339_us(MAX_EPOCH_US + 1)
    with pytest.raises(ValueError, match="range"):
        format_rfc3339_us(-1)


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("2026-11-22T10:23:47.123456Z", 1_795_343_027_123_456),
        ("2026-11-22T10:23:47.123456789Z", 1_795_343_027_123_456),
        ("2026-11-22T11:23:47.1+01:00", 1_795_343_027_100_000),
        ("2026-11-22 10:23:47,5z", 1_795_343_027_500_000),
        ("1970-01-01T00:00:00Z", 0),
        ("2261-12-31T23:59:59.999999Z", MAX_EPOCH_US),
    ],
)
def test_parse(text: str, micros: int) -> None:
    assert parse_rfc3339_us(text) == micros


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-22T10:23:47",  # no offset: no instant
        "\u0662\u0660\u0662\u0666-11-22T10:23:47Z",  # Arabic-Indic digits
        "2026-11-22T10:23:4\u0667Z",
        "2026-11-22T10:23:47.\u0661Z",
        "2026-11-22T10:23:47+0\u0661:00",
        "2026-11-22T10:23:47.1234567890Z",
        "2026-02-30T00:00:00Z",
        "2026-11-22T10:23:60Z",
        "2026-11-22T10:23:47+24:00",
        "2026-11-22T10:23:47+01:60",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:30:00+01:00",  # 1969 in UTC
        "2262-01-01T00:00:00Z",
        "9999-12-31T23:59:59-23:59",  # past datetime's own range: must not raise
        "0001-01-01T00:00:00+23:59",
        "2026-11-22T10:23:47Z\n",
        "",
    ],
)
def test_parse_refuses(text: str) -> None:
    assert parse_rfc3339_us(text) is None
    assert normalize_rfc3339(text) is None
    assert not is_canonical_utc(text)


def test_normalize_keeps_the_fraction_digits_in_utc() -> None:
    assert normalize_rfc3339("2026-11-22T23:30:00.500-02:00") == "2026-11-23T01:30:00.500Z"
    assert normalize_rfc3339("2026-11-22T10:23:47.123456789Z") == "2026-11-22T10:23:47.123456789Z"


@settings(max_examples=500, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2261, 12, 31, 23, 59, 59, 999999)
    ),
    st.sampled_from(["", ".1", ".123", ".123456", ".123456789"]),
)
def test_fast_path_agrees_with_the_plain_parser(moment: datetime, fraction: str) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    assert is_canonical_utc(text)
    assert normalize_rfc3339(text) == text
    micros = parse_rfc3339_us(text)
    assert micros is not None
    assert format_rfc3339_us(micros)[:19] == text[:19]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789\u0663-:TZ.+ ", max_size=32))
def test_fast_path_never_accepts_what_the_plain_parser_refuses(text: str) -> None:
    if is_canonical_utc(text):
        assert normalize_rfc3339(text) == text
    micros = parse_rfc3339_us(text)
    assert micros is None or MIN_EPOCH_US <= micros <= MAX_EPOCH_US


@settings(max_examples=300, deadline=None)
@given(st.integers(MIN_EPOCH_US, MAX_EPOCH_US))
def test_format_parse_round_trip(micros: int) -> None:
    assert parse_rfc3339_us(format_rfc3339_us(micros)) == micros


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(MIN_EPOCH_US, MAX_EPOCH_US),
            # Runs within one second and across its edges: the cache's own cases.
            st.integers(0, 2_999_999).map(lambda us: 1_795_343_026_000_000 + us),
            st.sampled_from([MIN_EPOCH_US, MAX_EPOCH_US, MAX_EPOCH_US - 999_999]),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_fast_formatter_agrees_with_the_plain_one(stream: list[int]) -> None:
    # The plain formatter is the oracle of the per-second cache, whatever the order.
    assert [format_rfc3339_us_fast(us) for us in stream] == list(map(format_rfc3339_us, stream))


@pytest.mark.parametrize("micros", [MIN_EPOCH_US - 1, MAX_EPOCH_US + 1, -1_000_001])
def test_fast_formatter_refuses_what_the_plain_one_refuses(micros: int) -> None:
    format_rfc3339_us_fast(1_795_343_027_000_000)
    with pytest.raises(ValueError, match="outside the supported range"):
        format_rfc3339_us_fast(micros)
    assert format_rfc3339_us_fast(micros + 2_000_000 if micros < 0 else micros - 1_000_001)


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        (1_795_343_027, 1_795_343_027_000_000),  # seconds
        (1_795_343_027.5, 1_795_343_027_500_000),
        (1_795_343_027_123, 1_795_343_027_123_000),  # ms
        (1_795_343_027_123_456, 1_795_343_027_123_456),  # µs
        (1_795_343_027_123_456_789, 1_795_343_027_123_456),  # ns
        (0, 0),
    ],
)
def test_epoch_numbers_by_magnitude(value: float, micros: int) -> None:
    assert epoch_number_to_us(value) == micros


@pytest.mark.parametrize(
    "value", [-1, True, float("nan"), float("inf"), 2**64, 9_300_000_000, 10**30]
)
def test_epoch_numbers_out_of_range(value: float) -> None:
    assert epoch_number_to_us(value) is None


@pytest.mark.parametrize(
    ("millis", "micros"),
    [
        (1_795_343_027_123, 1_795_343_027_123_000),
        (None, None),
        (-1, None),
        (1_795_343_027_123_000, None),  # µs where ms belong
        (2**63 - 1, None),
    ],
)
def test_kafka_millis(millis: int | None, micros: int | None) -> None:
    assert kafka_millis_to_us(millis) == micros


def test_max_is_what_its_docstring_says() -> None:
    assert _EPOCH + timedelta(microseconds=MAX_EPOCH_US) == datetime(
        2261, 12, 31, 23, 59, 59, 999999, tzinfo=UTC
    )
