"""A correlate API on the Elasticsearch server of the session, with its own indices."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from elasticsearch import AsyncElasticsearch
from fastapi import FastAPI

from correlate.app import create_app
from correlate.settings import ApiSettings
from devstack.jaeger.templates import install_jaeger_templates
from tests.support.jaeger import SpanSpec
from tracelink.elasticsearch import install_templates
from tracelink.layout import jaeger_span_daily_index, log_index, log_index_pattern


@dataclass
class Stack:
    """The API under test, its settings, and a client to write test data with."""

    settings: ApiSettings
    app: FastAPI
    api: httpx.AsyncClient
    es: AsyncElasticsearch

    async def write_spans(self, specs: Iterable[SpanSpec], *, index: str | None = None) -> None:
        operations: list[dict[str, Any]] = []
        for spec in specs:
            when = datetime.fromtimestamp(spec.start_us / 1_000_000, tz=UTC)
            name = index or jaeger_span_daily_index(self.settings.jaeger_index_prefix, when)
            operations += [{"index": {"_index": name}}, spec.document()]
        await self._bulk(operations)

    async def write_span_docs(self, docs: Iterable[tuple[str, dict[str, Any]]]) -> None:
        operations: list[dict[str, Any]] = []
        for index, doc in docs:
            operations += [{"index": {"_index": index}}, doc]
        await self._bulk(operations)

    async def write_logs(self, docs: Iterable[dict[str, Any]]) -> None:
        operations: list[dict[str, Any]] = []
        for doc in docs:
            stamp = doc["@timestamp"]
            when = datetime.fromisoformat(stamp)
            event_id = doc.get("event.id") or doc.get("event", {}).get("id")
            operations += [
                {
                    "create": {
                        "_index": log_index(self.settings.log_index_prefix, when),
                        "_id": event_id,
                    }
                },
                doc,
            ]
        await self._bulk(operations)

    async def _bulk(self, operations: list[dict[str, Any]]) -> None:
        if not operations:
            return
        result = await self.es.bulk(operations=operations, refresh=True)
        assert not result["errors"], [item for item in result["items"] if "error" in str(item)][:3]

    def es_requests(self) -> float:
        """Elasticsearch requests the API has made so far (its own metric)."""
        total = 0.0
        for metric in self.app.state.metrics.es_requests.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    total += sample.value
        return total


MakeStack = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def make_stack(es_url: str, index_prefix: str) -> AsyncIterator[MakeStack]:
    """Build a :class:`Stack`; keyword arguments override :class:`ApiSettings` fields."""
    writer = AsyncElasticsearch(es_url, request_timeout=30)
    exits: list[Callable[[], Awaitable[None]]] = []
    installed = False

    async def make(**overrides: Any) -> Stack:
        nonlocal installed
        fields: dict[str, Any] = {
            "es_url": es_url,
            "log_index_prefix": f"{index_prefix}-logs",
            "dlq_index_prefix": f"{index_prefix}-dlq",
            "jaeger_index_prefix": index_prefix,
            "api_public_url": "http://api.test",
            # One thread, not worker processes: starting processes for every test's app
            # would triple the time of this suite. test_worker_processes covers them.
            "api_cpu_workers": 0,
            **overrides,
        }
        settings = ApiSettings(**fields)
        if not installed:
            await install_templates(writer, settings, retention_days=None)
            await install_jaeger_templates(writer, index_prefix)
            installed = True
        app = create_app(settings)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test")

        async def close() -> None:
            await api.aclose()
            await lifespan.__aexit__(None, None, None)

        exits.append(close)
        return Stack(settings=settings, app=app, api=api, es=writer)

    try:
        yield make
    finally:
        for close in reversed(exits):
            await close()
        await writer.close()


@pytest.fixture
async def stack(make_stack: MakeStack) -> Stack:
    return await make_stack()


__all__ = ["MakeStack", "Stack", "log_index_pattern"]
