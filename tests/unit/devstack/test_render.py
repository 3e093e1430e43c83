from __future__ import annotations

from typing import Any

from devstack.render import render_trace


def _log(level: str, message: str, ts: int) -> dict[str, Any]:
    return {"level": level, "message": message, "timestamp_us": ts, "service": "order"}


RESULT: dict[str, Any] = {
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "summary": {
        "services": ["gateway", "order"],
        "duration_us": 182_300,
        "span_count": 2,
        "log_count": 3,
        "error_count": 1,
        "first_error": {"service": "order", "message": "database write timed out"},
    },
    "spans": [
        {
            "span_id": "a" * 16,
            "service": "gateway",
            "operation": "POST /api/checkout",
            "start_us": 1_000_000,
            "duration_us": 182_300,
            "depth": 0,
            "error": False,
            "logs": [_log("info", "checkout started", 1_000_100)],
        },
        {
            "span_id": "b" * 16,
            "service": "order",
            "operation": "INSERT shop.orders",
            "start_us": 1_002_000,
            "duration_us": 150_000,
            "depth": 1,
            "error": True,
            "logs": [
                _log("warning", "retrying\nwrite", 1_050_000),
                _log("error", "database write timed out", 1_152_000),
            ],
        },
    ],
    "orphan_logs": [_log("info", "stray", 1_200_000)],
    "warnings": ["1 log outside its span's time window"],
}


def test_plain_tree_shows_spans_logs_and_errors() -> None:
    text = render_trace(RESULT, color=False)
    lines = text.splitlines()
    assert lines[0] == "trace 4bf92f3577b34da6a3ce929d0e0e4736"
    assert "first error: order: database write timed out" in text
    assert "  ! 1 log outside its span's time window" in lines
    gateway = next(i for i, line in enumerate(lines) if "POST /api/checkout" in line)
    insert = next(i for i, line in enumerate(lines) if "INSERT shop.orders" in line)
    assert lines[gateway].startswith("gateway POST /api/checkout @0.0 ms, 182.3 ms")
    assert lines[insert].startswith("  order INSERT shop.orders @2.0 ms, 150.0 ms ✗ ERROR")
    # Logs sit under their span, one line each, offset from the trace start.
    assert lines[gateway + 1] == "  │ +     0.1 ms INFO    checkout started"
    assert lines[insert + 1] == "    │ +    50.0 ms WARNING retrying write"
    assert lines[insert + 2] == "    │ +   152.0 ms ERROR   database write timed out"
    assert "logs of this trace without a known span (1)" in text
    assert "\x1b[" not in text


def test_colour_highlights_the_error() -> None:
    text = render_trace(RESULT, color=True)
    assert "\x1b[1m\x1b[31mdatabase write timed out\x1b[0m" in text


def test_empty_result_does_not_fail() -> None:
    assert render_trace({"trace_id": "x"}).startswith("trace x")
