"""``/healthz`` (process up), ``/readyz`` (Elasticsearch reachable), ``/metrics``."""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from correlate.deps import StoreDep, require_token
from correlate.errors import error_responses
from correlate.metrics import ApiMetrics
from correlate.store import StoreRefusedError, StoreUnavailableError

__all__ = ["router"]

router = APIRouter(tags=["health"])

_log = logging.getLogger("correlate")


@router.get("/healthz", summary="The process is up (no dependency checked)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


_NOT_READY: Final = {
    "unreachable": "Elasticsearch is unreachable",
    "timeout": "Elasticsearch did not answer in time",
    "failed": "Elasticsearch failed to answer",
}


@router.get(
    "/readyz",
    summary="Elasticsearch answers",
    responses={503: {"description": "Not ready: the reason class, details in the API's log"}},
)
async def readyz(store: StoreDep) -> Any:
    """``ready``, or 503 ``not ready`` with the class of the reason only.

    Unauthenticated (load balancers call it): the cluster's name, version and address
    never appear here; they go to the API's log.
    """
    try:
        await store.ping()
    except StoreUnavailableError as exc:
        _log.warning("not ready: %s", exc.detail)
        return JSONResponse(
            {"status": "not ready", "reason": exc.reason, "detail": _NOT_READY[exc.reason]},
            status_code=503,
        )
    except StoreRefusedError as exc:
        _log.warning("not ready: %s", exc.detail)
        return JSONResponse(
            {
                "status": "not ready",
                "reason": "refused",
                "detail": "Elasticsearch refused the request",
            },
            status_code=503,
        )
    return {"status": "ready"}


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
