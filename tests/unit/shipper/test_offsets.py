"""Commit offsets move only past a prefix of delivered batches, per partition."""

from __future__ import annotations

from shipper.offsets import OffsetTracker


def test_out_of_order_completion_waits_for_the_earlier_batch() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    first = tracker.add({"p0": 10, "p1": 5})
    second = tracker.add({"p0": 20})
    third = tracker.add({"p1": 9})
    tracker.complete(second)
    tracker.complete(third)
    assert tracker.committable() == {}
    assert tracker.pending() == 3
    tracker.complete(first)
    assert tracker.committable() == {"p0": 20, "p1": 9}
    assert tracker.committable() == {}
    assert tracker.pending() == 0


def test_partitions_move_independently() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    slow = tracker.add({"p0": 10})
    fast = tracker.add({"p1": 3})
    tracker.complete(fast)
    assert tracker.committable() == {"p1": 3}
    tracker.complete(slow)
    assert tracker.committable() == {"p0": 10}


def test_forgotten_partitions_are_not_committed() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    token = tracker.add({"p0": 10, "p1": 4})
    tracker.forget({"p0"})
    tracker.complete(token)
    assert tracker.committable() == {"p1": 4}
    stale = tracker.add({"p0": 30})
    tracker.forget()
    tracker.complete(stale)
    assert tracker.committable() == {}
