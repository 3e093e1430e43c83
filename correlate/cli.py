"""``tracelink serve``: run the correlate API with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import re
import signal
from types import FrameType

from correlate.settings import ApiSettings
from tracelink.cli import add_settings_flags, settings_overrides
from tracelink.layout import jaeger_span_pattern
from tracelink.logsetup import configure_process_logging
from tracelink.settings import load_settings

__all__ = ["configure_parser", "run"]

_log = logging.getLogger("correlate")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_settings_flags(parser, ApiSettings)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT: 0 after a clean shutdown on SIGTERM, 1 if it cannot start."""
    settings = load_settings(ApiSettings, **settings_overrides(args))
    close_logging = configure_process_logging("tracelink-api")
    import uvicorn

    from correlate.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        # Our logging is set up already; uvicorn's loggers propagate into it.
        log_config=None,
        server_header=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    _log.info(
        "correlate API on http://%s:%d (Elasticsearch %s, log indices %s-*, span indices %s)",
        settings.api_host,
        settings.api_port,
        # A URL may carry user:password@: never logged.
        ", ".join(re.sub(r"//[^/@]*@", "//", url) for url in settings.es_url),
        settings.log_index_prefix,
        jaeger_span_pattern(settings.jaeger_index_prefix),
    )
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal to the handler
    # it found: with this no-op handler a clean shutdown on SIGTERM exits 0.
    previous = signal.signal(signal.SIGTERM, _ignore)
    try:
        server.run()
    except SystemExit as exc:
        # uvicorn exits when it cannot start (e.g. the port is taken); it has logged why.
        return 0 if exc.code in (0, None) else 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        close_logging()
    return 0 if server.started else 1


def _ignore(signum: int, frame: FrameType | None) -> None:
    return None
