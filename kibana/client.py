"""A small client for the two Kibana HTTP APIs ``tracelink setup`` needs.

- ``GET /api/status``: 200 once Kibana's core is up, 503 while it is starting or unhealthy
  (JSON, or a plain "Kibana server is not ready yet" before the HTTP server is ready).
  Ready means ``status.overall.level == "available"`` (8.x format).
- ``POST /api/saved_objects/_import?overwrite=true``: multipart field ``file`` (name ending in
  ``.ndjson``), header ``kbn-xsrf``. Always 200 once the file is processed: the outcome is
  ``success`` and the per-object ``errors[]`` in the body.

Importing with overwrite is idempotent, so a failed attempt (connection error, 429, 5xx) is
retried until the deadline. Everything else fails at once with the reason Kibana gave.
Credentials travel in the ``Authorization`` header only and never appear in messages.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit, urlunsplit

import httpx

from tracelink.backoff import Backoff

__all__ = [
    "ImportOutcome",
    "KibanaClient",
    "KibanaError",
    "KibanaStatus",
    "display_url",
]

_IMPORT_FILE_NAME: Final = "tracelink-saved-objects.ndjson"
_RETRIABLE_STATUS: Final = frozenset({429, 500, 502, 503, 504})
# Pauses between import attempts: about 1 s, doubling up to 10 s.
_IMPORT_BACKOFF: Final = Backoff(1.0, 10.0)


class KibanaError(Exception):
    """``tracelink setup`` could not finish against Kibana; ``str()`` is the reason."""


def display_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, safe to print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class KibanaStatus:
    """One answer of ``/api/status`` (or the lack of one)."""

    level: str | None
    summary: str
    version: str | None = None

    @property
    def available(self) -> bool:
        return self.level == "available"


@dataclass
class ImportOutcome:
    """What an import did: ``created`` and ``overwritten`` hold ``(type, id)`` pairs."""

    created: list[tuple[str, str]] = field(default_factory=list)
    overwritten: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _status_from_body(body: Any) -> KibanaStatus | None:
    if not isinstance(body, dict):
        return None
    overall = (body.get("status") or {}).get("overall") or {}
    version = (body.get("version") or {}).get("number")
    if "level" in overall:
        return KibanaStatus(str(overall["level"]), str(overall.get("summary", "")), version)
    if "state" in overall:  # the 7.x format (?v7format=true)
        state = str(overall["state"])
        level = {"green": "available", "yellow": "degraded", "red": "unavailable"}.get(state)
        return KibanaStatus(level, str(overall.get("title", state)), version)
    return None


def _kibana_message(response: httpx.Response) -> str:
    """The ``message`` of a Kibana error body, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return json.dumps(body)[:300]


def _describe_import_error(entry: Any) -> str:
    if not isinstance(entry, dict):
        return f"unexpected error entry {entry!r}"
    what = f"{entry.get('type', '?')} {entry.get('id', '?')}"
    title = (entry.get("meta") or {}).get("title") or entry.get("title")
    if title:
        what += f" ({title})"
    error = entry.get("error") or {}
    kind = error.get("type", "unknown")
    detail = ""
    if kind == "missing_references":
        refs = ", ".join(f"{r.get('type')} {r.get('id')}" for r in error.get("references", []))
        detail = f": references {refs}"
    elif error.get("message"):
        status = f" (HTTP {error['statusCode']})" if error.get("statusCode") else ""
        detail = f": {error['message']}{status}"
    elif kind in ("conflict", "ambiguous_conflict"):
        detail = ": an object with this id exists and was not overwritten"
    return f"{what}: {kind}{detail}"


