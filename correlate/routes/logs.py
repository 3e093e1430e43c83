"""``GET /logs/{event_id}``: one log record and the way to its trace (log → trace)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import Response

from correlate.deps import SettingsDep, StoreDep, require_token
from correlate.errors import error_responses
from correlate.links import trace_links
from correlate.logs import LogRecord

__all__ = ["LogAnswer", "router"]

router = APIRouter(tags=["logs"], dependencies=[Depends(require_token)])


@dataclass
class LogAnswer:
    """A log record, its trace ID (``null`` when logged outside any span) and links."""

    log: LogRecord
    trace_id: str | None
    links: dict[str, str] = field(default_factory=dict)


@router.get(
    "/logs/{event_id}",
    summary="One log record with its trace ID and the correlate link",
    response_class=Response,
    responses={
        200: {
            "description": "The log record",
            "content": {"application/json": {}},
            "model": LogAnswer,
        },
        **error_responses(400, 401, 404, 502, 503),
    },
)
async def get_log(
    event_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=256,
            description="the record's event.id (UUIDv7 or ULID as the producer made it)",
            examples=["01936f6e-8d4b-7c3a-9f1e-2b5d8c7a6e40"],
        ),
    ],
    settings: SettingsDep,
    store: StoreDep,
) -> Response:
    log = await store.find_log(event_id)
    if log is None:
        raise HTTPException(status_code=404, detail=f"no log record with event.id {event_id!r}")
    links: dict[str, str] = {}
    if log.trace_id is not None:
        links = trace_links(settings, log.trace_id)
    answer = LogAnswer(log=log, trace_id=log.trace_id, links=links)
    return Response(orjson.dumps(answer), media_type="application/json")
