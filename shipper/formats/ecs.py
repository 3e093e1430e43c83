"""ECS JSON: one record per message, as ``logging_ext`` and the ecs-logging libraries write.

The record needs no decoding: the transform (:mod:`shipper.transform`) parses the message
value and applies its rules to the ECS fields directly, exactly as the shipper did before
it read any other format, so these documents stay byte-for-byte what they were.

=====================  =====================================================================
message                document
=====================  =====================================================================
every field            the same field (dotted keys nested); see :mod:`shipper.transform` for
                       ``trace.id``/``span.id`` normalisation, ``@timestamp`` and limits
=====================  =====================================================================
"""

from __future__ import annotations

from shipper.formats._record import Origin, Record, Rejected

__all__ = ["decode"]


def decode(value: bytes, origin: Origin) -> list[Record] | Rejected | None:
    """``None``: the message value is the record, for the transform to read as it is."""
    return None
