"""The Elasticsearch writer: bulk ``create`` requests, retried per item until resolved.

Contract of :meth:`BulkSink.write`: idempotent (``create`` with a stable ``_id``), and it
returns only after every item is durably persisted — created now or already present (409) —
or refused for good, in which case it is returned as a :class:`~shipper.bulk.Rejection` for
the dead-letter queue. Transient failures (connection errors, 429, 5xx, a cluster that is
down) are retried forever with capped, jittered exponential backoff; cancelling the call is
the only way to give up, and then nothing of the batch is committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from elasticsearch import ApiError, AsyncElasticsearch, TransportError

from shipper.bulk import Rejection, chunk_by_bytes, classify_response, is_retriable_status
from shipper.metrics import ShipperMetrics
from shipper.retry import Backoff

__all__ = ["BulkSink", "SinkResult"]

log = logging.getLogger(__name__)

# Only what classification reads: keeps a 5,000-item answer small to send and to parse.
_FILTER_PATH: Final = "errors,items.*.status,items.*.error"


@dataclass(slots=True)
class SinkResult:
    """What became of the items of one :meth:`BulkSink.write` (positions index its input)."""

    created: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)


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
    ) -> None:
        self._client = client
        self._max_bytes = max_request_bytes
        self._backoff = backoff
        self._metrics = metrics
        self._name = name
        # The dead-letter sink reuses this class but must not count as indexed logs.
        self._count = count_documents
        self.last_error: str | None = None

    @property
    def healthy(self) -> bool:
        """False while the last request failed as a whole (Elasticsearch unreachable, 5xx)."""
        return self.last_error is None

    async def write(self, items: Sequence[bytes]) -> SinkResult:
        """Send ``items``; see the module docstring for the contract."""
        result = SinkResult()
        pending = list(range(len(items)))
        backoff = self._backoff()
        while pending:
            retry: list[int] = []
            for chunk in chunk_by_bytes(items, pending, self._max_bytes):
                retry.extend(await self._send(items, chunk, result))
            if not retry:
                break
            self._metrics.retries.inc(len(retry))
            delay = backoff.next_delay()
            log.warning(
                "%s: %d of %d bulk items to retry in %.1fs (attempt %d)%s",
                self._name,
                len(retry),
                len(items),
                delay,
                backoff.attempt,
                f": {self.last_error}" if self.last_error else "",
            )
            await asyncio.sleep(delay)
            pending = retry
        return result

    async def _send(
        self, items: Sequence[bytes], chunk: list[int], result: SinkResult
    ) -> list[int]:
        """One bulk request; returns the positions to retry."""
        body = b"".join([items[position] for position in chunk])
        started = time.perf_counter()
        try:
            response = await self._client.bulk(operations=cast(Any, body), filter_path=_FILTER_PATH)
        except ApiError as exc:
            self._metrics.bulk_latency.observe(time.perf_counter() - started)
            return await self._request_failed(items, chunk, result, exc)
        except TransportError as exc:
            self._metrics.request_failures.inc()
            self.last_error = f"Elasticsearch unreachable: {exc.__class__.__name__}: {exc}"
            return chunk
        self._metrics.bulk_latency.observe(time.perf_counter() - started)
        self.last_error = None
        outcome = classify_response(cast(dict[str, Any], response.body), len(chunk))
        result.created += outcome.created
        result.duplicates += outcome.duplicates
        if self._count:
            self._metrics.indexed.inc(outcome.created)
            self._metrics.duplicates.inc(outcome.duplicates)
        for rejection in outcome.rejected:
            result.rejected.append(
                Rejection(
                    chunk[rejection.position],
                    rejection.status,
                    rejection.error_type,
                    rejection.reason,
                )
            )
        return [chunk[position] for position in outcome.retry]

    async def _request_failed(
        self, items: Sequence[bytes], chunk: list[int], result: SinkResult, exc: ApiError
    ) -> list[int]:
        status = exc.meta.status
        if is_retriable_status(status) or status in (401, 403, 404):
            # Overload, outage, or credentials/permissions being fixed: never the
            # documents' fault, so never a dead letter. Readiness shows the reason.
            self._metrics.request_failures.inc()
            self.last_error = f"bulk request failed with {status}: {exc.message}"
            return chunk
        # 400/413 for the whole request: a document too large for the server's
        # http.max_content_length, or one that breaks the request itself. Halve until the
        # culprit is alone, then it is a dead letter; the rest goes through.
        if len(chunk) == 1:
            result.rejected.append(Rejection(chunk[0], status, _error_type(exc), str(exc.message)))
            return []
        middle = len(chunk) // 2
        retry = await self._send(items, chunk[:middle], result)
        retry.extend(await self._send(items, chunk[middle:], result))
        return retry


def _error_type(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("type"), str):
            return str(error["type"])
    return f"http_{exc.meta.status}"
