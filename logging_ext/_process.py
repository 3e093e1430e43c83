"""Per-process state: set up once on first use, and again in every forked child."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

__all__ = ["per_process"]

_lock = threading.Lock()
_registered: set[Callable[[], None]] = set()


def per_process(setup: Callable[[], None]) -> None:
    """Run ``setup`` now, unless it already ran in this process, and after every fork.

    Registering at first use rather than at import keeps importing free of side effects.
    """
    with _lock:
        if setup in _registered:
            return
        setup()
        os.register_at_fork(after_in_child=setup)
        _registered.add(setup)
