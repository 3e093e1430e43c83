"""The demo's Node.js gateway: its spans through the OTLP receiver, its pino logs to Kafka by
either of the two ways it offers (``TRACELINK_GATEWAY_LOGS``), checked on the log topic.

The order service is not running here: a lookup makes the gateway log an error inside its
request span, which is all these tests need (the full order flow is the e2e demo test).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from devstack.demo.launcher import GATEWAY_NODE_DIR, _NodeGatewayProcess
from devstack.standins import free_port
from tests.support.demo import trace_spans, wait_for
from tests.support.otlp_receiver import start_receiver

pytestmark = pytest.mark.integration


def _consume(kafka: str, topic: str, expected: int) -> list[Any]:
    async def consume() -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=kafka, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        found: list[Any] = []
        try:
            deadline = time.monotonic() + 30
            while len(found) < expected and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(records)
        finally:
            await consumer.stop()
        return found

    return asyncio.run(consume())


@pytest.mark.parametrize("sink", ["otlp", "kafka"])
def test_gateway_spans_and_pino_logs(
    sink: str,
    tmp_path: Path,
    kafka_bootstrap: str,
    es_url: str,
    topic: str,
    index_prefix: str,
) -> None:
    if shutil.which("node") is None or not (GATEWAY_NODE_DIR / "node_modules").is_dir():
        pytest.fail(f"run `make node` (npm ci in {GATEWAY_NODE_DIR})")
    receiver = start_receiver(
        tmp_path / "receiver",
        kafka=kafka_bootstrap,
        es_url=es_url,
        topic=topic,
        prefix=index_prefix,
    )
    gateway = _NodeGatewayProcess(
        host="127.0.0.1",
        log_dir=tmp_path / "gateway",
        otlp_url=f"http://127.0.0.1:{receiver.port}",
    )
    gateway.wiring = {
        "TRACELINK_GATEWAY_LOGS": sink,
        "TRACELINK_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TRACELINK_LOG_TOPIC": topic,
        "TRACELINK_DEMO_ORDER_URL": f"http://127.0.0.1:{free_port()}",
    }
    try:
        gateway.launch()
        gateway.wait_ready(30)
        response = httpx.get(f"{gateway.url}/api/orders/ord-1", timeout=30)
        assert response.status_code == 503
        assert response.json() == {"detail": "order service unavailable"}
        gateway.stop(timeout=15)  # flushes spans and logs
        assert gateway.exit_code == 0, gateway.log_tail()

        messages = _consume(kafka_bootstrap, topic, expected=1)
        if sink == "kafka":
            lines = [json.loads(m.value) for m in messages]
            [line] = [x for x in lines if "unreachable" in x["msg"]]
            assert line["level"] == 50  # pino's error
            assert [m.key for m in messages if b"unreachable" in m.value] == [
                line["trace_id"].encode()
            ]
            assert line["service.name"] == "gateway"
            trace_id, span_id = line["trace_id"], line["span_id"]
        else:
            records = [
                record
                for m in messages
                for rl in ExportLogsServiceRequest.FromString(m.value).resource_logs
                for sl in rl.scope_logs
                for record in sl.log_records
            ]
            [record] = [r for r in records if "unreachable" in r.body.string_value]
            assert record.severity_text == "error"
            trace_id, span_id = record.trace_id.hex(), record.span_id.hex()

        spans = wait_for(
            lambda: trace_spans(es_url, index_prefix, trace_id), what="the gateway's spans"
        )
        by_id = {span["spanID"]: span for span in spans}
        # The log was written inside a gateway span that the SDK exported.
        assert by_id[span_id]["process"]["serviceName"] == "gateway"
        assert any(span["operationName"] == "GET /api/orders/:orderId" for span in spans), [
            span["operationName"] for span in spans
        ]
    finally:
        gateway.stop(timeout=15)
        receiver.stop(timeout=15)


def test_gateway_refuses_bad_checkouts_with_a_detail(
    tmp_path: Path, kafka_bootstrap: str, es_url: str, topic: str, index_prefix: str
) -> None:
    if shutil.which("node") is None or not (GATEWAY_NODE_DIR / "node_modules").is_dir():
        pytest.fail(f"run `make node` (npm ci in {GATEWAY_NODE_DIR})")
    receiver = start_receiver(
        tmp_path / "receiver",
        kafka=kafka_bootstrap,
        es_url=es_url,
        topic=topic,
        prefix=index_prefix,
    )
    gateway = _NodeGatewayProcess(
        host="127.0.0.1", log_dir=tmp_path / "gateway", otlp_url=f"http://127.0.0.1:{receiver.port}"
    )
    gateway.wiring = {"TRACELINK_DEMO_ORDER_URL": f"http://127.0.0.1:{free_port()}"}
    try:
        gateway.start(30)
        url = f"{gateway.url}/api/checkout"
        for body in (
            b"{not json",
            b'{"customer_id": "", "items": [{"sku": "a", "quantity": 1}]}',
            b'{"customer_id": "c", "items": []}',
            b'{"customer_id": "c", "items": [{"sku": "a", "quantity": 0}]}',
        ):
            response = httpx.post(
                url, content=body, headers={"Content-Type": "application/json"}, timeout=10
            )
            assert response.status_code == 422, (body, response.text)
            assert response.json()["detail"]
        # A valid checkout with the order service down: a visible failure, not "completed".
        response = httpx.post(
            url, json={"customer_id": "c", "items": [{"sku": "a", "quantity": 1}]}, timeout=30
        )
        assert response.status_code == 503
        assert response.json()["status"] == "failed"
        assert response.headers["traceresponse"].split("-")[1] == response.json()["trace_id"]
    finally:
        gateway.stop(timeout=15)
        receiver.stop(timeout=15)
