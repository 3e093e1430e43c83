"""Logging for tracelink's own processes (shipper, API, dev stack).

Entry points call :func:`configure_process_logging` once; nothing configures logging at
import time. The records come out as ECS JSON on stdout through ``logging_ext``, like the
logs of the services tracelink serves.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

__all__ = ["configure_process_logging"]


def configure_process_logging(component: str, *, level: str = "INFO") -> Callable[[], None]:
    """Route every stdlib and structlog record of this process to stdout.

    Returns a function that flushes and closes what was set up; calling it twice is harmless.
    """
    # Until logging_ext lands this is plain text; the seam keeps every entry point unchanged.
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stdout,
        format=f"%(asctime)s {component} %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    return logging.shutdown
