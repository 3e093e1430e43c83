"""``event.id``: a UUIDv7 (RFC 9562) per record, made by the producer.

The shipper uses it as the Elasticsearch ``_id``, so it must be unique across processes and
time; its leading 48-bit millisecond timestamp also keeps index insertion roughly ordered.
The 74 random bits come from :mod:`random` (reseeded by Python in every forked child), which
is enough for uniqueness and an order of magnitude cheaper than ``os.urandom`` per record.
"""

from __future__ import annotations

import random
import time

__all__ = ["uuid7"]

_getrandbits = random.getrandbits
_time_ns = time.time_ns
# (millisecond, "tttttttt-tttt-7") — the text before the random part, reused within a ms.
_prefix: tuple[int, str] = (-1, "")

_RAND_B_HIGH = 0x8000  # the RFC 9562 variant bits "10" on top of the 4th group


def uuid7() -> str:
    """A new UUIDv7 in its canonical 36-character text form."""
    global _prefix  # noqa: PLW0603 - a one-entry cache, replaced atomically
    ms = _time_ns() // 1_000_000
    cached = _prefix
    if cached[0] != ms:
        cached = (ms, f"{ms >> 16:08x}-{ms & 0xFFFF:04x}-7")
        _prefix = cached
    rand_b = _getrandbits(62)
    return (
        f"{cached[1]}{_getrandbits(12):03x}-{(rand_b >> 48) | _RAND_B_HIGH:04x}-"
        f"{rand_b & 0xFFFFFFFFFFFF:012x}"
    )
