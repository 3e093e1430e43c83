from __future__ import annotations

import json
import random

import httpx

from devstack.demo.simulation import CATALOG
from devstack.demo.traffic import drive_traffic, make_checkout

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_carts_are_seeded_and_use_the_catalog() -> None:
    first = [make_checkout(random.Random(3)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    cart = make_checkout(random.Random(4))
    assert 1 <= len(cart["items"]) <= 3
    assert all(item["sku"] in CATALOG for item in cart["items"])


def _gateway(request: httpx.Request) -> httpx.Response:
    """Completes every checkout; order 2 is then unknown, order 3 is rejected."""
    if request.method == "POST":
        sequence = len(_gateway.seen) + 1  # type: ignore[attr-defined]
        _gateway.seen.append(json.loads(request.content))  # type: ignore[attr-defined]
        if sequence == 3:
            return httpx.Response(
                409, json={"order_id": "o3", "status": "rejected", "reason": "stock"}
            )
        headers = {"traceresponse": f"00-{TRACE}-00f067aa0ba902b7-01"}
        return httpx.Response(
            200, json={"order_id": f"o{sequence}", "status": "completed"}, headers=headers
        )
    order_id = request.url.path.rsplit("/", 1)[-1]
    return httpx.Response(404 if order_id == "o2" else 200, json={"order_id": order_id})


async def test_lost_orders_are_the_completed_ones_that_do_not_exist() -> None:
    _gateway.seen = []  # type: ignore[attr-defined]
    progress: list[tuple[int, int]] = []
    report = await drive_traffic(
        "http://gateway",
        4,
        concurrency=1,
        transport=httpx.MockTransport(_gateway),
        progress=lambda done, total, _outcome: progress.append((done, total)),
    )
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [o.status for o in report.outcomes] == [
        "completed",
        "completed",
        "rejected",
        "completed",
    ]
    assert [o.order_id for o in report.lost] == ["o2"]
    assert report.lost[0].trace_id == TRACE
    assert report.outcomes[2].persisted is None
    assert report.outcomes[2].detail == "stock"
    summary = report.to_dict()
    assert (summary["orders"], summary["completed"], summary["lost"]) == (4, 3, 1)
    assert summary["outcomes"][1]["lost"] is True


async def test_an_unreachable_gateway_is_reported_not_raised() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    report = await drive_traffic("http://gateway", 2, transport=httpx.MockTransport(refuse))
    assert [o.status for o in report.outcomes] == ["error", "error"]
    assert len(report.unanswered) == 2
    assert report.lost == []
