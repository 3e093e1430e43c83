"""Telling a replay from a reused ``event.id`` when Elasticsearch answers 409.

``create`` with ``_id = event.id`` makes a replay harmless: the document is there already.
But a producer that reuses IDs (a counter restarting at ``1``, a copied record) gets the same
409 for a *different* record, which would then be counted as delivered and never indexed.
Every document carries ``tracelink.digest``, a digest of the Kafka message value; one
``mget`` of the stored digests tells the two apart: the same digest is a replay, another
one a conflict, indexed again under the record's derived ID and flagged
``event_id_conflict``. A stored document without a digest (indexed before digests existed)
cannot be told apart and counts as a replay, as it always did.

Records of OTLP payloads get the same check: their ``event.id`` is the producer's
``log.record.uid`` (reusable like any producer-made ID) or is derived from the record's
position (``topic-partition-offset-index``), which a different record takes when the topic
is re-created. Their digest covers the record (its JSON), not the whole payload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from elasticsearch import AsyncElasticsearch

from shipper.transform import IndexAction, fallback_id

__all__ = ["candidates", "fetch_digests", "reused_ids"]

_DIGEST_FIELD: Final = "tracelink.digest"


def _digest_of(action: IndexAction) -> int | None:
    meta = action.source.get("tracelink")
    digest = meta.get("digest") if type(meta) is dict else None
    return digest if type(digest) is int else None


def candidates(actions: Sequence[IndexAction]) -> list[IndexAction]:
    """The 409'd actions worth checking: those whose ``_id`` does not cover the record's
    bytes (a producer's ``event.id``, an OTLP record's position); the message's derived ID
    does, so its 409 is always a replay."""
    # The records of one payload share their message: its ID is computed once.
    derived: dict[int, str] = {}
    out = []
    for action in actions:
        message = action.message
        own = derived.get(id(message))
        if own is None:
            own = derived[id(message)] = fallback_id(message)
        if action.doc_id != own and _digest_of(action):
            out.append(action)
    return out


def reused_ids(
    actions: Sequence[IndexAction], stored: Mapping[tuple[str, str], int | None]
) -> list[bool]:
    """Per action, whether its 409 was a different record holding the ``event.id``:
    ``stored`` maps (index, _id) to the stored digest (``None``: unknown or absent)."""
    out = []
    for action in actions:
        theirs = stored.get((action.index, action.doc_id))
        ours = _digest_of(action)
        out.append(theirs is not None and ours is not None and theirs != ours)
    return out


async def fetch_digests(
    client: AsyncElasticsearch, actions: Sequence[IndexAction]
) -> dict[tuple[str, str], int | None]:
    """The stored ``tracelink.digest`` of each action's (index, _id), in one ``mget``."""
    if not actions:
        return {}
    docs = [{"_index": a.index, "_id": a.doc_id, "_source": [_DIGEST_FIELD]} for a in actions]
    response = await client.mget(docs=docs)
    stored: dict[tuple[str, str], int | None] = {}
    for doc in response.body.get("docs", ()):
        if not isinstance(doc, dict) or not doc.get("found"):
            continue
        source: Any = doc.get("_source") or {}
        meta = source.get("tracelink") if isinstance(source, dict) else None
        digest = meta.get("digest") if isinstance(meta, dict) else None
        if digest is None and isinstance(source, dict):
            digest = source.get(_DIGEST_FIELD)  # a server that echoes dotted paths
        stored[(str(doc.get("_index")), str(doc.get("_id")))] = (
            digest if type(digest) is int else None
        )
    return stored
