"""The Elasticsearch writer: bulk ``create`` requests, retried per item until resolved.

Contract of :meth:`BulkSink.write`: idempotent (``create`` with a stable ``_id``), and it
returns only after every item is durably persisted — created now or already present (409) —
or refused for good, in which case it is returned as a :class:`~shipper.bulk.Rejection` for
the dead-letter queue. An item answered 429/5xx on its own is retried with capped, jittered
exponential backoff until the :class:`~shipper.budget.RetryBudget` is used up, then refused
(``retry_exhausted``, with its last answer). A request that fails as a whole (connection
errors, 429/5xx/404 for the request, 401/403: the cluster, not the documents) is retried
until it goes through; cancelling the call is the only way to give up, and then nothing of
the batch is committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from elasticsearch import ApiError, AsyncElasticsearch, TransportError

from shipper.budget import RetryBudget
from shipper.bulk import Rejection, chunk_by_bytes, classify_response, is_retriable_status
from shipper.metrics import ShipperMetrics
from shipper.retry import Backoff

__all__ = ["RETRY_EXHAUSTED", "BulkSink", "SinkResult"]

log = logging.getLogger(__name__)

# Only what classification reads: keeps a 5,000-item answer small to send and to parse.
_FILTER_PATH: Final = "errors,items.*.status,items.*.error"
# The dead-letter kind of a document whose own failures used up the retry budget.
RETRY_EXHAUSTED: Final = "retry_exhausted"


@dataclass(slots=True)
class SinkResult:
    """What became of the items of one :meth:`BulkSink.write` (positions index its input).

    ``duplicate_positions`` are the items Elasticsearch already had (409 on ``create``).
    """

    created: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    duplicate_positions: list[int] = field(default_factory=list)


class _Write:
    """Per-call state of one :meth:`BulkSink.write`: item failures against the budget."""

    __slots__ = ("attempts", "call", "errors", "first_failure", "result")

    def __init__(self, call: int) -> None:
        self.call = call
        self.result = SinkResult()
        self.attempts: dict[int, int] = {}
        self.first_failure: dict[int, float] = {}
        # This round's item-level failures (position → why), reset every round.
        self.errors: dict[int, Rejection] = {}


class BulkSink:
    """Writes NDJSON bulk items (from :func:`shipper.bulk.create_item`) to Elasticsearch."""

    def __init__(
        self,
        client: AsyncElasticsearch,
        *,
        max_request_bytes: int,
        backoff: Callable[[], Backoff],
        metrics: ShipperMetrics,
        name: str = "logs",
        count_documents: bool = True,
        budget: RetryBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._max_bytes = max_request_bytes
        self._backoff = backoff
        self._metrics = metrics
        self._name = name
        # The dead-letter sink reuses this class but must not count as indexed logs.
        self._count = count_documents
        self._budget = budget or RetryBudget()
        self._clock = clock
        # Why each write() in progress is failing right now, by call: concurrent batches
        # must not clear each other's failure (readiness would flap).
        self._failing: dict[int, str] = {}
        self._calls = 0
        self._auth_failed = False

    @property
    def last_error(self) -> str | None:
        """Why a write in progress cannot get through right now (``None``: none is stuck)."""
        if not self._failing:
            return None
        return next(reversed(self._failing.values()))

    @property
    def healthy(self) -> bool:
        """False while a write in progress fails as a whole (Elasticsearch unreachable, 5xx,
        credentials refused)."""
        return not self._failing

    async def write(self, items: Sequence[bytes]) -> SinkResult:
        """Send ``items``; see the module docstring for the contract."""
        pending = list(range(len(items)))
        backoff = self._backoff()
        self._calls += 1
        call = self._calls
        state = _Write(call)
        result = state.result
        try:
            while pending:
                retry: list[int] = []
                state.errors.clear()
                for chunk in chunk_by_bytes(items, pending, self._max_bytes):
                    retry.extend(await self._send(items, chunk, state))
                retry = self._within_budget(retry, state, result)
                if not retry:
                    break
                self._metrics.retries.inc(len(retry))
                delay = backoff.next_delay()
                error = self._failing.get(call)
                log.log(
                    logging.DEBUG if self._auth_failed else logging.WARNING,
                    "%s: %d of %d bulk items to retry in %.1fs (attempt %d)%s",
                    self._name,
                    len(retry),
                    len(items),
                    delay,
                    backoff.attempt,
                    f": {error}" if error else "",
                )
                await asyncio.sleep(delay)
                pending = retry
        finally:
            self._failing.pop(call, None)
        return result

    def _within_budget(self, retry: list[int], state: _Write, result: SinkResult) -> list[int]:
        """``retry`` without the items whose own failures used up the retry budget; those
        become rejections carrying their last reason."""
        if not state.errors:
            return retry
        now = self._clock()
        keep = []
        for position in retry:
            error = state.errors.get(position)
            if error is None:
                keep.append(position)  # the request failed as a whole: not the item's fault
                continue
            attempts = state.attempts[position] = state.attempts.get(position, 0) + 1
            first = state.first_failure.setdefault(position, now)
            if not self._budget.exhausted(attempts, now - first):
                keep.append(position)
                continue
            result.rejected.append(
                Rejection(
                    position,
                    error.status,
                    RETRY_EXHAUSTED,
                    f"gave up after {attempts} attempts in {now - first:.0f}s; last answer "
                    f"{error.status} {error.error_type}: {error.reason}",
                )
            )
        return keep

    async def _send(self, items: Sequence[bytes], chunk: list[int], state: _Write) -> list[int]:
        """One bulk request; returns the positions to retry."""
        result, call = state.result, state.call
        body = b"".join([items[position] for position in chunk])
        started = time.perf_counter()
        try:
            response = await self._client.bulk(operations=cast(Any, body), filter_path=_FILTER_PATH)
        except ApiError as exc:
            self._metrics.bulk_latency.observe(time.perf_counter() - started)
            return await self._request_failed(items, chunk, exc, state)
        except TransportError as exc:
            self._metrics.request_failures.inc()
            self._failing[call] = f"Elasticsearch unreachable: {exc.__class__.__name__}: {exc}"
            return chunk
        self._metrics.bulk_latency.observe(time.perf_counter() - started)
        self._failing.pop(call, None)
        if self._auth_failed:
            self._auth_failed = False
            log.info("%s: Elasticsearch accepts the credentials again", self._name)
        outcome = classify_response(cast(dict[str, Any], response.body), len(chunk))
        result.created += outcome.created
        result.duplicates += outcome.duplicates
        result.duplicate_positions.extend(chunk[p] for p in outcome.duplicate_positions)
        if self._count:
            # Duplicates are counted by the caller: a 409 may turn out to be a reused ID.
            self._metrics.indexed.inc(outcome.created)
        for rejection in outcome.rejected:
            result.rejected.append(
                Rejection(
                    chunk[rejection.position],
                    rejection.status,
                    rejection.error_type,
                    rejection.reason,
                )
            )
        for error in outcome.retry_errors:
            position = chunk[error.position]
            state.errors[position] = Rejection(
                position, error.status, error.error_type, error.reason
            )
        return [chunk[position] for position in outcome.retry]

    async def _request_failed(
        self, items: Sequence[bytes], chunk: list[int], exc: ApiError, state: _Write
    ) -> list[int]:
        status = exc.meta.status
        call = state.call
        if status in (401, 403):
            # Credentials or permissions: the whole cluster refuses this shipper. Said once
            # in the log and on /readyz; nothing is committed or dropped until it is fixed.
            self._metrics.request_failures.inc()
            self._failing[call] = (
                f"Elasticsearch refuses the shipper's credentials ({status}): {exc.message}"
            )
            if not self._auth_failed:
                self._auth_failed = True
                log.error(
                    "%s: Elasticsearch answers %d to every write (%s): check "
                    "TRACELINK_ES_API_KEY / _USERNAME / _PASSWORD and the role's index "
                    "privileges; retrying, nothing is committed meanwhile",
                    self._name,
                    status,
                    exc.message,
                )
            return chunk
        if is_retriable_status(status) or status == 404:
            # Overload, outage, or a proxy without the bulk endpoint being fixed: never the
            # documents' fault, so never a dead letter. Readiness shows the reason.
            self._metrics.request_failures.inc()
            self._failing[call] = f"bulk request failed with {status}: {exc.message}"
            return chunk
        # 400/413 for the whole request: a document too large for the server's
        # http.max_content_length, or one that breaks the request itself. Halve until the
        # culprit is alone, then it is a dead letter; the rest goes through.
        if len(chunk) == 1:
            rejection = Rejection(chunk[0], status, _error_type(exc), str(exc.message))
            state.result.rejected.append(rejection)
            return []
        middle = len(chunk) // 2
        retry = await self._send(items, chunk[:middle], state)
        retry.extend(await self._send(items, chunk[middle:], state))
        return retry


def _error_type(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("type"), str):
            return str(error["type"])
    return f"http_{exc.meta.status}"
