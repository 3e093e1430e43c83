"""event.id: UUIDv7, unique, ordered within a process, fresh after fork."""

from __future__ import annotations

import itertools
import os
import time
import uuid

import pytest

from logging_ext._ids import uuid7, uuid7_at


def test_uuid7_is_a_valid_version_7_uuid() -> None:
    value = uuid.UUID(uuid7())
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert len(str(value)) == 36


def test_uuid7_time_is_the_unix_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid.UUID(uuid7())
    after = time.time_ns() // 1_000_000
    assert before <= value.int >> 80 <= after
    assert uuid.UUID(uuid7_at(1_763_807_027_123)).int >> 80 == 1_763_807_027_123


def test_uuid7_is_unique_and_increasing() -> None:
    values = [uuid7() for _ in range(100_000)]
    assert len(set(values)) == len(values)
    # Same process: the counter makes them strictly increasing (time first, then counter),
    # except across a 32-bit counter wrap, which this run cannot reach twice.
    ordered = sum(1 for a, b in itertools.pairwise(values) if a < b)
    assert ordered >= len(values) - 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_draws_its_own_random_part() -> None:
    parent = uuid7()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, uuid7().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert parent[14:28] != child[14:28]  # the per-process random part differs
