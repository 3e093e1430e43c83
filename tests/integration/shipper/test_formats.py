"""Other formats through the real servers: a Collector's OTLP topic beside the services' topic.

Bad OTLP (truncated, another signal, no records, IDs of the wrong length) becomes dead
letters with reasons; 10,000 records in one message are all indexed; a record Elasticsearch
refuses is dead-lettered alone (its own OTLP/JSON, origin ``…#index``) while the others of
its message are indexed; the offsets are committed (a new member finds nothing to do).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from shipper.app import Shipper
from tests.support.otlp import LogSpec, sdk_request
from tests.support.otlp import to_json as otlp_json
from tests.support.shipping import (
    Elasticsearch,
    encode,
    headers_of,
    log_record,
    produce,
    read_topic,
    shipper_settings,
    wait_until_async,
)

PINO = (
    (
        Path(__file__).parents[2]
        / "unit"
        / "shipper"
        / "fixtures"
        / "formats"
        / "pino-instrumentation.ndjson"
    )
    .read_bytes()
    .splitlines()
)
BIG = 10_000


@pytest.fixture
def otlp_topic(make_topic: Callable[..., str]) -> str:
    return make_topic(partitions=2, suffix="otlp")


@pytest.fixture
def one_partition_topic(make_topic: Callable[..., str]) -> str:
    return make_topic(partitions=1)


def _otlp_messages(run: str) -> tuple[list[bytes], dict[str, int]]:
    """Good and bad OTLP payloads; returns them and the dead-letter kinds expected."""
    checkout = {"service.name": "checkout"}
    good_proto = sdk_request(
        [(checkout, [LogSpec(f"{run} proto {k}", attributes={"n": k}) for k in range(50)])]
    )
    good_json = sdk_request([(checkout, [LogSpec(f"{run} json {k}") for k in range(20)])])
    # One record among three that Elasticsearch refuses (process.pid is a long).
    mixed = sdk_request(
        [
            (
                checkout,
                [
                    LogSpec(f"{run} mixed 0"),
                    LogSpec(f"{run} mixed 1", attributes={"process.pid": "not-a-number"}),
                    LogSpec(f"{run} mixed 2"),
                ],
            )
        ]
    )
    big = sdk_request([(checkout, [LogSpec(f"{run} big {k}") for k in range(BIG)])])
    wrong_ids = sdk_request([(checkout, [LogSpec(f"{run} wrong ids")])])
    record = wrong_ids.resource_logs[0].scope_logs[0].log_records[0]
    record.trace_id = b"\x07" * 12
    record.span_id = b"\x08" * 4
    truncated = good_proto.SerializeToString()[:-7]
    traces = ExportTraceServiceRequest()
    traces.resource_spans.add().scope_spans.add().spans.add().kind = Span.SPAN_KIND_CLIENT
    empty = sdk_request([(checkout, [])])
    empty.resource_logs.add().scope_logs.add()
    messages = [
        good_proto.SerializeToString(),
        otlp_json(good_json),
        mixed.SerializeToString(),
        big.SerializeToString(),
        wrong_ids.SerializeToString(),
        truncated,
        traces.SerializeToString(),
        empty.SerializeToString(),
        b'{"resourceLogs": {"not": "a list"}}',
    ]
    letters = {"invalid_otlp_proto": 2, "no_records": 1, "invalid_otlp_json": 1}
    return messages, letters


async def test_otlp_and_service_topics_in_one_group(
    kafka_bootstrap: str, es_url: str, topic: str, otlp_topic: str, index_prefix: str
) -> None:
    run = uuid.uuid4().hex[:8]
    otlp_messages, expected_letters = _otlp_messages(run)
    ecs_messages = [encode(log_record(i, run)) for i in range(100)]
    await produce(kafka_bootstrap, otlp_topic, otlp_messages)
    await produce(kafka_bootstrap, topic, [*ecs_messages, *PINO])
    dlq_topic = f"{topic}.dlq"
    settings = shipper_settings(
        kafka_bootstrap=kafka_bootstrap,
        es_url=es_url,
        topic=f"{topic},{otlp_topic}",
        index_prefix=index_prefix,
        dlq_topic=dlq_topic,
        consumer_group=f"{topic}-shippers",
        # aiohttp warns of request bodies over 1 MiB, and the suite makes warnings errors.
        batch_max_bytes=1024 * 1024,
    )
    indexed = 100 + len(PINO) + 50 + 20 + 2 + BIG + 1
    es = Elasticsearch(es_url)
    logs = f"{index_prefix}-logs-*"
    dlq = f"{index_prefix}-dlq-*"
    try:
        async with Shipper(settings) as shipper:
            await wait_until_async(
                lambda: es.count(logs) >= indexed and es.count(dlq) >= 5,
                timeout=240,
                interval=1.0,
                what="every record indexed or dead-lettered",
            )
            registry = shipper.metrics.registry
        assert es.count(logs, refresh=True) == indexed

        documents = [hit["_source"] for hit in es.documents(logs)]
        by_message = {doc.get("message"): doc for doc in documents}
        assert len(by_message) == indexed  # every record once
        assert {f"{run} big {k}" for k in range(BIG)} <= by_message.keys()
        pino = by_message["proxying order lookup"]
        assert pino["trace"]["id"] == "395ae83a02940333c6bc01fa77413b66"
        assert pino["tracelink"]["flags"] == ["missing_service"]
        first = by_message[f"{run} proto 0"]
        assert first["service"]["name"] == "checkout"
        assert first["tracelink"]["origin"].startswith(f"{otlp_topic}/")
        assert first["tracelink"]["origin"].endswith("#0")
        wrong = by_message[f"{run} wrong ids"]
        assert "trace" not in wrong
        assert wrong["tracelink"]["invalid"] == {"trace_id": "07" * 12, "span_id": "08" * 4}
        assert {f"{run} mixed 0", f"{run} mixed 2"} <= by_message.keys()
        assert f"{run} mixed 1" not in by_message

        letters = [hit["_source"] for hit in es.documents(dlq)]
        kinds: dict[str, int] = {}
        for letter in letters:
            kinds[letter["error"]["type"]] = kinds.get(letter["error"]["type"], 0) + 1
        refused = [x for x in letters if x["tracelink"]["origin"].endswith("#1")]
        assert len(refused) == 1
        alone = orjson.loads(refused[0]["tracelink"]["payload"])
        (record,) = alone["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        assert record["body"] == {"stringValue": f"{run} mixed 1"}
        assert {k: v for k, v in kinds.items() if k in expected_letters} == expected_letters
        assert len(letters) == sum(expected_letters.values()) + 1

        topic_letters = await read_topic(kafka_bootstrap, dlq_topic)
        origins = sorted(headers_of(r)["tracelink-origin"].decode() for r in topic_letters)
        assert any(origin.endswith("#1") for origin in origins)
        assert len(topic_letters) == len(letters)

        def sample(fmt: str) -> float:
            value = registry.get_sample_value(
                "tracelink_shipper_records_consumed_total", {"format": fmt}
            )
            return value or 0.0

        assert sample("ecs") == 100
        assert sample("otel_json") == len(PINO)
        assert sample("otlp_json") == 20 + 1
        assert sample("otlp_proto") == 50 + 3 + BIG + 1 + 3  # a bad message counts once

        # Committed: a new member of the group has nothing left to read.
        async with Shipper(settings) as again:
            await wait_until_async(
                lambda: len(again.assignment) == 6, timeout=60, what="the group to assign"
            )
            await asyncio.sleep(2)
            total: Any = sum(
                again.metrics.registry.get_sample_value(
                    "tracelink_shipper_records_consumed_total", {"format": fmt}
                )
                or 0
                for fmt in ("ecs", "otel_json", "otlp_proto", "otlp_json")
            )
            assert total == 0
    finally:
        es.close()


async def test_a_reused_log_record_uid_is_a_conflict_and_a_replayed_payload_is_not(
    kafka_bootstrap: str, es_url: str, one_partition_topic: str, index_prefix: str
) -> None:
    """``log.record.uid`` is the producer's ``event.id``: a different record reusing one is
    indexed under an ID of its own (flagged ``event_id_conflict``), a payload produced twice
    (an exporter's retry) adds nothing. The stored digests come from the real server."""
    run = uuid.uuid4().hex[:8]
    checkout = {"service.name": "checkout"}
    first = sdk_request(
        [
            (
                checkout,
                [
                    LogSpec(f"{run} first", attributes={"log.record.uid": f"{run}-a"}),
                    LogSpec(f"{run} second", attributes={"log.record.uid": f"{run}-b"}),
                ],
            )
        ]
    ).SerializeToString()
    reuse = sdk_request(
        [(checkout, [LogSpec(f"{run} reuses b", attributes={"log.record.uid": f"{run}-b"})])]
    ).SerializeToString()
    # One partition: the three payloads are read in this order.
    topic = one_partition_topic
    await produce(kafka_bootstrap, topic, [first, first, reuse])
    settings = shipper_settings(
        kafka_bootstrap=kafka_bootstrap, es_url=es_url, topic=topic, index_prefix=index_prefix
    )
    es = Elasticsearch(es_url)
    logs = f"{index_prefix}-logs-*"
    try:
        async with Shipper(settings) as shipper:
            registry = shipper.metrics.registry

            def outcome(name: str) -> float:
                labels = {"service": "checkout", "outcome": name}
                value = registry.get_sample_value("tracelink_shipper_event_id_409_total", labels)
                return value or 0

            await wait_until_async(
                lambda: es.count(logs) >= 3 and outcome("replay") >= 2,
                timeout=120,
                interval=0.5,
                what="three documents and the replayed payload's two 409s",
            )
        documents = {hit["_source"]["message"]: hit for hit in es.documents(logs)}
        assert sorted(documents) == [f"{run} first", f"{run} reuses b", f"{run} second"]
        assert documents[f"{run} second"]["_id"] == f"{run}-b"
        conflict = documents[f"{run} reuses b"]
        assert conflict["_id"] != f"{run}-b"
        assert conflict["_source"]["event"]["id"] == conflict["_id"]
        assert conflict["_source"]["tracelink"]["event_id_original"] == f"{run}-b"
        assert conflict["_source"]["tracelink"]["flags"] == ["event_id_conflict"]
        assert (outcome("replay"), outcome("conflict")) == (2, 1)
    finally:
        es.close()
