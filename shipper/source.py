"""The Kafka side: the consumer-group member, its rebalance listener, pause/resume, commits.

Offsets are never committed automatically: the pipeline commits exactly what it has
delivered (:mod:`shipper.offsets`). Partitions are paused while every write slot is busy,
and the consumer keeps polling meanwhile, so a long Elasticsearch outage stops consumption
without the group evicting this member for being idle (``max.poll.interval.ms``).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from shipper.settings import ShipperSettings
from shipper.wire import consumer_records, read_records
from tracelink.kafka_security import check_connection

__all__ = ["KafkaSource", "TopicPartition"]

log = logging.getLogger(__name__)

_FETCH_HEADROOM = 64 * 1024


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        revoked: Callable[[set[TopicPartition]], Awaitable[None]],
        assigned: Callable[[set[TopicPartition]], None],
    ) -> None:
        self._revoked = revoked
        self._assigned = assigned

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._assigned(set(assigned))


class KafkaSource:
    """One member of the shipper's consumer group on the log topic.

    ``on_revoked`` runs before partitions are taken away (the pipeline drains and commits
    there; Kafka waits for it up to the session timeout); ``on_assigned`` after new ones
    arrive (they start at the group's committed offsets, earliest when there are none).
    """

    def __init__(
        self,
        settings: ShipperSettings,
        *,
        on_revoked: Callable[[set[TopicPartition]], Awaitable[None]],
        on_assigned: Callable[[set[TopicPartition]], None],
    ) -> None:
        self._settings = settings

        async def revoked(partitions: set[TopicPartition]) -> None:
            await on_revoked(partitions)
            self.forget_positions(partitions)

        self._listener = _Listener(revoked, on_assigned)
        self._consumer: Any = None
        self._paused = False
        # Per partition, the offset after the last record handed out: where to go back to
        # when a poll fails after the consumer moved past records it did not return.
        self._next: dict[TopicPartition, int] = {}

    @property
    def started(self) -> bool:
        return self._consumer is not None

    async def start(self) -> None:
        """Join the group; raises ``aiokafka.errors.KafkaError`` when Kafka is unreachable and
        :class:`~tracelink.errors.ConfigError` when it refuses us (TLS, SASL)."""
        s = self._settings
        # A broker that refuses us (certificate, credentials) raises ConfigError here: exit 2
        # rather than the endless "unable to bootstrap" of a broker that is down.
        await check_connection(s.kafka_security, s.kafka_bootstrap, client_id="tracelink-shipper")
        consumer = AIOKafkaConsumer(
            **s.kafka_client_kwargs(),
            group_id=s.consumer_group,
            client_id=f"tracelink-shipper-{socket.gethostname()}-{os.getpid()}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=s.kafka_session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            max_partition_fetch_bytes=max(1024 * 1024, s.max_message_bytes + _FETCH_HEADROOM),
            fetch_max_bytes=max(16 * 1024 * 1024, 2 * s.batch_max_bytes),
        )
        consumer.subscribe(s.log_topics, listener=self._listener)
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer

    async def stop(self) -> None:
        """Leave the group (idempotent). Commit before: this does not."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def poll(self, timeout_ms: int, max_records: int) -> Mapping[TopicPartition, list[Any]]:
        """Records by partition (possibly none); also keeps the membership alive.

        A record the consumer cannot decode (a header key that is not UTF-8) comes back as a
        :class:`~shipper.wire.UndecodableRecord` in its place, to be dead-lettered; the
        records around it come back as usual.
        """
        try:
            result: Mapping[TopicPartition, list[Any]] = await self._consumer.getmany(
                timeout_ms=timeout_ms, max_records=max_records
            )
        except UnicodeDecodeError as exc:
            log.warning("a record could not be decoded (%s): reading record by record", exc)
            result = await self._isolate(timeout_ms, max_records)
        next_offsets = self._next
        for partition, records in result.items():
            if records:
                next_offsets[partition] = records[-1].offset + 1
        return result

    async def _isolate(
        self, timeout_ms: int, max_records: int
    ) -> Mapping[TopicPartition, list[Any]]:
        """After a decode failure: read each partition one record at a time, and read the
        failing record itself from the wire.

        The failed ``getmany`` may have moved partitions past records it never returned
        (those drained before the failing one), so every partition first goes back to
        where the last records handed out end (or to the committed offset).
        """
        consumer = self._consumer
        assigned = consumer.assignment()
        for partition in assigned:
            offset = self._next.get(partition)
            if offset is not None:
                consumer.seek(partition, offset)
            else:
                await self._seek_to_committed(partition)
        fetchable = set(assigned) - set(consumer.paused())
        result: dict[TopicPartition, list[Any]] = {}
        if not fetchable:
            return result
        consumer.pause(*fetchable)
        try:
            for partition in sorted(fetchable):
                consumer.resume(partition)
                records = await self._one_by_one(partition, timeout_ms, max_records)
                consumer.pause(partition)
                if records:
                    result[partition] = records
        finally:
            if not self._paused:
                consumer.resume(*fetchable)
        return result

    async def _one_by_one(
        self, partition: TopicPartition, timeout_ms: int, max_records: int
    ) -> list[Any]:
        consumer = self._consumer
        records: list[Any] = []
        while len(records) < max_records:
            try:
                got = await consumer.getmany(partition, timeout_ms=timeout_ms, max_records=1)
            except UnicodeDecodeError:
                # The consumer decodes a fetched batch from its start: the record at the
                # position, or one before it in its batch, is undecodable. Read the rest of
                # the batch from the wire instead and go on after it.
                offset = await consumer.position(partition)
                wire = await read_records(
                    {"bootstrap_servers": ",".join(self._settings.kafka_bootstrap)},
                    partition,
                    offset,
                    max(1024 * 1024, self._settings.max_message_bytes + _FETCH_HEADROOM),
                )
                wire = wire[: max_records - len(records)]
                if not wire:
                    log.warning("%s offset %d: no record there any more", partition, offset)
                    break
                records.extend(consumer_records(partition, wire))
                after = wire[-1].offset + 1
                consumer.seek(partition, after)
                self._next[partition] = after
                break
            if not got:
                break
            records.extend(got.get(partition, ()))
            timeout_ms = 0  # the rest of the fetched batch is already here
        return records

    async def _seek_to_committed(self, partition: TopicPartition) -> None:
        committed = await self._consumer.committed(partition)
        if committed is None:
            await self._consumer.seek_to_beginning(partition)
        else:
            self._consumer.seek(partition, committed)

    def forget_positions(self, partitions: set[TopicPartition] | None = None) -> None:
        """Drop what :meth:`poll` remembers of ``partitions`` (all when ``None``): after a
        revoke or a rewind, positions come from the group's committed offsets again."""
        if partitions is None:
            self._next.clear()
        else:
            for partition in partitions:
                self._next.pop(partition, None)

    def assignment(self) -> set[TopicPartition]:
        if self._consumer is None:
            return set()
        return set(self._consumer.assignment())

    def highwater(self, partition: TopicPartition) -> int | None:
        value = self._consumer.highwater(partition) if self._consumer is not None else None
        return int(value) if value is not None else None

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop fetching from every assigned partition (and from ones assigned later)."""
        self._paused = True
        if self._consumer is not None:
            self._consumer.pause(*self._consumer.assignment())

    def resume(self) -> None:
        self._paused = False
        if self._consumer is not None:
            paused = self._consumer.paused()
            if paused:
                self._consumer.resume(*paused)

    def pause_if_paused(self, partitions: set[TopicPartition]) -> None:
        """Newly assigned partitions join a pause in force."""
        if self._paused and self._consumer is not None and partitions:
            self._consumer.pause(*partitions)

    async def rewind_to_committed(self) -> None:
        """Move every assigned partition back to the group's committed offset (the log start
        when the group has none), so that records handed out but not delivered are read
        again."""
        for partition in self._consumer.assignment():
            await self._seek_to_committed(partition)
        self._next.clear()

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit ``offsets`` (next offset to read) for partitions still assigned."""
        await self._consumer.commit(dict(offsets))
