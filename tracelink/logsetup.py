"""Logging for tracelink's own processes (shipper, API, dev stack).

Entry points call :func:`configure_process_logging` once; nothing configures logging at
import time. The records come out as ECS JSON on stdout through ``logging_ext``, like the
logs of the services tracelink serves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["configure_process_logging"]


def configure_process_logging(component: str, *, level: str = "INFO") -> Callable[[], None]:
    """Route every stdlib and structlog record of this process to stdout as ECS JSON.

    ``component`` is the ``service.name`` the records carry (``"tracelink-api"``). Returns a
    function that flushes and restores what was set up; calling it twice is harmless.
    """
    from logging_ext import configure_logging
    from tracelink import __version__

    handle = configure_logging(
        component, level=level, stream=sys.stdout, service_version=__version__
    )
    return handle.close
