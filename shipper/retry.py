"""Capped, jittered exponential backoff for everything the shipper retries."""

from __future__ import annotations

import asyncio
import random

from tracelink.backoff import backoff_delay

__all__ = ["Backoff"]


class Backoff:
    """Delays of ``initial · 2ⁿ`` capped at ``cap``, each drawn from its upper half.

    "Equal jitter": replicas that failed together do not retry in lock-step, yet every delay
    is at least half the nominal one, so a struggling cluster really gets its pause.
    """

    __slots__ = ("_attempt", "_cap", "_initial", "_random")

    def __init__(self, initial: float, cap: float, *, rng: random.Random | None = None) -> None:
        if initial <= 0 or cap < initial:
            raise ValueError("need 0 < initial <= cap")
        self._initial = initial
        self._cap = cap
        self._attempt = 0
        self._random = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    @property
    def attempt(self) -> int:
        """How many delays were taken since the last :meth:`reset`."""
        return self._attempt

    def next_delay(self) -> float:
        delay = backoff_delay(self._attempt, self._initial, self._cap, rng=self._random)
        self._attempt += 1
        return delay

    async def sleep(self) -> float:
        """Wait for the next delay; returns how long it was."""
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay

    def reset(self) -> None:
        self._attempt = 0
