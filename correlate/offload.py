"""CPU work of a request (parse, join, serialise, render) off the event loop.

A trace of thousands of spans and tens of thousands of logs takes hundreds of milliseconds
to seconds of pure Python; run on the event loop, every other request — ``/healthz`` of the
orchestrator included — waits that long. :class:`CpuPool` runs such steps in a small,
bounded pool of worker threads.

Why threads and not processes (measured, ``bench/bench_correlate.py``, "health during a big
trace"): a worker thread holds the GIL, but CPython hands it over every switch interval
(5 ms), so the event loop gets its turns and ``/healthz`` answers within milliseconds while
a big trace is worked on. A process pool would free the loop entirely, but it has to pickle
the decoded Elasticsearch hits there and the joined trace back — for a large trace that
costs a sizeable part of the work itself, in the loop's own process, and doubles the memory
of every big request. The pool is bounded (``TRACELINK_API_CPU_WORKERS``, default 2): more
big traces at once queue for a worker instead of all slowing each other and the loop down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["CpuPool"]

T = TypeVar("T")


class CpuPool:
    """A bounded pool of worker threads for CPU-heavy steps; :meth:`close` when done."""

    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="tracelink-api-cpu"
        )

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in a worker thread; the caller's task awaits the result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        """Finish the steps already running, then stop the threads. Idempotent."""
        self._executor.shutdown(wait=True, cancel_futures=True)
