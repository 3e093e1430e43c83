"""``GET /traces``: recent traces whose logs match a filter (start from the logs)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Annotated, Final

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from correlate.deps import SettingsDep, StoreDep, require_token
from correlate.errors import error_responses
from correlate.links import trace_links
from correlate.logs import LEVEL_NAMES, level_names_at_least
from correlate.query import Window
from correlate.times import format_time_us, parse_bound_us

__all__ = ["RecentTrace", "RecentTraces", "router"]

router = APIRouter(tags=["traces"], dependencies=[Depends(require_token)])

_RELATIVE: Final = re.compile(r"^([0-9]{1,6})([smhd])\Z")
_UNIT_US: Final = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
_DEFAULT_SINCE: Final = "1h"


@dataclass
class RecentTrace:
    """A trace and its newest log that matched the filter."""

    trace_id: str
    last_seen: str | None
    last_seen_us: int | None
    service: str | None
    level: str | None
    message: str
    event_id: str | None
    links: dict[str, str] = field(default_factory=dict)


@dataclass
class RecentTraces:
    since: str
    traces: list[RecentTrace]


def _since_us(value: str, now_us: int, padding_us: int) -> int:
    match = _RELATIVE.match(value.strip())
    if match:
        return max(now_us - int(match.group(1)) * _UNIT_US[match.group(2)], 0)
    try:
        return parse_bound_us(value, margin_us=padding_us)
    except ValueError as exc:
        raise HTTPException(
            status_code=400,
            detail=f"since: {exc}; or a duration back from now such as 15m, 2h, 7d",
        ) from None


@router.get(
    "/traces",
    summary="Recent trace IDs that have logs matching the filter, newest first",
    response_class=Response,
    responses={
        200: {
            "description": "Matching traces, most recently active first",
            "content": {"application/json": {}},
            "model": RecentTraces,
        },
        **error_responses(400, 401, 502, 503),
    },
)
async def recent_traces(
    *,
    settings: SettingsDep,
    store: StoreDep,
    service: Annotated[
        str | None,
        Query(min_length=1, max_length=256, description="service.name of the logs"),
    ] = None,
    level: Annotated[
        str | None,
        Query(
            description="minimum log level: error also finds critical and fatal",
            json_schema_extra={"enum": list(LEVEL_NAMES)},
        ),
    ] = None,
    since: Annotated[
        str,
        Query(
            description="logs from this time on: RFC 3339 with an offset, epoch "
            "microseconds, or a duration back from now (30s, 15m, 2h, 7d)",
        ),
    ] = _DEFAULT_SINCE,
    limit: Annotated[int, Query(ge=1, le=500, description="at most this many traces")] = 50,
) -> Response:
    if level is not None:
        try:
            level_names_at_least(level)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=f"level: {exc}") from None
    now_us = time.time_ns() // 1000
    padding_us = settings.api_window_padding * 1_000_000
    since_us = _since_us(since, now_us, padding_us)
    # Up to now plus padding: clocks of the services may run ahead of ours.
    window = Window(since_us, max(now_us, since_us) + padding_us)
    records = await store.recent_traces(
        window, service=service, level=level.lower() if level else None, limit=limit
    )
    traces = [
        RecentTrace(
            trace_id=record.trace_id,
            last_seen=record.timestamp,
            last_seen_us=record.timestamp_us,
            service=record.service,
            level=record.level,
            message=record.message,
            event_id=record.event_id,
            links=trace_links(settings, record.trace_id),
        )
        for record in records
        if record.trace_id is not None
    ]
    body = RecentTraces(since=format_time_us(since_us), traces=traces)
    return Response(orjson.dumps(body), media_type="application/json")
