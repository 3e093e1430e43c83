"""The shipper: Kafka log topic → transform → Elasticsearch, with dead letters.

Guarantees (at-least-once into an idempotent sink, hence exactly one document per record):

* an offset is committed only after every record up to it is in Elasticsearch (created, or
  already there) or in the dead-letter topic and index;
* writes are ``create`` with ``_id = event.id`` (or ``<topic>-<partition>-<offset>``), so a
  replay after a crash, a rebalance or a producer retry meets 409s, never makes a copy;
* at most ``max_in_flight`` batches are written at once; when all slots are busy (a slow or
  absent cluster) consumption pauses and resumes by itself;
* on SIGTERM/SIGINT and before partitions are revoked, in-flight batches get
  ``drain_timeout_s`` to finish, then delivered offsets are committed; what did not finish
  is replayed by whoever owns the partition next.

Lifecycle: :meth:`Shipper.start` / :meth:`Shipper.stop` (idempotent) or ``async with``;
every background task is owned and awaited on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaProducer
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from elasticsearch import ApiError, AsyncElasticsearch, TransportError
from elasticsearch.serializer import OrjsonSerializer

from shipper.bulk import create_item
from shipper.dlq import DeadLetterQueue
from shipper.formats import ECS
from shipper.formats.dispatch import FormatDispatcher, Processed, refused
from shipper.metrics import HealthServer, ShipperMetrics
from shipper.offsets import BatchToken, OffsetTracker
from shipper.retry import Backoff
from shipper.settings import ShipperSettings
from shipper.sink import BulkSink
from shipper.source import KafkaSource, TopicPartition
from shipper.transform import DeadLetter, IndexAction, Limits, Transformer, format_timestamp
from tracelink.elasticsearch import install_templates, make_client
from tracelink.kafka_security import check_connection
from tracelink.settings import ConfigError, env_name

__all__ = ["Shipper", "ShipperFailedError"]

log = logging.getLogger(__name__)


# How often a paused consumer still polls, to keep its group membership.
_PAUSED_POLL_S = 1.0
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
            ),
        )
        # Formats: detection, decoding, then the transform, per message.
        self._formats = FormatDispatcher(self._transformer, settings.log_format)
        self._tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self._source = KafkaSource(
            settings, on_revoked=self._on_revoked, on_assigned=self._on_assigned
        )
        self._client: AsyncElasticsearch | None = None
        self._producer: Any = None
        self._sink: BulkSink | None = None
        self._dlq_sink: BulkSink | None = None
        self._dlq: DeadLetterQueue | None = None
        self._health: HealthServer | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._commit_wanted = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._stop_requested = asyncio.Event()
        self._abort_drain = asyncio.Event()
        self._uncommitted: dict[TopicPartition, int] = {}
        self._epoch = 0
        self._rebalancing = False
        self._rewind_needed = False
        self._fetch_task: asyncio.Task[None] | None = None
        self._commit_task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._started = False
        self._stopped = False
        self._ready = False
        # Log records per Kafka message lately (1 for ECS, ~100s for OTLP payloads): a poll
        # asks for as many messages as keep a batch near batch_max_records *records*.
        self._records_per_message = 1.0

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
        return self._failure

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
        self._sink = BulkSink(
            self._client,
            max_request_bytes=s.batch_max_bytes,
            backoff=backoff,
            metrics=self.metrics,
            name="logs",
        )
        self._dlq_sink = dlq_sink = BulkSink(
            self._client,
            max_request_bytes=s.batch_max_bytes,
            backoff=backoff,
            metrics=self.metrics,
            name="dead letters",
            count_documents=False,
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
        self._fetch_task = asyncio.create_task(self._fetch_loop(), name="shipper-fetch")
        self._fetch_task.add_done_callback(self._fetch_ended)
        self._commit_task = asyncio.create_task(self._commit_loop(), name="shipper-commit")
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
        if self._fetch_task is not None:
            waiters.append(self._fetch_task)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiters[0].cancel()
        if self._failure is not None:
            raise ShipperFailedError(str(self._failure)) from self._failure

    async def stop(self) -> None:
        """Stop fetching, drain in-flight batches (bounded), commit, close; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._ready = False
        self._stop_requested.set()
        if self._fetch_task is not None:
            # Its failure, if any, is already recorded by _fetch_ended.
            await asyncio.gather(self._fetch_task, return_exceptions=True)
        if self._source.started:
            drained = await self._drain("shutdown")
            if drained:
                log.info("drained: every fetched record is delivered")
            await self._commit()
        await self._cancel_in_flight()
        if self._commit_task is not None:
            self._commit_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._commit_task
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
        return self._failure is None and not (
            self._fetch_task is not None and self._fetch_task.done() and not self._stopped
        )

    def _not_ready_reasons(self) -> list[str]:
        reasons = []
        if self._failure is not None:
            reasons.append(f"failed: {self._failure}")
        if not self._ready:
            reasons.append("not started" if not self._stopped else "stopping")
        reasons.extend(
            part.last_error
            for part in (self._sink, self._dlq_sink, self._dlq)
            if part is not None and part.last_error is not None
        )
        return reasons

    # --- the pipeline ---------------------------------------------------------------------
    async def _fetch_loop(self) -> None:
        s = self.settings
        source = self._source
        while not self._stop_requested.is_set():
            if self._rewind_needed and not self._rebalancing:
                await self._rewind()
                continue
            if len(self._in_flight) >= s.max_in_flight:
                await self._wait_for_slot()
                continue
            if source.paused:
                source.resume()
                self.metrics.paused.set(0)
            epoch = self._epoch
            self._accept(await source.poll(s.fetch_wait_ms, self._poll_limit()), epoch)

    def _note_batch_shape(self, records: int, messages: int) -> None:
        if messages:
            self._records_per_message = (self._records_per_message + records / messages) / 2

    def _poll_limit(self) -> int:
        """Messages to fetch at most: ``batch_max_records`` records' worth."""
        return max(1, int(self.settings.batch_max_records / self._records_per_message))

    async def _wait_for_slot(self) -> None:
        """Backpressure: pause every partition, keep polling (membership) until a slot frees."""
        source = self._source
        if not source.paused:
            log.debug("all %d write slots busy: pausing consumption", self.settings.max_in_flight)
            source.pause()
            self.metrics.paused.set(1)
        self._slot_freed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._slot_freed.wait(), timeout=_PAUSED_POLL_S)
        if len(self._in_flight) >= self.settings.max_in_flight:
            # Only partitions assigned an instant before the pause can return records here.
            epoch = self._epoch
            self._accept(await source.poll(0, self._poll_limit()), epoch)

    def _accept(self, batch: Mapping[TopicPartition, list[Any]], epoch: int) -> None:
        """Dispatch a polled batch, unless a rebalance or a stop overtook the poll."""
        if not batch:
            return
        if epoch == self._epoch and not self._rebalancing and not self._stopped:
            self._dispatch(batch)
        elif not self._stopped:
            # The consumer's position already moved past these records: without a rewind
            # they would never be read again. Tracking them instead could let a commit
            # skip records of the previous assignment that were never delivered.
            log.info("dropping %d records fetched across a rebalance", _count(batch))
            self._rewind_needed = True

    async def _rewind(self) -> None:
        """Restart every assigned partition from the group's committed offset."""
        try:
            await self._source.rewind_to_committed()
        except KafkaError as exc:
            # Fetching must not go on from the advanced position: try again shortly.
            log.warning("cannot read the committed offsets yet (%s); retrying", exc)
            await asyncio.sleep(_PAUSED_POLL_S)
        else:
            self._rewind_needed = False

    def _dispatch(self, batch: Mapping[TopicPartition, list[Any]]) -> None:  # noqa: PLR0912
        """Transform and encode one fetched batch, then write it in a task of its own.

        (The per-record branches stay inline: this loop runs once per record.)
        """
        ingested = format_timestamp(datetime.now(UTC))
        process = self._formats.process
        items: list[bytes] = []
        # Per item: how to dead-letter it alone (the message, or one record of a payload).
        messages: list[Any] = []
        letters: list[DeadLetter] = []
        ends: dict[TopicPartition, int] = {}
        consumed: dict[str, int] = {}
        ecs = 0
        flagged = self.metrics.flagged
        for partition, records in batch.items():
            if not records:
                continue
            for record in records:
                result = process(record, ingested)
                if type(result) is IndexAction:  # an ECS record: the usual message
                    ecs += 1
                    items.append(create_item(result.index, result.doc_id, result.source))
                    messages.append(record)
                    if result.flags:
                        for flag in result.flags:
                            flagged.labels(flag).inc()
                    continue
                if type(result) is DeadLetter:
                    ecs += 1
                    letters.append(result)
                    continue
                assert isinstance(result, Processed)
                consumed[result.format] = consumed.get(result.format, 0) + result.records
                for action in result.actions:
                    items.append(create_item(action.index, action.doc_id, action.source))
                    if action.flags:
                        for flag in action.flags:
                            flagged.labels(flag).inc()
                messages.extend(result.refs)
                letters.extend(result.letters)
            end = records[-1].offset + 1
            ends[partition] = end
            highwater = self._source.highwater(partition)
            if highwater is not None:
                self.metrics.lag.labels(partition.topic, str(partition.partition)).set(
                    max(0, highwater - end)
                )
        if not ends:
            return
        if ecs:
            consumed[ECS] = consumed.get(ECS, 0) + ecs
        self._note_batch_shape(sum(consumed.values()), _count(batch))
        for fmt, count in consumed.items():
            self.metrics.consumed.labels(fmt).inc(count)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "batch: %s",
                ", ".join(
                    f"{tp.partition}:{records[0].offset}-{records[-1].offset}"
                    for tp, records in batch.items()
                    if records
                ),
            )
        token = self._tracker.add(ends)
        task = asyncio.create_task(self._deliver(token, items, messages, letters))
        self._in_flight.add(task)
        self.metrics.in_flight.set(len(self._in_flight))
        task.add_done_callback(self._delivered)

    async def _deliver(
        self,
        token: BatchToken[TopicPartition],
        items: list[bytes],
        messages: list[Any],
        letters: list[DeadLetter],
    ) -> None:
        assert self._sink is not None
        assert self._dlq is not None
        if items:
            result = await self._sink.write(items)
            letters.extend(
                refused(
                    messages[rejection.position],
                    rejection.error_type,
                    f"Elasticsearch refused the document ({rejection.status}): {rejection.reason}",
                )
                for rejection in result.rejected
            )
        await self._dlq.write(letters)
        self._tracker.complete(token)
        self._commit_wanted.set()

    def _delivered(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self.metrics.in_flight.set(len(self._in_flight))
        self._slot_freed.set()
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._fail(exc)

    def _fetch_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            log.error("pipeline failed; stopping without committing further", exc_info=exc)
            self._failure = exc
        self._stop_requested.set()

    # --- commits and rebalances -----------------------------------------------------------
    async def _commit_loop(self) -> None:
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            await self._commit()
            # Coalesce: one commit request for the batches finishing in this interval.
            await asyncio.sleep(0.2)

    async def _commit(self) -> None:
        async with self._commit_lock:
            offsets = {**self._uncommitted, **self._tracker.committable()}
            assigned = self._source.assignment()
            offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
            if not offsets:
                return
            log.debug("commit %s", {tp.partition: offset for tp, offset in offsets.items()})
            try:
                await self._source.commit(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                # The group is rebalancing: these partitions are replayed by their next
                # owner, and the 409s make that harmless.
                log.info("commit skipped during rebalance: %s", exc)
                self._uncommitted = {}
            except KafkaError as exc:
                log.warning("offset commit failed (will retry): %s", exc)
                self._uncommitted = offsets
                self._commit_wanted.set()
            else:
                self._uncommitted = {}
                self.metrics.commits.inc()

    async def _drain(self, why: str) -> bool:
        """Give in-flight batches ``drain_timeout_s`` to finish; True if all did."""
        if not self._in_flight:
            return True
        timeout = self.settings.drain_timeout_s
        log.info(
            "%s: draining %d in-flight batches (up to %.0fs)", why, len(self._in_flight), timeout
        )
        in_flight = set(self._in_flight)
        # Waiting on the tasks through a task of its own: giving up the wait (timeout, abort)
        # must not cancel the batches themselves.
        everything = asyncio.ensure_future(asyncio.wait(in_flight))
        aborted = asyncio.ensure_future(self._abort_drain.wait())
        try:
            await asyncio.wait(
                {everything, aborted}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            everything.cancel()
            aborted.cancel()
        pending = {task for task in in_flight if not task.done()}
        if pending:
            log.warning(
                "%s: %d batches not delivered%s; they will be replayed",
                why,
                len(pending),
                " (drain aborted)" if self._abort_drain.is_set() else f" within {timeout:.0f}s",
            )
        return not pending

    async def _cancel_in_flight(self) -> None:
        tasks = set(self._in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        self._epoch += 1
        self._rebalancing = True
        if not revoked:
            return
        log.info("partitions revoked: %s", _names(revoked))
        await self._drain("rebalance")
        await self._commit()
        await self._cancel_in_flight()
        self._tracker.forget()
        self._uncommitted = {}

    def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._epoch += 1
        self._rebalancing = False
        self._source.pause_if_paused(assigned)
        log.info("partitions assigned: %s", _names(assigned) or "none")


def _count(batch: Mapping[TopicPartition, list[Any]]) -> int:
    return sum(len(records) for records in batch.values())


def _names(partitions: set[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(partitions))
