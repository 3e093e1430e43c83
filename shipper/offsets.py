"""Which Kafka offsets may be committed, when batches finish out of order (pure).

Batches are written concurrently and may complete in any order. A partition's offset may
only move past a batch when that batch and every earlier batch holding records of the same
partition are done — otherwise a crash would skip records that were never delivered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

__all__ = ["BatchToken", "OffsetTracker"]

P = TypeVar("P", bound=Hashable)


class BatchToken(Generic[P]):
    """One registered batch: the next offset of each partition after it."""

    __slots__ = ("done", "ends")

    def __init__(self, ends: Mapping[P, int]) -> None:
        self.ends = dict(ends)
        self.done = False


class OffsetTracker(Generic[P]):
    """Per partition, the end of the longest prefix of completed batches."""

    def __init__(self) -> None:
        self._queues: dict[P, deque[BatchToken[P]]] = {}
        self._ready: dict[P, int] = {}

    def add(self, ends: Mapping[P, int]) -> BatchToken[P]:
        """Register a batch, in fetch order; ``ends`` maps partition → last offset + 1."""
        token = BatchToken(ends)
        for partition in token.ends:
            self._queues.setdefault(partition, deque()).append(token)
        return token

    def complete(self, token: BatchToken[P]) -> None:
        """Mark ``token`` delivered; the offsets it unblocks become :meth:`committable`."""
        token.done = True
        for partition in token.ends:
            queue = self._queues.get(partition)
            while queue and queue[0].done:
                self._ready[partition] = queue.popleft().ends[partition]

    def committable(self) -> dict[P, int]:
        """Offsets that moved since the last call (partition → next offset to read)."""
        ready, self._ready = self._ready, {}
        return ready

    def pending(self) -> int:
        """How many registered batches are not yet completed (or dropped)."""
        return len({id(token) for queue in self._queues.values() for token in queue})

    def forget(self, partitions: set[P] | None = None) -> None:
        """Drop state for ``partitions`` (all when ``None``): they were revoked."""
        if partitions is None:
            self._queues.clear()
            self._ready.clear()
            return
        for partition in partitions:
            self._queues.pop(partition, None)
            self._ready.pop(partition, None)
