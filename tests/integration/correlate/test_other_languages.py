"""A pino line and an OTLP record, shipped by the real shipper, under their spans in the API
exactly as a ``logging_ext`` record is."""

from __future__ import annotations

from pathlib import Path

import orjson
from opentelemetry._logs import SeverityNumber

from shipper.app import Shipper
from tests.integration.correlate.conftest import Stack
from tests.support.jaeger import SpanSpec
from tests.support.otlp import LogSpec, sdk_request
from tests.support.shipping import (
    Elasticsearch,
    encode,
    log_record,
    produce,
    shipper_settings,
    wait_until_async,
)

PINO = (
    (Path(__file__).parents[2] / "unit/shipper/fixtures/formats/pino-instrumentation.ndjson")
    .read_bytes()
    .splitlines()
)
TRACE = "7be2a1c0d3f45e6978a0b1c2d3e4f501"
ROOT, GATEWAY, CHECKOUT = "1a00000000000001", "2b00000000000002", "3c00000000000003"
# 2026-11-22T10:23:47Z
BASE_US = 1_795_343_027_000_000


async def test_pino_and_otlp_logs_sit_under_their_spans_like_logging_ext_logs(
    stack: Stack, kafka_bootstrap: str, es_url: str, topic: str, index_prefix: str
) -> None:
    await stack.write_spans(
        [
            SpanSpec(TRACE, ROOT, None, "frontend", "GET /order", BASE_US, 900_000),
            SpanSpec(
                TRACE, GATEWAY, ROOT, "api-gateway", "GET /orders/:id", BASE_US + 1000, 500_000
            ),
            SpanSpec(TRACE, CHECKOUT, ROOT, "checkout", "charge", BASE_US + 600_000, 200_000),
        ]
    )
    python_line = log_record(
        0,
        "py",
        **{
            "@timestamp": "2026-11-22T10:23:47.000500Z",
            "trace.id": TRACE,
            "span.id": ROOT,
            "message": "order received",
            "service.name": "frontend",
            "log.logger": "shop.frontend",
        },
    )
    pino = orjson.loads(PINO[3])  # pino's error line, with err
    pino.update(trace_id=TRACE, span_id=GATEWAY, time=(BASE_US + 2000) // 1000)
    pino["service.name"] = "api-gateway"
    otlp = sdk_request(
        [
            (
                {"service.name": "checkout"},
                [
                    LogSpec(
                        "card declined",
                        SeverityNumber.WARN,
                        "WARN",
                        timestamp_ns=(BASE_US + 650_000) * 1000,
                        trace_id=TRACE,
                        span_id=CHECKOUT,
                        logger="shop.checkout",
                    )
                ],
            )
        ]
    )
    await produce(
        kafka_bootstrap, topic, [encode(python_line), orjson.dumps(pino), otlp.SerializeToString()]
    )
    settings = shipper_settings(
        kafka_bootstrap=kafka_bootstrap, es_url=es_url, topic=topic, index_prefix=index_prefix
    )
    es = Elasticsearch(es_url)
    try:
        async with Shipper(settings):
            await wait_until_async(
                lambda: es.count(f"{index_prefix}-logs-*") >= 3, timeout=60, what="three logs"
            )
    finally:
        es.close()

    response = await stack.api.get(f"/correlate/{TRACE}")
    assert response.status_code == 200, response.text
    body = response.json()
    by_span = {span["span_id"]: span for span in body["spans"]}
    (python,) = by_span[ROOT]["logs"]
    (gateway,) = by_span[GATEWAY]["logs"]
    (checkout,) = by_span[CHECKOUT]["logs"]
    assert body["orphan_logs"] == []
    # The same shape as the logging_ext record's, field for field.
    assert gateway.keys() == checkout.keys() == python.keys()
    assert (python["level"], python["service"], python["logger"]) == (
        "info",
        "frontend",
        "shop.frontend",
    )
    assert gateway["level"] == "error"
    assert gateway["message"] == "order lookup failed"
    assert gateway["service"] == "api-gateway"
    assert gateway["logger"] == "gateway"
    assert gateway["timestamp_us"] == BASE_US + 2000
    assert gateway["span_id"] == GATEWAY
    assert gateway["fields"]["error.type"] == "Error"
    assert checkout["level"] == "warn"
    assert checkout["message"] == "card declined"
    assert checkout["service"] == "checkout"
    assert checkout["logger"] == "shop.checkout"
    assert checkout["timestamp_us"] == BASE_US + 650_000
    assert checkout["span_id"] == CHECKOUT
    # Derived from the origin: <topic>-<partition>-<offset>-<index in the payload>.
    assert checkout["event_id"].startswith(f"{topic}-")
    assert checkout["event_id"].endswith("-0")
    summary = body["summary"]
    assert summary["log_count"] == 3
    assert summary["first_error"]["kind"] == "log"
