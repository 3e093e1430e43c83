"""Error answers: JSON ``{"detail": …}`` for the API, a small HTML page for the view."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from correlate.render import render_error
from correlate.store import StoreRefusedError, StoreUnavailableError

__all__ = ["ErrorBody", "error_responses", "install_error_handlers"]


class ErrorBody(BaseModel):
    """Every error answer of the JSON API."""

    detail: str


_DESCRIPTIONS = {
    400: "Bad input (the detail says what is accepted)",
    401: "Missing or wrong API token (only when TRACELINK_API_TOKEN is set)",
    404: "Nothing found",
    502: "Elasticsearch answered but refused the query (its reason, and for indices created "
    "without the index templates which index and field, and what to install)",
    503: "Elasticsearch is unreachable, timed out or failed on its side",
}


def error_responses(*codes: int, html: bool = False) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries for ``codes``."""
    if html:
        return {
            code: {"description": _DESCRIPTIONS[code], "content": {"text/html": {}}}
            for code in codes
        }
    return {code: {"description": _DESCRIPTIONS[code], "model": ErrorBody} for code in codes}


def error_response(
    request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    """JSON for API routes, HTML for the view (whatever part of handling failed)."""
    if request.url.path.endswith("/view"):
        title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        return HTMLResponse(
            render_error(status, title, detail), status_code=status, headers=headers
        )
    return Response(
        orjson.dumps({"detail": detail}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _validation_detail(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("query", "path")]
        name = ".".join(location) or "request"
        problems.append(f"{name}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """400 for every invalid input (not FastAPI's 422); 502 when Elasticsearch refuses a
    query, 503 when it is unreachable or fails.
    """

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(request, exc.status_code, str(exc.detail), exc.headers)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, 400, _validation_detail(exc))

    async def on_store(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StoreUnavailableError)
        return error_response(request, 503, exc.detail)

    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)

    async def on_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StoreRefusedError)
        return error_response(request, 502, exc.detail)

    app.add_exception_handler(StoreUnavailableError, on_store)
    app.add_exception_handler(StoreRefusedError, on_refused)
