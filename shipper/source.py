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
        self._listener = _Listener(on_revoked, on_assigned)
        self._consumer: Any = None
        self._paused = False

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
        """Records by partition (possibly none); also keeps the membership alive."""
        result: Mapping[TopicPartition, list[Any]] = await self._consumer.getmany(
            timeout_ms=timeout_ms, max_records=max_records
        )
        return result

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
        consumer = self._consumer
        for partition in consumer.assignment():
            committed = await consumer.committed(partition)
            if committed is None:
                await consumer.seek_to_beginning(partition)
            else:
                consumer.seek(partition, committed)

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit ``offsets`` (next offset to read) for partitions still assigned."""
        await self._consumer.commit(dict(offsets))
