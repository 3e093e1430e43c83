"""The simulated world behind the demo shop: catalog, database, stock and payment processor.

Everything random here is drawn from generators seeded by ``TRACELINK_DEMO_SEED``, and the
faults are scheduled by the position of a request in its service (the n-th database write,
the n-th charge), not by wall-clock luck: the same traffic produces the same incidents.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

__all__ = [
    "CATALOG",
    "DatabaseTimeoutError",
    "FaultSchedule",
    "OrderDatabase",
    "OutOfStockError",
    "PaymentProcessor",
    "ProcessorBusyError",
    "StockLedger",
    "WriteFate",
]

# sku -> unit price in cents
CATALOG: Final[dict[str, int]] = {
    "espresso-beans-1kg": 2490,
    "pour-over-kettle": 5900,
    "ceramic-dripper": 2450,
    "paper-filters-100": 690,
    "hand-grinder": 8900,
    "travel-mug": 1990,
}


class WriteFate(Enum):
    """How one database write behaves: fine, times out once, or times out every time."""

    OK = "ok"
    SLOW = "slow"
    LOST = "lost"


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


@dataclass(frozen=True)
class FaultSchedule:
    """Which database writes fail, by their position: every block of ``block`` writes has
    ``round(failure_rate × block)`` lost writes and half as many that time out once, at
    positions drawn from ``seed``. So 20 writes at the default rate 0.2 lose exactly 4."""

    seed: int
    failure_rate: float
    block: int = 10

    @property
    def lost_per_block(self) -> int:
        return min(self.block, _round_half_up(self.failure_rate * self.block))

    @property
    def slow_per_block(self) -> int:
        return min(self.block - self.lost_per_block, _round_half_up(self.lost_per_block / 2))

    def fate(self, position: int) -> WriteFate:
        """The fate of the ``position``-th write (0-based)."""
        number, offset = divmod(position, self.block)
        order = random.Random(f"{self.seed}:{number}").sample(range(self.block), self.block)  # noqa: S311
        rank = order.index(offset)
        if rank < self.lost_per_block:
            return WriteFate.LOST
        if rank < self.lost_per_block + self.slow_per_block:
            return WriteFate.SLOW
        return WriteFate.OK


class DatabaseTimeoutError(TimeoutError):
    """A database write did not complete within the attempt timeout."""


class OrderDatabase:
    """An in-process order table with realistic latency and scheduled write timeouts.

    A write that is scheduled to hang really hangs: the attempt is cut off by its timeout
    (``asyncio.timeout``), as a client-side statement timeout would.
    """

    def __init__(self, schedule: FaultSchedule, *, attempt_timeout: float) -> None:
        self._schedule = schedule
        self._timeout = attempt_timeout
        self._positions = itertools.count()
        self._latency = random.Random(f"{schedule.seed}:db-latency")  # noqa: S311
        self._rows: dict[str, dict[str, Any]] = {}

    def next_fate(self) -> WriteFate:
        """Claim the next position in the write schedule (one per order)."""
        return self._schedule.fate(next(self._positions))

    async def insert(self, row: dict[str, Any], *, stuck: bool) -> None:
        """One write attempt; raises :class:`DatabaseTimeoutError` after the attempt timeout."""
        delay = self._timeout * 10 if stuck else self._latency.uniform(0.004, 0.02)
        try:
            async with asyncio.timeout(self._timeout):
                await asyncio.sleep(delay)
        except TimeoutError as exc:
            raise DatabaseTimeoutError(
                f"INSERT INTO orders timed out after {self._timeout * 1000:.0f} ms "
                "(lock wait on orders_pkey)"
            ) from exc
        self._rows[str(row["order_id"])] = dict(row)

    def get(self, order_id: str) -> dict[str, Any] | None:
        row = self._rows.get(order_id)
        return dict(row) if row is not None else None

    def __len__(self) -> int:
        return len(self._rows)


class OutOfStockError(Exception):
    """A reservation asked for more than is left (or for an unknown item)."""


class StockLedger:
    """Stock per item, reserved per order; starting levels drawn from the seed."""

    LOW_STOCK: Final = 25

    def __init__(self, seed: int) -> None:
        levels = random.Random(f"{seed}:stock")  # noqa: S311
        self._stock = {sku: levels.randint(150, 400) for sku in CATALOG}
        self._reserved: dict[str, dict[str, int]] = {}

    def reserve(self, order_id: str, items: dict[str, int]) -> dict[str, int]:
        """Reserve ``items`` (sku → quantity) for ``order_id``; returns what is left of each.

        Idempotent per order; raises :class:`OutOfStockError` and reserves nothing when any
        item is short.
        """
        if order_id in self._reserved:
            return {sku: self._stock[sku] for sku in items}
        for sku, quantity in items.items():
            if sku not in self._stock:
                raise OutOfStockError(f"unknown item {sku!r}")
            if self._stock[sku] < quantity:
                raise OutOfStockError(f"{sku}: {quantity} wanted, {self._stock[sku]} left")
        for sku, quantity in items.items():
            self._stock[sku] -= quantity
        self._reserved[order_id] = dict(items)
        return {sku: self._stock[sku] for sku in items}

    def release(self, order_id: str) -> bool:
        """Give an order's reservation back; ``False`` when there was none."""
        items = self._reserved.pop(order_id, None)
        if items is None:
            return False
        for sku, quantity in items.items():
            self._stock[sku] += quantity
        return True

    def level(self, sku: str) -> int:
        return self._stock[sku]


class ProcessorBusyError(Exception):
    """The (simulated) card processor asked us to come back later."""


class PaymentProcessor:
    """A card processor that is briefly busy for a seeded share of first attempts."""

    def __init__(self, seed: int, *, busy_rate: float = 0.15) -> None:
        self._busy = random.Random(f"{seed}:processor-busy")  # noqa: S311
        self._latency = random.Random(f"{seed}:processor-latency")  # noqa: S311
        self._busy_rate = busy_rate
        self._authorizations = itertools.count(1)

    def busy_on_first_attempt(self) -> bool:
        """Claim this charge's draw: is the processor busy the first time?"""
        return self._busy.random() < self._busy_rate

    async def authorize(self, amount_cents: int, *, busy: bool) -> str:
        """One authorization call; raises :class:`ProcessorBusyError` when ``busy``."""
        await asyncio.sleep(self._latency.uniform(0.01, 0.03))
        if busy:
            raise ProcessorBusyError("card processor answered 503: try again shortly")
        return f"auth-{next(self._authorizations):06d}-{amount_cents}"
