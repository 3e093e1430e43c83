"""Running one demo service: telemetry first, then the app under uvicorn until SIGTERM."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Final

import uvicorn
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from devstack.demo import gateway, inventory, notification, order, payment
from devstack.demo.settings import DemoSettings, ServiceName
from devstack.demo.telemetry import setup_telemetry

__all__ = ["APP_FACTORIES", "run_service"]

APP_FACTORIES: Final[dict[ServiceName, Callable[[DemoSettings, TracerProvider], FastAPI]]] = {
    "gateway": gateway.create_app,
    "order": order.create_app,
    "payment": payment.create_app,
    "inventory": inventory.create_app,
    "notification": notification.create_app,
}


def _exit_cleanly(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def run_service(service: ServiceName, settings: DemoSettings) -> int:
    """Serve ``service`` on its host/port until SIGTERM or SIGINT; returns the exit code.

    Shutdown is graceful: in-flight requests finish, Kafka clients close, and the spans
    still buffered are exported before the process exits.
    """
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal with
    # the handler it found; exiting from that handler lets the buffered spans and logs be
    # flushed below, and reports the clean stop as exit code 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    telemetry = setup_telemetry(service, settings)
    try:
        app = APP_FACTORIES[service](settings, telemetry.tracer_provider)
        config = uvicorn.Config(
            app,
            host=settings.demo_host,
            port=settings.port_for(service),
            # Logging is already set up; uvicorn's access log would be written after the
            # request span ended, without its trace.
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
        server = uvicorn.Server(config)
        if settings.demo_listen_fd is not None:
            # A socket bound by the launcher (family and type come from the descriptor).
            server.run(sockets=[socket.socket(fileno=settings.demo_listen_fd)])
        else:
            server.run()
        return 0 if server.started else 1
    finally:
        telemetry.close()
