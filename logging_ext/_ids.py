"""``event.id``: a UUIDv7 (RFC 9562) per record, made by the producer.

The shipper uses it as the Elasticsearch ``_id``, so it must be unique across processes and
time. Layout (RFC 9562 §6.2, a fixed-length dedicated counter)::

    tttttttt-tttt-7rrr-vrrr-rrrrcccccccc

``t`` is the Unix time in milliseconds, ``r`` 42 random bits drawn once per process (again
in every forked child), ``c`` a 32-bit counter starting at a random value. Within a process
IDs are unique and increase within each millisecond; two processes collide only if they drew
the same 42 bits *and* their counters meet within the same millisecond. Generating one costs
a counter step and one string format instead of fresh random bits per record.
"""

from __future__ import annotations

import itertools
import os
import time

from logging_ext._process import per_process

__all__ = ["uuid7", "uuid7_at"]

_time_ns = time.time_ns
_process = ""  # "rrr-vrrr-rrrr": the per-process random part, variant bits included
_counter = itertools.count()
_prefix: tuple[int, str] = (-1, "")  # (millisecond, everything before the counter)


def _new_process_part() -> None:
    global _process, _counter, _prefix  # noqa: PLW0603 - redrawn per process
    bits = int.from_bytes(os.urandom(10), "big")
    rand_a = bits & 0xFFF
    variant = 0x8000 | ((bits >> 12) & 0x3FFF)  # RFC 9562 variant "10"
    node = (bits >> 26) & 0xFFFF
    _process = f"{rand_a:03x}-{variant:04x}-{node:04x}"
    _counter = itertools.count((bits >> 42) & 0xFFFFFFFF)
    _prefix = (-1, "")


def uuid7() -> str:
    """A new UUIDv7 in its canonical 36-character text form."""
    return uuid7_at(_time_ns() // 1_000_000)


def uuid7_at(ms: int) -> str:
    """A new UUIDv7 for the Unix time ``ms`` (milliseconds), e.g. a record's creation time."""
    global _prefix  # noqa: PLW0603 - a one-entry cache, replaced atomically
    if not _process:
        per_process(_new_process_part)
    cached = _prefix
    if cached[0] != ms:
        cached = (ms, f"{ms >> 16:08x}-{ms & 0xFFFF:04x}-7{_process}")
        _prefix = cached
    return "%s%08x" % (cached[1], next(_counter) & 0xFFFFFFFF)  # noqa: UP031 - fastest here
