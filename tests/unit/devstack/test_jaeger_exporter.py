from __future__ import annotations

from typing import Any

from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devstack.jaeger.exporter import JaegerElasticsearchSpanExporter, classify_bulk_items
from devstack.jaeger.templates import jaeger_index_templates


def test_bulk_items_are_sorted_by_what_to_do_next() -> None:
    items: list[dict[str, Any]] = [
        {"create": {"status": 201}},
        {"index": {"status": 200}},
        {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
        {"create": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}},
        {"create": {"status": 503, "error": {"type": "unavailable_shards_exception"}}},
        {
            "create": {
                "status": 400,
                "error": {"type": "document_parsing_exception", "reason": "failed to parse"},
            }
        },
        {"index": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
    ]
    outcome = classify_bulk_items(items)
    assert outcome.ok == [0, 1]
    assert outcome.duplicate == [2]
    assert outcome.retry == [3, 4]
    # A 409 on "index" is not "already there": only create has that meaning.
    assert outcome.failed == [
        (5, "400 document_parsing_exception: failed to parse"),
        (6, "409 version_conflict_engine_exception:"),
    ]


def test_templates_are_named_and_scoped_like_jaegers() -> None:
    templates = jaeger_index_templates("prod")
    assert list(templates) == ["prod-jaeger-span", "prod-jaeger-service"]
    span = templates["prod-jaeger-span"]
    assert span["index_patterns"] == ["prod-jaeger-span-*"]
    props = span["template"]["mappings"]["properties"]
    for keyword in ("traceID", "spanID", "parentSpanID", "operationName"):
        assert props[keyword]["type"] == "keyword"
    assert props["startTimeMillis"] == {"type": "date", "format": "epoch_millis"}
    assert props["tags"]["type"] == "nested"
    assert props["process"]["properties"]["serviceName"]["type"] == "keyword"
    assert list(jaeger_index_templates()) == ["jaeger-span", "jaeger-service"]


class _StubClient:
    """Answers bulk requests from a script; records what was sent (no server involved)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[list[dict[str, Any]]] = []
        self.indices = self
        self.templates: list[str] = []

    def put_index_template(self, *, name: str, **_body: Any) -> None:
        self.templates.append(name)

    def bulk(self, *, operations: list[dict[str, Any]], refresh: bool) -> dict[str, Any]:
        self.requests.append(operations)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        metas = operations[::2]
        return {
            "items": [{next(iter(m)): {"status": s}} for m, s in zip(metas, answer, strict=True)]
        }

    def close(self) -> None:
        pass


def _spans(count: int) -> tuple[ReadableSpan, ...]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    for _ in range(count):
        with tracer.start_as_current_span("op"):
            pass
    provider.shutdown()
    return memory.get_finished_spans()


def _api_error(status: int) -> ApiError:
    return ApiError(
        "boom", ApiResponseMeta(status, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "h", 1)), {}
    )


def test_only_items_worth_retrying_are_sent_again() -> None:
    # service entry + 2 spans; then the second span alone.
    client = _StubClient([200, 201, 429], [201])
    exporter = JaegerElasticsearchSpanExporter(client, retry_backoff=0.001)  # type: ignore[arg-type]
    assert exporter.export(_spans(2)) is SpanExportResult.SUCCESS
    assert [len(r) // 2 for r in client.requests] == [3, 1]
    assert exporter.stats.retries == 1
    assert exporter.stats.spans_written == 2
    assert client.templates == ["jaeger-span", "jaeger-service"]
    # The service entry is written once; a rejected batch is counted, never raised.
    client.answers = [_api_error(400)]
    assert exporter.export(_spans(1)) is SpanExportResult.FAILURE
    assert len(client.requests[-1]) // 2 == 1
    assert exporter.stats.spans_failed == 1


def test_a_server_error_for_the_whole_request_is_retried_then_given_up() -> None:
    client = _StubClient(_api_error(503), _api_error(503), _api_error(503))
    exporter = JaegerElasticsearchSpanExporter(
        client,  # type: ignore[arg-type]
        retry_backoff=0.001,
        max_attempts=3,
        install_templates=False,
    )
    assert exporter.export(_spans(1)) is SpanExportResult.FAILURE
    assert len(client.requests) == 3
    assert exporter.stats.retries == 2
    assert exporter.stats.spans_failed == 1
    assert exporter.stats.batches_failed == 1
