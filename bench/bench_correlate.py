"""Benchmark of the correlate API: the join, and a request against Elasticsearch.

One run measures, on a synthetic trace of 1,000 spans and 10,000 logs:

* ``join``: join + JSON serialisation alone (pure CPU), and the same for 10,000 spans /
  100,000 logs to show it grows linearly; baseline: serialising the unjoined input.
* ``request``: ``GET /correlate/{id}`` in-process (ASGI) and over HTTP (uvicorn on
  loopback) against an Elasticsearch server holding the trace, versus the raw ``_msearch``
  the API makes, issued directly with the same client; plus how many Elasticsearch round
  trips one request took.
* ``health_during_big_trace``: ``tracelink serve`` (its own process) serving a trace of
  3,000 spans / 15,000 logs (JSON and view) while ``/healthz`` is probed every 10 ms: the
  probes' latency percentiles. ``BENCH_BEFORE_ROOT=<another source tree>`` measures that
  tree too, on the same data in the same run (the baseline of a change).

The machine is shared: join timings are the best of several runs; request runs are
interleaved (raw, API, raw, API, …) and their medians reported. With the embedded stand-in
(it scans on every search) only the ratios mean anything.
Set ``TRACELINK_ES_URL`` to use a real Elasticsearch instead. Prints one JSON document.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import uvicorn
from elasticsearch.serializer import OrjsonSerializer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from correlate.app import create_app
from correlate.join import join_trace
from correlate.logs import LogRecord, parse_log
from correlate.query import Window, log_indices, span_indices, trace_msearch
from correlate.settings import ApiSettings
from correlate.spans import Span, parse_span
from devstack.jaeger.templates import install_jaeger_templates
from devstack.standins import ElasticsearchStandin, free_port
from tests.support.big_trace import (
    BIG_TRACE,
    health_during_big_requests,
    load_big_trace,
    serve,
)
from tests.support.jaeger import SpanSpec, log_document
from tracelink.elasticsearch import install_templates, make_client

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
T0_US = int(T0.timestamp()) * 1_000_000
SERVICES = ["frontend", "checkout", "inventory", "payments", "mailer"]
LEVELS = ["debug", "info", "info", "info", "warning", "error"]


def build(span_count: int, logs_per_span: int) -> tuple[list[SpanSpec], list[dict[str, Any]]]:
    """A trace whose spans fan out 4 ways, each with ``logs_per_span`` logs inside it."""
    specs: list[SpanSpec] = []
    docs: list[dict[str, Any]] = []
    for n in range(span_count):
        parent = None if n == 0 else f"{(n - 1) // 4 + 1:016x}"
        start = T0_US + n * 1_000
        specs.append(
            SpanSpec(
                TRACE,
                f"{n + 1:016x}",
                parent,
                SERVICES[n % len(SERVICES)],
                f"operation-{n % 37}",
                start,
                50_000,
                tags={"http.method": "GET", "http.status_code": 200, "error": n % 97 == 0},
            )
        )
        for i in range(logs_per_span):
            micros = start + 1_000 + i * 4_000
            stamp = (
                datetime.fromtimestamp(micros // 1_000_000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
                + f".{micros % 1_000_000:06d}Z"
            )
            docs.append(
                log_document(
                    trace_id=TRACE,
                    span_id=f"{n + 1:016x}",
                    timestamp=stamp,
                    message=f"step {i} of request {n}: processed item {i * 7} in 3 ms",
                    event_id=f"{uuid.UUID(int=n * 1000 + i + 1)}",
                    service=SERVICES[n % len(SERVICES)],
                    level=LEVELS[(n + i) % len(LEVELS)],
                    extra={"labels.order_id": f"o-{n}", "host.name": "bench-host"},
                )
            )
    return specs, docs


def models(specs: list[SpanSpec], docs: list[dict[str, Any]]) -> tuple[list[Span], list[LogRecord]]:
    return [parse_span(spec.document()) for spec in specs], [parse_log(doc) for doc in docs]


def best_ms(fn: Callable[[], object], repeat: int, *, collect_garbage: bool = True) -> float:
    """Best (minimum) wall time of ``fn`` over ``repeat`` runs — on a shared machine the
    minimum is the steadiest estimate of the work itself (as ``timeit`` advises).
    ``collect_garbage=False`` times it with the cyclic GC off
    (as ``timeit`` does), which isolates the algorithm from full collections that the
    surrounding heap — not the work itself — makes expensive.
    """
    times = []
    for _ in range(repeat):
        gc.collect()
        if not collect_garbage:
            gc.disable()
        try:
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
        finally:
            gc.enable()
    return round(min(times), 2)


def bench_join(span_count: int, logs_per_span: int, repeat: int) -> dict[str, Any]:
    specs, docs = build(span_count, logs_per_span)
    span_docs = [spec.document() for spec in specs]
    spans, logs = models(specs, docs)

    def join_and_serialise() -> bytes:
        return orjson.dumps(join_trace(TRACE, spans, logs))

    size = len(join_and_serialise())
    joined = join_trace(TRACE, spans, logs)
    return {
        "spans": span_count,
        "logs": len(logs),
        "join_serialise_ms": best_ms(join_and_serialise, repeat, collect_garbage=False),
        "join_serialise_with_gc_ms": best_ms(join_and_serialise, repeat),
        # The two halves apart: which of them grows faster than the input.
        "join_only_ms": best_ms(
            lambda: join_trace(TRACE, spans, logs), repeat, collect_garbage=False
        ),
        "serialise_response_ms": best_ms(
            lambda: orjson.dumps(joined), repeat, collect_garbage=False
        ),
        "baseline_serialise_input_ms": best_ms(
            lambda: orjson.dumps([spans, logs]), repeat, collect_garbage=False
        ),
        "parse_documents_ms": best_ms(
            lambda: ([parse_span(d) for d in span_docs], [parse_log(d) for d in docs]),
            max(repeat // 3, 3),
        ),
        "response_bytes": size,
    }


async def _load(settings: ApiSettings, specs: list[SpanSpec], docs: list[dict[str, Any]]) -> None:
    client = make_client(settings, request_timeout=300)
    try:
        await install_templates(client, settings, retention_days=None)
        prefix = settings.jaeger_index_prefix
        await install_jaeger_templates(client, prefix)
        day = T0.strftime("%Y-%m-%d")
        operations: list[dict[str, Any]] = []
        for spec in specs:
            operations += [{"index": {"_index": f"{prefix}-jaeger-span-{day}"}}, spec.document()]
        for doc in docs:
            operations += [
                {
                    "create": {
                        "_index": f"{settings.log_index_prefix}-{day}",
                        "_id": doc["event"]["id"],
                    }
                },
                doc,
            ]
        for start in range(0, len(operations), 4000):
            result = await client.bulk(operations=operations[start : start + 4000])
            assert not result["errors"], "bulk load failed"
        await client.indices.refresh(index=f"{settings.log_index_prefix}-*,{prefix}-jaeger-span-*")
    finally:
        await client.close()


async def _cleanup(settings: ApiSettings, prefix: str) -> None:
    client = make_client(settings, request_timeout=120)
    try:
        listing = await client.cat.indices(index=f"{prefix}*", format="json")
        names = [row["index"] for row in cast(list[dict[str, Any]], listing.body)]
        if names:
            await client.indices.delete(index=",".join(names))
        for name in (f"{prefix}-logs", f"{prefix}-dlq", f"{prefix}-jaeger-span"):
            await client.indices.delete_index_template(name=name)
    finally:
        await client.close()


def _api_es_requests(app: Any) -> float:
    total = 0.0
    for metric in app.state.metrics.es_requests.collect():
        total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def _api_es_seconds(app: Any) -> float:
    """Time the API spent waiting for Elasticsearch (its own latency histogram's sum)."""
    total = 0.0
    for metric in app.state.metrics.es_latency.collect():
        total += sum(s.value for s in metric.samples if s.name.endswith("_sum"))
    return total


async def bench_request(es_url: str, repeat: int) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = ApiSettings(
        es_url=[es_url],
        log_index_prefix=f"{prefix}-logs",
        dlq_index_prefix=f"{prefix}-dlq",
        jaeger_index_prefix=prefix,
        api_es_timeout=300,
    )
    specs, docs = build(1_000, 10)
    await _load(settings, specs, docs)
    try:
        raw_client = make_client(settings, request_timeout=300, serializer=OrjsonSerializer())
        body = trace_msearch(
            TRACE,
            span_index=span_indices(prefix, Window(), max_days=settings.api_window_max_days),
            log_index=log_indices(
                settings.log_index_prefix, Window(), max_days=settings.api_window_max_days
            ),
            window=Window(),
            span_size=settings.api_page_size,
            log_size=settings.api_default_limit_logs,
        )
        app = create_app(settings)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:  # noqa: ASYNC110 - a flag set by the server thread
            await asyncio.sleep(0.05)
        raw_ms: list[float] = []
        asgi_ms: list[float] = []
        http_ms: list[float] = []
        round_trips: list[float] = []
        own_ms: list[float] = []
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=300
            ) as asgi,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as http,
        ):
            # Warm-up: connection pools, first-request costs of every path.
            await raw_client.msearch(searches=body)
            assert (await asgi.get(f"/correlate/{TRACE}")).status_code == 200
            assert (await http.get(f"/correlate/{TRACE}")).status_code == 200
            for _ in range(repeat):
                started = time.perf_counter()
                raw = await raw_client.msearch(searches=body)
                raw_ms.append((time.perf_counter() - started) * 1000)
                assert sum(len(r["hits"]["hits"]) for r in raw["responses"]) == 11_000

                before = _api_es_requests(app)
                waited = _api_es_seconds(app)
                started = time.perf_counter()
                response = await asgi.get(f"/correlate/{TRACE}")
                elapsed = (time.perf_counter() - started) * 1000
                asgi_ms.append(elapsed)
                own_ms.append(elapsed - (_api_es_seconds(app) - waited) * 1000)
                round_trips.append(_api_es_requests(app) - before)
                summary = response.json()["summary"]
                assert (summary["span_count"], summary["log_count"]) == (1_000, 10_000)

                started = time.perf_counter()
                response = await http.get(f"/correlate/{TRACE}")
                http_ms.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
        server.should_exit = True
        thread.join(30)
        await raw_client.close()
    finally:
        await _cleanup(settings, prefix)
    raw_median = statistics.median(raw_ms)
    asgi_median = statistics.median(asgi_ms)
    http_median = statistics.median(http_ms)
    return {
        "spans": 1_000,
        "logs": 10_000,
        "repeat": repeat,
        "raw_msearch_ms": round(raw_median, 1),
        "api_asgi_ms": round(asgi_median, 1),
        "api_http_ms": round(http_median, 1),
        "api_overhead_asgi": round(asgi_median / raw_median - 1, 3),
        "api_overhead_http": round(http_median / raw_median - 1, 3),
        # Parse + join + serialise + ASGI: the request minus its own wait for Elasticsearch.
        "api_own_ms": round(statistics.median(own_ms), 1),
        "api_own_vs_raw": round(statistics.median(own_ms) / raw_median, 3),
        "es_round_trips_per_request": max(round_trips),
    }


