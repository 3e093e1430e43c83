"""``GET /correlate/{trace_id}`` (JSON) and ``GET /correlate/{trace_id}/view`` (HTML)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import HTMLResponse, Response

from correlate.assemble import Presentation
from correlate.deps import SettingsDep, StoreDep, require_token
from correlate.errors import error_responses
from correlate.join import CorrelatedTrace
from correlate.links import trace_links
from correlate.query import Window
from correlate.settings import ApiSettings
from correlate.store import TraceStore
from correlate.times import parse_bound_us
from tracelink.ids import TRACE_ID_HEX, normalize_trace_id

__all__ = ["parse_trace_id", "router"]

router = APIRouter(tags=["correlate"], dependencies=[Depends(require_token)])

_ACCEPTED: Final = (
    "a trace ID is 1 to 32 hexadecimal digits (0-9, a-f, any case; a 16-digit Jaeger ID "
    "works), not all zeros"
)
_EXAMPLE: Final = "4bf92f3577b34da6a3ce929d0e0e4736"

TraceIdPath = Annotated[
    str,
    Path(
        description=_ACCEPTED,
        # Not validated by FastAPI (that would answer 422): parse_trace_id answers 400.
        json_schema_extra={"pattern": f"^(?!0+$)[0-9a-fA-F]{{1,{TRACE_ID_HEX}}}$"},
        examples=[_EXAMPLE],
    ),
]
StartQuery = Annotated[
    str | None,
    Query(
        description="only search indices from this time on (minus padding): RFC 3339 with "
        "an offset, or epoch microseconds",
        examples=["2026-11-22T10:23:47Z"],
    ),
]
EndQuery = Annotated[
    str | None,
    Query(
        description="only search indices up to this time (plus padding): RFC 3339 with an "
        "offset, or epoch microseconds",
        examples=["2026-11-22T10:30:00Z"],
    ),
]
LimitLogsQuery = Annotated[
    int | None,
    Query(
        ge=0,
        description="return at most this many logs (the earliest); the response's summary "
        "and warnings say when more exist. Default and maximum are the server's "
        "(TRACELINK_API_DEFAULT_LIMIT_LOGS, TRACELINK_API_MAX_LIMIT_LOGS).",
    ),
]


def parse_trace_id(value: str) -> str:
    """The path's trace ID as 32 lower-case hex, or a 400 that says what is accepted."""
    trace_id = normalize_trace_id(value)
    if trace_id is None:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise HTTPException(status_code=400, detail=f"invalid trace ID {shown!r}: {_ACCEPTED}")
    return trace_id


def _window(start: str | None, end: str | None, padding_us: int) -> Window:
    bounds: dict[str, int | None] = {"start": None, "end": None}
    for name, value in (("start", start), ("end", end)):
        if value is not None:
            try:
                bounds[name] = parse_bound_us(value, margin_us=padding_us)
            except ValueError as exc:
                raise HTTPException(status_code=400, detail=f"{name}: {exc}") from None
    window = Window(bounds["start"], bounds["end"])
    if (
        window.start_us is not None
        and window.end_us is not None
        and window.end_us < window.start_us
    ):
        raise HTTPException(status_code=400, detail="end must not be before start")
    return window


@dataclass(frozen=True)
class _Request:
    trace_id: str
    window: Window
    limit_logs: int


async def correlate(
    *,
    trace_id: TraceIdPath,
    settings: SettingsDep,
    start: StartQuery = None,
    end: EndQuery = None,
    limit_logs: LimitLogsQuery = None,
) -> _Request:
    """The checked input (the dependency both representations share)."""
    raw_trace_id = trace_id
    trace_id = parse_trace_id(raw_trace_id)
    window = _window(start, end, settings.api_window_padding * 1_000_000)
    if limit_logs is None:
        limit_logs = settings.api_default_limit_logs
    if limit_logs > settings.api_max_limit_logs:
        raise HTTPException(
            status_code=400,
            detail=f"limit_logs: at most {settings.api_max_limit_logs} "
            "(the server's TRACELINK_API_MAX_LIMIT_LOGS)",
        )
    return _Request(trace_id, window, limit_logs)


async def _answer(
    request: _Request, settings: ApiSettings, store: TraceStore, output: Literal["json", "html"]
) -> bytes:
    """Fetch, join and link the trace; the body as ``output``, or a 404."""
    presentation = Presentation(
        links=trace_links(settings, request.trace_id),
        kibana_url=settings.kibana_url,
        kibana_log_data_view=settings.kibana_log_data_view,
        output=output,
    )
    body = await store.fetch_trace(
        request.trace_id, request.window, limit_logs=request.limit_logs, presentation=presentation
    )
    if body is None:
        where = " in the given time window" if request.window.bounded else ""
        raise HTTPException(
            status_code=404,
            detail=f"no spans and no logs found for trace {request.trace_id}{where}",
        )
    return body


CorrelatedDep = Annotated[_Request, Depends(correlate)]


@router.get(
    "/correlate/{trace_id}",
    summary="A trace's spans with their logs",
    response_class=Response,
    responses={
        200: {
            "description": "The trace: spans depth-first with their logs, orphan logs, "
            "summary, warnings and links",
            "content": {"application/json": {}},
            "model": CorrelatedTrace,
        },
        **error_responses(400, 401, 404, 502, 503),
    },
)
async def get_correlated_trace(
    trace: CorrelatedDep, settings: SettingsDep, store: StoreDep
) -> Response:
    body = await _answer(trace, settings, store, "json")
    return Response(body, media_type="application/json")


@router.get(
    "/correlate/{trace_id}/view",
    summary="The same trace as an HTML waterfall",
    response_class=HTMLResponse,
    responses={
        200: {"description": "The waterfall page", "content": {"text/html": {}}},
        **error_responses(400, 401, 404, 502, 503, html=True),
    },
)
async def view_correlated_trace(
    trace: CorrelatedDep, settings: SettingsDep, store: StoreDep
) -> HTMLResponse:
    return HTMLResponse(await _answer(trace, settings, store, "html"))


@router.get("/correlate/{rest:path}", include_in_schema=False)
async def not_a_trace_id(rest: str) -> Response:
    # A trace ID never contains "/": say what is accepted rather than a bare 404.
    parse_trace_id(rest)
    raise HTTPException(status_code=404, detail="no such page: see /docs")
