"""A real HTTP reverse proxy on loopback in front of the Elasticsearch stand-in.

The stand-in has no security: this proxy is how a test meets a cluster that refuses the
shipper's credentials. It passes every request through unchanged (method, path, query,
headers, body; the answer's status, headers and body as they come, compressed or not) except
bulk requests while :meth:`ElasticsearchProxy.refuse_bulk` is in force: those are answered
as Elasticsearch's security layer answers a request without valid credentials (status 401,
a ``security_exception`` body, ``WWW-Authenticate``, ``X-elastic-product``) and never reach
the server. :meth:`ElasticsearchProxy.pass_all` lifts that.

It runs its own event loop in a thread, so synchronous tests (the CLI as a child process)
use it as a context manager.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web
from yarl import URL

__all__ = ["ElasticsearchProxy"]

# Hop-by-hop headers (RFC 9110 §7.6.1) and the ones aiohttp sets itself for the new hop.
_HOP: frozenset[str] = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def _unauthorized_body(path: str) -> bytes:
    """What Elasticsearch answers a request without valid credentials (8.x)."""
    reason = f"unable to authenticate user [tracelink] for REST request [{path}]"
    cause = {"type": "security_exception", "reason": reason, "header": {"WWW-Authenticate": ""}}
    return json.dumps(
        {"error": {"root_cause": [cause], **cause}, "status": 401}, separators=(",", ":")
    ).encode()


class ElasticsearchProxy:
    """``url`` forwards to ``upstream``; bulk requests can be switched to 401."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._refusing = False
        self._lock = threading.Lock()
        self.refused_bulks = 0
        self.passed_bulks = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def refuse_bulk(self) -> None:
        """From now on every ``_bulk`` request is answered 401 (everything else passes)."""
        with self._lock:
            self._refusing = True

    def pass_all(self) -> None:
        """From now on every request passes through."""
        with self._lock:
            self._refusing = False

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        self._run(self._start())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    async def _start(self) -> None:
        # Bodies pass as they are: no decompression on either side.
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # --- the proxy ------------------------------------------------------------------------

    def _is_bulk(self, request: web.Request) -> bool:
        return request.path.rstrip("/").endswith("/_bulk")

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self._is_bulk(request):
            with self._lock:
                refusing = self._refusing
                if refusing:
                    self.refused_bulks += 1
                else:
                    self.passed_bulks += 1
            if refusing:
                return web.Response(
                    status=401,
                    body=_unauthorized_body(request.path),
                    headers={
                        "Content-Type": "application/json",
                        "WWW-Authenticate": 'Basic realm="security", charset="UTF-8"',
                        "X-elastic-product": "Elasticsearch",
                    },
                )
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(
            request.method,
            URL(self.upstream + request.raw_path, encoded=True),
            headers=headers,
            data=body,
            allow_redirects=False,
            # Only the client's own headers go upstream.
            skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
        ) as upstream:
            payload = await upstream.read()
            answer = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
            return web.Response(status=upstream.status, body=payload, headers=answer)
