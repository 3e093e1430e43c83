"""``tracelink serve`` as a user runs it, and the HTML view in headless Chromium."""

# ruff: noqa: E501 - the trace below is a table, one span or log per line

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from elasticsearch import AsyncElasticsearch

from devstack.jaeger.templates import install_jaeger_templates
from devstack.standins import free_port
from tests.support.cli import tracelink_executable
from tests.support.jaeger import SpanSpec, log_document
from tracelink.elasticsearch import install_templates
from tracelink.layout import jaeger_span_daily_index, log_index
from tracelink.settings import ElasticsearchSettings

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
BASE = datetime(2026, 11, 22, 10, 23, 47, 120_000, tzinfo=UTC)
BASE_US = int(BASE.timestamp()) * 1_000_000 + BASE.microsecond
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def at(offset_ms: float) -> str:
    micros = BASE_US + int(offset_ms * 1000)
    moment = datetime.fromtimestamp(micros // 1_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{micros % 1_000_000:06d}Z"


def _spans() -> list[SpanSpec]:
    s: list[tuple[str, str | None, str, str, int, int, dict[str, Any]]] = [
        ("a000000000000001", None, "frontend", "POST /checkout", 0, 412, {"http.method": "POST", "http.status_code": 502}),
        ("a000000000000002", "a000000000000001", "checkout", "place_order", 4, 398, {}),
        ("a000000000000003", "a000000000000002", "inventory", "reserve_items", 9, 61, {"items": 3}),
        ("a000000000000004", "a000000000000003", "inventory", "SELECT stock", 14, 38, {"db.system": "postgresql"}),
        ("a000000000000005", "a000000000000002", "payments", "charge_card", 75, 310, {"error": True, "otel.status_description": "gateway timeout"}),
        ("a000000000000006", "a000000000000005", "payments", "POST /v1/charges", 80, 300, {"error": True, "http.status_code": 504}),
        ("a000000000000007", "a000000000000002", "checkout", "publish order.failed", 390, 8, {}),
    ]  # fmt: skip
    return [
        SpanSpec(TRACE, sid, parent, svc, op, BASE_US + start * 1000, dur * 1000, tags=tags)
        for sid, parent, svc, op, start, dur, tags in s
    ]


def _logs() -> list[dict[str, Any]]:
    rows = [
        ("a000000000000001", 1, "frontend", "info", "checkout requested for cart c-981"),
        ("a000000000000002", 5, "checkout", "info", "placing order o-17 (3 items, 42.50 EUR)"),
        ("a000000000000003", 10, "inventory", "debug", "reserving 3 items in warehouse eu-1"),
        ("a000000000000003", 69, "inventory", "info", "reserved 3 items"),
        ("a000000000000005", 76, "payments", "info", "charging card ending 4242"),
        ("a000000000000006", 250, "payments", "warning", "gateway slow: no answer after 170 ms, retrying once"),
        ("a000000000000005", 384, "payments", "error", "charge failed: gateway timeout after 300 ms"),
        ("a000000000000007", 392, "checkout", "error", "order o-17 failed: <payment declined> & rolled back"),
        ("a000000000000001", 411, "frontend", "warning", "responding 502 to the client"),
        ("ffffffffffffffff", 395, "mailer", "info", "queued failure e-mail for o-17"),
    ]  # fmt: skip
    return [
        log_document(trace_id=TRACE, span_id=sid, timestamp=at(ms), message=msg,
                     event_id=f"evt-{i:02d}", service=svc, level=level)
        for i, (sid, ms, svc, level, msg) in enumerate(rows)
    ]  # fmt: skip


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


async def _seed(es_url: str, prefix: str) -> None:
    settings = ElasticsearchSettings(
        es_url=[es_url], log_index_prefix=f"{prefix}-logs", dlq_index_prefix=f"{prefix}-dlq"
    )
    es = AsyncElasticsearch(es_url, request_timeout=30)
    try:
        await install_templates(es, settings, retention_days=None)
        await install_jaeger_templates(es, prefix)
        operations: list[dict[str, Any]] = []
        for spec in _spans():
            operations += [
                {"index": {"_index": jaeger_span_daily_index(prefix, BASE)}},
                spec.document(),
            ]
        for doc in _logs():
            index = log_index(f"{prefix}-logs", BASE)
            operations += [{"create": {"_index": index, "_id": doc["event"]["id"]}}, doc]
        result = await es.bulk(operations=operations, refresh=True)
        assert not result["errors"]
    finally:
        await es.close()


def _environment(es_url: str, prefix: str, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRACELINK_")}
    env.update(
        TRACELINK_ES_URL=es_url,
        TRACELINK_LOG_INDEX_PREFIX=f"{prefix}-logs",
        TRACELINK_DLQ_INDEX_PREFIX=f"{prefix}-dlq",
        TRACELINK_JAEGER_INDEX_PREFIX=prefix,
        TRACELINK_API_PORT=str(port),
        TRACELINK_API_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    return env


@pytest.fixture
async def served(es_url: str, index_prefix: str, tmp_path: Path) -> AsyncIterator[Served]:
    await _seed(es_url, index_prefix)
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [tracelink_executable(), "serve"],
            env=_environment(es_url, index_prefix, port),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if (await client.get(served.url + "/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "tracelink serve did not start"
                await asyncio.sleep(0.2)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


async def test_serve_answers_and_stops_cleanly(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        body = (await client.get(f"/correlate/{TRACE}")).json()
        assert body["summary"]["span_count"] == 7
        assert body["summary"]["log_count"] == 10
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/correlate/not-hex")).status_code == 400
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(30) == 0
    output = served.log_path.read_text()
    assert "tracelink-api" in output
    assert "correlate API on http://127.0.0.1:" in output


def test_bad_configuration_exits_2_naming_the_variable() -> None:
    env = {**os.environ, "TRACELINK_API_PORT": "eighty"}
    result = subprocess.run(
        [tracelink_executable(), "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "TRACELINK_API_PORT" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_port_in_use_exits_1(es_url: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [tracelink_executable(), "serve", "--api-port", str(port), "--es-url", es_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "address already in use" in result.stdout + result.stderr


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.browser
@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not installed: `make browser` installs Debian's chromium"
)
def test_view_in_headless_chromium(served: Served, tmp_path: Path) -> None:
    url = f"{served.url}/correlate/{TRACE}/view"
    dom = _chromium("--dump-dom", url, profile=tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for span_id in ("a000000000000001", "a000000000000005", "a000000000000007"):
        assert f'data-span-id="{span_id}"' in html
    for index in range(10):
        assert f'data-event-id="evt-{index:02d}"' in html
    # Escaped text arrives as text: the browser's DOM shows the characters, not markup.
    assert "order o-17 failed: &lt;payment declined&gt; &amp; rolled back" in html
    assert 'id="link-jaeger" href="http://localhost:16686/trace/' + TRACE in html
    assert 'id="link-kibana" href="http://localhost:5601/app/discover#/?_g=' in html
    assert 'id="orphan-logs"' in html
    assert "queued failure e-mail" in html.split('id="orphan-logs"')[1]
    assert 'id="warnings"' in html

    screenshot = Path(os.environ.get("TRACELINK_SCREENSHOT_DIR", tmp_path)) / "correlate-view.png"
    shot = _chromium(
        f"--screenshot={screenshot}",
        "--window-size=1400,1100",
        url,
        profile=tmp_path / "profile-shot",
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000  # a rendered page, not a blank one
