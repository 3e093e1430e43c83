"""The CPU pool: work runs in worker processes; a dead worker does not break the API."""

from __future__ import annotations

import os
from concurrent.futures import BrokenExecutor

import pytest

from correlate.offload import CpuPool


async def test_work_runs_in_another_process() -> None:
    pool = CpuPool(1)
    try:
        assert await pool.run(os.getpid) != os.getpid()
    finally:
        pool.close()


async def test_a_dead_worker_is_replaced() -> None:
    pool = CpuPool(1)
    try:
        # The step kills its worker, and the one it is retried in.
        with pytest.raises(BrokenExecutor):
            await pool.run(os._exit, 3)
        assert await pool.run(abs, -2) == 2
    finally:
        pool.close()


async def test_zero_workers_is_one_thread_in_this_process() -> None:
    pool = CpuPool(0)
    try:
        assert await pool.run(os.getpid) == os.getpid()
    finally:
        pool.close()
        pool.close()  # idempotent
