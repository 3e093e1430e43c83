"""The view, /logs, /traces, health, metrics, the token, and Elasticsearch outages."""

from __future__ import annotations

import base64
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from devstack.standins import free_port
from tests.integration.correlate.conftest import MakeStack, Stack
from tests.integration.correlate.test_correlate_api import CHARGE, ROOT, TRACE, logs, spans
from tests.support.jaeger import SpanSpec, log_document

XSS = "<script>alert('x')</script><img src=x onerror=alert(1)>"


@pytest.fixture
async def seeded(stack: Stack) -> Stack:
    await stack.write_spans(spans())
    await stack.write_logs(logs())
    return stack


def _now_text(offset: timedelta = timedelta()) -> str:
    moment = datetime.now(UTC) + offset
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_view_renders_spans_logs_and_escapes_everything(stack: Stack) -> None:
    trace = "7" * 32
    span = SpanSpec(trace, "7" * 16, None, XSS, XSS, 1_795_341_600_000_000, 1_000, tags={XSS: XSS})
    await stack.write_spans([span])
    await stack.write_logs(
        [
            log_document(trace_id=trace, span_id="7" * 16, timestamp="2026-11-22T10:00:00.000500Z",
                         message=XSS, event_id="xss-1", service=XSS, extra={"labels.x": XSS}),
        ]
    )  # fmt: skip
    response = await stack.api.get(f"/correlate/{trace}/view")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert 'data-span-id="7777777777777777"' in page
    assert 'data-event-id="xss-1"' in page


async def test_view_errors_are_html(stack: Stack) -> None:
    bad = await stack.api.get("/correlate/nothex/view")
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("text/html")
    assert "1 to 32 hexadecimal digits" in bad.text
    missing = await stack.api.get(f"/correlate/{'e' * 32}/view")
    assert missing.status_code == 404
    assert "no spans and no logs" in missing.text
    invalid = await stack.api.get(f"/correlate/{'e' * 32}/view", params={"limit_logs": "x"})
    assert invalid.status_code == 400
    assert invalid.headers["content-type"].startswith("text/html")


async def test_log_to_trace(seeded: Stack) -> None:
    response = await seeded.api.get("/logs/ev-2")
    assert response.status_code == 200
    body = response.json()
    assert body["trace_id"] == TRACE
    assert body["log"]["span_id"] == CHARGE
    assert body["log"]["message"] == "card declined"
    assert body["links"]["correlate"] == f"http://api.test/correlate/{TRACE}"
    assert body["links"]["view"] == f"http://api.test/correlate/{TRACE}/view"
    missing = await seeded.api.get("/logs/no-such-event")
    assert missing.status_code == 404
    assert "no-such-event" in missing.json()["detail"]


async def test_log_outside_any_trace_has_no_links(stack: Stack) -> None:
    await stack.write_logs(
        [log_document(trace_id=None, span_id=None, timestamp=_now_text(), message="boot",
                      event_id="plain-1")]
    )  # fmt: skip
    body = (await stack.api.get("/logs/plain-1")).json()
    assert body["trace_id"] is None
    assert body["links"] == {}


async def test_recent_traces_filter_and_order(stack: Stack) -> None:
    older, newer, quiet = "a" * 32, "b" * 32, "c" * 32
    await stack.write_logs(
        [
            log_document(trace_id=older, span_id=ROOT, timestamp=_now_text(-timedelta(minutes=5)),
                         message="db timeout", event_id="r-1", service="orders", level="error"),
            log_document(trace_id=newer, span_id=ROOT, timestamp=_now_text(-timedelta(minutes=1)),
                         message="boom", event_id="r-2", service="orders", level="critical"),
            log_document(trace_id=newer, span_id=ROOT, timestamp=_now_text(-timedelta(minutes=2)),
                         message="earlier boom", event_id="r-3", service="orders", level="error"),
            log_document(trace_id=quiet, span_id=ROOT, timestamp=_now_text(-timedelta(minutes=1)),
                         message="fine", event_id="r-4", service="orders", level="info"),
            log_document(trace_id=older, span_id=ROOT, timestamp=_now_text(-timedelta(hours=3)),
                         message="long ago", event_id="r-5", service="billing", level="error"),
            log_document(trace_id=None, span_id=None, timestamp=_now_text(), message="untraced",
                         event_id="r-6", service="orders", level="error"),
        ]
    )  # fmt: skip
    body = (await stack.api.get("/traces", params={"service": "orders", "level": "error"})).json()
    assert [row["trace_id"] for row in body["traces"]] == [newer, older]
    assert body["traces"][0]["message"] == "boom"
    assert body["traces"][0]["links"]["view"].endswith(f"/correlate/{newer}/view")
    everything = (await stack.api.get("/traces", params={"since": "1d"})).json()
    assert {row["trace_id"] for row in everything["traces"]} == {older, newer, quiet}
    billing = (await stack.api.get("/traces", params={"service": "billing"})).json()
    assert billing["traces"] == []  # older than the default hour


