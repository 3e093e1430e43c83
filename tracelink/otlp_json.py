"""OTLP/JSON's trace and span IDs: the rules the embedded stack's OTLP receiver and the
shipper's OTLP formats share (stdlib only).

OTLP/JSON is protobuf's JSON mapping with one exception: ``traceId``, ``spanId`` and
``parentSpanId`` are hex strings, where the mapping writes ``bytes`` fields as base64
(``docs/specification.md`` of open-telemetry/opentelemetry-proto, "JSON Protobuf Encoding":
"the traceId and spanId byte arrays are represented as case-insensitive hex-encoded
strings"). A trace ID is 16 bytes (32 hex digits), a span ID 8 (16); an empty value means
"absent"; an all-zero ID is W3C's invalid ID (no trace context).

- :func:`hex_to_id` / :func:`id_to_hex`: one ID, both directions; the hex is strict (even
  length, only hex digits: ``bytes.fromhex`` alone would take ``"ab cd"``).
- :func:`hex_id_size`: how many bytes a hex ID holds (the shipper's cheap check).
- :func:`ids_to_protobuf_json` / :func:`ids_from_protobuf_json`: an OTLP/JSON document's IDs
  made what ``google.protobuf.json_format`` reads and back from what it writes (base64).
- :func:`has_id_size`: the length rule (empty, or exactly the size).
"""

from __future__ import annotations

import base64
import re
from typing import Any, Final

__all__ = [
    "ID_KEYS",
    "SPAN_ID_BYTES",
    "TRACE_ID_BYTES",
    "InvalidIdError",
    "has_id_size",
    "hex_id_size",
    "hex_to_id",
    "id_to_hex",
    "ids_from_protobuf_json",
    "ids_to_protobuf_json",
]

TRACE_ID_BYTES: Final = 16
SPAN_ID_BYTES: Final = 8

# The fields that hold IDs, by their OTLP/JSON (lowerCamelCase) and proto names: receivers
# accept both spellings. They are message fields (spans, span links, log records); an
# attribute's key is a value (``{"key": "traceId", ...}``), never one of these keys.
ID_KEYS: Final = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)

_HEX: Final = re.compile(r"(?:[0-9a-fA-F]{2})*")


class InvalidIdError(ValueError):
    """An ID that is not hex (odd length, another character); the message says which."""


def hex_id_size(text: str) -> int:
    """How many bytes the hex ID ``text`` holds (0 when empty); -1 when it is not hex."""
    return len(text) // 2 if _HEX.fullmatch(text) else -1


def hex_to_id(text: str, key: str = "id") -> bytes:
    """The bytes of the hex ID ``text`` (any case); :class:`InvalidIdError` when not hex."""
    if not _HEX.fullmatch(text):
        raise InvalidIdError(f"{key} {text[:40]!r} is not hex")
    return bytes.fromhex(text)


def id_to_hex(raw: bytes) -> str:
    """An ID's bytes as OTLP/JSON writes them: lower-case hex."""
    return raw.hex()


def has_id_size(raw: bytes, size: int) -> bool:
    """Whether an ID has a length OTLP allows: absent (empty) or exactly ``size`` bytes."""
    return not raw or len(raw) == size


def ids_to_protobuf_json(node: Any) -> Any:
    """``node`` (a parsed OTLP/JSON document) with every ID in base64, as protobuf's JSON
    mapping reads ``bytes`` (a copy; the rest is shared). :class:`InvalidIdError` for an ID
    that is not hex."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ID_KEYS and isinstance(value, str):
                out[key] = base64.b64encode(hex_to_id(value, key)).decode("ascii")
            else:
                out[key] = ids_to_protobuf_json(value)
        return out
    if isinstance(node, list):
        return [ids_to_protobuf_json(item) for item in node]
    return node


def ids_from_protobuf_json(node: Any) -> Any:
    """``node`` (what ``json_format.MessageToDict`` made of an OTLP message) with every ID
    in hex, as OTLP/JSON writes them; changed in place and returned."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_KEYS and isinstance(value, str):
                node[key] = id_to_hex(base64.b64decode(value))
            else:
                ids_from_protobuf_json(value)
    elif isinstance(node, list):
        for item in node:
            ids_from_protobuf_json(item)
    return node
