"""Helpers for the shipper's integration and end-to-end tests: records in, documents out."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shipper.settings import ShipperSettings
from tracelink.settings import load_settings


@dataclass
class KafkaMessage:
    """A consumed Kafka message, as the pure parts of the shipper read it (unit tests)."""

    value: bytes | None
    topic: str = "logs"
    partition: int = 2
    offset: int = 41
    timestamp: int | None = 1_795_337_000_123  # 2026-11-22T08:43:20.123Z
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)


def leaf_paths(doc: dict[str, Any], prefix: str = "") -> set[str]:
    """The dotted paths of a document's leaves (arrays count as leaves)."""
    paths = set()
    for key, value in doc.items():
        if isinstance(value, dict):
            paths |= leaf_paths(value, f"{prefix}{key}.")
        else:
            paths.add(f"{prefix}{key}")
    return paths


def ids_of(i: int) -> tuple[str, str]:
    digest = hashlib.blake2b(i.to_bytes(8, "big"), digest_size=24).hexdigest()
    return digest[:32], digest[32:]


def log_record(i: int, run: str, **extra: Any) -> dict[str, Any]:
    """A record as logging_ext writes it (dotted keys), ``event.id = <run>-<i>``."""
    trace_id, span_id = ids_of(i)
    record = {
        "@timestamp": f"2026-11-22T10:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1_000_000:06d}Z",
        "log.level": "info",
        "message": f"order {i} accepted",
        "log.logger": "shop.orders",
        "trace.id": trace_id,
        "span.id": span_id,
        "trace.sampled": True,
        "event.id": f"{run}-{i}",
        "service.name": "orders",
        "ecs.version": "8.11.0",
    }
    record.update(extra)
    return record


def encode(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record)


# A value, or (value, headers), or (value, headers, key).
Headers = list[tuple[str, bytes]]
Message = bytes | tuple[bytes | None, Headers] | tuple[bytes | None, Headers, bytes | None] | None


