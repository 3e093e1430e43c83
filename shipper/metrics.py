"""The shipper's Prometheus metrics and its ``/metrics``, ``/healthz`` and ``/readyz`` endpoints.

Metric names follow Prometheus conventions (``tracelink_shipper_*``, counters end in
``_total``). Each shipper owns its registry, so several can run in one process (tests).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["HealthServer", "ShipperMetrics"]

log = logging.getLogger(__name__)

# Label values of tracelink_shipper_event_id_409's "service": bounded cardinality.
_MAX_SERVICES = 100
_OTHER = "_other"
_NONE = "_none"


class ShipperMetrics:
    """Counters, the bulk latency histogram and the per-partition lag of one shipper."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "tracelink_shipper_records_consumed",
            "log records fetched, by input format (an OTLP message counts its log records; "
            "a message dead-lettered whole counts one)",
            ["format"],
            registry=r,
        )
        self.indexed = Counter(
            "tracelink_shipper_records_indexed",
            "records newly created in Elasticsearch",
            registry=r,
        )
        self.duplicates = Counter(
            "tracelink_shipper_records_duplicate",
            "records Elasticsearch already had (replays: 409 on create)",
            registry=r,
        )
        self.dead_lettered = Counter(
            "tracelink_shipper_records_dead_lettered",
            "records written to the dead-letter topic, by reason",
            ["reason"],
            registry=r,
        )
        self.flagged = Counter(
            "tracelink_shipper_records_flagged",
            "indexed records the shipper repaired (tracelink.flags), by flag",
            ["flag"],
            registry=r,
        )
        self.event_id_409 = Counter(
            "tracelink_shipper_event_id_409",
            "409s on create by producing service (service.name; the first "
            f"{_MAX_SERVICES} seen, then {_OTHER!r}) and outcome: 'replay' (the same record "
            "again) or 'conflict' (a different record reusing an event.id)",
            ["service", "outcome"],
            registry=r,
        )
        self._services: set[str] = set()
        self.retries = Counter(
            "tracelink_shipper_bulk_item_retries",
            "bulk items sent again after a transient failure",
            registry=r,
        )
        self.request_failures = Counter(
            "tracelink_shipper_es_request_failures",
            "Elasticsearch requests that failed as a whole (connection, 429, 5xx)",
            registry=r,
        )
        self.dlq_failures = Counter(
            "tracelink_shipper_dlq_failures",
            "failed attempts to write dead letters (retried; offsets wait)",
            registry=r,
        )
        self.commits = Counter(
            "tracelink_shipper_offset_commits", "successful Kafka offset commits", registry=r
        )
        self.bulk_latency = Histogram(
            "tracelink_shipper_bulk_request_seconds",
            "duration of one Elasticsearch bulk request",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.lag = Gauge(
            "tracelink_shipper_partition_lag",
            "records between the fetch position and the partition end",
            ["topic", "partition"],
            registry=r,
        )
        self.in_flight = Gauge(
            "tracelink_shipper_batches_in_flight", "batches being written", registry=r
        )
        self.paused = Gauge(
            "tracelink_shipper_backpressure",
            "1 while consumption is paused because every write slot is busy",
            registry=r,
        )

    def service_label(self, name: str | None) -> str:
        """``name`` as a label value, bounded: a producer inventing service names cannot
        grow the registry past ``_MAX_SERVICES`` series per outcome."""
        if name is None:
            return _NONE
        if name in self._services:
            return name
        if len(self._services) < _MAX_SERVICES:
            self._services.add(name)
            return name
        return _OTHER

    def forget_partitions(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Drop the lag gauges of partitions this replica no longer owns (their owner
        reports them now; a stale value would look like lag that never shrinks)."""
        for topic, partition in partitions:
            with contextlib.suppress(KeyError):
                self.lag.remove(topic, str(partition))


class HealthServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on one port (aiohttp, in the shipper's loop).

    ``live()`` says whether the process still works (its loops run); ``ready()`` returns the
    reasons it is not ready (an empty list means ready).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str,
        port: int,
        live: Callable[[], bool],
        ready: Callable[[], list[str]],
    ) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._live = live
        self._ready = ready
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("metrics and health endpoints on http://%s:%d", self._host, self._port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        if self._live():
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "failed"}, status=503)

    async def _readyz(self, _request: web.Request) -> web.Response:
        reasons = self._ready()
        if not reasons:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "reasons": reasons}, status=503)
