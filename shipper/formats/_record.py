"""What every format's ``decode`` returns (pure data, no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

__all__ = ["ECS", "FORMATS", "OTEL_JSON", "OTLP_JSON", "OTLP_PROTO", "Origin", "Record", "Rejected"]

# Format names: the label of ``tracelink_shipper_records_consumed_total{format}`` and, but
# for ``otel_json`` (a spelling of JSON records, not a payload format), the values of
# ``TRACELINK_LOG_FORMAT``.
ECS: Final = "ecs"
OTEL_JSON: Final = "otel_json"
OTLP_PROTO: Final = "otlp_proto"
OTLP_JSON: Final = "otlp_json"
FORMATS: Final = (ECS, OTEL_JSON, OTLP_PROTO, OTLP_JSON)


class Origin(NamedTuple):
    """Where a message was read: the basis of derived, replay-stable record IDs."""

    topic: str
    partition: int
    offset: int


@dataclass(slots=True)
class Record:
    """One log record of a message, ECS-shaped, before the transform's rules.

    ``fields`` is a JSON object with ECS field names (nested or dotted keys). ``index`` is
    the record's position in a multi-record payload (``None`` for one-record formats).
    ``flags`` and ``invalid`` join ``tracelink.flags`` and ``tracelink.invalid`` of the
    document. ``alone`` renders this record by itself (for a dead letter of this record
    only); ``None`` means the message value is the record. Records of one message with the
    same ``shape`` object (not ``None``) have the same keys in the same order, flat (no
    key is a prefix of another), and only scalar values (no object or array): they can
    share one plan of the transform.
    """

    fields: dict[str, Any]
    index: int | None = None
    flags: list[str] = field(default_factory=list)
    invalid: dict[str, str] | None = None
    alone: Callable[[], bytes] | None = None
    shape: object | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """The whole message is a dead letter: ``kind`` is a short code, ``reason`` for humans."""

    kind: str
    reason: str
