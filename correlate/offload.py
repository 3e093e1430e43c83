"""CPU work of a request off the event loop: decoding, reading, joining, rendering.

A trace of thousands of spans and tens of thousands of logs takes hundreds of milliseconds
to seconds of CPU; done on the event loop, every other request — the orchestrator's
``/healthz`` included — waits that long. :class:`CpuPool` runs those steps in a bounded
pool of worker *processes*.

Why processes, decided by measurement (``bench/bench_correlate.py``, "health during a big
trace", 3,000 spans / 15,000 logs): with the same steps in worker *threads*, ``/healthz``
still stalled (p95 165–225 ms). A thread only helps while it runs Python bytecode — CPython
hands the GIL to the loop every 5 ms then — but the big stalls are not bytecode: decoding a
10 MB Elasticsearch answer and serialising the response are single C calls (orjson) that
hold the GIL throughout, and the full garbage collections that half a million fresh objects
trigger stop every thread. A process has its own GIL and heap. It pays for pickling only
what crosses: here the Elasticsearch answers as the bytes they arrived as (the API's
Elasticsearch client does not decode trace searches, :class:`~correlate.store.
RawJsonSerializer`) and the finished body as bytes, both copied, never rebuilt object by
object. So the event loop only moves bytes.

The pool is bounded (``TRACELINK_API_CPU_WORKERS``, default 2): more big traces at once
queue for a worker instead of all slowing each other down; the workers start on first use.
``0`` runs the steps in a thread instead (no extra processes; the loop then stalls as
described).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["CpuPool"]

T = TypeVar("T")


class CpuPool:
    """A bounded pool of worker processes (``workers`` > 0) or one thread (``0``) for
    CPU-heavy steps; functions and arguments must be picklable. :meth:`close` when done.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._executor = self._new_executor()

    def _new_executor(self) -> Executor:
        if self._workers > 0:
            # spawn, not fork: the API process runs threads (the loop, the ES client's
            # resolver), and a forked child may inherit a lock some thread held.
            return ProcessPoolExecutor(
                max_workers=self._workers, mp_context=multiprocessing.get_context("spawn")
            )
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracelink-api-cpu")

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in a worker; the caller's task awaits the result.

        A pool whose worker died (killed for memory, say) is broken for good: it is replaced
        and the step tried once more, so one lost worker never turns every later request
        into an error.
        """
        loop = asyncio.get_running_loop()
        executor = self._executor
        try:
            return await loop.run_in_executor(executor, function, *args)
        except BrokenExecutor:
            if self._executor is executor:
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._new_executor()
            return await loop.run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        """Cancel queued steps, finish running ones, stop the workers. Idempotent."""
        self._executor.shutdown(wait=True, cancel_futures=True)
