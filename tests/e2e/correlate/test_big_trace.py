"""A big trace must not freeze the API: ``/healthz`` stays fast while it is served.

``tracelink serve`` runs as a user runs it (its own process, uvicorn, the default worker
pool) against the Elasticsearch server of the session. Health probes go out every 10 ms on
a fixed schedule while the big trace is requested (JSON and HTML view, repeated until at
least 200 probes were due during a request); the 95th percentile of their latency must stay
under 100 ms. Before the CPU work moved off the event loop it was 500 ms, with single
probes waiting 0.6 s.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.big_trace import BIG_TRACE, health_during_big_requests, load_big_trace, serve

ROOT = Path(__file__).resolve().parents[3]
SPANS, LOGS_PER_SPAN = 3_000, 5


async def test_healthz_stays_fast_while_a_big_trace_is_served(
    es_url: str, index_prefix: str, tmp_path: Path
) -> None:
    await load_big_trace(es_url, index_prefix, SPANS, LOGS_PER_SPAN)
    async with serve(es_url, index_prefix, root=ROOT, log_path=tmp_path / "serve.log") as url:
        paths = [f"/correlate/{BIG_TRACE}{view}?limit_logs=20000" for view in ("", "/view")]
        async with httpx.AsyncClient(base_url=url, timeout=300) as client:
            summary = (await client.get(paths[0])).json()["summary"]
        assert (summary["span_count"], summary["log_count"]) == (SPANS, SPANS * LOGS_PER_SPAN)
        result = await health_during_big_requests(url, paths, min_probes=200)
    assert len(result.latencies_ms) >= 200, result
    assert result.p95_ms < 100, (
        f"/healthz p95 {result.p95_ms:.0f} ms (max {result.max_ms:.0f} ms) over "
        f"{len(result.latencies_ms)} probes during {result.big_requests} big requests"
    )
