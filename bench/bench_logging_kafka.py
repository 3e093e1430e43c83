"""logging_ext's Kafka path: latency when Kafka is unreachable, delivery when it is healthy.

1. Kafka unreachable (nothing listens on the port): per-call latency of ``logger.info``
   (p50/p99/max) against the same call with no Kafka configured, measured in the same run;
   memory (RSS) after logging 1× and 4× the queue size, and the exact drop count.
2. Kafka healthy (the Tansu stand-in, or ``TRACELINK_KAFKA_BOOTSTRAP``): 200,000 records
   logged by one thread as fast as it goes, at the default queue size; then every message
   read back: count and unique ``event.id``s, against the handle's counters. Baseline: the
   same loop with no Kafka configured (logging rate).

Run: ``.venv/bin/python bench/bench_logging_kafka.py [unreachable] [healthy]`` — prints one
JSON object (both parts when none is named).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.sdk.trace import TracerProvider

import logging_ext
from bench._timing import machine_note
from devstack.standins import KafkaStandin, free_port
from logging_ext._kafka import DEFAULT_QUEUE_SIZE
from tests.support.logs import consume

LATENCY_CALLS = 100_000
LATENCY_BLOCKS = 10
HEALTHY_RECORDS = 200_000
QUEUE_SIZE_FOR_MEMORY = 20_000


def _percentiles(samples: list[int]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_us": round(samples[len(samples) // 2] / 1000, 2),
        "p99_us": round(samples[int(len(samples) * 0.99)] / 1000, 2),
        "p999_us": round(samples[int(len(samples) * 0.999)] / 1000, 2),
        "max_us": round(samples[-1] / 1000, 2),
        "mean_us": round(statistics.fmean(samples) / 1000, 2),
    }


def _timed_calls(logger: logging.Logger, calls: int, into: list[int]) -> list[int]:
    block = []
    clock = time.perf_counter_ns
    for i in range(calls):
        started = clock()
        logger.info("order %d placed", i, extra={"order_id": i})
        block.append(clock() - started)
    into.extend(block)
    return block


def unreachable() -> dict[str, Any]:
    """Alternating blocks of calls: the same pipeline without Kafka (a logger with its own
    handler) and with Kafka unreachable (the root configuration), so that load from other
    work on the machine hits both alike. One sender lives through all blocks: its queue fills
    up after DEFAULT_QUEUE_SIZE records and every later record takes the drop path."""
    from logging_ext._configure import _Pipeline, _PipelineHandler

    tracer = TracerProvider().get_tracer("bench")
    handle = logging_ext.configure_logging(
        "bench", stream=None, kafka_bootstrap=f"127.0.0.1:{free_port()}"
    )
    with_kafka = logging.getLogger("bench.kafka")
    without_kafka = logging.getLogger("bench.no_kafka")
    without_kafka.propagate = False
    without_kafka.addHandler(_PipelineHandler(handle.formatter, _Pipeline(None, None)))
    samples: dict[str, list[int]] = {"no_kafka": [], "kafka_unreachable": []}
    block_p99: dict[str, list[float]] = {"no_kafka": [], "kafka_unreachable": []}
    try:
        with tracer.start_as_current_span("bench"):
            for logger in (without_kafka, with_kafka):
                _timed_calls(logger, 2_000, [])  # warm up
            for _ in range(LATENCY_BLOCKS):
                for label, logger in (
                    ("no_kafka", without_kafka),
                    ("kafka_unreachable", with_kafka),
                ):
                    block = sorted(
                        _timed_calls(logger, LATENCY_CALLS // LATENCY_BLOCKS, samples[label])
                    )
                    block_p99[label].append(block[int(len(block) * 0.99)] / 1000)
        assert handle.kafka is not None
        results: dict[str, Any] = {
            label: {
                **_percentiles(values),
                "median_of_block_p99_us": round(statistics.median(block_p99[label]), 2),
            }
            for label, values in samples.items()
        }
        results["kafka_unreachable"]["queued"] = handle.kafka.queued
        results["kafka_unreachable"]["dropped"] = handle.dropped
        results["kafka_unreachable"]["dropped_expected"] = (
            LATENCY_CALLS + 2_000 - DEFAULT_QUEUE_SIZE
        )
    finally:
        handle.close(timeout=0.5)
    results["p99_ratio"] = round(
        results["kafka_unreachable"]["median_of_block_p99_us"]
        / results["no_kafka"]["median_of_block_p99_us"],
        2,
    )
    results["target_p99_us"] = 50
    logger = with_kafka

    # Memory: the queue is the only thing that grows, and it stops at queue_size. Traced
    # allocations (tracemalloc) rather than RSS: the allocator keeps freed memory around.
    memory: dict[str, Any] = {"queue_size": QUEUE_SIZE_FOR_MEMORY}
    gc.collect()
    tracemalloc.start()
    handle = logging_ext.configure_logging(
        "bench",
        stream=None,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        queue_size=QUEUE_SIZE_FOR_MEMORY,
    )
    try:
        logged = 0
        for multiple in (1, 2, 4):
            for i in range(QUEUE_SIZE_FOR_MEMORY * multiple - logged):
                logger.info("order %d placed", i, extra={"order_id": i})
            logged = QUEUE_SIZE_FOR_MEMORY * multiple
            gc.collect()
            traced = tracemalloc.get_traced_memory()[0]
            memory[f"traced_mib_after_{multiple}x_queue_size"] = round(traced / 2**20, 1)
        assert handle.kafka is not None
        memory["queued"] = handle.kafka.queued
        memory["dropped"] = handle.dropped
        memory["dropped_expected"] = QUEUE_SIZE_FOR_MEMORY * 3
        queued_bytes = sum(len(line) for line, _ in handle.kafka._queue)
        memory["queued_payload_mib"] = round(queued_bytes / 2**20, 1)
    finally:
        handle.close(timeout=0.5)
        tracemalloc.stop()
    results["memory"] = memory
    return results


def healthy(bootstrap: str) -> dict[str, Any]:
    logger = logging.getLogger("bench.kafka")
    tracer = TracerProvider().get_tracer("bench")

    def log_all() -> float:
        started = time.perf_counter()
        for block in range(HEALTHY_RECORDS // 100):
            with tracer.start_as_current_span("request"):
                for i in range(100):
                    logger.info("order %d placed", block * 100 + i, extra={"order_id": i})
        return time.perf_counter() - started

    handle = logging_ext.configure_logging("bench", stream=None)
    try:
        baseline_seconds = log_all()
    finally:
        handle.close()

    topic = f"bench-logs-{uuid.uuid4().hex[:8]}"
    handle = logging_ext.configure_logging(
        "bench", stream=None, kafka_bootstrap=bootstrap, topic=topic
    )
    try:
        logging_seconds = log_all()
        drain_started = time.perf_counter()
        flushed = handle.flush(timeout=300)
        drain_seconds = time.perf_counter() - drain_started
    finally:
        handle.close(timeout=60)
    counters = {"sent": handle.sent, "dropped": handle.dropped, "failed": handle.failed}
    read_started = time.perf_counter()
    records = consume(bootstrap, topic, expected=handle.sent, timeout=300, settle=3.0)
    unique = len({r.value["event.id"] for r in records})
    return {
        "records": HEALTHY_RECORDS,
        "queue_size": DEFAULT_QUEUE_SIZE,
        **counters,
        "accounted": counters["sent"] + counters["dropped"] + counters["failed"] == HEALTHY_RECORDS,
        "flushed_before_close": flushed,
        "consumed": len(records),
        "consumed_unique_event_ids": unique,
        "all_sent_arrived_once": unique == len(records) == counters["sent"],
        "logging_seconds": round(logging_seconds, 2),
        "logging_rate_per_s": round(HEALTHY_RECORDS / logging_seconds),
        "baseline_logging_seconds_no_kafka": round(baseline_seconds, 2),
        "logging_slowdown_vs_no_kafka": round(logging_seconds / baseline_seconds, 2),
        "drain_seconds_after_logging": round(drain_seconds, 2),
        "read_back_seconds": round(time.perf_counter() - read_started, 2),
    }


def main() -> None:
    started = time.time()
    parts = set(sys.argv[1:]) or {"unreachable", "healthy"}
    results: dict[str, Any] = {
        "benchmark": "logging_ext Kafka path",
        "python": sys.version.split()[0],
        "machine_before": machine_note(),
    }
    if "unreachable" in parts:
        results["unreachable"] = unreachable()
    external = os.environ.get("TRACELINK_KAFKA_BOOTSTRAP")
    if "healthy" not in parts:
        pass
    elif external:
        results["kafka"] = f"external {external}"
        results["healthy"] = healthy(external)
    else:
        with tempfile.TemporaryDirectory() as data:
            standin = KafkaStandin(port=None, data_dir=Path(data))
            standin.start()
            try:
                results["kafka"] = "Tansu stand-in (memory storage)"
                results["healthy"] = healthy(standin.bootstrap)
            finally:
                standin.stop()
    results["machine_after"] = machine_note()
    results["seconds"] = round(time.time() - started, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
