from __future__ import annotations

import pytest

from tracelink.ids import (
    jaeger_trace_id_variants,
    normalize_span_id,
    normalize_trace_id,
    parse_traceparent,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4BF92F3577B34DA6A3CE929D0E0E4736", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("a3ce929d0e0e4736", "0000000000000000a3ce929d0e0e4736"),
        ("1", "00000000000000000000000000000001"),
        ("0", None),
        ("0" * 32, None),
        ("", None),
        ("g" * 32, None),
        ("a" * 33, None),
        ("trace.id:*", None),
        ("../etc", None),
        ("\uff41\uff42\uff43", None),  # full-width letters are not hex
        ("abc\n", None),  # a trailing newline is not hex (a `$` regex would let it through)
    ],
)
def test_normalize_trace_id(raw: str, expected: str | None) -> None:
    assert normalize_trace_id(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("00F067AA0BA902B7", "00f067aa0ba902b7"),
        ("f067aa0ba902b7", "00f067aa0ba902b7"),
        ("0" * 16, None),
        ("a" * 17, None),
        ("xyz", None),
        ("f067aa0ba902b7\n", None),
    ],
)
def test_normalize_span_id(raw: str, expected: str | None) -> None:
    assert normalize_span_id(raw) == expected


def test_jaeger_variants_cover_every_era() -> None:
    assert jaeger_trace_id_variants("0000000000000000000000000000abcd") == [
        "0000000000000000000000000000abcd",
        "000000000000abcd",
        "abcd",
    ]
    full = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert jaeger_trace_id_variants(full) == [full]
    high = "00000000000000010000000000000000"
    assert jaeger_trace_id_variants(high) == [high, "10000000000000000"]


def test_parse_traceparent() -> None:
    value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert parse_traceparent(value) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        True,
    )
    assert parse_traceparent(value.encode()[:-1] + b"0") == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        False,
    )
    assert parse_traceparent("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") is None
    assert parse_traceparent("garbage") is None
