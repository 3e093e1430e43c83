"""``/healthz`` (process up), ``/readyz`` (Elasticsearch reachable), ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from correlate.deps import StoreDep, require_token
from correlate.errors import error_responses
from correlate.metrics import ApiMetrics
from correlate.store import StoreUnavailableError

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up (no dependency checked)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Elasticsearch answers",
    responses=error_responses(503),
)
async def readyz(store: StoreDep) -> Any:
    try:
        info = await store.ping()
    except StoreUnavailableError as exc:
        return JSONResponse({"detail": exc.detail}, status_code=503)
    version = info.get("version", {})
    return {
        "status": "ready",
        "elasticsearch": {
            "cluster_name": info.get("cluster_name"),
            "version": version.get("number") if isinstance(version, dict) else None,
        },
    }


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format", "content": {"text/plain": {}}},
        **error_responses(401),
    },
    dependencies=[Depends(require_token)],
)
async def metrics(request: Request) -> Response:
    registry: ApiMetrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
