"""A bulk endpoint that acknowledges instantly: the shipper benchmark's Elasticsearch.

It answers ``GET /`` like Elasticsearch 8 (so clients accept it), template and ILM calls with
200, and ``POST|PUT /_bulk`` with a correct per-item response: one ``create`` result per
action line, status 201, ``errors: false``. Documents are not stored. It counts what it
acknowledged (``GET /_stats/acked``) so a benchmark can tell when everything arrived.

Run: ``python bench/bulk_ack_server.py PORT`` (prints ``ready`` when listening).
"""

from __future__ import annotations

import sys

import orjson
from aiohttp import web

_ROOT = {
    "name": "bulk-ack",
    "cluster_name": "bench",
    "version": {"number": "8.15.3", "build_flavor": "default", "lucene_version": "9.11.1"},
    "tagline": "You Know, for Search",
}
_HEADERS = {"X-Elastic-Product": "Elasticsearch", "Content-Type": "application/json"}


class _State:
    acked = 0
    requests = 0


async def _root(_request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(_ROOT), headers=_HEADERS)


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(body=b'{"acknowledged":true}', headers=_HEADERS)


async def _no_ilm(_request: web.Request) -> web.Response:
    return web.Response(
        status=400,
        body=b'{"error":{"type":"illegal_argument_exception","reason":"no handler found"},'
        b'"status":400}',
        headers=_HEADERS,
    )


async def _bulk(request: web.Request) -> web.Response:
    body = await request.read()
    items = []
    lines = body.split(b"\n")
    position = 0
    while position < len(lines):
        line = lines[position]
        if not line:
            position += 1
            continue
        action = orjson.loads(line)
        op, meta = next(iter(action.items()))
        items.append(
            {
                op: {
                    "_index": meta.get("_index"),
                    "_id": meta.get("_id"),
                    "_version": 1,
                    "result": "created",
                    "status": 201,
                }
            }
        )
        position += 1 if op == "delete" else 2
    _State.acked += len(items)
    _State.requests += 1
    return web.Response(
        body=orjson.dumps({"took": 0, "errors": False, "items": items}), headers=_HEADERS
    )


async def _stats(_request: web.Request) -> web.Response:
    return web.Response(
        body=orjson.dumps({"acked": _State.acked, "requests": _State.requests}),
        headers=_HEADERS,
    )


def make_app() -> web.Application:
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_get("/", _root)
    app.router.add_post("/_bulk", _bulk)
    app.router.add_put("/_bulk", _bulk)
    app.router.add_get("/_stats/acked", _stats)
    app.router.add_get("/_ilm/status", _no_ilm)
    app.router.add_put("/_index_template/{name}", _ok)
    return app


if __name__ == "__main__":
    port = int(sys.argv[1])
    print("ready", flush=True)
    web.run_app(make_app(), host="127.0.0.1", port=port, print=None, access_log=None)
