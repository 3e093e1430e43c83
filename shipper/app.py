"""The shipper: Kafka log topic → transform → Elasticsearch, with dead letters.

Guarantees (at-least-once into an idempotent sink, hence exactly one document per record):

* an offset is committed only after every record up to it is in Elasticsearch (created, or
  already there) or in the dead-letter topic and index;
* writes are ``create`` with ``_id = event.id`` (or a derived ID, see the transform), so a
  replay after a crash, a rebalance or a producer retry meets 409s, never makes a copy;
* at most ``max_in_flight`` batches are written at once; when all slots are busy (a slow or
  absent cluster) consumption pauses and resumes by itself;
* on SIGTERM/SIGINT and before partitions are revoked, in-flight batches get
  ``drain_timeout_s`` to finish, then delivered offsets are committed; what did not finish
  is replayed by whoever owns the partition next.

The state machine (epochs, rewinds, commits, drains) is :mod:`shipper.pipeline`; this module
sets up its I/O. Lifecycle: :meth:`Shipper.start` / :meth:`Shipper.stop` (idempotent) or
``async with``;
every background task is owned and awaited on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from elasticsearch import ApiError, AsyncElasticsearch, TransportError
from elasticsearch.serializer import OrjsonSerializer

from shipper.budget import RetryBudget
from shipper.bulk import is_retriable_status
from shipper.conflicts import fetch_digests
from shipper.dlq import DeadLetterQueue
from shipper.formats.dispatch import FormatDispatcher
from shipper.metrics import HealthServer, ShipperMetrics
from shipper.pipeline import Limits as PipelineLimits
from shipper.pipeline import Pipeline
from shipper.retry import Backoff
from shipper.settings import ShipperSettings
from shipper.sink import BulkSink
from shipper.source import KafkaSource, TopicPartition
from shipper.transform import (
    IndexAction,
    Limits,
    Transformer,
)
from tracelink.elasticsearch import install_templates, make_client
from tracelink.kafka_security import check_connection
from tracelink.settings import ConfigError, env_name

__all__ = ["Shipper", "ShipperFailedError"]

log = logging.getLogger(__name__)


# How often a paused consumer still polls, to keep its group membership.
_PAUSED_POLL_S = 1.0
# The dead-letter kind of a record the Kafka client could not decode (see shipper.wire).
UNDECODABLE = "undecodable_record"
# The most a producer may put on the dead-letter topic in one record.
_DLQ_MAX_REQUEST_BYTES = 64 * 1024 * 1024


class ShipperFailedError(RuntimeError):
    """The pipeline hit an error it cannot handle; nothing after it was committed."""


class Shipper:
    """One shipper replica: a consumer-group member writing to Elasticsearch."""

    def __init__(self, settings: ShipperSettings, *, metrics: ShipperMetrics | None = None):
        self.settings = settings
        self.metrics = metrics or ShipperMetrics()
        self._transformer = Transformer(
            settings.log_index_prefix,
            Limits(
                max_message_bytes=settings.max_message_bytes,
                max_field_bytes=settings.max_field_bytes,
                max_fields=settings.max_fields,
                max_depth=settings.max_depth,
                timestamp_max_distance_days=settings.timestamp_max_distance_days,
            ),
        )
        self._stop_requested = asyncio.Event()
        self._abort_drain = asyncio.Event()
        self._source = KafkaSource(
            settings, on_revoked=self._on_revoked, on_assigned=self._on_assigned
        )
        # Formats: detection, decoding, then the transform, per message.
        self._formats = FormatDispatcher(self._transformer, settings.log_format)
        self._pipeline = Pipeline(
            self._source,
            self._formats.process,
            self.metrics,
            PipelineLimits(
                max_in_flight=settings.max_in_flight,
                fetch_wait_ms=settings.fetch_wait_ms,
                batch_max_records=settings.batch_max_records,
                drain_timeout_s=settings.drain_timeout_s,
            ),
            stop_requested=self._stop_requested,
            abort_drain=self._abort_drain,
        )
        self._client: AsyncElasticsearch | None = None
        self._producer: Any = None
        self._sink: BulkSink | None = None
        self._dlq_sink: BulkSink | None = None
        self._dlq: DeadLetterQueue | None = None
        self._health: HealthServer | None = None
        self._started = False
        self._stopped = False
        self._ready = False

    # --- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped the pipeline, if one did."""
        failure: BaseException | None = self._pipeline.failure
        return failure

    @property
    def assignment(self) -> set[TopicPartition]:
        """The partitions this replica owns right now."""
        return self._source.assignment()

    def request_stop(self, *, drain: bool = True) -> None:
        """Ask the shipper to stop (signal-handler safe); :meth:`wait` then returns.

        ``drain=False`` also cuts short a drain in progress: what is not delivered yet is
        not committed and is read again by the next owner of its partition.
        """
        self._stop_requested.set()
        if not drain:
            self._abort_drain.set()

    async def start(self) -> None:
        """Connect, install the index templates, join the group and start consuming.

        Dependencies that are down are retried (with backoff, logged) until they answer or a
        stop is requested; then :meth:`wait` returns at once. A Kafka that answers but refuses
        us (certificate, credentials, mechanism) raises :class:`ConfigError` naming the
        setting to fix: retrying would not change it.
        """
        if self._started:
            return
        self._started = True
        s = self.settings
        if s.metrics_port:
            self._health = HealthServer(
                self.metrics.registry,
                host=s.metrics_host,
                port=s.metrics_port,
                live=self._live,
                ready=self._not_ready_reasons,
            )
            try:
                await self._health.start()
            except OSError as exc:
                raise ConfigError(
                    env_name("metrics_port"),
                    f"cannot listen on {s.metrics_host}:{s.metrics_port}: {exc.strerror}",
                ) from None
        self._client = make_client(
            s,
            request_timeout=s.es_request_timeout_s,
            serializer=OrjsonSerializer(),
        )
        backoff = self._new_backoff
        budget = RetryBudget(s.retry_max_attempts, s.retry_max_seconds)
        self._sink = BulkSink(
            self._client,
            max_request_bytes=s.batch_max_bytes,
            backoff=backoff,
            metrics=self.metrics,
            name="logs",
            budget=budget,
        )
        self._dlq_sink = dlq_sink = BulkSink(
            self._client,
            max_request_bytes=s.batch_max_bytes,
            backoff=backoff,
            metrics=self.metrics,
            name="dead letters",
            count_documents=False,
            budget=budget,
        )
        if not await self._until_up("Elasticsearch", self._install_templates):
            return
        if not await self._until_up("Kafka (dead-letter producer)", self._start_producer):
            return
        self._dlq = DeadLetterQueue(
            self._producer,
            dlq_sink,
            topic=s.dlq_topic,
            index_prefix=s.dlq_index_prefix,
            payload_max_bytes=s.dlq_payload_max_bytes,
            backoff=backoff,
            metrics=self.metrics,
        )
        if not await self._until_up("Kafka (consumer group)", self._source.start):
            return
        self._pipeline.attach(self._sink, self._dlq, self._stored_digests)
        self._pipeline.start()
        self._ready = True
        log.info(
            "shipping topics %s (formats %s, group %s, Kafka %s) into %s-* "
            "(dead letters: topic %s, index %s-*)",
            ", ".join(s.log_topics),
            s.log_format,
            s.consumer_group,
            s.kafka_security.describe(),
            s.log_index_prefix,
            s.dlq_topic,
            s.dlq_index_prefix,
        )

    async def wait(self) -> None:
        """Return when a stop was requested; raise :class:`ShipperFailedError` on failure."""
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._stop_requested.wait())]
        if self._pipeline.fetch_task is not None:
            waiters.append(self._pipeline.fetch_task)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiters[0].cancel()
        failure = self._pipeline.failure
        if failure is not None:
            raise ShipperFailedError(str(failure)) from failure

    async def stop(self) -> None:
        """Stop fetching, drain in-flight batches (bounded), commit, close; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._ready = False
        await self._pipeline.shutdown(drain=self._source.started)
        await self._source.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self._client is not None:
            await self._client.close()
        if self._health is not None:
            await self._health.stop()
        log.info("stopped")

    # --- start-up helpers -----------------------------------------------------------------
    def _new_backoff(self) -> Backoff:
        s = self.settings
        return Backoff(s.retry_initial_backoff_ms / 1000, s.retry_max_backoff_ms / 1000)

    async def _until_up(self, what: str, attempt: Callable[[], Awaitable[None]]) -> bool:
        """Run ``attempt`` until it succeeds; False when a stop was requested first."""
        backoff = self._new_backoff()
        while not self._stop_requested.is_set():
            try:
                await attempt()
            except (KafkaError, TransportError, ApiError, OSError) as exc:
                delay = backoff.next_delay()
                log.warning(
                    "%s not available (%s: %s); retrying in %.1fs",
                    what,
                    exc.__class__.__name__,
                    exc,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), timeout=delay)
            else:
                return True
        return False

    async def _install_templates(self) -> None:
        assert self._client is not None
        report = await install_templates(
            self._client, self.settings, retention_days=self.settings.retention_days or None
        )
        log.info("index templates installed: %s", ", ".join(report.templates))
        if report.ilm_policy:
            log.info(
                "retention: ILM policy %s deletes daily indices after %s days",
                report.ilm_policy,
                self.settings.retention_days,
            )
        for note in report.notes:
            log.warning("retention: %s", note)

    async def _start_producer(self) -> None:
        s = self.settings
        # Refusals (certificate, credentials) raise ConfigError: they end start() with exit 2.
        await check_connection(s.kafka_security, s.kafka_bootstrap, client_id="tracelink-shipper")
        producer = AIOKafkaProducer(
            **s.kafka_client_kwargs(),
            acks="all",
            max_request_size=_DLQ_MAX_REQUEST_BYTES,
            linger_ms=5,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    # --- health ---------------------------------------------------------------------------
    def _live(self) -> bool:
        fetch_task = self._pipeline.fetch_task
        return self._pipeline.failure is None and not (
            fetch_task is not None and fetch_task.done() and not self._stopped
        )

    def _not_ready_reasons(self) -> list[str]:
        reasons = []
        if self._pipeline.failure is not None:
            reasons.append(f"failed: {self._pipeline.failure}")
        if not self._ready:
            reasons.append("not started" if not self._stopped else "stopping")
        reasons.extend(
            part.last_error
            for part in (self._sink, self._dlq_sink, self._dlq)
            if part is not None and part.last_error is not None
        )
        return reasons

    async def _stored_digests(
        self, actions: list[IndexAction]
    ) -> dict[tuple[str, str], int | None]:
        """:func:`shipper.conflicts.fetch_digests`, retried while the cluster is away (the
        batch is not committed meanwhile); an answer that is not usable counts the 409s
        as replays, as they were counted before digests existed."""
        assert self._client is not None
        backoff = self._new_backoff()
        while True:
            try:
                return await fetch_digests(self._client, actions)
            except TransportError as exc:
                reason = f"{exc.__class__.__name__}: {exc}"
            except ApiError as exc:
                if not is_retriable_status(exc.meta.status):
                    log.warning("cannot read stored digests (%s): 409s count as replays", exc)
                    return {}
                reason = f"{exc.meta.status}: {exc.message}"
            delay = backoff.next_delay()
            log.warning("cannot read stored digests (%s); retrying in %.1fs", reason, delay)
            await asyncio.sleep(delay)

    # --- rebalances: the pipeline decides ---------------------------------------------------
    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._pipeline.on_revoked(revoked)

    def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._pipeline.on_assigned(assigned)
