"""A protocol test double for Kibana's status and saved-objects import APIs.

No Kibana can run on the development and CI machines, so the importer is tested against
this small real HTTP server instead. It is not a stand-in for Kafka or Elasticsearch (those
are always real servers in the tests): it speaks only the documented parts of Kibana 8.x's
HTTP API that ``tracelink setup`` uses, with Kibana's status codes and bodies:

- ``GET /api/status``: a scripted sequence of answers ("not ready yet" plain text, 503 with
  a JSON status, 200 with ``status.overall.level``), the last one repeating; 401 without the
  expected credentials.
- ``POST [/s/<space>]/api/saved_objects/_import[?overwrite=true]``: ``kbn-xsrf`` header
  required (400), multipart/form-data required (415), field ``file`` whose name ends in
  ``.ndjson`` (400), NDJSON parsed line by line (400 on bad JSON or a duplicate type+id),
  per-object results in a 200 body: ``unsupported_type``, ``missing_references`` (checked
  against the file and the objects already stored), ``conflict`` without overwrite, and
  "belongs to a more recent version of Kibana" for migration versions newer than the
  emulated Kibana knows.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SUPPORTED_TYPES = frozenset(
    {"index-pattern", "search", "visualization", "dashboard", "lens", "config"}
)

# The newest migration each type has in Kibana 8.0.0 (its saved-object type registrations:
# the 8.0.0 entries come from the conversion to multi-namespace types).
KIBANA_8_0_LATEST_MIGRATIONS = {
    "index-pattern": "8.0.0",
    "search": "8.0.0",
    "visualization": "8.0.0",
    "dashboard": "8.0.0",
    "lens": "8.0.0",
}


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-", maxsplit=1)[0].split("."))


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


def not_ready_yet() -> Reply:
    """What Kibana answers before its HTTP server is ready (e.g. during migrations)."""
    return Reply(503, b"Kibana server is not ready yet", "text/plain; charset=utf-8")


def status_reply(level: str, version: str = "8.19.16", summary: str | None = None) -> Reply:
    """A v8-format ``/api/status`` body; 503 unless the level is available or degraded."""
    body = {
        "name": "kibana",
        "uuid": "5b2de169-2785-441b-ae8c-186a1936b17d",
        "version": {"number": version, "build_hash": "0" * 40, "build_snapshot": False},
        "status": {
            "overall": {"level": level, "summary": summary or f"Kibana is {level}"},
            "core": {
                "elasticsearch": {"level": level, "summary": "Elasticsearch"},
                "savedObjects": {"level": level, "summary": "SavedObjects service"},
            },
            "plugins": {},
        },
        "metrics": {},
    }
    code = 200 if level in ("available", "degraded") else 503
    return Reply(code, json.dumps(body).encode())


def _error(status: int, message: str) -> Reply:
    names = {400: "Bad Request", 401: "Unauthorized", 415: "Unsupported Media Type"}
    body = {"statusCode": status, "error": names.get(status, "Error"), "message": message}
    return Reply(status, json.dumps(body).encode())


@dataclass
class ImportRequest:
    """What one import request carried, for assertions."""

    space: str
    overwrite: bool
    filename: str
    headers: dict[str, str]
    objects: list[dict[str, Any]]


@dataclass
class KibanaDouble:
    """Run with ``start()`` / ``stop()``; ``url`` is its base URL."""

    version: str = "8.19.16"
    authorization: str | None = None
    statuses: list[Reply] = field(default_factory=lambda: [status_reply("available")])
    latest_migrations: dict[str, str] | None = None
    # Answers to give to the next import requests instead of processing them.
    import_replies: list[Reply] = field(default_factory=list)
    stored: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    imports: list[ImportRequest] = field(default_factory=list)
    status_calls: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self._send(double._handle_get(self))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                self._send(double._handle_post(self, body))

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> KibanaDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def objects_in(self, space: str = "default") -> dict[tuple[str, str], dict[str, Any]]:
        with self._lock:
            return {(t, i): obj for (s, t, i), obj in self.stored.items() if s == space}

    # -- request handling -------------------------------------------------------------

    def _authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        return (
            self.authorization is None or handler.headers.get("Authorization") == self.authorization
        )

    def _handle_get(self, handler: BaseHTTPRequestHandler) -> Reply:
        if urlsplit(handler.path).path != "/api/status":
            return Reply(404, b'{"statusCode":404,"error":"Not Found","message":"Not Found"}')
        if not self._authorized(handler):
            return _error(401, "Unauthorized")
        with self._lock:
            self.status_calls += 1
            return self.statuses[0] if len(self.statuses) == 1 else self.statuses.pop(0)

    def _handle_post(self, handler: BaseHTTPRequestHandler, body: bytes) -> Reply:
        parts = urlsplit(handler.path)
        path, space = parts.path, "default"
        if path.startswith("/s/"):
            _, _, space, rest = path.split("/", 3)
            path = "/" + rest
        if path != "/api/saved_objects/_import":
            return Reply(404, b'{"statusCode":404,"error":"Not Found","message":"Not Found"}')
        if not self._authorized(handler):
            return _error(401, "Unauthorized")
        if "kbn-xsrf" not in handler.headers:
            return _error(400, "Request must contain a kbn-xsrf header.")
        with self._lock:
            if self.import_replies:
                return self.import_replies.pop(0)
        content_type = handler.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            return _error(415, "Unsupported Media Type")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        file_part = next(
            (
                p
                for p in message.iter_parts()
                if p.get_param("name", header="content-disposition") == "file"
            ),
            None,
        )
        if file_part is None:
            return _error(
                400, "[request body.file]: expected value of type [Stream] but got [undefined]"
            )
        filename = str(file_part.get_filename() or "")
        if not filename.endswith(".ndjson"):
            suffix = filename[filename.rfind(".") :] if "." in filename else filename
            return _error(400, f"Invalid file extension {suffix}")
        overwrite = parse_qs(parts.query).get("overwrite", ["false"])[0] == "true"
        objects: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        payload = file_part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        for line in payload.decode("utf-8").splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                return _error(400, f"Unexpected token in JSON: {exc}")
            if "exportedCount" in obj and "type" not in obj:
                continue
            key = (str(obj.get("type")), str(obj.get("id")))
            if key in seen:
                return _error(400, f"Non-unique import objects detected: [{key[0]}:{key[1]}]")
            seen.add(key)
            objects.append(obj)
        with self._lock:
            self.imports.append(
                ImportRequest(space, overwrite, filename, dict(handler.headers.items()), objects)
            )
            return Reply(200, json.dumps(self._import(space, objects, overwrite, seen)).encode())

    def _too_new(self, obj: dict[str, Any]) -> str | None:
        core = obj.get("coreMigrationVersion")
        if core and _version_tuple(core) > _version_tuple(self.version):
            return str(core)
        latest = (self.latest_migrations or {}).get(str(obj.get("type")))
        if latest is None:
            return None
        declared = [obj.get("typeMigrationVersion")]
        declared += list((obj.get("migrationVersion") or {}).values())
        for version in filter(None, declared):
            if _version_tuple(str(version)) > _version_tuple(latest):
                return str(version)
        return None

    def _import(
        self,
        space: str,
        objects: list[dict[str, Any]],
        overwrite: bool,
        in_file: set[tuple[str, str]],
    ) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for obj in objects:
            obj_type, obj_id = str(obj.get("type")), str(obj.get("id"))
            title = (obj.get("attributes") or {}).get("title", "")
            base = {"type": obj_type, "id": obj_id, "title": title, "meta": {"title": title}}
            if obj_type not in SUPPORTED_TYPES:
                errors.append({**base, "error": {"type": "unsupported_type"}})
                continue
            if (newer := self._too_new(obj)) is not None:
                message = (
                    f'Document "{obj_id}" belongs to a more recent version of Kibana [{newer}] '
                    f"when the last known version is [{self.version}]."
                )
                errors.append(
                    {**base, "error": {"type": "unknown", "message": message, "statusCode": 400}}
                )
                continue
            missing = [
                {"type": ref["type"], "id": ref["id"]}
                for ref in obj.get("references", [])
                if (ref["type"], ref["id"]) not in in_file
                and (space, ref["type"], ref["id"]) not in self.stored
            ]
            if missing:
                errors.append(
                    {**base, "error": {"type": "missing_references", "references": missing}}
                )
                continue
            exists = (space, obj_type, obj_id) in self.stored
            if exists and not overwrite:
                errors.append({**base, "error": {"type": "conflict"}})
                continue
            self.stored[(space, obj_type, obj_id)] = obj
            result: dict[str, Any] = {"type": obj_type, "id": obj_id, "meta": {"title": title}}
            if exists:
                result["overwrite"] = True
            results.append(result)
        body: dict[str, Any] = {
            "successCount": len(results),
            "success": not errors,
            "warnings": [],
            "successResults": results,
        }
        if errors:
            body["errors"] = errors
        return body
