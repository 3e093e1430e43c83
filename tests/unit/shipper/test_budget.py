"""The retry budget: attempts, seconds, either, neither."""

from __future__ import annotations

import pytest

from shipper.budget import RetryBudget


@pytest.mark.parametrize(
    ("budget", "attempts", "seconds", "exhausted"),
    [
        (RetryBudget(), 10**9, 1e9, False),  # no bound: never
        (RetryBudget(max_attempts=3), 2, 1e9, False),
        (RetryBudget(max_attempts=3), 3, 0, True),
        (RetryBudget(max_seconds=60), 10**9, 59.9, False),
        (RetryBudget(max_seconds=60), 1, 60, True),
        (RetryBudget(max_attempts=5, max_seconds=60), 5, 1, True),
        (RetryBudget(max_attempts=5, max_seconds=60), 1, 61, True),
        (RetryBudget(max_attempts=5, max_seconds=60), 4, 59, False),
    ],
)
def test_exhausted(budget: RetryBudget, attempts: int, seconds: float, exhausted: bool) -> None:
    assert budget.exhausted(attempts, seconds) is exhausted
