from __future__ import annotations

import pytest

from devstack.demo.settings import DemoSettings
from devstack.demo.simulation import (
    DatabaseTimeoutError,
    FaultSchedule,
    OrderDatabase,
    OutOfStockError,
    PaymentProcessor,
    ProcessorBusyError,
    StockLedger,
    WriteFate,
)


def _fates(schedule: FaultSchedule, count: int) -> list[WriteFate]:
    return [schedule.fate(n) for n in range(count)]


def test_default_schedule_loses_orders_in_every_twenty() -> None:
    settings = DemoSettings()
    schedule = FaultSchedule(settings.demo_seed, settings.demo_failure_rate)
    fates = _fates(schedule, 20)
    assert fates.count(WriteFate.LOST) == 4
    assert fates.count(WriteFate.SLOW) == 2
    # Any 20 consecutive writes of any seed: two whole blocks at most one block apart.
    for seed in range(50):
        for start in (0, 3, 17):
            window = _fates(FaultSchedule(seed, 0.2), start + 20)[start:]
            assert window.count(WriteFate.LOST) >= 2


def test_schedule_is_deterministic_per_seed() -> None:
    assert _fates(FaultSchedule(7, 0.2), 40) == _fates(FaultSchedule(7, 0.2), 40)
    assert _fates(FaultSchedule(7, 0.2), 40) != _fates(FaultSchedule(8, 0.2), 40)


@pytest.mark.parametrize(
    ("rate", "lost", "slow"),
    [(0.0, 0, 0), (0.05, 1, 1), (0.1, 1, 1), (0.2, 2, 1), (0.5, 5, 3), (1.0, 10, 0)],
)
def test_schedule_rates(rate: float, lost: int, slow: int) -> None:
    fates = _fates(FaultSchedule(1, rate), 10)
    assert fates.count(WriteFate.LOST) == lost
    assert fates.count(WriteFate.SLOW) == slow


async def test_a_stuck_write_times_out_and_a_normal_one_is_stored() -> None:
    db = OrderDatabase(FaultSchedule(1, 0.0), attempt_timeout=0.05)
    with pytest.raises(DatabaseTimeoutError, match="timed out after 50 ms"):
        await db.insert({"order_id": "a"}, stuck=True)
    assert db.get("a") is None
    await db.insert({"order_id": "a", "total": 3}, stuck=False)
    assert db.get("a") == {"order_id": "a", "total": 3}
    assert len(db) == 1
    assert db.next_fate() is WriteFate.OK


def test_stock_reservations_are_all_or_nothing_and_idempotent() -> None:
    ledger = StockLedger(seed=3)
    start = ledger.level("travel-mug")
    left = ledger.reserve("o1", {"travel-mug": 2, "ceramic-dripper": 1})
    assert left["travel-mug"] == start - 2
    assert ledger.reserve("o1", {"travel-mug": 2}) == {"travel-mug": start - 2}
    with pytest.raises(OutOfStockError):
        ledger.reserve("o2", {"travel-mug": 1, "espresso-beans-1kg": 10_000})
    assert ledger.level("travel-mug") == start - 2
    with pytest.raises(OutOfStockError, match="unknown item"):
        ledger.reserve("o3", {"nope": 1})
    assert ledger.release("o1")
    assert not ledger.release("o1")
    assert ledger.level("travel-mug") == start


async def test_payment_processor_is_busy_on_a_seeded_share_of_charges() -> None:
    processor = PaymentProcessor(5)
    sequence = [processor.busy_on_first_attempt() for _ in range(200)]
    again = PaymentProcessor(5)
    assert sequence == [again.busy_on_first_attempt() for _ in range(200)]
    assert 10 <= sum(sequence) <= 50
    with pytest.raises(ProcessorBusyError):
        await processor.authorize(100, busy=True)
    assert (await processor.authorize(100, busy=False)).startswith("auth-")