@pytest.mark.parametrize(
    "params",
    [{"level": "loud"}, {"since": "last week"}, {"limit": "0"}, {"limit": "501"}, {"service": ""}],
)
async def test_recent_traces_bad_input_is_400(stack: Stack, params: dict[str, str]) -> None:
    response = await stack.api.get("/traces", params=params)
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)


async def test_health_ready_metrics(seeded: Stack) -> None:
    assert (await seeded.api.get("/healthz")).json() == {"status": "ok"}
    ready = await seeded.api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    await seeded.api.get(f"/correlate/{TRACE}")
    text = (await seeded.api.get("/metrics")).text
    assert (
        'tracelink_api_requests_total{method="GET",route="/correlate/{trace_id}",status="200"}'
        in text
    )
    assert 'tracelink_api_es_requests_total{operation="msearch"}' in text
    schema = (await seeded.api.get("/openapi.json")).json()
    assert "/correlate/{trace_id}" in schema["paths"]
    assert (await seeded.api.get("/docs")).status_code == 200


async def test_elasticsearch_down_is_503_not_a_crash(make_stack: MakeStack) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    stack = await make_stack(es_url=dead, api_es_timeout=2)
    started = time.monotonic()
    for path in (f"/correlate/{TRACE}", "/logs/x", "/traces", "/readyz"):
        response = await stack.api.get(path)
        assert response.status_code == 503, path
        assert "Elasticsearch" in response.json()["detail"]
    view = await stack.api.get(f"/correlate/{TRACE}/view")
    assert view.status_code == 503
    assert "Elasticsearch" in view.text
    assert (await stack.api.get("/healthz")).status_code == 200
    assert time.monotonic() - started < 60


async def test_token_is_required_when_set(make_stack: MakeStack) -> None:
    stack = await make_stack(api_token="s3cret")
    await stack.write_spans(spans())
    no_token = await stack.api.get(f"/correlate/{TRACE}")
    assert no_token.status_code == 401
    assert no_token.headers["www-authenticate"] == "Bearer"
    wrong = await stack.api.get(f"/correlate/{TRACE}", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await stack.api.get(f"/correlate/{TRACE}", headers={"Authorization": "Bearer s3cret"})
    assert right.status_code == 200
    view = await stack.api.get(f"/correlate/{TRACE}/view")
    assert view.status_code == 401
    assert view.headers["www-authenticate"].startswith("Basic")
    basic = base64.b64encode(b"anyone:s3cret").decode()
    browser = await stack.api.get(
        f"/correlate/{TRACE}/view", headers={"Authorization": f"Basic {basic}"}
    )
    assert browser.status_code == 200
    for path in ("/logs/x", "/traces", "/metrics"):
        assert (await stack.api.get(path)).status_code == 401, path
    assert (await stack.api.get("/healthz")).status_code == 200
    assert (await stack.api.get("/readyz")).status_code == 200


async def test_elasticsearch_that_hangs_is_503_after_the_timeout(make_stack: MakeStack) -> None:
    # A listener that accepts connections and never answers: a stuck cluster.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        stack = await make_stack(es_url=f"http://127.0.0.1:{port}", api_es_timeout=0.5)
        response = await stack.api.get(f"/correlate/{TRACE}")
    assert response.status_code == 503
    assert "Timeout" in response.json()["detail"]


async def test_unknown_query_parameters_are_400(stack: Stack) -> None:
    response = await stack.api.get(f"/correlate/{TRACE}", params={"limit_log": "5"})
    assert response.status_code == 400
    assert "'limit_log'" in response.json()["detail"]
    assert "limit_logs" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/traces", (("service", "checkout"), ("service", "payment"))),
        (f"/correlate/{TRACE}", (("limit_logs", "5"), ("limit_logs", "6"))),
    ],
)
async def test_repeated_query_parameters_are_400(
    stack: Stack, path: str, params: tuple[tuple[str, str], ...]
) -> None:
    # A second value would otherwise be dropped without a word (FastAPI keeps the last).
    response = await stack.api.get(path, params=params)
    assert response.status_code == 400
    assert f"'{params[0][0]}' given more than once" in response.json()["detail"]
