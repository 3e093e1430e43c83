"""The shop's API gateway: takes a checkout, asks the order service to place the order.

It answers "completed" for any 2xx from the order service — including the 202 the order
service sends when it could not save the order. That trust is the demo's incident.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider

from devstack.demo.common import (
    CheckoutRequest,
    OrderRequest,
    current_trace_id,
    instrumented_client,
    service_app,
    traceresponse,
)
from devstack.demo.settings import DemoSettings

__all__ = ["create_app"]

log = logging.getLogger("devstack.demo.gateway")


def create_app(settings: DemoSettings, tracer_provider: TracerProvider) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with instrumented_client(settings.demo_order_url, tracer_provider) as orders:
            app.state.orders = orders
            yield

    app = service_app("gateway", tracer_provider, lifespan)

    @app.post("/api/checkout")
    async def checkout(checkout: CheckoutRequest, request: Request) -> JSONResponse:
        orders: httpx.AsyncClient = request.app.state.orders
        order_id = f"ord-{uuid.uuid4().hex[:12]}"
        trace_id = current_trace_id()
        headers = traceresponse()
        units = sum(item.quantity for item in checkout.items)
        log.info(
            "checkout for customer %s: order %s with %d items",
            checkout.customer_id,
            order_id,
            units,
        )
        order = OrderRequest(order_id=order_id, **checkout.model_dump())
        try:
            response = await orders.post("/orders", json=order.model_dump())
        except httpx.HTTPError:
            log.exception("order service unreachable while placing order %s", order_id)
            return JSONResponse(
                {"order_id": order_id, "status": "failed", "trace_id": trace_id},
                status_code=503,
                headers=headers,
            )
        if response.is_success:
            # Any 2xx counts as done: the order service's 202 ("accepted, will be saved
            # later") is reported to the customer as a completed order.
            log.info("order %s completed for customer %s", order_id, checkout.customer_id)
            return JSONResponse(
                {"order_id": order_id, "status": "completed", "trace_id": trace_id},
                headers=headers,
            )
        detail = _detail(response)
        if response.status_code in (402, 409):
            log.warning("order %s rejected: %s", order_id, detail)
            return JSONResponse(
                {
                    "order_id": order_id,
                    "status": "rejected",
                    "reason": detail,
                    "trace_id": trace_id,
                },
                status_code=response.status_code,
                headers=headers,
            )
        log.error(
            "order service failed order %s with HTTP %d: %s", order_id, response.status_code, detail
        )
        return JSONResponse(
            {"order_id": order_id, "status": "failed", "trace_id": trace_id},
            status_code=502,
            headers=headers,
        )

    @app.get("/api/orders/{order_id}")
    async def get_order(order_id: str, request: Request) -> JSONResponse:
        orders: httpx.AsyncClient = request.app.state.orders
        try:
            response = await orders.get(f"/orders/{order_id}")
        except httpx.HTTPError:
            log.exception("order service unreachable while looking up order %s", order_id)
            return JSONResponse({"detail": "order service unavailable"}, status_code=503)
        if response.status_code == 404:
            log.info("order %s not found", order_id)
        return JSONResponse(response.json(), status_code=response.status_code)

    return app


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)
