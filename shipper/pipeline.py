"""The shipper's pipeline: fetched batches → transform → write → commit, and rebalances.

This is the state machine of :class:`shipper.app.Shipper`, without its I/O set-up, so that
it runs as well against a scripted source and sink (the unit tests) as against Kafka and
Elasticsearch. What it guarantees:

* an offset is committed only after every record up to it is in Elasticsearch (created, or
  already there) or in the dead-letter topic and index (:class:`~shipper.offsets.OffsetTracker`
  orders batches that finish out of order);
* at most ``max_in_flight`` batches are written at once; when all slots are busy
  consumption pauses (the source keeps polling, for its group membership) and resumes by
  itself;
* every rebalance starts a new *epoch*: a batch polled in an earlier epoch is not written
  (its partitions may belong to another replica now) and the source is rewound to the
  committed offsets, so nothing it held is skipped;
* before partitions are revoked in-flight batches get ``drain_timeout_s`` to finish, then
  what was delivered is committed; a commit refused because the group is rebalancing
  (``CommitFailedError``) is given up (the next owner replays, and 409s make that harmless),
  another Kafka error is retried;
* an exception in a delivery or in fetching fails the pipeline: nothing after it is
  committed, and :attr:`Pipeline.failure` says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from shipper.bulk import Rejection, create_item
from shipper.conflicts import candidates, reused_ids
from shipper.formats import ECS
from shipper.formats.dispatch import Processed, RecordRef, derived_id, refused
from shipper.metrics import ShipperMetrics
from shipper.offsets import BatchToken, OffsetTracker
from shipper.sink import SinkResult
from shipper.transform import (
    FLAG_EVENT_ID_CONFLICT,
    TRANSFORM_ERROR,
    DeadLetter,
    IndexAction,
    Message,
    conflict_action,
    format_timestamp,
)
from shipper.wire import UndecodableRecord

__all__ = ["UNDECODABLE", "Limits", "Pipeline", "Source"]

log = logging.getLogger("shipper.app")

# How often a paused consumer still polls, to keep its group membership.
_PAUSED_POLL_S = 1.0
# The dead-letter kind of a record the Kafka client could not decode (see shipper.wire).
UNDECODABLE = "undecodable_record"

# aiokafka.TopicPartition, or whatever a scripted source uses (with .topic and .partition).
TopicPartition = Any


class Source(Protocol):
    """What the pipeline needs of the Kafka side (:class:`shipper.source.KafkaSource`)."""

    @property
    def paused(self) -> bool: ...
    async def poll(self, timeout_ms: int, max_records: int) -> Mapping[Any, list[Any]]: ...
    def assignment(self) -> set[Any]: ...
    def highwater(self, partition: Any) -> int | None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def pause_if_paused(self, partitions: set[Any]) -> None: ...
    async def rewind_to_committed(self) -> None: ...
    async def commit(self, offsets: Mapping[Any, int]) -> None: ...


class Writer(Protocol):
    """The log sink (:class:`shipper.sink.BulkSink`)."""

    async def write(self, items: Sequence[bytes]) -> SinkResult: ...


class LetterWriter(Protocol):
    """The dead-letter queue (:class:`shipper.dlq.DeadLetterQueue`)."""

    async def write(self, letters: Sequence[DeadLetter]) -> None: ...


# shipper.formats.dispatch.FormatDispatcher.process: an ECS message gives the transform's
# own result, a message of another format a Processed (its records' actions and letters).
Transform = Callable[[Message, str], IndexAction | DeadLetter | Processed]
DigestLookup = Callable[[list[IndexAction]], Awaitable[dict[tuple[str, str], int | None]]]


@dataclass(frozen=True, slots=True)
class Limits:
    """The knobs of the pipeline (see :class:`~shipper.settings.ShipperSettings`)."""

    max_in_flight: int = 4
    fetch_wait_ms: int = 200
    batch_max_records: int = 5000
    drain_timeout_s: float = 15.0


class Pipeline:
    """The state machine of one replica; :meth:`start` once the writers are attached."""

    def __init__(
        self,
        source: Source,
        transform: Transform,
        metrics: ShipperMetrics,
        limits: Limits,
        *,
        stop_requested: asyncio.Event,
        abort_drain: asyncio.Event,
    ) -> None:
        self._source = source
        self._transform = transform
        self.metrics = metrics
        self._limits = limits
        self._stop_requested = stop_requested
        self._abort_drain = abort_drain
        self._sink: Writer | None = None
        self._dlq: LetterWriter | None = None
        self._digests: DigestLookup = _no_digests
        self._tracker: OffsetTracker[Any] = OffsetTracker()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._commit_wanted = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._uncommitted: dict[Any, int] = {}
        self._epoch = 0
        self._rebalancing = False
        self._rewind_needed = False
        # Log records per Kafka message lately (1 for ECS, ~100s for OTLP payloads): a poll
        # asks for as many messages as keep a batch near batch_max_records *records*.
        self._records_per_message = 1.0
        self._stopping = False
        self._failure: BaseException | None = None
        self.fetch_task: asyncio.Task[None] | None = None
        self._commit_task: asyncio.Task[None] | None = None

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped the pipeline, if one did."""
        return self._failure

    def attach(self, sink: Writer, dlq: LetterWriter, digests: DigestLookup | None = None) -> None:
        """The writers: logs, dead letters, and how to read stored digests on 409s."""
        self._sink = sink
        self._dlq = dlq
        if digests is not None:
            self._digests = digests

    def start(self) -> None:
        """Start fetching and committing (the source has joined its group)."""
        self.fetch_task = asyncio.create_task(self._fetch_loop(), name="shipper-fetch")
        self.fetch_task.add_done_callback(self._fetch_ended)
        self._commit_task = asyncio.create_task(self._commit_loop(), name="shipper-commit")

    async def shutdown(self, *, drain: bool) -> None:
        """Stop fetching; with ``drain``, let in-flight batches finish (bounded) and commit
        what was delivered; then cancel what is left. Idempotent."""
        self._stopping = True
        self._stop_requested.set()
        if self.fetch_task is not None:
            # Its failure, if any, is already recorded by _fetch_ended.
            await asyncio.gather(self.fetch_task, return_exceptions=True)
        if drain:
            if await self._drain("shutdown"):
                log.info("drained: every fetched record is delivered")
            await self._commit()
        await self._cancel_in_flight()
        if self._commit_task is not None:
            self._commit_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._commit_task

    async def _fetch_loop(self) -> None:
        s = self._limits
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
        """Messages to fetch at most: ``batch_max_records`` records' worth (an OTLP message
        holds many records; the ratio is learned from recent batches)."""
        return max(1, int(self._limits.batch_max_records / self._records_per_message))

    async def _wait_for_slot(self) -> None:
        """Backpressure: pause every partition, keep polling (membership) until a slot frees."""
        source = self._source
        if not source.paused:
            log.debug("all %d write slots busy: pausing consumption", self._limits.max_in_flight)
            source.pause()
            self.metrics.paused.set(1)
        self._slot_freed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._slot_freed.wait(), timeout=_PAUSED_POLL_S)
        if len(self._in_flight) >= self._limits.max_in_flight:
            # Only partitions assigned an instant before the pause can return records here.
            epoch = self._epoch
            self._accept(await source.poll(0, self._poll_limit()), epoch)

    def _accept(self, batch: Mapping[TopicPartition, list[Any]], epoch: int) -> None:
        """Dispatch a polled batch, unless a rebalance or a stop overtook the poll."""
        if not batch:
            return
        if epoch == self._epoch and not self._rebalancing and not self._stopping:
            self._dispatch(batch)
        elif not self._stopping:
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
        transform = self._transform
        items: list[bytes] = []
        # Per item: how to dead-letter it alone (the message, or one record of a payload).
        messages: list[Any] = []
        letters: list[DeadLetter] = []
        ends: dict[TopicPartition, int] = {}
        consumed: dict[str, int] = {}
        ecs = 0
        for partition, records in batch.items():
            if not records:
                continue
            for record in records:
                if type(record) is UndecodableRecord:
                    ecs += 1
                    letters.append(DeadLetter(UNDECODABLE, record.reason, record))
                    continue
                result = transform(record, ingested)
                if type(result) is IndexAction:  # an ECS record: the usual message
                    ecs += 1
                    self._take(result, record, items, messages, letters)
                elif type(result) is DeadLetter:
                    ecs += 1
                    letters.append(result)
                else:
                    assert isinstance(result, Processed)
                    consumed[result.format] = consumed.get(result.format, 0) + result.records
                    for action, ref in zip(result.actions, result.refs, strict=True):
                        self._take(action, ref, items, messages, letters)
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
        for fmt, number in consumed.items():
            self.metrics.consumed.labels(fmt).inc(number)
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
        task = asyncio.create_task(self._deliver(token, items, messages, letters, ingested))
        self._in_flight.add(task)
        self.metrics.in_flight.set(len(self._in_flight))
        task.add_done_callback(self._delivered)

    def _take(
        self,
        action: IndexAction,
        ref: Any,
        items: list[bytes],
        messages: list[Any],
        letters: list[DeadLetter],
    ) -> None:
        """One action into the batch (``ref``: how to dead-letter it alone)."""
        try:
            item = create_item(action.index, action.doc_id, action.source)
        except Exception as exc:  # noqa: BLE001 - one record's error is its own
            reason = f"cannot encode the document: {exc.__class__.__name__}: {exc}"
            letters.append(refused(ref, TRANSFORM_ERROR, reason))
            return
        items.append(item)
        messages.append(ref)
        if action.flags:
            flagged = self.metrics.flagged
            for flag in action.flags:
                flagged.labels(flag).inc()

    async def _deliver(
        self,
        token: BatchToken[TopicPartition],
        items: list[bytes],
        messages: list[Any],
        letters: list[DeadLetter],
        ingested: str,
    ) -> None:
        assert self._sink is not None
        assert self._dlq is not None
        if items:
            result = await self._sink.write(items)
            letters.extend(_refused(rejection, messages) for rejection in result.rejected)
            if result.duplicate_positions:
                duplicates = [messages[p] for p in result.duplicate_positions]
                await self._resolve_duplicates(duplicates, ingested, letters)
        await self._dlq.write(letters)
        self._tracker.complete(token)
        self._commit_wanted.set()

    async def _resolve_duplicates(
        self, refs: list[Any], ingested: str, letters: list[DeadLetter]
    ) -> None:
        """409s: replays are counted; a different record reusing an ``event.id`` is indexed
        under its derived ID, flagged ``event_id_conflict`` (see :mod:`shipper.conflicts`).

        Every record gets this check, an ECS message as a record of an OTLP payload: a
        ``log.record.uid`` is made by the producer and may be reused like any ``event.id``,
        and an ID derived from the record's position is taken by another record when the
        topic was re-created (its offsets start again)."""
        assert self._sink is not None
        actions, action_refs = self._actions_again(refs, ingested)
        checked = candidates(actions)
        stored = await self._digests(checked)
        reused = {id(a) for a, r in zip(checked, reused_ids(checked, stored), strict=True) if r}
        count = self.metrics.event_id_409
        conflicts = []
        conflict_refs = []
        derived: dict[int, str] = {}
        for action, ref in zip(actions, action_refs, strict=True):
            outcome = "conflict" if id(action) in reused else "replay"
            count.labels(self.metrics.service_label(_service_of(action)), outcome).inc()
            if outcome == "conflict":
                conflicts.append(conflict_action(action, derived_id(ref, derived)))
                conflict_refs.append(ref)
        self.metrics.duplicates.inc(len(refs) - len(conflicts))
        if not conflicts:
            return
        self.metrics.flagged.labels(FLAG_EVENT_ID_CONFLICT).inc(len(conflicts))
        result = await self._sink.write(
            [create_item(a.index, a.doc_id, a.source) for a in conflicts]
        )
        letters.extend(_refused(rejection, conflict_refs) for rejection in result.rejected)
        # A 409 here is a replay of an earlier conflict: its derived ID covers its bytes.
        self.metrics.duplicates.inc(result.duplicates)

    def _actions_again(self, refs: list[Any], ingested: str) -> tuple[list[IndexAction], list[Any]]:
        """The actions of the 409'd ``refs`` again, each with its ref. The transform is pure:
        the same message and ingest time give the same actions (kept no longer than their
        bulk request, they are made again for the few that meet a 409). A payload with
        several 409'd records is decoded once."""
        actions: list[IndexAction] = []
        action_refs: list[Any] = []
        wanted: dict[int, tuple[Message, set[int]]] = {}
        for ref in refs:
            if isinstance(ref, RecordRef):
                wanted.setdefault(id(ref.message), (ref.message, set()))[1].add(ref.index)
                continue
            again = self._transform(ref, ingested)
            if type(again) is IndexAction:
                actions.append(again)
                action_refs.append(ref)
            elif isinstance(again, Processed):  # one record of another spelling
                actions.extend(again.actions)
                action_refs.extend(again.refs)
        for message, indices in wanted.values():
            again = self._transform(message, ingested)
            if not isinstance(again, Processed):
                continue
            for action, ref in zip(again.actions, again.refs, strict=True):
                if isinstance(ref, RecordRef) and ref.index in indices:
                    actions.append(action)
                    action_refs.append(ref)
        return actions, action_refs

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
        timeout = self._limits.drain_timeout_s
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

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        self._epoch += 1
        self._rebalancing = True
        if not revoked:
            return
        log.info("partitions revoked: %s", _names(revoked))
        self.metrics.forget_partitions((tp.topic, tp.partition) for tp in revoked)
        await self._drain("rebalance")
        await self._commit()
        await self._cancel_in_flight()
        self._tracker.forget()
        self._uncommitted = {}

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._epoch += 1
        self._rebalancing = False
        self._source.pause_if_paused(assigned)
        log.info("partitions assigned: %s", _names(assigned) or "none")


def _refused(rejection: Rejection, messages: list[Any]) -> DeadLetter:
    """The letter of one refused item: the message, or that record of its payload alone."""
    return refused(
        messages[rejection.position],
        rejection.error_type,
        f"Elasticsearch refused the document ({rejection.status}): {rejection.reason}",
    )


def _service_of(action: IndexAction) -> str | None:
    service = action.source.get("service")
    name = service.get("name") if type(service) is dict else None
    return name if type(name) is str else None


async def _no_digests(_actions: list[IndexAction]) -> dict[tuple[str, str], int | None]:
    return {}


def _count(batch: Mapping[TopicPartition, list[Any]]) -> int:
    return sum(len(records) for records in batch.values())


def _names(partitions: set[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(partitions))
