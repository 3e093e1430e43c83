"""The correlate API application: ``create_app(settings)``.

The lifespan owns the ``AsyncElasticsearch`` client (opened on start-up, closed on
shutdown); routes reach it through the :class:`~correlate.store.TraceStore` dependency.
Elasticsearch being down does not stop the app from starting: ``/readyz`` and every query
answer 503 until it is back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from elasticsearch.serializer import OrjsonSerializer
from fastapi import Depends, FastAPI

from correlate.deps import reject_unknown_query
from correlate.errors import install_error_handlers
from correlate.metrics import ApiMetrics, MetricsMiddleware
from correlate.offload import CpuPool
from correlate.routes import correlate, health, logs, traces
from correlate.settings import ApiSettings
from correlate.store import RawJsonSerializer, TraceStore
from tracelink import __version__
from tracelink.elasticsearch import make_client

__all__ = ["create_app"]

_DESCRIPTION = """
Joins a trace's spans, read from Jaeger's Elasticsearch span indices (every Jaeger
document era), with the trace's logs, shipped by tracelink into its daily log indices.

* `GET /correlate/{trace_id}` — spans depth-first, each with its logs; orphan logs;
  summary; warnings; links to the Jaeger UI and Kibana Discover.
* `GET /correlate/{trace_id}/view` — the same as an HTML waterfall.
* `GET /logs/{event_id}` — one log record and the link to its trace.
* `GET /traces` — recent traces whose logs match a filter.

When `TRACELINK_API_TOKEN` is set, every endpoint except `/healthz` and `/readyz` needs
`Authorization: Bearer <token>`.
"""


def create_app(settings: ApiSettings) -> FastAPI:
    """A new API application for ``settings`` (nothing global is configured)."""
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = make_client(
            settings, request_timeout=settings.api_es_timeout, serializer=OrjsonSerializer()
        )
        # Trace searches answer with undecoded bodies: the CPU pool decodes them.
        raw_client = make_client(
            settings, request_timeout=settings.api_es_timeout, serializer=RawJsonSerializer()
        )
        cpu = CpuPool(settings.api_cpu_workers)
        app.state.cpu = cpu
        app.state.store = TraceStore(client, settings, metrics, cpu, raw_client)
        try:
            yield
        finally:
            await client.close()
            await raw_client.close()
            cpu.close()

    app = FastAPI(
        title="tracelink correlate API",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],
        # No trailing-slash redirects: Starlette builds them from the request's Host header
        # (GET /traces/ with Host: evil.example -> 307 to evil.example) and answers them
        # before any authentication. /traces/ is a 404 like any unknown path.
        redirect_slashes=False,
        # One interactive documentation page (/docs, with /openapi.json), not two.
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_error_handlers(app)
    for module in (correlate, logs, traces, health):
        app.include_router(module.router)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    _publish_schema(app, settings)
    return app


def _publish_schema(app: FastAPI, settings: ApiSettings) -> None:
    """The OpenAPI document as the API behaves: invalid input is a 400 with a ``detail``
    string (never FastAPI's 422 list), and ``limit_logs`` has this server's default and
    maximum.
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                operation.get("responses", {}).pop("422", None)
                for parameter in operation.get("parameters", []):
                    if parameter.get("name") == "limit_logs":
                        parameter["schema"] = {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": settings.api_max_limit_logs,
                            "default": settings.api_default_limit_logs,
                            "title": "Limit Logs",
                        }
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
