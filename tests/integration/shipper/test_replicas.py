"""Two replicas share the partitions; stopping one moves them to the other, losing nothing."""

from __future__ import annotations

import asyncio
import uuid

from shipper.app import Shipper
from tests.support.shipping import (
    Elasticsearch,
    committed_offsets,
    encode,
    ends_from_origins,
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
                # Pace the rounds on what was shipped, not on a clock: the replicas are
                # shipping (and one is stopped) while records keep arriving.
                half = start // 2
                await wait_until_async(
                    lambda: es.count(logs) >= half,  # noqa: B023 - awaited in this iteration
                    timeout=60,
                    what="shipping to keep up",
                    interval=0.1,
                )

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
        await second.stop()  # drains and commits
        assert es.count(logs, refresh=True) == TOTAL
        assert sorted(es.ids(logs)) == sorted(f"{run}-{i}" for i in range(TOTAL))
        assert first.failure is None
        assert second.failure is None

        # The hand-over went by committed offsets: the survivor read nothing the first
        # replica had delivered (a replica that never commits would leave it all to read
        # again, and every re-read record would be a 409), and all is committed at the end.
        def sample(shipper: Shipper, name: str) -> float:
            value = shipper.metrics.registry.get_sample_value(f"tracelink_shipper_{name}_total")
            return value or 0.0

        assert sample(first, "records_duplicate") == 0
        assert sample(second, "records_duplicate") == 0
        indexed = sample(first, "records_indexed") + sample(second, "records_indexed")
        assert indexed == TOTAL
        committed = await committed_offsets(kafka_bootstrap, settings.consumer_group, topic)
        assert committed == ends_from_origins(es.documents(logs))
    finally:
        await first.stop()
        await second.stop()
        es.close()
