"""Capped, jittered exponential backoff: the one rule for how long to wait before a retry.

Every retry loop of tracelink (the shipper's Elasticsearch and dead-letter writes,
``logging_ext``'s Kafka sender, the Kibana importer, the embedded Jaeger span writer, the
demo services' Kafka clients) waits :func:`backoff_delay` seconds before attempt ``n + 1``:

- nominal delay ``min(max_s, initial_s · multiplierⁿ)`` (``n`` = retries so far, from 0);
- "equal jitter": the delay is drawn uniformly from ``[nominal / 2, nominal]``, so clients
  that failed together do not retry in lock-step, yet each waits at least half the nominal
  delay and a struggling server really gets its pause;
- never more than ``max_s``, whatever ``n`` (no overflow for huge ``n``).

How a loop sleeps (``asyncio.sleep``, an event it can be woken from, a deadline) and when it
gives up stay with the loop. Standard library only: ``logging_ext``, which runs inside
users' services, imports this module.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

__all__ = ["Backoff", "backoff_delay"]

# Module-level generator for callers that pass no rng (jitter, not cryptography).
_RANDOM = random.Random()  # noqa: S311


def _nominal(attempt: int, initial_s: float, max_s: float, multiplier: float) -> float:
    if attempt <= 0 or multiplier == 1.0:
        return min(initial_s, max_s)
    # The exponent at which the cap is reached; beyond it, the cap (and no float overflow).
    to_cap = math.ceil(math.log(max_s / initial_s, multiplier)) if max_s > initial_s else 0
    return min(max_s, initial_s * multiplier ** min(attempt, to_cap))


def backoff_delay(
    attempt: int,
    initial_s: float,
    max_s: float,
    *,
    multiplier: float = 2.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after ``attempt`` failed retries (0 = before the first retry).

    Uniform in ``[n / 2, n]`` with ``n = min(max_s, initial_s · multiplier^attempt)``.
    Raises ``ValueError`` unless ``0 < initial_s <= max_s``, ``multiplier >= 1`` and
    ``attempt >= 0``.
    """
    if not 0 < initial_s <= max_s:
        raise ValueError(f"need 0 < initial <= max, got initial={initial_s}, max={max_s}")
    if multiplier < 1:
        raise ValueError(f"need multiplier >= 1, got {multiplier}")
    if attempt < 0:
        raise ValueError(f"need attempt >= 0, got {attempt}")
    nominal = _nominal(attempt, initial_s, max_s, multiplier)
    return (rng or _RANDOM).uniform(nominal / 2, nominal)


class Backoff:
    """The parameters of one retry loop: ``delay(n)`` is :func:`backoff_delay` for them.

    ``rng`` makes the jitter reproducible in tests. Immutable and shareable; a loop keeps
    its own attempt count (or iterates :meth:`delays`).
    """

    __slots__ = ("_rng", "initial_s", "max_s", "multiplier")

    def __init__(
        self,
        initial_s: float,
        max_s: float,
        multiplier: float = 2.0,
        *,
        rng: random.Random | None = None,
    ) -> None:
        backoff_delay(0, initial_s, max_s, multiplier=multiplier)  # validates
        self.initial_s = initial_s
        self.max_s = max_s
        self.multiplier = multiplier
        self._rng = rng

    def delay(self, attempt: int) -> float:
        """Seconds to wait after ``attempt`` failed retries."""
        return backoff_delay(
            attempt, self.initial_s, self.max_s, multiplier=self.multiplier, rng=self._rng
        )

    def delays(self) -> Iterator[float]:
        """``delay(0)``, ``delay(1)``, … without end: ``for pause in backoff.delays(): …``."""
        attempt = 0
        while True:
            yield self.delay(attempt)
            attempt += 1

    def __repr__(self) -> str:
        return f"Backoff({self.initial_s!r}, {self.max_s!r}, multiplier={self.multiplier!r})"
