"""An Elasticsearch outage mid-stream: consumption pauses, nothing is lost or duplicated,
and shipping resumes by itself when the cluster is back."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.standins import ElasticsearchStandin, free_port
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

BEFORE, DURING, AFTER = 1500, 1500, 500
# Whole-request failures to see before the cluster comes back: several backoff rounds.
FAILED_REQUESTS = 4


@pytest.fixture
def own_elasticsearch(tmp_path: Path) -> Iterator[ElasticsearchStandin]:
    """A stand-in of this test's own, to stop and restart (same port, same data)."""
    if os.environ.get("TRACELINK_ES_URL"):
        pytest.skip("needs the Elasticsearch stand-in (it is stopped and restarted)")
    standin = ElasticsearchStandin(port=None, data_dir=tmp_path / "es")
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


async def test_outage_pauses_and_recovers_without_loss_or_duplicates(
    kafka_bootstrap: str, topic: str, own_elasticsearch: ElasticsearchStandin
) -> None:
    run = uuid.uuid4().hex[:8]
    prefix = f"tl-outage-{run}"
    port = free_port()
    settings = shipper_settings(
        kafka_bootstrap=kafka_bootstrap,
        es_url=own_elasticsearch.url,
        topic=topic,
        index_prefix=prefix,
        metrics_port=port,
        metrics_host="127.0.0.1",
        batch_max_records=200,
        max_in_flight=2,
    )
    es = Elasticsearch(own_elasticsearch.url)
    logs = f"{prefix}-logs-*"
    total = BEFORE + DURING + AFTER
    try:
        async with Shipper(settings) as shipper:
            await produce(
                kafka_bootstrap, topic, (encode(log_record(i, run)) for i in range(BEFORE))
            )
            await wait_until_async(
                lambda: es.count(logs) >= BEFORE // 2, timeout=60, what="shipping to start"
            )

            await asyncio.to_thread(own_elasticsearch.stop)
            await produce(
                kafka_bootstrap,
                topic,
                (encode(log_record(i, run)) for i in range(BEFORE, BEFORE + DURING)),
            )
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                await wait_until_async(
                    lambda: (
                        shipper.metrics.registry.get_sample_value("tracelink_shipper_backpressure")
                        == 1
                    ),
                    timeout=60,
                    what="consumption to pause",
                )
                ready = await http.get("/readyz")
                assert ready.status_code == 503
                assert "Elasticsearch unreachable" in ready.text
                assert (await http.get("/healthz")).status_code == 200
                # The outage lasts until the shipper has retried several times (no fixed
                # sleep: a slow machine gets the same outage in rounds, not in seconds).
                await wait_until_async(
                    lambda: (
                        (
                            shipper.metrics.registry.get_sample_value(
                                "tracelink_shipper_es_request_failures_total"
                            )
                            or 0
                        )
                        >= FAILED_REQUESTS
                    ),
                    timeout=120,
                    what=f"{FAILED_REQUESTS} failed bulk requests",
                )
                assert shipper.failure is None

                await asyncio.to_thread(own_elasticsearch.start)
                await produce(
                    kafka_bootstrap,
                    topic,
                    (encode(log_record(i, run)) for i in range(BEFORE + DURING, total)),
                )
                await wait_until_async(
                    lambda: es.count_or_none(logs) == total,
                    timeout=120,
                    what="every record after the outage",
                )
                await wait_until_async(
                    lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200,
                    timeout=30,
                    what="readiness to return",
                )
            retries = shipper.metrics.registry.get_sample_value(
                "tracelink_shipper_bulk_item_retries_total"
            )
            assert retries is not None
            assert retries > 0
            assert shipper.failure is None

        assert es.count(logs, refresh=True) == total
        assert sorted(es.ids(logs)) == sorted(f"{run}-{i}" for i in range(total))
        # Each record created once: a replay (a shipper reading again what it had not
        # committed) would show as 409s. At most the requests cut by the stop may have been
        # executed without their answer arriving.
        sample = shipper.metrics.registry.get_sample_value
        indexed = sample("tracelink_shipper_records_indexed_total")
        duplicates = sample("tracelink_shipper_records_duplicate_total")
        assert indexed is not None
        assert duplicates is not None
        assert indexed + duplicates == total
        assert duplicates <= settings.batch_max_records * settings.max_in_flight
        # Everything delivered is committed: the stop committed up to each partition's end.
        committed = await committed_offsets(kafka_bootstrap, settings.consumer_group, topic)
        assert committed == ends_from_origins(es.documents(logs))
    finally:
        es.close()
