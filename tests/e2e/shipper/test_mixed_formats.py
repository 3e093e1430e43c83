"""``tracelink ship`` on a topic mixing ECS, pino and OTLP, killed mid-stream: every record
exactly once (replays meet their own ``_id``: ``event.id``, the origin, or the origin and the
record's index in its OTLP payload)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from devstack.standins import free_port
from tests.support.cli import ShipProcess
from tests.support.otlp import LogSpec, sdk_request
from tests.support.otlp import to_json as otlp_json
from tests.support.shipping import (
    Elasticsearch,
    encode,
    log_record,
    produce,
    shipper_env,
    shipper_settings,
    wait_until,
)

PINO = (
    (Path(__file__).parents[2] / "unit/shipper/fixtures/formats/pino-instrumentation.ndjson")
    .read_bytes()
    .splitlines()
)
ECS_RECORDS = 3000
PINO_RECORDS = 1500
OTLP_MESSAGES = 30  # 20 protobuf, 10 OTLP/JSON
PER_MESSAGE = 100
TOTAL = ECS_RECORDS + PINO_RECORDS + OTLP_MESSAGES * PER_MESSAGE
# Records each shipper has consumed (its own metric) when it is killed: the first as soon as
# it has taken anything, so that kill lands mid-stream with records in flight.
KILL_AT = (1, 2000)


def mixed_messages(run: str) -> tuple[list[bytes], set[str]]:
    """The three shapes interleaved, and the ``message`` of every record in them."""
    expected: set[str] = set()
    ecs = []
    for i in range(ECS_RECORDS):
        ecs.append(encode(log_record(i, run, message=f"{run} ecs {i}")))
        expected.add(f"{run} ecs {i}")
    pino = []
    for i in range(PINO_RECORDS):
        line = orjson.loads(PINO[i % len(PINO)])
        line["msg"] = f"{run} pino {i}"
        pino.append(orjson.dumps(line))
        expected.add(line["msg"])
    otlp = []
    for m in range(OTLP_MESSAGES):
        specs = [LogSpec(f"{run} otlp {m}-{k}") for k in range(PER_MESSAGE)]
        expected.update(spec.body for spec in specs)
        request = sdk_request([({"service.name": "collector-fed"}, specs)])
        otlp.append(request.SerializeToString() if m % 3 else otlp_json(request))
    messages: list[bytes] = []
    step = len(ecs) // OTLP_MESSAGES
    for m in range(OTLP_MESSAGES):
        messages += ecs[m * step : (m + 1) * step]
        messages += pino[m * 50 : (m + 1) * 50]
        messages.append(otlp[m])
    return messages, expected


def _consumed(port: int) -> float:
    """Records the running shipper has taken, all formats (0 while it is not up)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("tracelink_shipper_records_consumed_total{")
    )


@pytest.fixture
def ships() -> Iterator[list[ShipProcess]]:
    started: list[ShipProcess] = []
    yield started
    for ship in started:
        if ship.proc.poll() is None:
            ship.kill()


def test_sigkill_on_a_mixed_topic_leaves_every_record_exactly_once(
    kafka_bootstrap: str,
    es_url: str,
    topic: str,
    index_prefix: str,
    tmp_path: Path,
    ships: list[ShipProcess],
) -> None:
    run = uuid.uuid4().hex[:8]
    port = free_port()
    messages, expected = mixed_messages(run)
    assert len(expected) == TOTAL
    asyncio.run(produce(kafka_bootstrap, topic, messages))
    settings = shipper_settings(
        kafka_bootstrap=kafka_bootstrap,
        es_url=es_url,
        topic=topic,
        index_prefix=index_prefix,
        # Small batches, one at a time: the kills land mid-stream, not after the end.
        batch_max_records=100,
        max_in_flight=1,
        metrics_port=port,
        metrics_host="127.0.0.1",
    )
    env = shipper_env(settings)
    es = Elasticsearch(es_url)
    logs = f"{index_prefix}-logs-*"
    log_path = tmp_path / "ship.log"
    at_kill: list[int] = []
    try:
        for threshold in KILL_AT:
            ship = ShipProcess(env, log_path)
            ships.append(ship)
            wait_until(
                lambda threshold=threshold: _consumed(port) >= threshold,  # type: ignore[misc]
                timeout=180,
                interval=0.05,
                what=f"{threshold} records consumed before the kill",
            )
            ship.kill()  # SIGKILL: no drain, no commit
            at_kill.append(es.count(logs, refresh=True))
        assert at_kill[0] < TOTAL, f"the first kill came after the end of the stream: {at_kill}"
        ship = ShipProcess(env, log_path)
        ships.append(ship)
        wait_until(lambda: es.count(logs) >= TOTAL, timeout=240, interval=1.0, what="every record")
        # SIGTERM once it runs (its signal handlers are installed before it logs this).
        wait_until(
            lambda: ship.output().count("shipping topics") == len(ships),
            timeout=60,
            what="the last shipper to start",
        )
        assert ship.terminate(60) == 0, ship.output()[-3000:]

        assert es.count(logs, refresh=True) == TOTAL
        documents = [hit["_source"] for hit in es.documents(logs)]
        messages_seen = [doc["message"] for doc in documents]
        assert len(messages_seen) == TOTAL
        assert set(messages_seen) == expected
        assert es.count(f"{index_prefix}-dlq-*", refresh=True) == 0
    finally:
        es.close()
