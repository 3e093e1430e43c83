"""``tracelink demo --once --orders 20`` as a user runs it, checked through the correlate API.

The demo runs against this session's Kafka and Elasticsearch (its own topics and indices),
so that its spans and logs can be read back after it has exited and stopped its own API.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from correlate.app import create_app
from correlate.settings import ApiSettings
from devstack.standins import free_port
from tests.support.cli import tracelink_executable
from tracelink.settings import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_env(
    kafka_bootstrap: str, es_url: str, index_prefix: str, make_topic: Callable[..., str]
) -> dict[str, str]:
    return {
        **os.environ,
        "TRACELINK_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TRACELINK_ES_URL": es_url,
        # Two topics, as for a Collector beside the services: the shipper reads both, every
        # producer of the demo (logging_ext, the gateway's kafkajs, the OTLP receiver) the first.
        "TRACELINK_LOG_TOPIC": f"{make_topic(suffix='logs')},{make_topic(suffix='otel')}",
        "TRACELINK_DLQ_TOPIC": make_topic(suffix="dlq"),
        "TRACELINK_DEMO_EVENTS_TOPIC": make_topic(suffix="events"),
        "TRACELINK_CONSUMER_GROUP": f"{index_prefix}-group",
        "TRACELINK_LOG_INDEX_PREFIX": f"{index_prefix}-logs",
        "TRACELINK_DLQ_INDEX_PREFIX": f"{index_prefix}-dlq",
        "TRACELINK_JAEGER_INDEX_PREFIX": index_prefix,
        "NO_COLOR": "1",
        # The Node.js gateway's spans and logs go through the OTLP receiver on a free port.
        "TRACELINK_OTLP_PORT": str(free_port()),
    }


@pytest.fixture
async def api(demo_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        ApiSettings,
        es_url=demo_env["TRACELINK_ES_URL"],
        log_index_prefix=demo_env["TRACELINK_LOG_INDEX_PREFIX"],
        dlq_index_prefix=demo_env["TRACELINK_DLQ_INDEX_PREFIX"],
        jaeger_index_prefix=demo_env["TRACELINK_JAEGER_INDEX_PREFIX"],
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


def _service_of(span: dict[str, Any]) -> str:
    return str(span["service"])


# The Node.js gateway's two log roads: OTLP through the receiver (the demo's), and pino's
# JSON lines produced to the log topic with kafkajs. Both must end under the same spans.
@pytest.mark.parametrize("gateway_logs", ["otlp", "kafka"])
async def test_demo_once_shows_a_lost_order_correlated_across_services(
    demo_env: dict[str, str], tmp_path: Path, api: httpx.AsyncClient, gateway_logs: str
) -> None:
    result = subprocess.run(
        [tracelink_executable(), "demo", "--once", "--orders", "20", "--data-dir", str(tmp_path)],
        env={**demo_env, "TRACELINK_GATEWAY_LOGS": gateway_logs},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "20 orders placed: 20 reported completed to the customer, 4 of those never saved" in out
    match = re.search(r"Waiting for its trace ([0-9a-f]{32}) to be indexed", out)
    assert match, out
    trace_id = match.group(1)
    # The printed tree: the error highlighted under the database span, the URLs to open.
    assert "INSERT shop.orders" in out
    assert "✗ ERROR" in out
    assert f"/correlate/{trace_id}/view" in out
    assert "\x1b[" not in out  # NO_COLOR is honoured

    response = await api.get(f"/correlate/{trace_id}")
    assert response.status_code == 200, response.text
    trace = response.json()
    spans = trace["spans"]
    services_with_spans = {_service_of(s) for s in spans}
    assert {"gateway", "order", "payment", "inventory", "notification"} <= services_with_spans
    assert trace["orphan_logs"] == []

    # Logs from at least four services, each under a span of its own service.
    services_with_logs = set()
    for span in spans:
        for log in span["logs"]:
            assert log["span_id"] == span["span_id"]
            assert log["service"] == span["service"]
            services_with_logs.add(log["service"])
    assert len(services_with_logs) >= 4, services_with_logs

    # The timeout ERROR sits under the order service's database span.
    [insert] = [s for s in spans if s["operation"] == "INSERT shop.orders"]
    assert insert["service"] == "order"
    assert insert["error"] is True
    errors = [log for log in insert["logs"] if log["level"] == "error"]
    assert len(errors) == 1
    assert "database write timed out" in errors[0]["message"]
    assert trace["summary"]["first_error"] is not None

    # The gateway is the Node.js service: its spans come from the OpenTelemetry Node SDK
    # (through the OTLP receiver), and its pino logs sit under its request-handler span.
    gateway_spans = [s for s in spans if s["service"] == "gateway"]
    [root] = [s for s in gateway_spans if s["parent_span_id"] is None]
    assert root["operation"] == "POST /api/checkout"
    scopes = {s["tags"].get("otel.scope.name") for s in gateway_spans}
    assert "@opentelemetry/instrumentation-http" in scopes, scopes
    logged = [log for s in gateway_spans for log in s["logs"]]
    messages = [log["message"] for log in logged]
    assert any("checkout for customer" in m for m in messages), messages
    assert any(" completed for customer " in m for m in messages), messages
    # Each under the span that was current when pino wrote it: Express's route handler,
    # the server span's child.
    [handler] = [s for s in gateway_spans if s["operation"].startswith("request handler")]
    assert handler["parent_span_id"] == root["span_id"]
    assert {log["span_id"] for log in logged} == {handler["span_id"]}
    # And the gateway's call to the order service is the order service's parent.
    [order_root] = [s for s in spans if s["operation"] == "POST /orders"]
    parent = next(s for s in spans if s["span_id"] == order_root["parent_span_id"])
    assert parent["service"] == "gateway"

    # The notification consumer, reached through Kafka, logged in the same trace.
    notification_logs = [
        log for span in spans if span["service"] == "notification" for log in span["logs"]
    ]
    assert any("order event received" in log["message"] for log in notification_logs)
