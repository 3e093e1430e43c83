"""A big trace in Elasticsearch, ``tracelink serve`` as a child process, and health probes
sent on a fixed schedule while the big trace is requested.

Probes go out every ``interval`` seconds whether or not earlier ones have answered, so a
stalled event loop shows as many late probes (a probe sent in sequence after a slow one
would hide the stall behind a single sample). Each probe's latency is measured from the
moment it was due.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from elasticsearch import AsyncElasticsearch

from devstack.jaeger.templates import install_jaeger_templates
from devstack.standins import free_port
from tests.support.jaeger import SpanSpec, log_document
from tracelink.elasticsearch import install_templates
from tracelink.layout import jaeger_span_daily_index, log_index
from tracelink.settings import ElasticsearchSettings

BIG_TRACE = "b16b16b16b16b16b16b16b16b16b16b1"
_BASE = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
_BASE_US = int(_BASE.timestamp()) * 1_000_000
_SERVICES = ("frontend", "checkout", "inventory", "payments", "mailer")


def _stamp(micros: int) -> str:
    moment = datetime.fromtimestamp(micros // 1_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{micros % 1_000_000:06d}Z"


def big_trace(span_count: int, logs_per_span: int) -> tuple[list[SpanSpec], list[dict[str, Any]]]:
    """Spans fanning out 4 ways, ``logs_per_span`` logs inside each."""
    specs: list[SpanSpec] = []
    docs: list[dict[str, Any]] = []
    for n in range(span_count):
        start = _BASE_US + n * 1_000
        service = _SERVICES[n % len(_SERVICES)]
        parent = None if n == 0 else f"{(n - 1) // 4 + 1:016x}"
        specs.append(
            SpanSpec(BIG_TRACE, f"{n + 1:016x}", parent, service, f"op-{n % 37}", start, 50_000,
                     tags={"http.method": "GET", "http.status_code": 200})
        )  # fmt: skip
        docs += [
            log_document(trace_id=BIG_TRACE, span_id=f"{n + 1:016x}",
                         timestamp=_stamp(start + 1_000 + i * 4_000),
                         message=f"step {i} of request {n}: processed item {i * 7}",
                         event_id=f"big-{n:06d}-{i:03d}", service=service,
                         extra={"labels.order_id": f"o-{n}"})
            for i in range(logs_per_span)
        ]  # fmt: skip
    return specs, docs


async def load_big_trace(es_url: str, prefix: str, span_count: int, logs_per_span: int) -> None:
    """Write the big trace into ``<prefix>-jaeger-span-*`` and ``<prefix>-logs-*``."""
    settings = ElasticsearchSettings(
        es_url=[es_url], log_index_prefix=f"{prefix}-logs", dlq_index_prefix=f"{prefix}-dlq"
    )
    specs, docs = big_trace(span_count, logs_per_span)
    es = AsyncElasticsearch(es_url, request_timeout=300)
    try:
        await install_templates(es, settings, retention_days=None)
        await install_jaeger_templates(es, prefix)
        operations: list[dict[str, Any]] = []
        for spec in specs:
            operations += [{"index": {"_index": jaeger_span_daily_index(prefix, _BASE)}},
                           spec.document()]  # fmt: skip
        logs_index = log_index(f"{prefix}-logs", _BASE)
        for doc in docs:
            operations += [{"create": {"_index": logs_index, "_id": doc["event"]["id"]}}, doc]
        # Small bulks: aiohttp warns (an error under pytest) about bodies over 1 MiB.
        for first in range(0, len(operations), 1000):
            result = await es.bulk(operations=operations[first : first + 1000])
            assert not result["errors"], "bulk load failed"
        await es.indices.refresh(index=f"{prefix}-*")
    finally:
        await es.close()


@asynccontextmanager
async def serve(
    es_url: str, prefix: str, *, root: Path, log_path: Path, extra_env: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """``python -m tracelink serve`` from the source tree ``root``; yields its base URL."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRACELINK_")}
    env.update(
        PYTHONPATH=str(root),
        TRACELINK_ES_URL=es_url,
        TRACELINK_LOG_INDEX_PREFIX=f"{prefix}-logs",
        TRACELINK_DLQ_INDEX_PREFIX=f"{prefix}-dlq",
        TRACELINK_JAEGER_INDEX_PREFIX=prefix,
        TRACELINK_API_PORT=str(port),
        TRACELINK_API_ES_TIMEOUT="300",
        TRACELINK_API_PUBLIC_URL=f"http://127.0.0.1:{port}",
        **(extra_env or {}),
    )
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "tracelink", "serve"],
            cwd=root,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if (await client.get(url + "/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "tracelink serve did not start"
                await asyncio.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@dataclass
class HealthUnderLoad:
    """Health probe latencies (ms) while big requests were in flight."""

    latencies_ms: list[float]
    big_requests: int
    big_ms: list[float]

    @property
    def p95_ms(self) -> float:
        return statistics.quantiles(self.latencies_ms, n=20)[-1]

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms)


async def health_during_big_requests(
    url: str, paths: list[str], *, interval: float = 0.01, min_probes: int = 200
) -> HealthUnderLoad:
    """Request each of ``paths`` (repeating them until ``min_probes`` probes were in flight
    with one), probing ``/healthz`` every ``interval`` s meanwhile; only probes due and
    answered while a big request was in flight count.
    """
    latencies: list[float] = []
    big_ms: list[float] = []
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    async with (
        httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as probes,
        httpx.AsyncClient(base_url=url, timeout=600) as big,
    ):
        # Warm both connection pools and the server's first-request paths.
        await probes.get("/healthz")
        requests = 0
        while len(latencies) < min_probes and requests < 4 * len(paths):
            path = paths[requests % len(paths)]
            requests += 1
            done = asyncio.Event()
            timings: list[tuple[float, float]] = []

            async def probe(due: float, timings: list[tuple[float, float]]) -> None:
                response = await probes.get("/healthz")
                assert response.status_code == 200
                timings.append((due, time.perf_counter()))

            async def fetch(path: str, done: asyncio.Event) -> float:
                started = time.perf_counter()
                async with big.stream("GET", path) as response:
                    assert response.status_code == 200, await response.aread()
                    async for _ in response.aiter_raw():
                        pass
                done.set()
                return started

            task = asyncio.create_task(fetch(path, done))
            pending: list[asyncio.Task[None]] = []
            due = time.perf_counter()
            while not done.is_set():
                pending.append(asyncio.create_task(probe(due, timings)))
                due += interval
                await asyncio.sleep(max(due - time.perf_counter(), 0))
            finished = time.perf_counter()
            started = await task
            await asyncio.gather(*pending)
            big_ms.append((finished - started) * 1000)
            # Due while the big request was in flight (however late they were answered).
            latencies += [
                (answered - due) * 1000 for due, answered in timings if started <= due <= finished
            ]
    return HealthUnderLoad(latencies, requests, big_ms)
