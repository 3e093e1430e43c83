"""An OpenTelemetry span exporter that stores spans in Elasticsearch the way Jaeger v2.20 does.

For the embedded stack, where no Jaeger runs: each span becomes the document Jaeger's
Elasticsearch writer stores (:mod:`devstack.jaeger.model`), in the daily
``[<prefix>-]jaeger-span-YYYY-MM-DD`` index of its start time, plus Jaeger's
``serviceName``/``operationName`` entry in ``[<prefix>-]jaeger-service-YYYY-MM-DD`` (once per
pair and day; Jaeger's writer caches the pair alone for 12 hours, which can leave a new
day's index without it). Jaeger's index templates are installed before the
first write, so ``traceID`` & co. are keywords as in production.

Writes use the bulk API, one request per export batch. Span documents are sent as ``create``
with a deterministic ``_id``, so a retried request never duplicates a span (409 = already
stored). Items rejected with 429 or 5xx, and requests that did not reach the server, are
retried a bounded number of times with capped backoff; other rejections (a mapping
conflict, say) are logged and counted. Nothing here ever raises into the traced
application: ``export`` returns ``FAILURE`` and the counters in :attr:`stats` say what was
lost.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from elastic_transport import ConnectionError as ESConnectionError
from elastic_transport import ConnectionTimeout as ESConnectionTimeout
from elasticsearch import ApiError
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from devstack.jaeger.model import (
    JaegerDocument,
    TagsAsFields,
    service_document,
    service_index,
    span_document_id,
    span_index,
    spans_to_jaeger_documents,
)
from devstack.jaeger.templates import install_jaeger_templates_sync
from tracelink.backoff import Backoff

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch
    from opentelemetry.sdk.trace import ReadableSpan

    from tracelink.settings import ElasticsearchSettings

__all__ = [
    "BulkOutcome",
    "ExportStats",
    "JaegerElasticsearchSpanExporter",
    "WriteOutcome",
    "classify_bulk_items",
]

_log = logging.getLogger(__name__)

# Jaeger's writer keeps up to 100,000 service:operation pairs it has written.
_SERVICE_CACHE_SIZE: Final = 100_000


@dataclass
class ExportStats:
    """What the exporter did since it was created (read them from any thread)."""

    spans_written: int = 0
    spans_duplicate: int = 0
    spans_failed: int = 0
    batches: int = 0
    batches_failed: int = 0
    retries: int = 0


@dataclass
class BulkOutcome:
    """Per-item verdicts of one bulk response, by position in the request."""

    ok: list[int] = field(default_factory=list)
    duplicate: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


def _retriable(status: int) -> bool:
    return status == 429 or status >= 500


def classify_bulk_items(items: Sequence[Mapping[str, Any]]) -> BulkOutcome:
    """Sort a bulk response's ``items`` into written, already there (409 on ``create``),
    worth retrying (429, 5xx) and rejected for good (any other error, with its reason)."""
    outcome = BulkOutcome()
    for position, item in enumerate(items):
        op, result = next(iter(item.items()))
        status = int(result.get("status", 0))
        if 200 <= status < 300:
            outcome.ok.append(position)
        elif status == 409 and op == "create":
            outcome.duplicate.append(position)
        elif _retriable(status):
            outcome.retry.append(position)
        else:
            error = result.get("error") or {}
            reason = (
                f"{error.get('type', 'error')}: {error.get('reason', '')}"
                if isinstance(error, Mapping)
                else str(error)
            )
            outcome.failed.append((position, f"{status} {reason}".strip()))
    return outcome


@dataclass(frozen=True)
class WriteOutcome:
    """What became of the span documents of one :meth:`~JaegerElasticsearchSpanExporter.
    write_documents` call.

    ``unwritten`` spans were never refused, only not written (Elasticsearch unreachable or
    busy after the retries): sending them again later can succeed. ``rejected`` spans were
    refused for good, each with its reason (a mapping conflict, say).
    """

    spans: int
    unwritten: int = 0
    rejected: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Every span is stored (or already was)."""
        return not self.unwritten and not self.rejected


