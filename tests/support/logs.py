"""Helpers for the logging_ext tests: tracers, and reading what reached Kafka."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler


def make_tracer_provider(*, sampled: bool = True) -> tuple[TracerProvider, InMemorySpanExporter]:
    """A tracer provider of its own (the global one can be set only once per process)."""
    sampler: Sampler = ALWAYS_ON if sampled else ALWAYS_OFF
    provider = TracerProvider(sampler=sampler)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@dataclass
class KafkaRecord:
    key: bytes | None
    value: dict[str, Any]
    raw: bytes
    headers: dict[str, bytes]
    partition: int


def consume(
    bootstrap: str, topic: str, *, expected: int, timeout: float = 60.0, settle: float = 1.0
) -> list[KafkaRecord]:
    """Every message of ``topic`` from the beginning: waits for ``expected`` of them (up to
    ``timeout`` seconds), then ``settle`` seconds more to catch any extra (duplicates)."""
    return asyncio.run(_consume(bootstrap, topic, expected, timeout, settle))


async def _consume(
    bootstrap: str, topic: str, expected: int, timeout: float, settle: float
) -> list[KafkaRecord]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[KafkaRecord] = []
    try:
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while True:
            now = time.monotonic()
            if len(records) >= expected and settle_until is None:
                settle_until = now + settle
            if now >= deadline or (settle_until is not None and now >= settle_until):
                break
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            records.extend(
                KafkaRecord(
                    key=message.key,
                    value=orjson.loads(message.value),
                    raw=message.value,
                    headers=dict(message.headers),
                    partition=message.partition,
                )
                for messages in batches.values()
                for message in messages
            )
    finally:
        await consumer.stop()
    return records
