"""The retry budget: when a document that keeps failing is given up (pure).

Only failures of the document itself count — a bulk item answered 429 or 5xx while the
request went through. A request that fails as a whole (the cluster unreachable, 5xx or 429
for the request, refused credentials) says nothing about its documents: those are retried
until the cluster answers, and nothing is committed meanwhile.

How long to wait between attempts is the backoff's business, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RetryBudget"]


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """Give up after ``max_attempts`` failed attempts or ``max_seconds`` since the first
    failure, whichever comes first; ``0`` switches a bound off (both ``0``: never)."""

    max_attempts: int = 0
    max_seconds: float = 0.0

    def exhausted(self, attempts: int, failing_for_s: float) -> bool:
        """Whether a document that failed ``attempts`` times, the first ``failing_for_s``
        seconds ago, is given up (dead-lettered with its last reason)."""
        if self.max_attempts and attempts >= self.max_attempts:
            return True
        return bool(self.max_seconds) and failing_for_s >= self.max_seconds