@dataclass
class _Action:
    meta: dict[str, Any]
    body: Mapping[str, Any]
    is_span: bool
    service_key: str | None = None


class JaegerElasticsearchSpanExporter(SpanExporter):
    """A ``SpanExporter`` writing Jaeger v2.20's Elasticsearch span documents.

    ``client`` is a synchronous :class:`elasticsearch.Elasticsearch` (exporters run in the
    span processor's thread); :meth:`from_settings` builds one and then owns it.
    """

    def __init__(
        self,
        client: Elasticsearch,
        *,
        jaeger_prefix: str = "",
        install_templates: bool = True,
        tags_as_fields: TagsAsFields | None = None,
        max_attempts: int = 3,
        retry_backoff: float = 0.2,
        max_backoff: float = 2.0,
        refresh: bool = False,
        owns_client: bool = False,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._client = client
        self._prefix = jaeger_prefix
        self._install_templates = install_templates
        self._templates_installed = False
        self._tags_as_fields = tags_as_fields
        self._max_attempts = max_attempts
        self._backoff = Backoff(retry_backoff, max_backoff)
        self._refresh = refresh
        self._owns_client = owns_client
        self._services: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.stats = ExportStats()

    @classmethod
    def from_settings(
        cls, settings: ElasticsearchSettings, **options: Any
    ) -> JaegerElasticsearchSpanExporter:
        """An exporter with its own client for ``settings`` (URL, auth, TLS, Jaeger prefix)."""
        from tracelink.elasticsearch import make_sync_client

        client = make_sync_client(settings, request_timeout=10.0)
        options.setdefault("jaeger_prefix", settings.jaeger_index_prefix)
        return cls(client, owns_client=True, **options)

    @property
    def jaeger_prefix(self) -> str:
        """Jaeger's ``es.index-prefix`` the documents are written under ("" = none)."""
        return self._prefix

    # --- SpanExporter -------------------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write ``spans``; ``SUCCESS`` once every span is stored (or was already)."""
        if self._closed.is_set():
            return SpanExportResult.FAILURE
        from opentelemetry.instrumentation.utils import suppress_instrumentation

        # The exporter's own HTTP traffic must never produce spans of its own.
        with self._lock, suppress_instrumentation():
            try:
                return self._export(spans)
            except Exception:  # noqa: BLE001 - telemetry never raises into the application
                self.stats.spans_failed += len(spans)
                self.stats.batches_failed += 1
                _log.exception("could not export %d spans to Elasticsearch", len(spans))
                return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here: every export call writes before it returns."""
        return True

    def shutdown(self) -> None:
        """Stop accepting spans and close an owned client; idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        with self._lock:
            if self._owns_client:
                self._client.close()

    # --- internals ------------------------------------------------------------------------

    def _export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        documents = spans_to_jaeger_documents(spans, tags_as_fields=self._tags_as_fields)
        outcome = self._write(documents)
        return SpanExportResult.SUCCESS if outcome.complete else SpanExportResult.FAILURE

    def write_documents(self, documents: Sequence[JaegerDocument]) -> WriteOutcome:
        """Store span documents made by :mod:`devstack.jaeger.model` (for spans that arrive
        already encoded, as OTLP); thread-safe, never raises for Elasticsearch's sake.

        The same path as :meth:`export`: templates first, one bulk request with bounded
        retries, the service entries, the counters in :attr:`stats`.
        """
        if self._closed.is_set():
            return WriteOutcome(len(documents), unwritten=len(documents))
        with self._lock:
            try:
                return self._write(documents)
            except Exception:  # noqa: BLE001 - a caller's request must get an answer
                self.stats.spans_failed += len(documents)
                self.stats.batches_failed += 1
                _log.exception("could not write %d spans to Elasticsearch", len(documents))
                return WriteOutcome(len(documents), unwritten=len(documents))

    def _write(self, documents: Sequence[JaegerDocument]) -> WriteOutcome:
        self.stats.batches += 1
        self._ensure_templates()
        pending = self._actions(documents)
        rejected: list[tuple[_Action, str]] = []
        attempt = 0
        while pending and attempt < self._max_attempts:
            attempt += 1
            if attempt > 1:
                self.stats.retries += 1
                # Jitter spreads the retries of several services writing at once.
                delay = self._backoff.delay(attempt - 2)
                if self._closed.wait(delay):
                    break
            pending = self._send(pending, rejected)
        unwritten = sum(1 for action in pending if action.is_span)
        refused = tuple(reason for action, reason in rejected if action.is_span)
        lost = unwritten + len(refused)
        reasons = sorted({reason for _, reason in rejected})
        if pending:
            reasons.append("Elasticsearch unreachable or busy after retries")
        outcome = WriteOutcome(len(documents), unwritten=unwritten, rejected=refused)
        if not lost:
            if reasons:
                _log.warning("could not record services for Jaeger's lists: %s", reasons[0])
            return outcome
        self.stats.spans_failed += lost
        self.stats.batches_failed += 1
        _log.error(
            "lost %d of %d spans writing to Elasticsearch: %s",
            lost,
            len(documents),
            "; ".join(reasons[:3]),
        )
        return outcome

    def _ensure_templates(self) -> None:
        if not self._install_templates or self._templates_installed:
            return
        try:
            install_jaeger_templates_sync(self._client, self._prefix)
        except (ApiError, ESConnectionError, ESConnectionTimeout) as exc:
            # Retried on the next export; the bulk below reports an outage on its own.
            _log.warning("could not install the Jaeger index templates (will retry): %s", exc)
            return
        self._templates_installed = True

    def _actions(self, documents: Sequence[JaegerDocument]) -> list[_Action]:
        actions: list[_Action] = []
        services_in_batch: set[str] = set()
        for doc in documents:
            service_id, service_body = service_document(doc)
            index = service_index(doc, self._prefix)
            # Remembered per daily index, so each day's index lists every service.
            key = f"{index}/{service_id}"
            if key not in self._services and key not in services_in_batch:
                services_in_batch.add(key)
                actions.append(
                    _Action(
                        meta={"index": {"_index": index, "_id": service_id}},
                        body=service_body,
                        is_span=False,
                        service_key=key,
                    )
                )
            actions.append(
                _Action(
                    meta={
                        "create": {
                            "_index": span_index(doc, self._prefix),
                            "_id": span_document_id(doc),
                        }
                    },
                    body=doc,
                    is_span=True,
                )
            )
        return actions

    def _send(self, pending: list[_Action], rejected: list[tuple[_Action, str]]) -> list[_Action]:
        """One bulk request for ``pending``: records rejections, returns what to retry."""
        operations: list[Mapping[str, Any]] = []
        for action in pending:
            operations.extend((action.meta, action.body))
        try:
            response = self._client.bulk(operations=operations, refresh=self._refresh)
        except (ESConnectionError, ESConnectionTimeout) as exc:
            _log.warning("Elasticsearch unreachable while writing spans: %s", exc)
            return pending
        except ApiError as exc:
            if _retriable(exc.meta.status):
                _log.warning("Elasticsearch refused a span batch (%s)", exc.meta.status)
                return pending
            rejected.extend((action, f"{exc.meta.status} {exc.message}") for action in pending)
            return []
        outcome = classify_bulk_items(response["items"])
        for position in outcome.ok:
            self._written(pending[position])
        self.stats.spans_duplicate += len(outcome.duplicate)
        rejected.extend((pending[position], reason) for position, reason in outcome.failed)
        return [pending[position] for position in outcome.retry]

    def _written(self, action: _Action) -> None:
        if action.is_span:
            self.stats.spans_written += 1
            return
        if action.service_key is not None:
            self._services[action.service_key] = None
            if len(self._services) > _SERVICE_CACHE_SIZE:
                self._services.popitem(last=False)
