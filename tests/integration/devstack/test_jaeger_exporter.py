"""The Jaeger-format span exporter against a real Elasticsearch wire server."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from devstack.jaeger import JaegerElasticsearchSpanExporter, spans_to_jaeger_documents
from devstack.standins import free_port
from tracelink.settings import ElasticsearchSettings, load_settings


def _exporter(es_url: str, prefix: str, **options: Any) -> JaegerElasticsearchSpanExporter:
    settings = load_settings(ElasticsearchSettings, es_url=es_url, jaeger_index_prefix=prefix)
    return JaegerElasticsearchSpanExporter.from_settings(settings, **options)


def _trace(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("tests.jaeger", "1.0")
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        with tracer.start_as_current_span("db.insert", kind=SpanKind.CLIENT) as child:
            child.add_event("retry", {"attempt": 2})
            child.set_status(Status(StatusCode.ERROR, "timed out"))


@pytest.fixture
def recorded() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield provider, memory
    provider.shutdown()


def _search(es_url: str, index: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with httpx.Client(base_url=es_url, timeout=10) as client:
        client.post(f"/{index}/_refresh", params={"ignore_unavailable": "true"})
        response = client.post(
            f"/{index}/_search", json=body, params={"ignore_unavailable": "true"}
        )
        response.raise_for_status()
        return list(response.json()["hits"]["hits"])


def test_spans_are_stored_as_jaeger_documents(
    es_url: str,
    index_prefix: str,
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, memory = recorded
    _trace(provider)
    spans: tuple[ReadableSpan, ...] = memory.get_finished_spans()
    exporter = _exporter(es_url, index_prefix)
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert exporter.stats.spans_written == 2
        # A retried batch is idempotent: same _id, "create" answers 409.
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert exporter.stats.spans_duplicate == 2
    finally:
        exporter.shutdown()

    expected = {doc["spanID"]: doc for doc in spans_to_jaeger_documents(spans)}
    trace_id = next(iter(expected.values()))["traceID"]
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    hits = _search(
        es_url,
        f"{index_prefix}-jaeger-span-*",
        {
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"traceID": trace_id}},
                        {"range": {"startTimeMillis": {"gte": "now-1h"}}},
                    ]
                }
            },
            "sort": [{"startTime": "asc"}],
        },
    )
    assert [hit["_index"] for hit in hits] == [f"{index_prefix}-jaeger-span-{today}"] * 2
    stored = {hit["_source"]["spanID"]: hit["_source"] for hit in hits}
    assert stored == expected
    root = next(doc for doc in stored.values() if "parentSpanID" not in doc)
    child = next(doc for doc in stored.values() if "parentSpanID" in doc)
    assert child["parentSpanID"] == root["spanID"]
    # As Jaeger 2.20's writer stores it: error and span.kind as fields, not nested tags.
    assert child["tag"]["error"] is True
    assert child["tag"]["span@kind"] == "client"
    assert all(tag["key"] not in ("error", "span.kind") for tag in child["tags"])

    # Jaeger's template made the IDs keywords, as in production.
    with httpx.Client(base_url=es_url, timeout=10) as client:
        mapping = client.get(f"/{index_prefix}-jaeger-span-{today}/_mapping").json()
    props = mapping[f"{index_prefix}-jaeger-span-{today}"]["mappings"]["properties"]
    assert props["traceID"]["type"] == "keyword"
    assert props["tags"]["type"] == "nested"

    services = _search(es_url, f"{index_prefix}-jaeger-service-*", {"query": {"match_all": {}}})
    assert sorted(
        (h["_source"]["serviceName"], h["_source"]["operationName"]) for h in services
    ) == [
        ("checkout", "POST /checkout"),
        ("checkout", "db.insert"),
    ]


def test_unreachable_elasticsearch_fails_the_batch_without_raising(
    recorded: tuple[TracerProvider, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    provider, memory = recorded
    _trace(provider)
    exporter = _exporter(f"http://127.0.0.1:{free_port()}", "", max_attempts=2, retry_backoff=0.01)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="devstack.jaeger"):
        result = exporter.export(memory.get_finished_spans())
    exporter.shutdown()
    assert result is SpanExportResult.FAILURE
    assert exporter.stats.spans_failed == 2
    assert exporter.stats.retries == 1
    assert time.monotonic() - started < 60
    assert any("lost 2 of 2 spans" in r.getMessage() for r in caplog.records)
    # After shutdown the exporter refuses politely.
    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.FAILURE


def test_rejected_documents_are_counted_and_logged(
    es_url: str,
    index_prefix: str,
    recorded: tuple[TracerProvider, InMemorySpanExporter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, memory = recorded
    _trace(provider)
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    # An index created by someone else with a conflicting mapping: every span is refused.
    with httpx.Client(base_url=es_url, timeout=10) as client:
        client.put(
            f"/{index_prefix}-jaeger-span-{today}",
            json={"mappings": {"properties": {"duration": {"type": "boolean"}}}},
        ).raise_for_status()
    exporter = _exporter(es_url, index_prefix, install_templates=False)
    with caplog.at_level(logging.ERROR, logger="devstack.jaeger"):
        result = exporter.export(memory.get_finished_spans())
    exporter.shutdown()
    assert result is SpanExportResult.FAILURE
    assert exporter.stats.spans_failed == 2
    assert exporter.stats.retries == 0
    [record] = [r for r in caplog.records if "lost 2 of 2 spans" in r.getMessage()]
    assert "400" in record.getMessage()
