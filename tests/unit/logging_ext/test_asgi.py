"""The access log is written inside the server span, so it carries the request's trace."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import logging_ext
from logging_ext.testing import capture_logs
from tests.support.logs import make_tracer_provider


def make_app() -> tuple[FastAPI, InMemorySpanExporter]:
    provider, exporter = make_tracer_provider()
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict[str, int]:
        logging.getLogger("orders").info("loading order", extra={"order_id": order_id})
        return {"order_id": order_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(logging_ext.AccessLogMiddleware, exclude_paths=["/healthz"])
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    return app, exporter


def server_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    return span


def request(app: FastAPI, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 51234))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(path, **kwargs)

    return asyncio.run(go())


def test_access_log_carries_the_server_span() -> None:
    app, exporter = make_app()
    with capture_logs("orders") as records:
        response = request(
            app, "/orders/7?token=abc&page=2", headers={"user-agent": "pytest-agent/1.0"}
        )
    assert response.status_code == 200
    span = server_span(exporter)
    trace_id = format(span.context.trace_id, "032x")
    access = [r for r in records if r["log.logger"] == "http.access"]
    app_logs = [r for r in records if r["log.logger"] == "orders"]
    (record,) = access
    assert record["trace.id"] == trace_id
    assert record["span.id"] == format(span.context.span_id, "016x")
    assert app_logs[0]["trace.id"] == trace_id
    assert record["log.level"] == "info"
    assert record["http.request.method"] == "GET"
    assert record["url.path"] == "/orders/7"
    assert record["url.query"] == "token=%5BREDACTED%5D&page=2"
    assert "abc" not in record["message"]
    assert record["http.response.status_code"] == 200
    assert record["http.response.body.bytes"] == len(response.content)
    assert record["client.address"] == "10.1.2.3"
    assert record["client.port"] == 51234
    assert record["user_agent.original"] == "pytest-agent/1.0"
    assert record["http.version"] == "1.1"
    assert isinstance(record["event.duration"], int)
    assert record["event.duration"] > 0
    assert record["message"].startswith("'GET /orders/7?token=%5BREDACTED%5D&page=2 HTTP/1.1' 200")


def test_unhandled_exception_is_logged_inside_the_span_and_re_raised() -> None:
    app, exporter = make_app()
    with capture_logs("orders") as records, pytest.raises(RuntimeError, match="kaboom"):
        request(app, "/boom")
    span = server_span(exporter)
    (record,) = [r for r in records if r["log.logger"] == "http.access"]
    assert record["trace.id"] == format(span.context.trace_id, "032x")
    assert record["log.level"] == "error"
    assert record["http.response.status_code"] == 500
    assert record["error.type"] == "RuntimeError"
    assert record["error.message"] == "kaboom"


def test_excluded_paths_are_not_logged() -> None:
    app, _ = make_app()
    with capture_logs("orders") as records:
        assert request(app, "/healthz").status_code == 200
    assert not [r for r in records if r["log.logger"] == "http.access"]


def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = logging_ext.AccessLogMiddleware(inner)
    with capture_logs(level="INFO") as records:
        asyncio.run(middleware({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert seen == ["lifespan"]
    assert records == []


def test_cancelled_request_is_a_warning() -> None:
    async def slow(scope: Any, receive: Any, send: Any) -> None:
        raise asyncio.CancelledError

    middleware = logging_ext.AccessLogMiddleware(slow)

    async def go() -> None:
        await middleware(
            {"type": "http", "method": "GET", "path": "/slow", "headers": []},
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
        )

    with capture_logs(level="INFO") as records, pytest.raises(asyncio.CancelledError):
        asyncio.run(go())
    (record,) = records
    assert record["log.level"] == "warning"
    assert "http.response.status_code" not in record
