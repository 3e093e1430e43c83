"""An ASGI middleware that writes the HTTP access log *inside* the server span.

Servers' own access loggers (uvicorn's, gunicorn's) write after the application returned,
when OpenTelemetry's server span has already ended, so their records carry no trace. This
middleware sits inside the OpenTelemetry middleware (``app.add_middleware`` on an app
instrumented by ``FastAPIInstrumentor`` puts it there) and logs before returning to it.
Turn the server's own access log off (``uvicorn --no-access-log``) to avoid two records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from logging_ext._processors import DEFAULT_REDACT_KEYS, RedactSecrets

__all__ = ["AccessLogMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class AccessLogMiddleware:
    """Log one record per HTTP request, from within the request's span.

    The record (logger ``logger_name``, default ``"http.access"``) says
    ``'GET /orders/7?x=1 HTTP/1.1' 200 3.2 ms`` and carries ECS fields:
    ``http.request.method``, ``url.path``, ``url.query`` (values of secret-looking
    parameters masked), ``http.response.status_code``, ``http.response.body.bytes``,
    ``http.version``, ``client.address``, ``client.port``, ``user_agent.original`` and
    ``event.duration`` (nanoseconds). Level INFO; ERROR for 5xx responses and for
    exceptions, which are attached (``error.*``) and re-raised untouched; WARNING when the
    request was cancelled. Paths in
    ``exclude_paths`` (health checks) are not logged.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        logger_name: str = "http.access",
        exclude_paths: Iterable[str] = (),
        redact_keys: Iterable[str] = DEFAULT_REDACT_KEYS,
    ) -> None:
        self.app = app
        self.logger = logging.getLogger(logger_name)
        self.exclude_paths = frozenset(exclude_paths)
        self._redact = RedactSecrets(redact_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("path") in self.exclude_paths:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter_ns()
        response: dict[str, int] = {"bytes": 0}

        async def send_and_watch(message: Message) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                response["status"] = int(message.get("status", 0))
            elif kind == "http.response.body":
                response["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except BaseException as exc:
            self._log(scope, response, started, exc)
            raise
        self._log(scope, response, started, None)

    def _log(
        self,
        scope: Scope,
        response: dict[str, int],
        started: int,
        exc: BaseException | None,
    ) -> None:
        try:
            duration_ns = time.perf_counter_ns() - started
            status = response.get("status")
            if status is None and isinstance(exc, Exception):
                status = 500  # what the server will answer for an unhandled exception
            method = str(scope.get("method", "-"))
            path = str(scope.get("path", ""))
            query = self._query(scope.get("query_string", b""))
            version = str(scope.get("http_version", "1.1"))
            target = f"{path}?{query}" if query else path
            fields: dict[str, Any] = {
                "http.request.method": method,
                "url.path": path,
                "http.version": version,
                "http.response.body.bytes": response["bytes"],
                "event.duration": duration_ns,
            }
            if query:
                fields["url.query"] = query
            if status is not None:
                fields["http.response.status_code"] = status
            client = scope.get("client")
            if client:
                fields["client.address"] = str(client[0])
                fields["client.port"] = int(client[1])
            agent = _header(scope, b"user-agent")
            if agent is not None:
                fields["user_agent.original"] = agent
            if isinstance(exc, Exception) or (status is not None and status >= 500):
                level = logging.ERROR
            elif exc is not None:  # cancelled: the client went away, or the server stops
                level = logging.WARNING
            else:
                level = logging.INFO
            self.logger.log(
                level,
                "'%s %s HTTP/%s' %s %.1f ms",
                method,
                target,
                version,
                "-" if status is None else status,
                duration_ns / 1e6,
                extra=fields,
                exc_info=exc if isinstance(exc, Exception) else None,
            )
        except Exception:  # noqa: BLE001, S110 - an access log must never fail a request
            pass

    def _query(self, raw: object) -> str:
        if not isinstance(raw, bytes | bytearray) or not raw:
            return ""
        text = bytes(raw).decode("latin-1")
        pairs = parse_qsl(text, keep_blank_values=True)
        if not any(self._redact.is_secret(key) for key, _ in pairs):
            return text
        return urlencode(
            [
                (key, self._redact.replacement if self._redact.is_secret(key) else value)
                for key, value in pairs
            ]
        )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if bytes(key).lower() == name:
            return bytes(value).decode("latin-1")
    return None
