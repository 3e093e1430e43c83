"""The Elasticsearch bulk protocol, without I/O: request bodies and per-item outcomes.

Bodies are built directly as NDJSON bytes (one ``create`` line and one document line per
item), which costs a few microseconds per document instead of the tens that generic bulk
helpers spend. Responses are classified item by item, as Vector's Elasticsearch sink does:

* 200/201 — created;
* 409 on ``create`` — the document already exists: delivered before (a replay), counted;
* 429 and 5xx — transient: send that item again after a backoff;
* any other status — the document itself is bad (mapping conflict, parse error): dead letter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

__all__ = [
    "BulkOutcome",
    "Rejection",
    "chunk_by_bytes",
    "classify_response",
    "create_item",
    "is_retriable_status",
]

_CREATE_OPEN: Final = b'{"create":{"_index":"'
_CREATE_ID: Final = b'","_id":'
_CREATE_CLOSE: Final = b"}}\n"
_INDEX_NAMES: dict[str, bytes] = {}


def create_item(index: str, doc_id: str, source: Mapping[str, Any]) -> bytes:
    """The two NDJSON lines of one bulk ``create``, newline-terminated.

    ``index`` must be a valid index name (our prefixes are validated, dates are digits), so
    it is written without escaping; the ``_id`` and the document are JSON-encoded.
    """
    encoded = _INDEX_NAMES.get(index)
    if encoded is None:
        if len(_INDEX_NAMES) > 1024:
            _INDEX_NAMES.clear()  # daily names: a handful live at a time
        encoded = _INDEX_NAMES[index] = index.encode()
    return b"".join(
        (
            _CREATE_OPEN,
            encoded,
            _CREATE_ID,
            orjson.dumps(doc_id),
            _CREATE_CLOSE,
            orjson.dumps(source, option=orjson.OPT_APPEND_NEWLINE),
        )
    )


def chunk_by_bytes(
    items: Sequence[bytes], positions: Iterable[int], max_bytes: int
) -> list[list[int]]:
    """``positions`` of ``items`` grouped into requests of at most ``max_bytes`` each.

    A single item larger than ``max_bytes`` still gets a request of its own.
    """
    chunks: list[list[int]] = []
    chunk: list[int] = []
    size = 0
    for position in positions:
        length = len(items[position])
        if chunk and size + length > max_bytes:
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(position)
        size += length
    if chunk:
        chunks.append(chunk)
    return chunks


def is_retriable_status(status: int) -> bool:
    """Whether a bulk item (or a whole request) with this HTTP status may succeed later."""
    return status == 429 or status >= 500 or status == 408


@dataclass(frozen=True, slots=True)
class Rejection:
    """A bulk item Elasticsearch refused for good: a dead letter."""

    position: int
    status: int
    error_type: str
    reason: str


@dataclass(slots=True)
class BulkOutcome:
    """The items of one bulk request by outcome (positions index the request's items).

    ``duplicate_positions`` lists the 409s; ``retry_errors`` says why each retried item
    that had an answer of its own failed (an item missing from a truncated answer has none).
    """

    created: int = 0
    duplicates: int = 0
    retry: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    duplicate_positions: list[int] = field(default_factory=list)
    retry_errors: list[Rejection] = field(default_factory=list)


def _describe(error: Any) -> tuple[str, str]:
    """``(type, reason)`` of a bulk item error, including its first cause."""
    if not isinstance(error, Mapping):
        return "unknown", str(error)
    error_type = str(error.get("type", "unknown"))
    reason = str(error.get("reason", ""))
    cause = error.get("caused_by")
    if isinstance(cause, Mapping) and cause.get("reason"):
        reason = f"{reason} (caused by {cause.get('type')}: {cause.get('reason')})"
    return error_type, reason


def classify_response(response: Mapping[str, Any], sent: int) -> BulkOutcome:
    """Classify the items of a bulk response to a request of ``sent`` items.

    An item missing from the response (a truncated answer) is retried, never assumed done.
    """
    outcome = BulkOutcome()
    items = response.get("items")
    if not isinstance(items, list):
        items = []
    if response.get("errors") is False and len(items) == sent:
        outcome.created = sent
        return outcome
    for position, entry in enumerate(items[:sent]):
        result = next(iter(entry.values()), None) if isinstance(entry, Mapping) else None
        if not isinstance(result, Mapping):
            outcome.retry.append(position)
            continue
        status = result.get("status")
        if not isinstance(status, int):
            outcome.retry.append(position)
        elif status < 300:
            outcome.created += 1
        elif status == 409:
            outcome.duplicates += 1
            outcome.duplicate_positions.append(position)
        elif is_retriable_status(status):
            outcome.retry.append(position)
            error_type, reason = _describe(result.get("error"))
            outcome.retry_errors.append(Rejection(position, status, error_type, reason))
        else:
            error_type, reason = _describe(result.get("error"))
            outcome.rejected.append(Rejection(position, status, error_type, reason))
    outcome.retry.extend(range(len(items), sent))
    return outcome
