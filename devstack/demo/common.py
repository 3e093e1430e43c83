"""What the demo services share: request models, the app skeleton, instrumented clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, Field

from tracelink.backoff import Backoff
from tracelink.kafka_security import check_connection
from tracelink.settings import ConfigError, KafkaSettings

__all__ = [
    "CheckoutRequest",
    "Item",
    "OrderRequest",
    "cancel_and_wait",
    "current_trace_id",
    "instrumented_client",
    "service_app",
    "start_kafka_client",
    "traceresponse",
]

# Inter-service calls: generous, the order service may retry its database for a second.
_CLIENT_TIMEOUT = httpx.Timeout(10.0, connect=2.0)
# Pauses while Kafka is unreachable: about 0.5 s, doubling up to 10 s.
_KAFKA_BACKOFF = Backoff(0.5, 10.0)


class Item(BaseModel):
    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=100)


class CheckoutRequest(BaseModel):
    """What the shop front end posts to the gateway."""

    customer_id: str = Field(min_length=1, max_length=100)
    items: list[Item] = Field(min_length=1, max_length=50)


class OrderRequest(CheckoutRequest):
    """What the gateway asks the order service to place."""

    order_id: str = Field(min_length=1, max_length=100)


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def traceresponse() -> dict[str, str]:
    """The W3C ``traceresponse`` header for the current server span (empty outside one)."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    flags = "01" if context.trace_flags.sampled else "00"
    return {"traceresponse": f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags}"}


@asynccontextmanager
async def _no_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel a background task this service owns and wait until it has finished."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def service_app(
    service: str,
    tracer_provider: TracerProvider,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] = _no_lifespan,
    *,
    ready: Callable[[FastAPI], bool] | None = None,
) -> FastAPI:
    """A FastAPI app for ``service`` with ``/healthz``, ``/readyz`` and server spans.

    ``ready(app)`` decides ``/readyz`` (default: ready once started). Health endpoints are
    not traced: probes would bury the traffic.
    """
    app = FastAPI(title=f"tracelink demo: {service}", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if ready is None or ready(app):
            return JSONResponse({"status": "ready", "service": service})
        return JSONResponse({"status": "starting", "service": service}, status_code=503)

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        excluded_urls="/healthz,/readyz",
        exclude_spans=["receive", "send"],
    )
    return app


def instrumented_client(base_url: str, tracer_provider: TracerProvider) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for another demo service whose requests are client spans
    carrying ``traceparent``; the caller closes it (``async with``)."""
    client = httpx.AsyncClient(base_url=base_url, timeout=_CLIENT_TIMEOUT)
    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=tracer_provider)
    return client


async def start_kafka_client(
    make: Callable[[], Any],
    describe: str,
    logger: logging.Logger,
    *,
    settings: KafkaSettings | None = None,
) -> Any:
    """Start an aiokafka client made by ``make``, retrying with capped backoff until Kafka
    answers (cancel the caller to give up): a broker that is down delays, never crashes.

    With ``settings``, a broker that refuses the connection (certificate, credentials) is
    reported as the setting to fix, still retried: the operator may fix the broker side.
    """
    delays = _KAFKA_BACKOFF.delays()
    while True:
        if settings is not None:
            try:
                await check_connection(settings.kafka_security, settings.kafka_bootstrap)
            except ConfigError as exc:
                logger.error("%s: Kafka refuses this service: %s", describe, exc)
                await asyncio.sleep(10.0)
                continue
            except KafkaError:
                pass  # unreachable: the client's own start below waits and reports it
        client = make()
        try:
            await client.start()
        except KafkaError as exc:
            with contextlib.suppress(KafkaError):
                await client.stop()
            delay = next(delays)
            logger.warning("%s: Kafka unreachable (%s), retrying in %.1f s", describe, exc, delay)
            await asyncio.sleep(delay)
            continue
        logger.info("%s: connected to Kafka", describe)
        return client
