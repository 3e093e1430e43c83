"""The stand-ins answer as Kafka and Elasticsearch do, through the production clients."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack.standins import ElasticsearchStandin, StandinError
from tests.support.servers import ElasticsearchServer


async def test_kafka_round_trip_with_key_and_headers(kafka_bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, b'{"message":"hi"}', key=b"k", headers=[("traceparent", b"00-x")]
        )
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=topic,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()
    records = [record for records in batch.values() for record in records]
    assert [(r.key, r.value, list(r.headers)) for r in records] == [
        (b"k", b'{"message":"hi"}', [("traceparent", b"00-x")])
    ]


def test_elasticsearch_bulk_create_conflict_is_409(es_url: str, index_prefix: str) -> None:
    index = f"{index_prefix}-2026-11-22"
    body = (
        f'{{"create":{{"_index":"{index}","_id":"e1"}}}}\n{{"message":"a"}}\n'
        f'{{"create":{{"_index":"{index}","_id":"e1"}}}}\n{{"message":"b"}}\n'
    )
    response = httpx.post(
        f"{es_url}/_bulk",
        content=body,
        headers={"content-type": "application/x-ndjson"},
        params={"refresh": "true"},
    )
    statuses = [item["create"]["status"] for item in response.json()["items"]]
    assert statuses == [201, 409]


def test_port_in_use_is_a_clear_error(tmp_path: Path, es_server: ElasticsearchServer) -> None:
    if es_server.standin is None:
        pytest.skip("external Elasticsearch: no stand-in port to collide with")
    taken = es_server.standin.port
    with pytest.raises(StandinError, match=f"port 127.0.0.1:{taken} is already in use"):
        ElasticsearchStandin(port=taken, data_dir=tmp_path).start()
