"""The traffic driver: places orders through the gateway, then checks which were really saved.

The gateway says "completed" for every order the order service accepted; asking for each
completed order afterwards shows the ones that were never saved — the lost orders.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import httpx

from devstack.demo.simulation import CATALOG
from tracelink.ids import normalize_trace_id, parse_traceparent

__all__ = ["OrderOutcome", "TrafficReport", "drive_traffic", "make_checkout"]

Progress = Callable[[int, int, "OrderOutcome"], None]


@dataclass(frozen=True)
class OrderOutcome:
    """One checkout as the customer saw it, plus whether the order really exists."""

    sequence: int
    status: str  # completed | rejected | failed | error (no answer)
    http_status: int | None
    order_id: str | None
    trace_id: str | None
    latency_ms: float
    persisted: bool | None = None  # checked for completed orders only
    detail: str | None = None

    @property
    def lost(self) -> bool:
        """Reported completed to the customer, but not stored by the order service."""
        return self.status == "completed" and self.persisted is False


@dataclass
class TrafficReport:
    outcomes: list[OrderOutcome] = field(default_factory=list)

    @property
    def completed(self) -> list[OrderOutcome]:
        return [o for o in self.outcomes if o.status == "completed"]

    @property
    def lost(self) -> list[OrderOutcome]:
        return [o for o in self.outcomes if o.lost]

    @property
    def unanswered(self) -> list[OrderOutcome]:
        return [o for o in self.outcomes if o.status == "error"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders": len(self.outcomes),
            "completed": len(self.completed),
            "lost": len(self.lost),
            "unanswered": len(self.unanswered),
            "outcomes": [{**asdict(o), "lost": o.lost} for o in self.outcomes],
        }


def make_checkout(rng: random.Random) -> dict[str, Any]:
    """A plausible cart: one to three catalog items."""
    skus = rng.sample(sorted(CATALOG), rng.randint(1, 3))
    return {
        "customer_id": f"cust-{rng.randint(1000, 9999)}",
        "items": [{"sku": sku, "quantity": rng.randint(1, 3)} for sku in skus],
    }


def _trace_id(response: httpx.Response, body: dict[str, Any]) -> str | None:
    from_body = body.get("trace_id")
    if isinstance(from_body, str) and normalize_trace_id(from_body):
        return normalize_trace_id(from_body)
    parsed = parse_traceparent(response.headers.get("traceresponse", ""))
    return parsed[0] if parsed else None


async def _checkout(client: httpx.AsyncClient, sequence: int, cart: dict[str, Any]) -> OrderOutcome:
    started = time.perf_counter()
    try:
        response = await client.post("/api/checkout", json=cart)
    except httpx.HTTPError as exc:
        return OrderOutcome(
            sequence,
            "error",
            None,
            None,
            None,
            (time.perf_counter() - started) * 1000,
            detail=str(exc),
        )
    latency = (time.perf_counter() - started) * 1000
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return OrderOutcome(
        sequence=sequence,
        status=str(body.get("status", "failed")),
        http_status=response.status_code,
        order_id=body.get("order_id"),
        trace_id=_trace_id(response, body),
        latency_ms=round(latency, 1),
        detail=body.get("reason") or body.get("detail"),
    )


async def _verify(client: httpx.AsyncClient, outcome: OrderOutcome) -> OrderOutcome:
    if outcome.status != "completed" or not outcome.order_id:
        return outcome
    try:
        response = await client.get(f"/api/orders/{outcome.order_id}")
    except httpx.HTTPError:
        return outcome
    if response.status_code == 200:
        return replace(outcome, persisted=True)
    if response.status_code == 404:
        return replace(outcome, persisted=False)
    return outcome


async def drive_traffic(
    gateway_url: str,
    orders: int,
    *,
    concurrency: int = 4,
    seed: int = 7,
    progress: Progress | None = None,
    request_timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TrafficReport:
    """Place ``orders`` checkouts (``concurrency`` at a time), then look each completed
    order up; returns every outcome in order. Never raises for a failed order.

    ``transport`` replaces the network (tests use ``httpx.MockTransport``)."""
    if orders < 0 or concurrency < 1:
        raise ValueError("orders must be >= 0 and concurrency >= 1")
    rng = random.Random(seed)  # noqa: S311
    carts = [make_checkout(rng) for _ in range(orders)]
    gate = asyncio.Semaphore(concurrency)
    done = 0
    outcomes: list[OrderOutcome] = []
    async with httpx.AsyncClient(
        base_url=gateway_url, timeout=request_timeout, transport=transport
    ) as client:

        async def one(sequence: int) -> OrderOutcome:
            nonlocal done
            async with gate:
                outcome = await _checkout(client, sequence, carts[sequence - 1])
            done += 1
            if progress is not None:
                progress(done, orders, outcome)
            return outcome

        outcomes = list(await asyncio.gather(*(one(n) for n in range(1, orders + 1))))
        outcomes = [await _verify(client, outcome) for outcome in outcomes]
    return TrafficReport(outcomes)
