"""The five demo services as child processes, against the Kafka and Elasticsearch servers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.demo.launcher import DemoServices
from devstack.demo.settings import ServiceName
from devstack.demo.traffic import OrderOutcome, TrafficReport, drive_traffic
from tests.support.demo import demo_services, field, log_records, tag, trace_spans, wait_for
from tests.support.elasticsearch import delete_prefixed
from tests.support.servers import ElasticsearchServer, KafkaServer

ORDERS = 10
SERVICES: set[ServiceName] = {"gateway", "order", "payment", "inventory", "notification"}


@pytest.fixture(scope="module")
def jaeger_prefix(es_server: ElasticsearchServer) -> Iterator[str]:
    prefix = f"tl-demo-{uuid.uuid4().hex[:8]}"
    yield prefix
    delete_prefixed(es_server.url, prefix)


@pytest.fixture(scope="module")
def demo(
    kafka_server: KafkaServer,
    es_server: ElasticsearchServer,
    jaeger_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DemoServices]:
    services = demo_services(
        kafka_server,
        es_server,
        tmp_path_factory.mktemp("demo"),
        jaeger_prefix,
        seed=7,
        failure_rate=0.2,
    )
    services.start(timeout=120)
    try:
        yield services
    finally:
        services.stop()


@pytest.fixture(scope="module")
def report(demo: DemoServices) -> TrafficReport:
    return asyncio.run(drive_traffic(demo.gateway_url, ORDERS, concurrency=2))


def _complete_trace(es_url: str, prefix: str, trace_id: str) -> list[dict[str, Any]] | None:
    """The trace once every service's spans (the Kafka consumer's too) are stored."""
    spans = trace_spans(es_url, prefix, trace_id)
    services = {span["process"]["serviceName"] for span in spans}
    operations = {span["operationName"] for span in spans}
    if services >= SERVICES and "smtp send" in operations:
        return spans
    return None


def _records(demo: DemoServices, service: ServiceName, trace_id: str) -> list[dict[str, Any]]:
    return [r for r in log_records(demo.log_path(service)) if field(r, "trace.id") == trace_id]


def test_every_order_is_answered_and_the_seeded_writes_are_lost(report: TrafficReport) -> None:
    assert [o.status for o in report.outcomes] == ["completed"] * ORDERS
    assert all(o.trace_id and len(o.trace_id) == 32 for o in report.outcomes)
    assert len({o.trace_id for o in report.outcomes}) == ORDERS
    # The first block of ten database writes loses two at the default rate of 0.2.
    assert len(report.lost) == 2
    assert all(o.persisted is True for o in report.outcomes if not o.lost)


def test_an_order_is_one_trace_across_five_services_and_kafka(
    demo: DemoServices, report: TrafficReport, es_server: ElasticsearchServer, jaeger_prefix: str
) -> None:
    order: OrderOutcome = next(o for o in report.outcomes if o.persisted)
    assert order.trace_id is not None
    spans = wait_for(
        lambda: _complete_trace(es_server.url, jaeger_prefix, order.trace_id or ""),
        what=f"the spans of trace {order.trace_id}",
    )
    by_id = {span["spanID"]: span for span in spans}
    assert all(span["traceID"] == order.trace_id for span in spans)

    roots = [span for span in spans if "parentSpanID" not in span]
    assert [(r["process"]["serviceName"], r["operationName"]) for r in roots] == [
        ("gateway", "POST /api/checkout")
    ]
    for span in spans:
        if span is roots[0]:
            assert span["references"] is None
            continue
        parent = by_id[span["parentSpanID"]]
        # Jaeger v2.20's shape: the parent also as the first CHILD_OF reference.
        assert span["references"][0] == {
            "refType": "CHILD_OF",
            "traceID": order.trace_id,
            "spanID": parent["spanID"],
        }

    def server(service: str) -> dict[str, Any]:
        return next(
            s
            for s in spans
            if s["process"]["serviceName"] == service and tag(s, "span.kind") == "server"
        )

    for service, caller in (("order", "gateway"), ("payment", "order"), ("inventory", "order")):
        parent = by_id[server(service)["parentSpanID"]]
        assert parent["process"]["serviceName"] == caller
        assert tag(parent, "span.kind") == "client"

    consumer = next(s for s in spans if tag(s, "span.kind") == "consumer")
    assert consumer["process"]["serviceName"] == "notification"
    producer = by_id[consumer["parentSpanID"]]
    assert producer["process"]["serviceName"] == "order"
    assert tag(producer, "span.kind") == "producer"
    assert producer["operationName"] == consumer["operationName"].replace("process", "send")
    assert tag(consumer, "messaging.system") == "kafka"

    # Every service logged inside this trace, each record on a span of the trace.
    for service in SERVICES:
        records = _records(demo, service, order.trace_id)
        assert records, service
        assert {field(r, "span.id") for r in records} <= set(by_id), service


def test_the_lost_order_is_completed_for_the_customer_and_an_error_in_the_logs(
    demo: DemoServices, report: TrafficReport, es_server: ElasticsearchServer, jaeger_prefix: str
) -> None:
    lost = report.lost[0]
    assert (lost.status, lost.http_status, lost.persisted) == ("completed", 200, False)
    assert lost.trace_id is not None
    assert lost.order_id is not None
    with httpx.Client(base_url=demo.gateway_url, timeout=10) as client:
        assert client.get(f"/api/orders/{lost.order_id}").status_code == 404

    spans = wait_for(
        lambda: _complete_trace(es_server.url, jaeger_prefix, lost.trace_id or ""),
        what=f"the spans of lost trace {lost.trace_id}",
    )
    [insert] = [s for s in spans if s["operationName"] == "INSERT shop.orders"]
    assert insert["process"]["serviceName"] == "order"
    assert tag(insert, "error") is True
    assert "timed out" in tag(insert, "otel.status_description")
    assert [f["value"] for log in insert["logs"] for f in log["fields"] if f["key"] == "event"] == [
        "db.attempt.timeout",
        "db.attempt.timeout",
        "db.attempt.timeout",
        "exception",
    ]

    order_logs = _records(demo, "order", lost.trace_id)
    warnings = [r for r in order_logs if field(r, "log.level") == "warning"]
    assert [
        ("(attempt 1/3)" in r["message"], "(attempt 2/3)" in r["message"]) for r in warnings
    ] == [
        (True, False),
        (False, True),
    ]
    [error] = [r for r in order_logs if field(r, "log.level") == "error"]
    assert lost.order_id in error["message"]
    assert field(error, "error.type") == "devstack.demo.simulation.DatabaseTimeoutError"
    assert "Traceback" in field(error, "error.stack_trace")
    assert field(error, "span.id") == insert["spanID"]
    assert all(field(r, "span.id") == insert["spanID"] for r in warnings)

    gateway_logs = _records(demo, "gateway", lost.trace_id)
    assert any(f"order {lost.order_id} completed" in r["message"] for r in gateway_logs)
    notification_logs = _records(demo, "notification", lost.trace_id)
    assert any(
        r["message"] == "order confirmation e-mailed" and field(r, "order_id") == lost.order_id
        for r in notification_logs
    )


def test_traffic_command_prints_outcomes_with_trace_ids(
    demo: DemoServices, report: TrafficReport
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.demo",
            "traffic",
            "--gateway-url",
            demo.gateway_url,
            "--orders",
            "3",
            "--concurrency",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["orders"] == 3
    assert [len(o["trace_id"]) for o in summary["outcomes"]] == [32, 32, 32]
    assert {o["status"] for o in summary["outcomes"]} == {"completed"}
    # Progress goes to stderr, one line per order.
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(progress) == 3
    assert all("trace " in line for line in progress)
