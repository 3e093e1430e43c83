"""Records that used to stop the shipper for good: each now costs only itself.

Written with real bytes on the wire (``tests/support/kafka_wire.py``): aiokafka's producer
cannot send a header key that is not UTF-8, librdkafka can.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from shipper.app import Shipper
from tests.support.kafka_wire import produce_raw
from tests.support.shipping import (
    Elasticsearch,
    encode,
    headers_of,
    log_record,
    read_topic,
    shipper_settings,
    wait_until_async,
)

# µs written where Kafka wants ms: ~year 58,000.
FAR_FUTURE_MS = 1_795_337_000_123_000


@pytest.fixture
def topic(make_topic: Callable[..., str]) -> str:
    return make_topic(partitions=2)


async def test_undecodable_header_and_far_future_timestamps_cost_only_their_records(
    kafka_bootstrap: str, es_url: str, topic: str, index_prefix: str
) -> None:
    run = uuid.uuid4().hex[:8]
    good = [encode(log_record(i, run)) for i in range(8)]
    bad_header_value = encode(log_record(100, run))
    no_time = encode(log_record(101, run, **{"@timestamp": None}))
    # Partition 1 is read first in the same poll: its records must not be lost when the
    # poll fails on partition 0.
    await produce_raw(kafka_bootstrap, topic, 1, [(None, v, []) for v in good[4:]])
    await produce_raw(
        kafka_bootstrap,
        topic,
        0,
        [
            (None, good[0], [(b"content-type", b"application/json")]),
            (None, good[1], []),
            (b"key", bad_header_value, [(b"ok", b"1"), (b"\xff\xfebad", b"v")]),
            (None, good[2], []),
            (None, good[3], []),
        ],
    )
    await produce_raw(kafka_bootstrap, topic, 0, [(None, no_time, [])], timestamp_ms=FAR_FUTURE_MS)
    await produce_raw(
        kafka_bootstrap, topic, 0, [(None, b"not json", [])], timestamp_ms=FAR_FUTURE_MS
    )

    settings = shipper_settings(
        kafka_bootstrap=kafka_bootstrap, es_url=es_url, topic=topic, index_prefix=index_prefix
    )
    es = Elasticsearch(es_url)
    logs, dlq = f"{index_prefix}-logs-*", f"{index_prefix}-dlq-*"
    try:
        async with Shipper(settings) as shipper:

            def done() -> bool:
                # Fail at once, not after the timeout, when the pipeline died.
                assert shipper.failure is None, shipper.failure
                return es.count(logs) >= 9 and es.count(dlq) >= 2

            await wait_until_async(done, timeout=120, what="every record indexed or dead-lettered")
            assert shipper.failure is None
        documents = {hit["_id"]: hit["_source"] for hit in es.documents(logs)}
        assert set(documents) == {f"{run}-{i}" for i in [*range(8), 101]}
        assert documents[f"{run}-101"]["tracelink"]["timestamp_source"] == "ingest"
        letters = {hit["_source"]["error"]["type"]: hit["_source"] for hit in es.documents(dlq)}
        assert set(letters) == {"undecodable_record", "not_json"}
        undecodable = letters["undecodable_record"]
        assert undecodable["tracelink"]["origin"] == f"{topic}/0/2"
        assert "\\xff\\xfebad" in undecodable["error"]["message"]
        assert undecodable["tracelink"]["payload"] == bad_header_value.decode()

        [record] = [
            r
            for r in await read_topic(kafka_bootstrap, settings.dlq_topic)
            if r.value == bad_header_value
        ]
        assert record.key == b"key"
        headers = headers_of(record)
        assert headers["\\xff\\xfebad"] == b"v"  # the key as text, its bytes escaped
        assert headers["ok"] == b"1"
        assert headers["tracelink-error-type"] == b"undecodable_record"
    finally:
        es.close()