class KibanaClient:
    """Talks to one Kibana (one space). Use ``async with``; ``aclose()`` is idempotent."""

    def __init__(
        self,
        base_url: str,
        *,
        authorization: str | None = None,
        ca_certs: Path | None = None,
        space: str = "",
        request_timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.space = space
        headers = {"kbn-xsrf": "tracelink", "Accept": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        verify: ssl.SSLContext | bool = True
        if ca_certs is not None:
            verify = ssl.create_default_context(cafile=str(ca_certs))
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=request_timeout,
            verify=verify,
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _space_path(self, path: str) -> str:
        return f"/s/{self.space}{path}" if self.space else path

    async def status(self) -> KibanaStatus:
        """Ask ``/api/status`` once. Unreachable or starting → a status that is not available.

        Raises :class:`KibanaError` when waiting cannot help: refused credentials, or an
        answer that is not Kibana's.
        """
        try:
            response = await self._http.get("/api/status")
        except httpx.TransportError as exc:
            return KibanaStatus(None, f"unreachable ({type(exc).__name__})")
        if response.status_code in (401, 403):
            raise KibanaError(
                f"Kibana refused the credentials (HTTP {response.status_code}): "
                f"{_kibana_message(response)}; set TRACELINK_KIBANA_USERNAME/PASSWORD or "
                "TRACELINK_KIBANA_API_KEY (default: the Elasticsearch credentials)"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        parsed = _status_from_body(body)
        if parsed is not None:
            return parsed
        if response.status_code == 503 or response.status_code >= 500:
            text = response.text.strip()[:200] or response.reason_phrase
            return KibanaStatus(None, f"HTTP {response.status_code}: {text}")
        raise KibanaError(
            f"{display_url(self.base_url)}/api/status answered HTTP {response.status_code} "
            "without a Kibana status: is this Kibana's URL?"
        )

    async def wait_until_available(
        self,
        within: float,
        *,
        interval: float = 2.0,
        on_change: Callable[[KibanaStatus], None] | None = None,
    ) -> KibanaStatus:
        """Poll ``/api/status`` until ``available``; :class:`KibanaError` after ``within`` s.

        ``on_change`` is called whenever the observed state changes (for progress output).
        """
        deadline = time.monotonic() + within
        last: KibanaStatus | None = None
        while True:
            current = await self.status()
            if on_change is not None and (last is None or current.level != last.level):
                on_change(current)
            last = current
            if current.available:
                return current
            if time.monotonic() + interval > deadline:
                raise KibanaError(
                    f"Kibana at {display_url(self.base_url)} did not report 'available' within "
                    f"{within:g} s; last status: {current.level or 'none'} ({current.summary})"
                )
            await asyncio.sleep(interval)

    async def import_saved_objects(
        self,
        ndjson: str,
        *,
        expected: Sequence[tuple[str, str]],
        retry_for: float = 60.0,
    ) -> ImportOutcome:
        """Import ``ndjson`` with overwrite; every ``(type, id)`` in ``expected`` must succeed.

        Raises :class:`KibanaError` listing every failed object, or the request's error.
        """
        deadline = time.monotonic() + retry_for
        delays = _IMPORT_BACKOFF.delays()
        while True:
            try:
                response = await self._http.post(
                    self._space_path("/api/saved_objects/_import"),
                    params={"overwrite": "true"},
                    files={"file": (_IMPORT_FILE_NAME, ndjson.encode(), "application/ndjson")},
                )
            except httpx.TransportError as exc:
                problem = f"request failed ({type(exc).__name__})"
            else:
                if response.status_code == 200:
                    return self._check_import(response, expected)
                problem = f"HTTP {response.status_code}: {_kibana_message(response)}"
                if response.status_code not in _RETRIABLE_STATUS:
                    raise KibanaError(f"Kibana rejected the import: {problem}")
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise KibanaError(
                    f"Kibana import did not succeed within {retry_for:g} s: {problem}"
                )
            await asyncio.sleep(delay)

    @staticmethod
    def _check_import(
        response: httpx.Response, expected: Sequence[tuple[str, str]]
    ) -> ImportOutcome:
        try:
            body = response.json()
        except ValueError:
            raise KibanaError("Kibana answered the import with a body that is not JSON") from None
        if not isinstance(body, dict):
            raise KibanaError(f"unexpected import response: {json.dumps(body)[:300]}")
        problems = [_describe_import_error(entry) for entry in body.get("errors") or []]
        results = body.get("successResults") or []
        outcome = ImportOutcome(
            warnings=[str(w.get("message", w)) for w in body.get("warnings") or []]
        )
        imported: set[tuple[str, str]] = set()
        for entry in results:
            key = (str(entry.get("type")), str(entry.get("id")))
            imported.add(key)
            (outcome.overwritten if entry.get("overwrite") else outcome.created).append(key)
            destination = entry.get("destinationId")
            if destination is not None and destination != entry.get("id"):
                problems.append(f"{key[0]} {key[1]}: imported under another id {destination}")
        missing = [key for key in expected if key not in imported]
        if body.get("success") is not True or problems or missing:
            if missing and not problems:
                problems.append(
                    "not reported as imported: " + ", ".join(f"{t} {i}" for t, i in missing)
                )
            if not problems:
                problems.append("Kibana reported success: false without errors")
            raise KibanaError("Kibana import failed:\n  " + "\n  ".join(problems))
        return outcome
