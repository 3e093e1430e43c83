"""Rate-limited warnings on stderr, for trouble inside the logging pipeline itself.

They bypass ``logging`` on purpose: a pipeline that logs its own delivery problems through
itself can loop, or drown the service in repeats.
"""

from __future__ import annotations

import sys
import threading
import time

__all__ = ["Notice"]


class Notice:
    """At most one stderr line per ``kind`` every ``interval`` seconds; never raises."""

    def __init__(self, interval: float = 30.0) -> None:
        self.interval = interval
        self._lock = threading.RLock()  # a signal handler may warn while this thread does
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def renew_lock(self) -> None:
        """A fresh lock, in a forked child (the parent's may be held by another thread)."""
        self._lock = threading.RLock()

    def due(self, kind: str) -> bool:
        """Whether a ``kind`` line would go out now: a cheap check before building the text."""
        last = self._last.get(kind)
        return last is None or time.monotonic() - last >= self.interval

    def warn(self, kind: str, text: str) -> bool:
        """Write ``text`` unless a ``kind`` line went out less than ``interval`` ago."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return False
            self._last[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        if suppressed:
            text = f"{text} ({suppressed} similar warnings suppressed)"
        try:
            stream = sys.stderr
            if stream is not None:
                stream.write(f"logging_ext: {text}\n")
                stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: nowhere left to tell
            return False
        return True
