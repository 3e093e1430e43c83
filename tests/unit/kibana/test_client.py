"""The Kibana client against a protocol test double (see tests/support/kibana.py).

No Kibana can run here; the double is a real HTTP server on loopback that answers
``/api/status`` and ``/api/saved_objects/_import`` with Kibana 8.x's documented status codes
and bodies, so these tests exercise the real HTTP, multipart and JSON handling. They stand
in for a server we cannot run; they do not replace Kafka or Elasticsearch anywhere.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from devstack.standins import free_port
from kibana.client import KibanaClient, KibanaError, KibanaStatus, display_url
from kibana.objects import render_saved_objects, to_ndjson
from tests.support.kibana import (
    KIBANA_8_0_LATEST_MIGRATIONS,
    KibanaDouble,
    Reply,
    not_ready_yet,
    status_reply,
)

OBJECTS = render_saved_objects()
NDJSON = to_ndjson(OBJECTS)
EXPECTED = [(obj["type"], obj["id"]) for obj in OBJECTS]


@pytest.fixture
def kibana() -> Iterator[KibanaDouble]:
    double = KibanaDouble().start()
    try:
        yield double
    finally:
        double.stop()


def _double(**kwargs: object) -> KibanaDouble:
    return KibanaDouble(**kwargs).start()  # type: ignore[arg-type]


async def test_waits_through_the_starting_states_until_available() -> None:
    double = _double(
        statuses=[
            not_ready_yet(),
            status_reply("unavailable", summary="Waiting for Elasticsearch"),
            status_reply("degraded"),
            status_reply("available", version="8.0.0"),
        ]
    )
    seen: list[KibanaStatus] = []
    try:
        async with KibanaClient(double.url) as client:
            status = await client.wait_until_available(60, interval=0.01, on_change=seen.append)
    finally:
        double.stop()
    assert status.available
    assert status.version == "8.0.0"
    assert [s.level for s in seen] == [None, "unavailable", "degraded", "available"]
    assert "not ready yet" in seen[0].summary
    assert seen[1].summary == "Waiting for Elasticsearch"


async def test_gives_up_after_the_wait_with_the_last_state() -> None:
    double = _double(statuses=[status_reply("degraded", summary="1 service is degraded")])
    try:
        async with KibanaClient(double.url) as client:
            with pytest.raises(KibanaError, match="did not report 'available'") as caught:
                await client.wait_until_available(0.3, interval=0.05)
    finally:
        double.stop()
    assert "degraded (1 service is degraded)" in str(caught.value)
    assert double.status_calls >= 2


async def test_unreachable_kibana_is_waited_for_then_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with KibanaClient(url) as client:
        status = await client.status()
        assert status.level is None
        assert "unreachable" in status.summary
        with pytest.raises(KibanaError, match="unreachable"):
            await client.wait_until_available(0.2, interval=0.05)


async def test_refused_credentials_fail_at_once_without_showing_them() -> None:
    secret = "Basic " + base64.b64encode(b"elastic:s3cret-pw").decode()
    double = _double(authorization=secret)
    try:
        async with KibanaClient(double.url, authorization="Basic d3Jvbmc6d3Jvbmc=") as client:
            with pytest.raises(KibanaError, match="refused the credentials") as caught:
                await client.wait_until_available(30, interval=0.01)
        async with KibanaClient(double.url, authorization=secret) as client:
            assert (await client.status()).available
    finally:
        double.stop()
    assert "s3cret" not in str(caught.value)


async def test_a_server_that_is_not_kibana_is_reported(kibana: KibanaDouble) -> None:
    async with KibanaClient(kibana.url + "/not-kibana") as client:
        with pytest.raises(KibanaError, match="is this Kibana's URL"):
            await client.status()


async def test_import_creates_then_replaces_the_same_objects(kibana: KibanaDouble) -> None:
    async with KibanaClient(kibana.url) as client:
        first = await client.import_saved_objects(NDJSON, expected=EXPECTED)
        stored_after_first = kibana.objects_in()
        second = await client.import_saved_objects(NDJSON, expected=EXPECTED)
    assert sorted(first.created) == sorted(EXPECTED)
    assert first.overwritten == []
    assert second.created == []
    assert sorted(second.overwritten) == sorted(EXPECTED)
    # Re-running changes nothing: the same objects under the same ids.
    assert kibana.objects_in() == stored_after_first
    assert len(stored_after_first) == len(OBJECTS)
    request = kibana.imports[0]
    assert request.overwrite is True
    assert request.filename.endswith(".ndjson")
    assert request.headers["kbn-xsrf"]
    assert request.objects == [json.loads(line) for line in NDJSON.splitlines()]


async def test_import_into_a_space(kibana: KibanaDouble) -> None:
    async with KibanaClient(kibana.url, space="observability") as client:
        await client.import_saved_objects(NDJSON, expected=EXPECTED)
    assert kibana.imports[0].space == "observability"
    assert len(kibana.objects_in("observability")) == len(OBJECTS)
    assert kibana.objects_in("default") == {}


async def test_objects_are_portable_to_kibana_8_0() -> None:
    """Kibana 8.0.0 rejects migration versions newer than its own; ours are older."""
    double = _double(version="8.0.0", latest_migrations=KIBANA_8_0_LATEST_MIGRATIONS)
    try:
        async with KibanaClient(double.url) as client:
            outcome = await client.import_saved_objects(NDJSON, expected=EXPECTED)
            assert len(outcome.created) == len(OBJECTS)
            newer = dict(OBJECTS[0], coreMigrationVersion="8.8.0", id="from-8-8")
            with pytest.raises(KibanaError, match="more recent version of Kibana"):
                await client.import_saved_objects(
                    to_ndjson([newer]), expected=[("index-pattern", "from-8-8")]
                )
    finally:
        double.stop()


async def test_every_failed_object_is_reported(kibana: KibanaDouble) -> None:
    dashboard = next(obj for obj in OBJECTS if obj["type"] == "dashboard")
    strange = {
        "type": "canvas-workpad",
        "id": "tracelink-x",
        "attributes": {"title": "x"},
        "references": [],
    }
    async with KibanaClient(kibana.url) as client:
        with pytest.raises(KibanaError) as caught:
            await client.import_saved_objects(
                to_ndjson([dashboard, strange]),
                expected=[("dashboard", dashboard["id"]), ("canvas-workpad", "tracelink-x")],
            )
    message = str(caught.value)
    assert (
        "dashboard tracelink-correlation-health (Correlation health): missing_references" in message
    )
    assert "visualization tracelink-trace-context-share" in message
    assert "canvas-workpad tracelink-x (x): unsupported_type" in message
    assert kibana.objects_in() == {}


async def test_success_without_every_expected_object_is_a_failure(kibana: KibanaDouble) -> None:
    async with KibanaClient(kibana.url) as client:
        with pytest.raises(KibanaError, match="not reported as imported: search tracelink-nope"):
            await client.import_saved_objects(
                NDJSON, expected=[*EXPECTED, ("search", "tracelink-nope")]
            )


async def test_transient_failures_are_retried(kibana: KibanaDouble) -> None:
    kibana.import_replies = [
        Reply(503, b'{"statusCode":503,"error":"Service Unavailable","message":"busy"}'),
        Reply(429, b'{"statusCode":429,"error":"Too Many Requests","message":"slow down"}'),
    ]
    async with KibanaClient(kibana.url) as client:
        outcome = await client.import_saved_objects(NDJSON, expected=EXPECTED, retry_for=30)
    assert len(outcome.created) == len(OBJECTS)
    assert kibana.import_replies == []


async def test_a_rejected_request_fails_at_once_with_kibanas_message(kibana: KibanaDouble) -> None:
    kibana.import_replies = [
        Reply(
            413,
            json.dumps(
                {
                    "statusCode": 413,
                    "error": "Payload Too Large",
                    "message": "Payload content length greater than maximum allowed: 26214400",
                }
            ).encode(),
        )
    ]
    async with KibanaClient(kibana.url) as client:
        with pytest.raises(KibanaError, match="HTTP 413: Payload content length greater"):
            await client.import_saved_objects(NDJSON, expected=EXPECTED, retry_for=30)


async def test_retries_end_at_the_deadline(kibana: KibanaDouble) -> None:
    kibana.import_replies = [Reply(502, b"<html>Bad Gateway</html>", "text/html")] * 10
    async with KibanaClient(kibana.url) as client:
        with pytest.raises(KibanaError, match=r"did not succeed within 0\.5 s: HTTP 502"):
            await client.import_saved_objects(NDJSON, expected=EXPECTED, retry_for=0.5)


async def test_the_double_enforces_kibanas_request_rules(kibana: KibanaDouble) -> None:
    """The double rejects what Kibana rejects, so the client's compliance is meaningful."""
    import httpx

    async with httpx.AsyncClient(base_url=kibana.url) as http:
        no_xsrf = await http.post("/api/saved_objects/_import", files={"file": ("a.ndjson", b"")})
        wrong_name = await http.post(
            "/api/saved_objects/_import",
            headers={"kbn-xsrf": "x"},
            files={"file": ("objects.json", b"{}")},
        )
        duplicate = await http.post(
            "/api/saved_objects/_import",
            headers={"kbn-xsrf": "x"},
            files={"file": ("a.ndjson", (NDJSON.splitlines()[0] + "\n") * 2)},
        )
    assert no_xsrf.status_code == 400
    assert "kbn-xsrf" in no_xsrf.json()["message"]
    assert wrong_name.status_code == 400
    assert wrong_name.json()["message"] == "Invalid file extension .json"
    assert duplicate.status_code == 400
    assert "Non-unique import objects" in duplicate.json()["message"]


def test_display_url_hides_credentials() -> None:
    assert display_url("https://elastic:pw@kibana.example.com:5601/base") == (
        "https://kibana.example.com:5601/base"
    )
    assert display_url("http://kibana:5601") == "http://kibana:5601"
