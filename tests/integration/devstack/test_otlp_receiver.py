"""The embedded stack's OTLP/HTTP receiver, driven by the real OpenTelemetry exporters.

The receiver runs as the stack runs it (``python -m devstack.otlp_receiver``, a child
process) against this session's Kafka and Elasticsearch stand-ins. What it stores is
compared with what the embedded stack's own span writer stores for the same spans.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace import Status as SpanStatus

from devstack.jaeger import spans_to_jaeger_documents
from devstack.processes import ServerProcess
from devstack.standins import free_port
from tests.support.otlp_receiver import start_receiver as _start
from tracelink.layout import jaeger_span_pattern

pytestmark = pytest.mark.integration

GATEWAY_NODE = Path(__file__).resolve().parents[3] / "devstack" / "demo" / "gateway-node"


class Receiver:
    def __init__(
        self, process: ServerProcess, topic: str, prefix: str, es_url: str, kafka: str
    ) -> None:
        self.process = process
        self.kafka = kafka
        self.url = f"http://127.0.0.1:{process.port}"
        self.topic = topic
        self.prefix = prefix
        self.es_url = es_url

    def post(self, path: str, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        return httpx.post(
            self.url + path,
            content=body,
            headers={"Content-Type": content_type, **headers},
            timeout=30,
        )


@pytest.fixture
def receiver(
    tmp_path: Path, kafka_bootstrap: str, es_url: str, topic: str, index_prefix: str
) -> Iterator[Receiver]:
    child = _start(
        tmp_path,
        kafka=kafka_bootstrap,
        es_url=es_url,
        topic=topic,
        prefix=index_prefix,
        TRACELINK_OTLP_MAX_BODY_BYTES="65536",
    )
    try:
        yield Receiver(child, topic, index_prefix, es_url, kafka_bootstrap)
    finally:
        child.stop(timeout=15)


def _spans(service: str = "checkout-node") -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.otlp", "1.0")
    with tracer.start_as_current_span("POST /api/checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        with tracer.start_as_current_span("POST /orders", kind=SpanKind.CLIENT) as child:
            child.add_event("retry", {"attempt": 2})
            child.set_status(SpanStatus(StatusCode.ERROR, "timed out"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def _stored_spans(receiver: Receiver, trace_id: str, expected: int) -> list[dict[str, Any]]:
    index = jaeger_span_pattern(receiver.prefix)
    deadline = time.monotonic() + 20
    hits: list[dict[str, Any]] = []
    with httpx.Client(base_url=receiver.es_url, timeout=10) as client:
        while time.monotonic() < deadline:
            client.post(f"/{index}/_refresh", params={"ignore_unavailable": "true"})
            response = client.post(
                f"/{index}/_search",
                json={"query": {"term": {"traceID": trace_id}}, "size": 100},
                params={"ignore_unavailable": "true"},
            )
            if response.status_code == 200:
                hits = response.json()["hits"]["hits"]
                if len(hits) >= expected:
                    break
            time.sleep(0.2)
    return [hit["_source"] for hit in hits]


def _messages(receiver: Receiver, expected: int) -> list[Any]:
    async def consume() -> list[Any]:
        consumer = AIOKafkaConsumer(
            receiver.topic,
            bootstrap_servers=receiver.kafka,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        found: list[Any] = []
        try:
            deadline = time.monotonic() + 20
            while len(found) < expected and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    found.extend(records)
        finally:
            await consumer.stop()
        return found

    return asyncio.run(consume())


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_python_span_exporter_spans_become_jaeger_documents(
    receiver: Receiver, compression: Compression
) -> None:
    spans = _spans()
    exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", compression=compression)
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    trace_id = format(spans[0].context.trace_id, "032x")
    stored = _stored_spans(receiver, trace_id, expected=2)
    # Exactly the documents the embedded stack writes for its own Python spans.
    expected = spans_to_jaeger_documents(spans)
    key = "spanID"
    assert sorted(stored, key=lambda d: d[key]) == sorted(expected, key=lambda d: d[key])


def test_python_log_exporter_records_reach_the_log_topic_as_the_collector_writes_them(
    receiver: Receiver,
) -> None:
    exporter = OTLPLogExporter(endpoint=f"{receiver.url}/v1/logs")
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout-node"}))
    processor = SimpleLogRecordProcessor(exporter)
    provider.add_log_record_processor(processor)
    tracer_provider = TracerProvider()
    tracer = tracer_provider.get_tracer("tests.otlp")
    with tracer.start_as_current_span("work") as span:
        provider.get_logger("checkout").emit(body="order placed", severity_text="INFO")
        trace_id = span.get_span_context().trace_id
        span_id = span.get_span_context().span_id
    provider.shutdown()
    [message] = _messages(receiver, expected=1)
    # kafkaexporter otlp_proto: the request as the value, no key, no headers.
    assert message.key is None
    assert not message.headers
    request = ExportLogsServiceRequest.FromString(message.value)
    [resource_logs] = request.resource_logs
    assert {kv.key: kv.value.string_value for kv in resource_logs.resource.attributes}[
        "service.name"
    ] == "checkout-node"
    [record] = resource_logs.scope_logs[0].log_records
    assert record.body.string_value == "order placed"
    assert record.trace_id == trace_id.to_bytes(16, "big")
    assert record.span_id == span_id.to_bytes(8, "big")


# --- answers for what is not OTLP ------------------------------------------------------------


def test_undecodable_protobuf_is_400_with_a_status(receiver: Receiver) -> None:
    response = receiver.post("/v1/traces", b"\xff\xff\xff not protobuf", "application/x-protobuf")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/x-protobuf"
    status = Status.FromString(response.content)
    assert "protobuf" in status.message


def test_bad_json_is_400_with_a_json_status(receiver: Receiver) -> None:
    response = receiver.post("/v1/logs", b'{"resourceLogs": 5}', "application/json")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert "message" in response.json()
    response = receiver.post("/v1/logs", b"{not json", "application/json")
    assert response.status_code == 400


def test_bad_gzip_is_400(receiver: Receiver) -> None:
    response = receiver.post(
        "/v1/traces", b"not gzip", "application/x-protobuf", **{"Content-Encoding": "gzip"}
    )
    assert response.status_code == 400


def test_other_content_types_are_415(receiver: Receiver) -> None:
    response = receiver.post("/v1/traces", b"{}", "text/plain")
    assert response.status_code == 415
    assert "application/x-protobuf" in response.text


def test_other_methods_are_405(receiver: Receiver) -> None:
    assert httpx.get(f"{receiver.url}/v1/traces", timeout=10).status_code == 405


def test_oversize_bodies_are_413_also_after_decompression(receiver: Receiver) -> None:
    big = b"\x00" * 70_000
    response = receiver.post("/v1/traces", big, "application/x-protobuf")
    assert response.status_code == 413
    Status.FromString(response.content)
    bomb = gzip.compress(b"\x00" * 1_000_000)
    assert len(bomb) < 65536
    response = receiver.post(
        "/v1/logs", bomb, "application/x-protobuf", **{"Content-Encoding": "gzip"}
    )
    assert response.status_code == 413


def test_invalid_ids_are_a_partial_success_in_the_request_encoding(receiver: Receiver) -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = b"\x01" * 15
    span.span_id = b"\x02" * 8
    span.name = "bad"
    response = receiver.post("/v1/traces", request.SerializeToString(), "application/x-protobuf")
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    assert "invalid trace ID" in answer.partial_success.error_message
    body = {
        "resourceLogs": [
            {"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}, "traceId": "abcd"}]}]}
        ]
    }
    response = receiver.post("/v1/logs", json.dumps(body).encode(), "application/json")
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedLogRecords"] == "1"
    # A well-formed empty request is a plain success.
    response = receiver.post("/v1/logs", b"{}", "application/json")
    assert response.status_code == 200
    assert response.json() == {}
    assert (
        ExportLogsServiceResponse.FromString(
            receiver.post("/v1/logs", b"", "application/x-protobuf").content
        )
        == ExportLogsServiceResponse()
    )


def test_elasticsearch_down_is_503_with_retry_after(
    tmp_path: Path, kafka_bootstrap: str, topic: str
) -> None:
    child = _start(
        tmp_path,
        kafka=kafka_bootstrap,
        es_url=f"http://127.0.0.1:{free_port()}",
        topic=topic,
        prefix="down",
    )
    try:
        url = f"http://127.0.0.1:{child.port}"
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        body = encode_spans(_spans())
        response = httpx.post(
            f"{url}/v1/traces",
            content=body.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=60,
        )
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert "Elasticsearch" in Status.FromString(response.content).message
        # The receiver keeps serving.
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
    finally:
        child.stop(timeout=15)


def test_kafka_down_is_503_with_retry_after(tmp_path: Path, es_url: str) -> None:
    child = _start(
        tmp_path,
        kafka=f"127.0.0.1:{free_port()}",
        es_url=es_url,
        topic="logs",
        prefix="down",
    )
    try:
        response = httpx.post(
            f"http://127.0.0.1:{child.port}/v1/logs",
            content=b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{}]}]}]}',
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert "Kafka" in response.json()["message"]
    finally:
        child.stop(timeout=15)


# --- the Node.js SDK ------------------------------------------------------------------------

_NODE_SCRIPT = r"""
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { OTLPTraceExporter: JsonExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { OTLPTraceExporter: ProtoExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { OTLPLogExporter: ProtoLogExporter } = require('@opentelemetry/exporter-logs-otlp-proto');
const { OTLPLogExporter: JsonLogExporter } = require('@opentelemetry/exporter-logs-otlp-http');
const { SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const api = require('@opentelemetry/api');

const url = process.env.RECEIVER;
const json = process.env.ENCODING === 'json';
const Exporter = json ? JsonExporter : ProtoExporter;
const LogExporter = json ? JsonLogExporter : ProtoLogExporter;
const sdk = new NodeSDK({
  resource: resourceFromAttributes({ 'service.name': 'node-' + process.env.ENCODING }),
  traceExporter: new Exporter({ url: url + '/v1/traces' }),
  logRecordProcessors: [
    new SimpleLogRecordProcessor({ exporter: new LogExporter({ url: url + '/v1/logs' }) }),
  ],
  instrumentations: [],
});
sdk.start();
const tracer = api.trace.getTracer('tests.node');
tracer.startActiveSpan('node work', (span) => {
  api.logs.getLogger('tests.node').emit({ body: 'hello from node', severityText: 'INFO' });
  console.log(span.spanContext().traceId + ' ' + span.spanContext().spanId);
  span.end();
});
sdk.shutdown().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
"""


@pytest.mark.parametrize("encoding", ["json", "proto"])
def test_node_sdk_spans_and_logs(receiver: Receiver, encoding: str, tmp_path: Path) -> None:
    if not (GATEWAY_NODE / "node_modules").is_dir():
        pytest.fail(f"run `npm ci` in {GATEWAY_NODE} (make test does)")
    script = tmp_path / "export.js"
    script.write_text(_NODE_SCRIPT)
    result = subprocess.run(
        ["node", str(script)],
        env={
            **os.environ,
            "RECEIVER": receiver.url,
            "ENCODING": encoding,
            "NODE_PATH": str(GATEWAY_NODE / "node_modules"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    trace_id, span_id = result.stdout.split()[-2:]
    [stored] = _stored_spans(receiver, trace_id, expected=1)
    assert stored["spanID"] == span_id
    assert stored["operationName"] == "node work"
    assert stored["process"]["serviceName"] == f"node-{encoding}"
    [message] = _messages(receiver, expected=1)
    request = ExportLogsServiceRequest.FromString(message.value)
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    assert record.body.string_value == "hello from node"
    assert record.trace_id.hex() == trace_id
    assert record.span_id.hex() == span_id


def test_a_log_request_too_large_for_one_message_is_split_per_resource(
    tmp_path: Path, kafka_bootstrap: str, es_url: str, topic: str
) -> None:
    child = _start(tmp_path, kafka=kafka_bootstrap, es_url=es_url, topic=topic, prefix="split")
    try:
        request = ExportLogsServiceRequest()
        for index, size in enumerate((400_000, 400_000, 1_200_000)):
            rl = request.resource_logs.add()
            rl.resource.attributes.add(key="service.name").value.string_value = f"svc-{index}"
            rl.scope_logs.add().log_records.add().body.string_value = "x" * size
        response = httpx.post(
            f"http://127.0.0.1:{child.port}/v1/logs",
            content=gzip.compress(request.SerializeToString()),
            headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            timeout=60,
        )
        assert response.status_code == 200
        answer = ExportLogsServiceResponse.FromString(response.content)
        # The third resource alone is above the message size: refused, not retried.
        assert answer.partial_success.rejected_log_records == 1
        assert "too large for Kafka" in answer.partial_success.error_message
        receiver = Receiver(child, topic, "split", es_url, kafka_bootstrap)
        messages = _messages(receiver, expected=2)
        services = [
            ExportLogsServiceRequest.FromString(m.value)
            .resource_logs[0]
            .resource.attributes[0]
            .value.string_value
            for m in messages
        ]
        assert sorted(services) == ["svc-0", "svc-1"]
    finally:
        child.stop(timeout=15)


# --- several log topics ------------------------------------------------------------------------


@pytest.fixture
def listed_receiver(
    tmp_path: Path, kafka_bootstrap: str, es_url: str, make_topic: Any, index_prefix: str
) -> Iterator[Receiver]:
    """The receiver as ``tracelink dev`` starts it with ``TRACELINK_LOG_TOPIC=<logs>,<otel>``
    (its ``topic`` is that list)."""
    topics = f"{make_topic(suffix='logs')},{make_topic(suffix='otel')}"
    child = _start(
        tmp_path, kafka=kafka_bootstrap, es_url=es_url, topic=topics, prefix=index_prefix
    )
    try:
        yield Receiver(child, topics, index_prefix, es_url, kafka_bootstrap)
    finally:
        child.stop(timeout=15)


async def test_with_several_log_topics_the_receiver_writes_the_first_and_the_shipper_reads_all(
    listed_receiver: Receiver,
) -> None:
    """One ``TRACELINK_LOG_TOPIC`` list for the whole stack: the receiver forwards ``/v1/logs``
    to the first topic; a shipper with the same setting indexes that and a record another
    producer wrote to the second."""
    from shipper.app import Shipper
    from tests.support.shipping import (
        Elasticsearch,
        encode,
        log_record,
        produce,
        shipper_settings,
        wait_until_async,
    )

    first, second = listed_receiver.topic.split(",")
    run = uuid.uuid4().hex[:8]
    record = {"timeUnixNano": "1795343027123456789", "body": {"stringValue": f"{run} otlp"}}
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "gateway"}}]}
    body = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [record]}]}]}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{listed_receiver.url}/v1/logs", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {}
    await produce(listed_receiver.kafka, second, [encode(log_record(1, run))])

    settings = shipper_settings(
        kafka_bootstrap=listed_receiver.kafka,
        es_url=listed_receiver.es_url,
        topic=listed_receiver.topic,
        index_prefix=listed_receiver.prefix,
    )
    es = Elasticsearch(listed_receiver.es_url)
    logs = f"{listed_receiver.prefix}-logs-*"
    try:
        async with Shipper(settings):
            await wait_until_async(
                lambda: es.count(logs) >= 2, timeout=60, what="both topics' records"
            )
        origins = {
            hit["_source"]["message"]: hit["_source"]["tracelink"]["origin"]
            for hit in es.documents(logs)
        }
    finally:
        es.close()
    assert origins[f"{run} otlp"].startswith(f"{first}/")
    assert origins["order 1 accepted"].startswith(f"{second}/")
