"""Two replicas share the partitions; stopping one moves them to the other, losing nothing."""

from __future__ import annotations

import asyncio
import uuid

from shipper.app import Shipper
from tests.support.shipping import (
    Elasticsearch,
    encode,
    log_record,
    produce,
    shipper_settings,
    wait_until_async,
)

TOTAL = 6000
ROUNDS = 12


async def test_stopping_a_replica_hands_its_partitions_over(
    kafka_bootstrap: str, es_url: str, topic: str, index_prefix: str
) -> None:
    run = uuid.uuid4().hex[:8]
    settings = shipper_settings(
        kafka_bootstrap=kafka_bootstrap,
        es_url=es_url,
        topic=topic,
        index_prefix=index_prefix,
        batch_max_records=100,
    )
    es = Elasticsearch(es_url)
    logs = f"{index_prefix}-logs-*"
    per_round = TOTAL // ROUNDS
    first = Shipper(settings)
    second = Shipper(settings)
    try:
        await first.start()
        await second.start()
        await wait_until_async(
            lambda: len(first.assignment) == 2 and len(second.assignment) == 2,
            timeout=60,
            what="both replicas to own two partitions",
        )

        async def feed() -> None:
            for round_ in range(ROUNDS):
                start = round_ * per_round
                await produce(
                    kafka_bootstrap,
                    topic,
                    (encode(log_record(i, run)) for i in range(start, start + per_round)),
                )
                await asyncio.sleep(0.5)

        feeding = asyncio.create_task(feed())
        await wait_until_async(
            lambda: es.count(logs) >= TOTAL // 4, timeout=60, what="both replicas shipping"
        )
        shipped_by_first = first.metrics.registry.get_sample_value(
            "tracelink_shipper_records_indexed_total"
        )
        assert shipped_by_first
        await first.stop()  # drains, commits, leaves the group
        await wait_until_async(
            lambda: len(second.assignment) == 4, timeout=60, what="the survivor to own all"
        )
        await feeding
        await wait_until_async(
            lambda: es.count(logs) >= TOTAL, timeout=120, what="every record shipped"
        )
        await asyncio.sleep(1)
        assert es.count(logs, refresh=True) == TOTAL
        assert sorted(es.ids(logs)) == sorted(f"{run}-{i}" for i in range(TOTAL))
        assert first.failure is None
        assert second.failure is None
    finally:
        await first.stop()
        await second.stop()
        es.close()
