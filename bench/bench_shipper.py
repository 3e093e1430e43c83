"""Shipper throughput and memory against its baselines, measured in one run.

Records (~450 bytes of ECS JSON, dotted keys, as logging_ext writes them) are pre-loaded
into the Kafka stand-in; the Elasticsearch side is ``bench/bulk_ack_server.py``, which
acknowledges every bulk item instantly (the Elasticsearch stand-in is not a performance
server). Three consumers read the same records, each in a fresh consumer group:

* ``ceiling``: aiokafka consume + ``orjson.loads`` of every value, nothing else;
* ``helpers``: the same consumer feeding ``elasticsearch.helpers.async_streaming_bulk``
  (parsed record as ``_source``, ``create`` with ``_id = event.id``; no transform, no commits);
* ``helpers_with_transform``: the same, with the shipper's transform producing the documents
  (the same work as the shipper, only the bulk encoding differs);
* ``shipper``: ``tracelink ship`` as a user runs it (a subprocess), timed from its first
  acknowledged item to the last; its RSS is sampled throughout.

Prints one JSON object. Ratios matter, absolute numbers depend on the (shared) machine.

    python bench/bench_shipper.py [--records 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devstack.standins import KafkaStandin, free_port  # noqa: E402

PARTITIONS = 4
BATCH = 5000
# Records are stamped today, as live traffic is (a record far from the ingest time is
# flagged and takes the transform's slower path; that is not the load being measured).
DAY = datetime.now(UTC).strftime("%Y-%m-%d")


def make_record(i: int) -> bytes:
    ids = hashlib.blake2b(i.to_bytes(8, "big"), digest_size=24).hexdigest()
    return orjson.dumps(
        {
            "@timestamp": f"{DAY}T10:{(i // 60_000) % 60:02d}:{(i // 1000) % 60:02d}."
            f"{i % 1_000_000:06d}Z",
            "log.level": "info" if i % 10 else "error",
            "message": f"order {i} accepted: 3 items, total 42.50 EUR",
            "ecs.version": "8.11.0",
            "log.logger": "shop.orders",
            "trace.id": ids[:32],
            "span.id": ids[32:],
            "trace.sampled": True,
            "event.id": f"0192f3a4-{i:012d}",
            "service.name": "orders",
            "service.version": "1.4.2",
            "service.environment": "production",
            "host.name": "orders-7d9f8",
            "process.pid": 4242,
            "process.thread.name": "MainThread",
            "labels": {"order_id": f"ord-{i:08d}"},
        }
    )


async def preload(bootstrap: str, topic: str, count: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    total = 0
    try:
        for i in range(count):
            value = make_record(i)
            total += len(value)
            await producer.send(
                topic, value, key=value[-40:-8], headers=[("content-type", b"application/json")]
            )
        await producer.flush()
    finally:
        await producer.stop()
    return total // count


async def ceiling(bootstrap: str, topic: str, count: int) -> tuple[float, float]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-ceiling-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen = 0
    started = cpu = 0.0
    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
            if batch and not started:
                started, cpu = time.perf_counter(), time.process_time()
            for records in batch.values():
                for record in records:
                    orjson.loads(record.value)
                seen += len(records)
        return seen / (time.perf_counter() - started), (time.process_time() - cpu) / seen * 1e6
    finally:
        await consumer.stop()


async def helpers(
    bootstrap: str, topic: str, count: int, es_url: str, *, transform: bool = False
) -> tuple[float, float]:
    from elasticsearch import AsyncElasticsearch
    from elasticsearch.helpers import async_streaming_bulk

    from shipper.transform import IndexAction, Transformer

    transformer = Transformer("tracelink-logs")

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-helpers-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    client = AsyncElasticsearch(es_url, request_timeout=60)
    await consumer.start()
    started = cpu = 0.0

    async def actions() -> Any:
        nonlocal started, cpu
        seen = 0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
            if batch and not started:
                started, cpu = time.perf_counter(), time.process_time()
            ingested = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            for records in batch.values():
                for record in records:
                    if transform:
                        action = transformer.transform(record, ingested)
                        assert isinstance(action, IndexAction)
                        index, doc_id, doc = action.index, action.doc_id, action.source
                    else:
                        doc = orjson.loads(record.value)
                        index, doc_id = f"tracelink-logs-{DAY}", doc["event.id"]
                    yield {"_op_type": "create", "_index": index, "_id": doc_id, "_source": doc}
                seen += len(records)

    done = 0
    try:
        async for ok, _item in async_streaming_bulk(
            client, actions(), chunk_size=BATCH, max_chunk_bytes=8 * 1024 * 1024
        ):
            done += ok
        return done / (time.perf_counter() - started), (time.process_time() - cpu) / done * 1e6
    finally:
        await consumer.stop()
        await client.close()


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ship_env(bootstrap: str, es_url: str, topic: str, group: str) -> dict[str, str]:
    """The environment of a benchmarked ``tracelink ship``: a fresh consumer group, no
    metrics port, short session and drain so a run ends promptly."""
    return dict(
        os.environ,
        TRACELINK_KAFKA_BOOTSTRAP=bootstrap,
        TRACELINK_ES_URL=es_url,
        TRACELINK_LOG_TOPIC=topic,
        TRACELINK_CONSUMER_GROUP=f"{group}-{uuid.uuid4().hex[:6]}",
        TRACELINK_METRICS_PORT="0",
        TRACELINK_KAFKA_SESSION_TIMEOUT_MS="10000",
        TRACELINK_DRAIN_TIMEOUT_S="5",
    )


def shipper(bootstrap: str, topic: str, count: int, es_url: str, workdir: Path) -> dict[str, Any]:
    env = ship_env(bootstrap, es_url, topic, "bench-shipper")
    executable = Path(sys.executable).with_name("tracelink")
    log_path = workdir / "shipper.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(executable), "ship"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    samples: list[float] = []
    try:
        with httpx.Client(base_url=es_url, timeout=5) as http:
            first_at = 0.0
            first_count = 0
            first_cpu = cpu = 0.0
            deadline = time.monotonic() + 600
            acked = 0
            while time.monotonic() < deadline:
                acked = http.get("/_stats/acked").json()["acked"]
                now = time.perf_counter()
                if acked and not first_at:
                    first_at, first_count = now, acked
                    first_cpu = cpu_seconds(proc.pid)
                if first_at:
                    samples.append(rss_mb(proc.pid))
                if acked >= count:
                    cpu = cpu_seconds(proc.pid) - first_cpu
                    break
                if proc.poll() is not None:
                    raise RuntimeError(f"shipper exited: {log_path.read_text()[-2000:]}")
                time.sleep(0.02)
            elapsed = now - first_at
        steady = samples[len(samples) // 2 :] or [0.0]
        return {
            "events_per_s": round((acked - first_count) / elapsed) if elapsed > 0 else None,
            "cpu_us_per_event": round(cpu / (acked - first_count) * 1e6, 1),
            "cpu_share": round(cpu / elapsed, 2) if elapsed > 0 else None,
            "rss_mb_peak": round(max(samples or [0.0]), 1),
            "rss_mb_steady_median": round(sorted(steady)[len(steady) // 2], 1),
        }
    finally:
        proc.terminate()
        proc.wait(30)


def rate(cpu_us_per_event: float) -> int:
    """Events per second of one fully available core."""
    return round(1e6 / cpu_us_per_event)


@contextmanager
def bench_servers(workdir: Path) -> Iterator[tuple[str, str]]:
    """The Kafka stand-in and the instant bulk-ack server, as (bootstrap, ES URL); both
    stopped on exit. Every shipper benchmark measures against this pair."""
    kafka = KafkaStandin(port=None, data_dir=workdir / "kafka").start()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "bulk_ack_server.py"), str(port)],
        stdout=subprocess.DEVNULL,
    )
    es_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(es_url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield kafka.bootstrap, es_url
    finally:
        server.terminate()
        server.wait(10)
        kafka.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    count = args.records
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with bench_servers(workdir) as (bootstrap, es_url):
            topic = f"bench-{uuid.uuid4().hex[:6]}"
            record_bytes = asyncio.run(preload(bootstrap, topic, count))
            # The shipper goes first: later stages find the broker holding more group state.
            ship = shipper(bootstrap, topic, count, es_url, workdir)
            raw, raw_cpu = asyncio.run(ceiling(bootstrap, topic, count))
            before = httpx.get(f"{es_url}/_stats/acked").json()["acked"]
            helper, helper_cpu = asyncio.run(helpers(bootstrap, topic, count, es_url))
            middle = httpx.get(f"{es_url}/_stats/acked").json()["acked"]
            assert middle - before == count, (before, middle)
            same, same_cpu = asyncio.run(helpers(bootstrap, topic, count, es_url, transform=True))
            after = httpx.get(f"{es_url}/_stats/acked").json()["acked"]
            assert after - middle == count, (middle, after)
    ship_rate = ship["events_per_s"]
    ship_cpu_rate = rate(ship["cpu_us_per_event"])
    result = {
        "benchmark": "shipper",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "records": count,
        "record_bytes_avg": record_bytes,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        # Wall-clock rates depend on what else the shared machine runs; the per-core rates
        # (events per CPU-second of the consuming process) do not, and their ratios are the
        # comparison that holds.
        "ceiling": {"events_per_s": round(raw), "events_per_cpu_s": rate(raw_cpu)},
        "helpers": {"events_per_s": round(helper), "events_per_cpu_s": rate(helper_cpu)},
        "helpers_with_transform": {
            "events_per_s": round(same),
            "events_per_cpu_s": rate(same_cpu),
        },
        "shipper": {**ship, "events_per_cpu_s": ship_cpu_rate},
        "shipper_vs_helpers": {
            "wall": round(ship_rate / helper, 2),
            "per_core": round(ship_cpu_rate / rate(helper_cpu), 2),
        },
        "shipper_vs_helpers_with_transform": {
            "wall": round(ship_rate / same, 2),
            "per_core": round(ship_cpu_rate / rate(same_cpu), 2),
        },
        "shipper_vs_ceiling": {
            "wall": round(ship_rate / raw, 2),
            "per_core": round(ship_cpu_rate / rate(raw_cpu), 2),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
