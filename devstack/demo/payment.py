"""The payment service: charges the customer's card, retrying a busy card processor."""

from __future__ import annotations

import asyncio
from typing import Final

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel, Field

from devstack.demo.common import service_app
from devstack.demo.settings import DemoSettings
from devstack.demo.simulation import PaymentProcessor, ProcessorBusyError

__all__ = ["create_app"]

log = structlog.get_logger("devstack.demo.payment")

_ATTEMPTS: Final = 3
_BACKOFF: Final = 0.05
# Charges above this need manual review: declined here.
_LIMIT_CENTS: Final = 500_000


class Charge(BaseModel):
    order_id: str = Field(min_length=1, max_length=100)
    customer_id: str = Field(min_length=1, max_length=100)
    amount_cents: int = Field(ge=1)


def create_app(settings: DemoSettings, tracer_provider: TracerProvider) -> FastAPI:
    processor = PaymentProcessor(settings.demo_seed)
    tracer = tracer_provider.get_tracer("devstack.demo.payment")

    app = service_app("payment", tracer_provider)

    @app.post("/charges")
    async def charge(charge: Charge) -> JSONResponse:
        bound = log.bind(order_id=charge.order_id, amount_cents=charge.amount_cents)
        if charge.amount_cents > _LIMIT_CENTS:
            bound.warning("payment declined: amount over the automatic approval limit")
            return JSONResponse({"detail": "declined: amount over limit"}, status_code=402)
        busy = processor.busy_on_first_attempt()
        with tracer.start_as_current_span(
            "card-processor authorize",
            kind=SpanKind.CLIENT,
            attributes={"payment.processor": "demo-pay", "shop.order.id": charge.order_id},
        ) as span:
            for attempt in range(1, _ATTEMPTS + 1):
                try:
                    authorization = await processor.authorize(
                        charge.amount_cents, busy=busy and attempt == 1
                    )
                except ProcessorBusyError as exc:
                    if attempt == _ATTEMPTS:
                        span.record_exception(exc)
                        span.set_status(Status(StatusCode.ERROR, str(exc)))
                        bound.exception("card processor unavailable, giving up", attempts=attempt)
                        return JSONResponse(
                            {"detail": "card processor unavailable"}, status_code=503
                        )
                    bound.warning(
                        "card processor busy, retrying",
                        attempt=attempt,
                        max_attempts=_ATTEMPTS,
                        reason=str(exc),
                    )
                    await asyncio.sleep(_BACKOFF * attempt)
                    continue
                span.set_attribute("payment.attempts", attempt)
                break
        bound.info("payment captured", authorization=authorization)
        return JSONResponse(
            {"order_id": charge.order_id, "charge_id": authorization, "status": "captured"}
        )

    return app
