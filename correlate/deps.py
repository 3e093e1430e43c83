"""FastAPI dependencies: settings, the store, and the API token check."""

from __future__ import annotations

import base64
import binascii
import secrets
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from correlate.offload import CpuPool
from correlate.settings import ApiSettings
from correlate.store import TraceStore

__all__ = ["CpuDep", "SettingsDep", "StoreDep", "reject_unknown_query", "require_token"]

_bearer = HTTPBearer(
    auto_error=False,
    description="Required when TRACELINK_API_TOKEN is set. Browsers may send the token as "
    "the password of HTTP Basic authentication instead (any user name).",
)


def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def _store(request: Request) -> TraceStore:
    store: TraceStore = request.app.state.store
    return store


def _cpu(request: Request) -> CpuPool:
    cpu: CpuPool = request.app.state.cpu
    return cpu


SettingsDep = Annotated[ApiSettings, Depends(_settings)]
CpuDep = Annotated[CpuPool, Depends(_cpu)]
StoreDep = Annotated[TraceStore, Depends(_store)]


def _basic_password(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


async def require_token(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """When ``api_token`` is set: the request must carry it (Bearer, or Basic's password).

    Browsers cannot add a Bearer header to a link they follow, so the HTML view also
    accepts HTTP Basic, for which they show a login prompt on the 401.
    """
    if settings.api_token is None:
        return
    expected = settings.api_token.get_secret_value().encode()
    given = credentials.credentials if credentials is not None else _basic_password(request)
    if given is not None and secrets.compare_digest(given.encode(), expected):
        return
    html = request.url.path.endswith("/view")
    raise HTTPException(
        status_code=401,
        detail="missing or wrong API token: send 'Authorization: Bearer <token>'",
        headers={
            "WWW-Authenticate": 'Basic realm="tracelink", charset="UTF-8"' if html else "Bearer"
        },
    )


def reject_unknown_query(request: Request) -> None:
    """400 for a query parameter the endpoint does not know: a typo (``limit_log=5``) must
    not be silently ignored.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    params = _query_params(route.dependant)
    unknown = sorted(set(request.query_params) - set(params))
    if unknown:
        accepted = ", ".join(sorted(params)) or "none"
        raise HTTPException(
            status_code=400,
            detail=f"unknown query parameter(s) {', '.join(map(repr, unknown))}; "
            f"this endpoint accepts: {accepted}",
        )
    # FastAPI keeps the last of a repeated single-valued parameter: `?service=a&service=b`
    # would silently search one of the two services. Say so instead.
    repeated = sorted(
        name
        for name in set(request.query_params)
        if not params[name] and len(request.query_params.getlist(name)) > 1
    )
    if repeated:
        raise HTTPException(
            status_code=400,
            detail=f"query parameter(s) {', '.join(map(repr, repeated))} given more than once; "
            "each takes one value",
        )


def _query_params(dependant: Dependant) -> dict[str, bool]:
    """Query parameter name → whether it takes several values (a list-typed parameter)."""
    params = {
        param.alias: _takes_many(param.field_info.annotation) for param in dependant.query_params
    }
    for sub_dependant in dependant.dependencies:
        params.update(_query_params(sub_dependant))
    return params


def _takes_many(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return any(_takes_many(arg) for arg in get_args(annotation))
    if origin is Annotated:
        return _takes_many(get_args(annotation)[0])
    return isinstance(origin, type) and issubclass(origin, (list, tuple, set, frozenset))
