"""The Kafka source against a real broker: pause/resume and rewinding to committed offsets."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from shipper.source import KafkaSource, TopicPartition
from tests.support.shipping import encode, log_record, produce, shipper_settings


async def _poll_until(source: KafkaSource, count: int, timeout: float = 30) -> list[Any]:
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(records) < count and time.monotonic() < deadline:
        batch = await source.poll(500, count - len(records))
        for part in batch.values():
            records.extend(part)
    return records


@pytest.fixture
def single_partition_topic(make_topic: Callable[..., str]) -> str:
    return make_topic(partitions=1)


async def test_rewind_reads_undelivered_records_again(
    kafka_bootstrap: str, single_partition_topic: str, index_prefix: str
) -> None:
    topic = single_partition_topic
    run = uuid.uuid4().hex[:8]
    await produce(kafka_bootstrap, topic, (encode(log_record(i, run)) for i in range(30)))
    settings = shipper_settings(
        kafka_bootstrap=kafka_bootstrap,
        es_url="http://127.0.0.1:9",
        topic=topic,
        index_prefix=index_prefix,
    )
    revoked: list[set[TopicPartition]] = []
    assigned: list[set[TopicPartition]] = []

    async def on_revoked(partitions: set[TopicPartition]) -> None:
        revoked.append(partitions)

    source = KafkaSource(settings, on_revoked=on_revoked, on_assigned=assigned.append)
    await source.start()
    try:
        # Before anything is committed, a rewind goes back to the start of the log.
        first = await _poll_until(source, 10)
        assert [r.offset for r in first] == list(range(10))
        await source.rewind_to_committed()
        again = await _poll_until(source, 10)
        assert [r.offset for r in again] == list(range(10))

        # After a commit, to the committed offset.
        tp = TopicPartition(topic, 0)
        await source.commit({tp: 10})
        more = await _poll_until(source, 15)
        assert [r.offset for r in more] == list(range(10, 25))
        await source.rewind_to_committed()
        replay = await _poll_until(source, 20)
        assert [r.offset for r in replay] == list(range(10, 30))

        # A paused partition hands out nothing, and picks up where it was on resume.
        await source.commit({tp: 30})
        await produce(kafka_bootstrap, topic, [encode(log_record(99, run))])
        source.pause()
        assert source.paused
        assert await source.poll(1000, 10) == {}
        source.resume()
        resumed = await _poll_until(source, 1)
        assert [r.offset for r in resumed] == [30]
        assert assigned
        assert assigned[-1] == {tp}
    finally:
        await source.stop()