async def bench_health(es_url: str, roots: dict[str, Path]) -> dict[str, Any]:
    """/healthz latency while each source tree in ``roots`` serves the same big trace."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    spans, logs_per_span = 3_000, 5
    await load_big_trace(es_url, prefix, spans, logs_per_span)
    settings = ApiSettings(
        es_url=[es_url],
        log_index_prefix=f"{prefix}-logs",
        dlq_index_prefix=f"{prefix}-dlq",
        jaeger_index_prefix=prefix,
    )
    paths = [f"/correlate/{BIG_TRACE}{view}?limit_logs=20000" for view in ("", "/view")]
    result: dict[str, Any] = {"spans": spans, "logs": spans * logs_per_span}
    try:
        with tempfile.TemporaryDirectory() as logs_dir:
            for name, root in roots.items():
                log_path = Path(logs_dir) / f"{name}.log"
                async with serve(es_url, prefix, root=root, log_path=log_path) as url:
                    probes = await health_during_big_requests(url, paths, min_probes=300)
                latencies = sorted(probes.latencies_ms)
                result[name] = {
                    "root": str(root),
                    "probes": len(latencies),
                    "healthz_median_ms": round(statistics.median(latencies), 1),
                    "healthz_p95_ms": round(probes.p95_ms, 1),
                    "healthz_max_ms": round(probes.max_ms, 1),
                    "big_requests": probes.big_requests,
                    "big_request_median_ms": round(statistics.median(probes.big_ms)),
                }
    finally:
        await _cleanup(settings, prefix)
    return result


def main() -> int:
    repeat = int(os.environ.get("BENCH_REPEAT", "7"))
    small = bench_join(1_000, 10, repeat=15)
    large = bench_join(10_000, 10, repeat=7)
    result: dict[str, Any] = {
        "benchmark": "correlate",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "join": {
            "1k_spans_10k_logs": small,
            "10k_spans_100k_logs": large,
            "growth_10x_input": round(large["join_serialise_ms"] / small["join_serialise_ms"], 2),
            "growth_10x_input_with_gc": round(
                large["join_serialise_with_gc_ms"] / small["join_serialise_with_gc_ms"], 2
            ),
            "baseline_growth_10x_input": round(
                large["baseline_serialise_input_ms"] / small["baseline_serialise_input_ms"], 2
            ),
            "join_only_growth_10x_input": round(large["join_only_ms"] / small["join_only_ms"], 2),
            "serialise_response_growth_10x_input": round(
                large["serialise_response_ms"] / small["serialise_response_ms"], 2
            ),
        },
    }
    roots = {"this_tree": Path(__file__).resolve().parents[1]}
    if before := os.environ.get("BENCH_BEFORE_ROOT"):
        roots["before"] = Path(before).resolve()
    es_url = os.environ.get("TRACELINK_ES_URL")
    if es_url:
        result["elasticsearch"] = "external"
        result["request"] = asyncio.run(bench_request(es_url.split(",")[0], repeat))
        result["health_during_big_trace"] = asyncio.run(bench_health(es_url.split(",")[0], roots))
    else:
        result["elasticsearch"] = "stand-in (noida-db; scans on every search)"
        with tempfile.TemporaryDirectory() as data_dir:
            standin = ElasticsearchStandin(port=None, data_dir=Path(data_dir))
            with standin:
                result["request"] = asyncio.run(bench_request(standin.url, repeat))
                result["health_during_big_trace"] = asyncio.run(bench_health(standin.url, roots))
    result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
