"""Hostile and boundary input: every answer is a 2xx or a 4xx with a ``detail``, never a 5xx."""

from __future__ import annotations

import itertools

import pytest

from tests.integration.correlate.conftest import Stack
from tests.integration.correlate.test_correlate_api import TRACE, logs, spans
from tests.support.jaeger import SpanSpec

# Every kind of edge a time parameter has: the epoch, negatives, 64-bit limits, the ends of
# the calendar (years 1, 9999, 10000) and of the project's range (2261, what date_nanos
# holds), leap seconds, offsets at and beyond ±24 h, non-ASCII
# digits, huge digit strings, blanks.
TIME_VALUES = [
    "0",
    "-1",
    "1",
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    "253402300799999999",
    "253402300800000000",
    "9" * 5000,
    "1e20",
    "NaN",
    "",
    " ",
    "\u0661\u0662\u0663",  # Arabic-Indic digits
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59",
    "1969-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00Z",
    "2016-12-31T23:59:60Z",
    "2026-11-22T10:00:00+24:00",
    "2026-11-22T10:00:00-24:00",
    "2026-11-22T10:00:00+23:59",
    "2026-11-22T10:00:00-23:59",
    "2261-12-31T23:00:00Z",
    "2261-12-31T23:59:59.999999Z",
    "2262-01-01T00:00:00Z",
    "9214646399999999",
    "9214646400000000",
    "9999-12-31T00:00:00Z",
    "9999-12-31T23:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-23:59",
    "10000-01-01T00:00:00Z",
    "2026-11-22",
    "2026-11-22T10:00:00.1234567891Z",
]

_ENDPOINTS = [f"/correlate/{TRACE}", f"/correlate/{TRACE}/view"]


def _check(path: str, status: int, content_type: str, body: str) -> None:
    assert status < 500, (path, status, body[:300])
    if status >= 400:
        if path.endswith("/view"):
            assert content_type.startswith("text/html"), (path, content_type)
        else:
            assert content_type.startswith("application/json"), (path, content_type)
            assert '"detail"' in body, (path, body[:300])


@pytest.fixture
async def seeded(stack: Stack) -> Stack:
    await stack.write_spans(spans())
    await stack.write_logs(logs())
    return stack


async def test_no_time_parameter_value_is_a_server_error(seeded: Stack) -> None:
    for path in _ENDPOINTS:
        for value in TIME_VALUES:
            for params in ({"start": value}, {"end": value}, {"start": value, "end": value}):
                response = await seeded.api.get(path, params=params)
                _check(path, response.status_code, response.headers["content-type"], response.text)
        # Pairs of boundary values, both orders.
        edges = [
            "0",
            "253402300799999999",
            "9214646399999999",
            "9999-12-31T23:00:00Z",
            "2261-12-31T23:00:00Z",
            "1970-01-01T00:00:00Z",
        ]
        for start, end in itertools.permutations(edges, 2):
            response = await seeded.api.get(path, params={"start": start, "end": end})
            _check(path, response.status_code, response.headers["content-type"], response.text)
    for value in [*TIME_VALUES, "0s", "999999d", "1000000d", "\u0661h"]:
        response = await seeded.api.get("/traces", params={"since": value})
        _check("/traces", response.status_code, response.headers["content-type"], response.text)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (f"/correlate/{TRACE}", {"start": "9999-12-31T00:00:00Z", "end": "9999-12-31T23:00:00Z"}),
        (f"/correlate/{TRACE}", {"start": "0", "end": "253402300799999999"}),
        (f"/correlate/{TRACE}", {"end": "9999-12-31T23:59:59-23:59"}),
        ("/traces", {"since": "9999-12-31T23:59:59Z"}),
        ("/traces", {"since": "253402300799000000"}),
        (f"/correlate/{TRACE}", {"start": "2261-12-31T00:00:00Z", "end": "2261-12-31T23:00:00Z"}),
        (f"/correlate/{TRACE}", {"start": "0", "end": "9214646399999999"}),
        ("/traces", {"since": "2261-12-31T23:59:59Z"}),
    ],
)
async def test_times_at_the_end_of_the_calendar_are_400(
    stack: Stack, path: str, params: dict[str, str]
) -> None:
    response = await stack.api.get(path, params=params)
    assert response.status_code == 400, response.text
    # The detail names the end of the range: "must not be after 2261-…" or "… 1970 to 2261".
    assert "2261" in response.json()["detail"]
    view = await stack.api.get(f"/correlate/{TRACE}/view", params=params)
    if path.startswith("/correlate"):
        assert view.status_code == 400
        assert view.headers["content-type"].startswith("text/html")
        assert "2261" in view.text


async def test_span_times_beyond_64_bits_are_a_warning_not_a_500(stack: Stack) -> None:
    trace = "5" * 32
    good = SpanSpec(trace, "5" * 16, None, "checkout", "ok", 1_795_341_600_000_000, 1_000)
    late = good.document()
    late.update(spanID="6" * 16, startTime=2**63 - 1, duration=2**63 - 1)
    long_running = good.document()
    long_running.update(spanID="7" * 16, duration=2**63 - 1)
    index = f"{stack.settings.jaeger_index_prefix}-jaeger-span-2026-11-22"
    await stack.write_spans([good])
    await stack.write_span_docs([(index, late), (index, long_running)])
    response = await stack.api.get(f"/correlate/{trace}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [span["span_id"] for span in body["spans"]] == ["5" * 16]
    assert any("2 span document(s) could not be read" in w for w in body["warnings"])
    view = await stack.api.get(f"/correlate/{trace}/view")
    assert view.status_code == 200
