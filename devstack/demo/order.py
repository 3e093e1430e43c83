"""The order service: reserves stock, charges the card, announces the order, saves it.

It publishes the ``order.placed`` event before saving (so the confirmation goes out fast),
and when the database write times out on every attempt it answers 202 "accepted, will be
saved later" — but nothing ever saves it. The order is lost while everyone upstream and
downstream believes it went through.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from devstack.demo.common import (
    OrderRequest,
    cancel_and_wait,
    instrumented_client,
    service_app,
    start_kafka_client,
)
from devstack.demo.settings import DemoSettings
from devstack.demo.simulation import (
    CATALOG,
    DatabaseTimeoutError,
    FaultSchedule,
    OrderDatabase,
    WriteFate,
)

__all__ = ["create_app"]

log = logging.getLogger("devstack.demo.order")

_RETRY_BACKOFF = 0.05


class _Orders:
    """The order service's state and business logic."""

    def __init__(self, settings: DemoSettings, tracer_provider: TracerProvider) -> None:
        self.settings = settings
        self.tracer = tracer_provider.get_tracer("devstack.demo.order")
        self.db = OrderDatabase(
            FaultSchedule(settings.demo_seed, settings.demo_failure_rate),
            attempt_timeout=settings.demo_db_timeout,
        )
        self.producer: Any = None
        self.inventory: httpx.AsyncClient
        self.payment: httpx.AsyncClient

    async def connect_kafka(self) -> None:
        self.producer = await start_kafka_client(
            lambda: AIOKafkaProducer(
                **self.settings.kafka_client_kwargs(),
                client_id="demo-order",
                acks="all",
                # Fail a send within the gateway's patience rather than aiokafka's 40 s.
                request_timeout_ms=5000,
            ),
            "order events producer",
            log,
            settings=self.settings,
        )

    async def place(self, order: OrderRequest) -> JSONResponse:
        items = {item.sku: item.quantity for item in order.items}
        amount = sum(CATALOG.get(sku, 0) * quantity for sku, quantity in items.items())
        log.info(
            "placing order %s for customer %s: %d items, %.2f EUR",
            order.order_id,
            order.customer_id,
            sum(items.values()),
            amount / 100,
        )
        reservation = await self.inventory.post(
            "/reservations", json={"order_id": order.order_id, "items": items}
        )
        if reservation.status_code == 409:
            log.warning("order %s: %s", order.order_id, reservation.json().get("detail"))
            return JSONResponse({"detail": reservation.json().get("detail")}, status_code=409)
        reservation.raise_for_status()
        charge = await self.payment.post(
            "/charges",
            json={
                "order_id": order.order_id,
                "customer_id": order.customer_id,
                "amount_cents": amount,
            },
        )
        if charge.status_code != 200:
            log.warning(
                "order %s: payment failed with HTTP %d, releasing the reservation",
                order.order_id,
                charge.status_code,
            )
            await self.inventory.delete(f"/reservations/{order.order_id}")
            return JSONResponse({"detail": "payment failed"}, status_code=charge.status_code)
        row = {
            "order_id": order.order_id,
            "customer_id": order.customer_id,
            "items": items,
            "amount_cents": amount,
            "charge_id": charge.json()["charge_id"],
            "created_at": datetime.now(UTC).isoformat(),
        }
        # Announced first so the confirmation e-mail goes out without waiting for the
        # database (the event is not withdrawn if the save fails below).
        await self.publish("order.placed", row)
        if await self.save(row):
            return JSONResponse(
                {"order_id": order.order_id, "status": "confirmed"}, status_code=201
            )
        # The incident: a 202 promises a later save that nothing performs.
        return JSONResponse(
            {"order_id": order.order_id, "status": "accepted", "detail": "will be saved shortly"},
            status_code=202,
        )

    async def publish(self, event_type: str, row: dict[str, Any]) -> None:
        topic = self.settings.demo_events_topic
        with self.tracer.start_as_current_span(
            f"send {topic}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.operation.name": "send",
                "messaging.destination.name": topic,
                "messaging.kafka.message.key": row["order_id"],
            },
        ) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            headers = [(key, value.encode()) for key, value in carrier.items()]
            event = {"type": event_type, **row}
            try:
                if self.producer is None:
                    raise KafkaError("not connected to Kafka yet")
                metadata = await self.producer.send_and_wait(
                    topic,
                    value=json.dumps(event).encode(),
                    key=row["order_id"].encode(),
                    headers=[*headers, ("content-type", b"application/json")],
                )
            except KafkaError as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                log.exception("could not publish %s for order %s", event_type, row["order_id"])
                return
            span.set_attribute("messaging.destination.partition.id", str(metadata.partition))
            span.set_attribute("messaging.kafka.offset", metadata.offset)
            log.info(
                "published %s for order %s to %s[%d]",
                event_type,
                row["order_id"],
                topic,
                metadata.partition,
            )

    async def save(self, row: dict[str, Any]) -> bool:
        """Insert the order, retrying timeouts; ``False`` when every attempt timed out."""
        attempts = self.settings.demo_db_attempts
        with self.tracer.start_as_current_span(
            "INSERT shop.orders",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": "other_sql",
                "db.namespace": "shop",
                "db.collection.name": "orders",
                "db.operation.name": "INSERT",
                "db.query.summary": "INSERT orders",
            },
        ) as span:
            fate = self.db.next_fate()
            for attempt in range(1, attempts + 1):
                stuck = fate is WriteFate.LOST or (fate is WriteFate.SLOW and attempt == 1)
                try:
                    await self.db.insert(row, stuck=stuck)
                except DatabaseTimeoutError as exc:
                    span.add_event("db.attempt.timeout", {"attempt": attempt})
                    if attempt < attempts:
                        log.warning(
                            "database write of order %s timed out (attempt %d/%d), retrying",
                            row["order_id"],
                            attempt,
                            attempts,
                        )
                        await asyncio.sleep(_RETRY_BACKOFF * attempt)
                        continue
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, str(exc)))
                    log.error(
                        "could not save order %s: database write timed out %d times",
                        row["order_id"],
                        attempts,
                        exc_info=exc,
                    )
                    return False
                span.set_attribute("db.attempts", attempt)
                log.info("order %s saved (attempt %d)", row["order_id"], attempt)
                return True
        return False  # pragma: no cover - the loop always returns


def create_app(settings: DemoSettings, tracer_provider: TracerProvider) -> FastAPI:
    orders = _Orders(settings, tracer_provider)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connect = asyncio.create_task(orders.connect_kafka())
        async with (
            instrumented_client(settings.demo_inventory_url, tracer_provider) as inventory,
            instrumented_client(settings.demo_payment_url, tracer_provider) as payment,
        ):
            orders.inventory, orders.payment = inventory, payment
            try:
                yield
            finally:
                await cancel_and_wait(connect)
                if orders.producer is not None:
                    await orders.producer.stop()

    app = service_app(
        "order", tracer_provider, lifespan, ready=lambda _app: orders.producer is not None
    )

    @app.post("/orders")
    async def place_order(order: OrderRequest) -> JSONResponse:
        try:
            return await orders.place(order)
        except httpx.HTTPError as exc:
            log.exception("order %s failed: a downstream service did not answer", order.order_id)
            return JSONResponse({"detail": f"downstream failure: {exc}"}, status_code=502)

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str) -> JSONResponse:
        row = orders.db.get(order_id)
        if row is None:
            return JSONResponse({"detail": f"order {order_id} not found"}, status_code=404)
        return JSONResponse(row)

    return app
