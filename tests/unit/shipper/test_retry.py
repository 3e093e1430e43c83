"""Backoff: exponential, capped, jittered within the upper half."""

from __future__ import annotations

import random

import pytest

from shipper.retry import Backoff


def test_delays_grow_and_stay_capped() -> None:
    backoff = Backoff(0.1, 2.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(12)]
    nominal = [min(2.0, 0.1 * 2**n) for n in range(12)]
    for delay, top in zip(delays, nominal, strict=True):
        assert top / 2 <= delay <= top
    assert backoff.attempt == 12
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def test_many_attempts_do_not_overflow() -> None:
    backoff = Backoff(0.1, 30.0)
    for _ in range(2000):
        assert backoff.next_delay() <= 30.0


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(2.0, 1.0)
