"""The bulk writer's reaction to answers the Elasticsearch stand-in cannot be made to give
on demand: per-item 429s that never end, 413 for a request, 401 for every request.

The server is a scripted HTTP endpoint on loopback that answers ``_bulk`` exactly as
Elasticsearch documents it (``docs/reference/rest-api/bulk``: per-item ``status`` and
``error``, ``errors: true``; a whole-request 413 when the body exceeds
``http.max_content_length``; 401 with a ``security_exception``). The sink under test is the
real one with the real client; only the answers are chosen by the test.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from devstack.standins import free_port
from shipper.budget import RetryBudget
from shipper.bulk import create_item
from shipper.metrics import ShipperMetrics
from shipper.retry import Backoff
from shipper.sink import BulkSink
from tracelink.elasticsearch import make_client
from tracelink.settings import ElasticsearchSettings, load_settings

_HEADERS = {"X-Elastic-Product": "Elasticsearch", "Content-Type": "application/json"}
_ROOT = {
    "version": {"number": "8.15.0", "build_flavor": "default"},
    "tagline": "You Know, for Search",
}

# (request body lines as (id, doc)) -> (status, body)
Answer = Callable[[list[tuple[str, dict[str, Any]]]], tuple[int, dict[str, Any]]]


class BulkEndpoint:
    """Answers each ``_bulk`` request with ``answer(items)``; records what it was sent."""

    def __init__(self) -> None:
        self.answer: Answer = created
        self.requests: list[list[str]] = []

    async def bulk(self, request: web.Request) -> web.Response:
        lines = (await request.read()).splitlines()
        items = [
            (orjson.loads(action)["create"]["_id"], orjson.loads(doc))
            for action, doc in zip(lines[::2], lines[1::2], strict=True)
        ]
        self.requests.append([doc_id for doc_id, _ in items])
        status, body = self.answer(items)
        return web.Response(status=status, body=orjson.dumps(body), headers=_HEADERS)


def created(items: list[tuple[str, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
    return 200, {"errors": False, "items": [{"create": {"status": 201}} for _ in items]}


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[BulkEndpoint, str]]:
    bulk = BulkEndpoint()
    app = web.Application(client_max_size=64 << 20)

    async def root(_request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(_ROOT), headers=_HEADERS)

    app.router.add_get("/", root)
    app.router.add_route("*", "/_bulk", bulk.bulk)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield bulk, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def make_sink(url: str, **kwargs: Any) -> BulkSink:
    client = make_client(load_settings(ElasticsearchSettings, es_url=url))
    return BulkSink(
        client,
        max_request_bytes=1 << 20,
        backoff=lambda: Backoff(0.001, 0.002),
        metrics=ShipperMetrics(),
        **kwargs,
    )


def items(count: int) -> list[bytes]:
    return [create_item("logs-2026-11-22", f"d{i}", {"message": f"m{i}"}) for i in range(count)]


async def test_a_request_refused_413_is_halved_until_the_culprit_is_alone(
    endpoint: tuple[BulkEndpoint, str],
) -> None:
    bulk, url = endpoint

    def answer(batch: list[tuple[str, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
        if any(doc_id == "d5" for doc_id, _ in batch):
            error = {"type": "content_too_long", "reason": "request too large"}
            return 413, {"error": error, "status": 413}
        return created(batch)

    bulk.answer = answer
    sink = make_sink(url)
    try:
        result = await sink.write(items(8))
    finally:
        await sink._client.close()
    assert result.created == 7
    [rejection] = result.rejected
    assert (rejection.position, rejection.status, rejection.error_type) == (
        5,
        413,
        "content_too_long",
    )
    # 8 → 4+4 → the half with d5: 2+2 → 1+1: nothing but the culprit refused.
    assert bulk.requests[0] == [f"d{i}" for i in range(8)]
    assert ["d5"] in bulk.requests


async def test_a_request_refused_400_is_split_the_same_way(
    endpoint: tuple[BulkEndpoint, str],
) -> None:
    bulk, url = endpoint

    def answer(batch: list[tuple[str, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
        if any(doc_id in ("d0", "d3") for doc_id, _ in batch):
            return 400, {
                "error": {"type": "illegal_argument_exception", "reason": "x"},
                "status": 400,
            }
        return created(batch)

    bulk.answer = answer
    sink = make_sink(url)
    try:
        result = await sink.write(items(4))
    finally:
        await sink._client.close()
    assert result.created == 2
    assert sorted(r.position for r in result.rejected) == [0, 3]


def _item_429_for(bad: str) -> Answer:
    def answer(batch: list[tuple[str, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
        results = []
        for doc_id, _ in batch:
            if doc_id == bad:
                error = {"type": "es_rejected_execution_exception", "reason": "queue full"}
                results.append({"create": {"status": 429, "error": error}})
            else:
                results.append({"create": {"status": 201}})
        return 200, {"errors": True, "items": results}

    return answer


async def test_an_item_that_always_gets_429_is_dead_lettered_when_the_budget_is_spent(
    endpoint: tuple[BulkEndpoint, str],
) -> None:
    bulk, url = endpoint
    bulk.answer = _item_429_for("d2")
    sink = make_sink(url, budget=RetryBudget(max_attempts=4))
    try:
        result = await sink.write(items(5))
    finally:
        await sink._client.close()
    assert result.created == 4
    [rejection] = result.rejected
    assert rejection.position == 2
    assert rejection.error_type == "retry_exhausted"
    assert "429 es_rejected_execution_exception: queue full" in rejection.reason
    assert "4 attempts" in rejection.reason
    assert len(bulk.requests) == 4  # the first attempt and three retries, of d2 alone after
    assert bulk.requests[1:] == [["d2"]] * 3
    assert sink.healthy


async def test_the_seconds_budget_uses_the_clock(endpoint: tuple[BulkEndpoint, str]) -> None:
    bulk, url = endpoint
    bulk.answer = _item_429_for("d0")
    now = [0.0]

    def clock() -> float:
        now[0] += 10.0  # every look at the clock: ten seconds later
        return now[0]

    sink = make_sink(url, budget=RetryBudget(max_seconds=25), clock=clock)
    try:
        result = await sink.write(items(1))
    finally:
        await sink._client.close()
    [rejection] = result.rejected
    assert rejection.error_type == "retry_exhausted"
    assert len(bulk.requests) == 4  # failures seen at 10, 20, 30, 40 s: 40-10 >= 25


async def test_credentials_refused_show_on_readiness_once_in_the_log_and_never_give_up(
    endpoint: tuple[BulkEndpoint, str], caplog: pytest.LogCaptureFixture
) -> None:
    bulk, url = endpoint
    refusals = 6

    def answer(batch: list[tuple[str, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
        if len(bulk.requests) <= refusals:
            error = {"type": "security_exception", "reason": "unable to authenticate user"}
            return 401, {"error": error, "status": 401}
        return created(batch)

    bulk.answer = answer
    # Even a tiny budget does not dead-letter: the cluster, not the documents, is at fault.
    sink = make_sink(url, budget=RetryBudget(max_attempts=1))
    seen: list[str | None] = []

    class Watching(Backoff):
        """Notes what readiness would say each time the sink decides to wait."""

        def next_delay(self) -> float:
            seen.append(sink.last_error)
            return super().next_delay()

    sink._backoff = lambda: Watching(0.001, 0.002)
    caplog.set_level(logging.INFO, logger="shipper.sink")
    try:
        result = await sink.write(items(3))
    finally:
        await sink._client.close()
    assert result.created == 3
    assert result.rejected == []
    assert len(seen) == refusals
    assert all(error is not None and "credentials (401)" in error for error in seen)
    assert sink.last_error is None
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1
    assert "answers 401 to every write" in errors[0].getMessage()


async def test_concurrent_writes_do_not_clear_each_others_failure(
    endpoint: tuple[BulkEndpoint, str],
) -> None:
    """One batch stuck on an outage, another succeeding: readiness stays 'not ready'."""
    _, url = endpoint
    sink = make_sink(url)
    stuck_error = "Elasticsearch unreachable: ConnectionError: test"
    sink._failing[999] = stuck_error  # a write in progress elsewhere, failing
    try:
        result = await sink.write(items(2))
    finally:
        await sink._client.close()
    assert result.created == 2
    assert sink.last_error == stuck_error
    assert not sink.healthy
