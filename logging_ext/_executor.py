"""Carry the caller's context (OpenTelemetry span, structlog contextvars) into other threads.

``ThreadPoolExecutor.submit`` and ``loop.run_in_executor`` run work in a worker thread's own
context, so logs written there lose the trace (``asyncio.to_thread`` does copy it).
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["ContextThreadPoolExecutor", "with_context"]

P = ParamSpec("P")
R = TypeVar("R")


def with_context(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` bound to the context current *now*; call it from any thread.

    Each call runs in its own copy of that context, so the wrapper may run concurrently
    (``executor.map(with_context(fn), items)``) and changes made inside do not leak out::

        await loop.run_in_executor(None, with_context(work), arg)
        executor.submit(with_context(work), arg)
        threading.Thread(target=with_context(work)).start()
    """
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(fn, *args, **kwargs)

    return run


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run in the context of the code that submitted them.

    Install it as the loop's default executor to make ``run_in_executor(None, ...)`` carry
    the trace: ``loop.set_default_executor(ContextThreadPoolExecutor())``.
    """

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        context = contextvars.copy_context()
        return super().submit(functools.partial(context.run, fn, *args, **kwargs))
