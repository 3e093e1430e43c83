"""The inventory service: reserves stock for orders and gives it back."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, Field

from devstack.demo.common import service_app
from devstack.demo.settings import DemoSettings
from devstack.demo.simulation import OutOfStockError, StockLedger

__all__ = ["create_app"]

log = logging.getLogger("devstack.demo.inventory")


class Reservation(BaseModel):
    order_id: str = Field(min_length=1, max_length=100)
    items: dict[str, int] = Field(min_length=1)


def create_app(settings: DemoSettings, tracer_provider: TracerProvider) -> FastAPI:
    ledger = StockLedger(settings.demo_seed)
    tracer = tracer_provider.get_tracer("devstack.demo.inventory")

    app = service_app("inventory", tracer_provider)

    @app.post("/reservations")
    async def reserve(reservation: Reservation) -> JSONResponse:
        with tracer.start_as_current_span(
            "inventory.reserve", attributes={"shop.order.id": reservation.order_id}
        ):
            try:
                left = ledger.reserve(reservation.order_id, reservation.items)
            except OutOfStockError as exc:
                log.warning("cannot reserve stock for order %s: %s", reservation.order_id, exc)
                return JSONResponse({"detail": f"out of stock: {exc}"}, status_code=409)
            log.info(
                "reserved %d units of %d items for order %s",
                sum(reservation.items.values()),
                len(reservation.items),
                reservation.order_id,
            )
            for sku, level in left.items():
                if level < StockLedger.LOW_STOCK:
                    log.warning("stock of %s is running low: %d left", sku, level)
            return JSONResponse({"order_id": reservation.order_id, "status": "reserved"})

    @app.delete("/reservations/{order_id}")
    async def release(order_id: str) -> JSONResponse:
        if ledger.release(order_id):
            log.info("released the reservation of order %s", order_id)
            return JSONResponse({"order_id": order_id, "status": "released"})
        log.warning("no reservation to release for order %s", order_id)
        return JSONResponse({"detail": f"no reservation for {order_id}"}, status_code=404)

    return app