async def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[Message],
    *,
    max_request_size: int = 8 * 1024 * 1024,
) -> int:
    """Send every message (see :data:`Message`) and wait for the acknowledgements."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=10, max_request_size=max_request_size, acks="all"
    )
    await producer.start()
    count = 0
    try:
        for message in messages:
            parts = message if isinstance(message, tuple) else (message, [])
            value, headers, key = (*parts, None)[:3]
            await producer.send(topic, value, key=key, headers=headers)
            count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count


async def read_topic(bootstrap: str, topic: str, *, timeout: float = 30.0) -> list[Any]:
    """Every record currently in ``topic`` (all partitions), without a consumer group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=8 << 20
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        deadline = time.monotonic() + timeout
        while partitions is None and time.monotonic() < deadline:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic)
            await asyncio.sleep(0.2)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[Any] = []
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= ends[tp] for tp in tps):
                break
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(part)
        return records
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    """Per partition of ``topic``: the offset ``group`` committed (``None``: none)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        return {tp.partition: await consumer.committed(tp) for tp in tps}
    finally:
        await consumer.stop()


def ends_from_origins(documents: Iterable[dict[str, Any]]) -> dict[int, int]:
    """Per partition, the offset after the last record among ``documents`` (their
    ``tracelink.origin``): what a shipper that delivered them all has committed.

    (Asked for the partition ends, the Kafka stand-in answered offsets below the ones the
    group had committed for records it had served — 1537 for 1549 — so the ends are taken
    from what was shipped instead.)
    """
    ends: dict[int, int] = {}
    for document in documents:
        _topic, partition, offset = document["_source"]["tracelink"]["origin"].rsplit("/", 2)
        ends[int(partition)] = max(ends.get(int(partition), 0), int(offset) + 1)
    return ends


def shipper_settings(
    *,
    kafka_bootstrap: str,
    es_url: str,
    topic: str,
    index_prefix: str,
    **overrides: Any,
) -> ShipperSettings:
    """Settings for one test: its topic, its group, its indices, short timeouts."""
    values: dict[str, Any] = {
        "kafka_bootstrap": kafka_bootstrap,
        "es_url": es_url,
        "log_topic": topic,
        "dlq_topic": f"{topic}.dlq",
        "consumer_group": f"{topic}-shippers",
        "log_index_prefix": f"{index_prefix}-logs",
        "dlq_index_prefix": f"{index_prefix}-dlq",
        "metrics_port": 0,
        "kafka_session_timeout_ms": 6000,
        "drain_timeout_s": 4,
        "retry_max_backoff_ms": 2000,
        "batch_max_records": 1000,
        # Test records carry fixed dates (2026-11-22): not "far from now" whatever the day
        # the suite runs. The tests of that flag set the distance themselves.
        "timestamp_max_distance_days": 100_000,
    }
    values.update(overrides)
    return load_settings(ShipperSettings, **values)


def shipper_env(settings: ShipperSettings) -> dict[str, str]:
    """The environment that configures ``tracelink ship`` like ``settings``."""
    env = {}
    for name in ShipperSettings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, list):
            value = ",".join(value)
        env[f"TRACELINK_{name.upper()}"] = str(value)
    return env


class Elasticsearch:
    """Just enough of the REST API to check what the shipper wrote."""

    def __init__(self, url: str) -> None:
        self._http = httpx.Client(base_url=url, timeout=60)

    def close(self) -> None:
        self._http.close()

    def count(self, pattern: str, *, refresh: bool = False) -> int:
        """Documents in ``pattern``; ``refresh`` first for an exact, final answer (polling
        without it keeps the stand-in free to index, which it does not do while counting)."""
        if refresh:
            self._http.post(f"/{pattern}/_refresh", params={"ignore_unavailable": "true"})
        response = self._http.get(
            f"/{pattern}/_count", params={"ignore_unavailable": "true", "allow_no_indices": "true"}
        )
        if response.status_code == 404:
            return 0
        response.raise_for_status()
        return int(response.json()["count"])

    def count_or_none(self, pattern: str) -> int | None:
        """:meth:`count`, or ``None`` while the server does not answer."""
        try:
            return self.count(pattern)
        except httpx.HTTPError:
            return None

    def documents(self, pattern: str, *, size: int = 10_000) -> list[dict[str, Any]]:
        """Every hit (``_id``, ``_index``, ``_source``), paged by ``_id`` via search_after."""
        self._http.post(f"/{pattern}/_refresh", params={"ignore_unavailable": "true"})
        hits: list[dict[str, Any]] = []
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": size,
                "sort": [{"tracelink.origin": "asc"}],
                "query": {"match_all": {}},
            }
            if after is not None:
                body["search_after"] = after
            response = self._http.post(
                f"/{pattern}/_search", json=body, params={"ignore_unavailable": "true"}
            )
            response.raise_for_status()
            page = response.json()["hits"]["hits"]
            hits.extend(page)
            if len(page) < size:
                return hits
            after = page[-1]["sort"]

    def ids(self, pattern: str) -> list[str]:
        return [hit["_id"] for hit in self.documents(pattern)]

    def found(self, index: str, ids: Sequence[str], *, chunk: int = 10_000) -> int:
        """How many of ``ids`` exist in ``index`` (a concrete name), by ``_mget``."""
        found = 0
        for start in range(0, len(ids), chunk):
            response = self._http.post(
                f"/{index}/_mget",
                json={"ids": list(ids[start : start + chunk])},
                params={"_source": "false"},
            )
            response.raise_for_status()
            found += sum(1 for doc in response.json()["docs"] if doc.get("found"))
        return found


def wait_until(
    check: Callable[[], bool], *, timeout: float, interval: float = 0.5, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


async def wait_until_async(
    check: Callable[[], bool], *, timeout: float, interval: float = 0.5, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def headers_of(record: Any) -> dict[str, bytes]:
    return dict(record.headers)


def values_of(records: Sequence[Any]) -> list[bytes | None]:
    return [record.value for record in records]
