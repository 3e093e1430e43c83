"""``tracelink setup`` as a user runs it: the console script, real Elasticsearch (the stand-in
or ``TRACELINK_ES_URL``), and the Kibana protocol test double (no Kibana runs here; see
tests/support/kibana.py for what the double speaks).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kibana.objects import render_saved_objects
from tests.support.cli import tracelink_executable
from tests.support.kibana import KibanaDouble, not_ready_yet, status_reply

SECRET = "pa55-w0rd-never-printed"
KIBANA_AUTH = "Basic " + base64.b64encode(f"tracelink-setup:{SECRET}".encode()).decode()


@pytest.fixture
def kibana() -> Iterator[KibanaDouble]:
    double = KibanaDouble(
        authorization=KIBANA_AUTH,
        statuses=[not_ready_yet(), status_reply("unavailable"), status_reply("available")],
    ).start()
    try:
        yield double
    finally:
        double.stop()


def _env(es_url: str, prefix: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELINK_")}
    env.update(
        TRACELINK_ES_URL=es_url,
        TRACELINK_LOG_INDEX_PREFIX=f"{prefix}-logs",
        TRACELINK_DLQ_INDEX_PREFIX=f"{prefix}-dlq",
        TRACELINK_KIBANA_USERNAME="tracelink-setup",
        TRACELINK_KIBANA_PASSWORD=SECRET,
        TRACELINK_KIBANA_WAIT_SECONDS="60",
    )
    env.update(extra)
    return env


def _setup(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tracelink_executable(), "setup", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _templates(es_url: str, prefix: str) -> dict[str, Any]:
    with httpx.Client(base_url=es_url, timeout=10) as client:
        listing = client.get("/_index_template").json()["index_templates"]
    return {t["name"]: t["index_template"] for t in listing if t["name"].startswith(prefix)}


def test_setup_installs_everything_and_a_second_run_changes_nothing(
    es_url: str, index_prefix: str, kibana: KibanaDouble
) -> None:
    env = _env(es_url, index_prefix)
    first = _setup(env, "--kibana-url", kibana.url)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert f"index template {index_prefix}-logs ({index_prefix}-logs-*): created" in out
    assert f"index template {index_prefix}-dlq ({index_prefix}-dlq-*): created" in out
    assert "waiting until it reports 'available'" in out
    assert "status: available" in out
    objects = render_saved_objects()
    assert f"imported {len(objects)} saved objects into the default space" in out
    assert f"({len(objects)} created, 0 replaced)" in out
    assert "/app/dashboards#/view/tracelink-correlation-health" in out
    templates = _templates(es_url, index_prefix)
    stored = kibana.objects_in()
    assert set(templates) == {f"{index_prefix}-logs", f"{index_prefix}-dlq"}
    # The objects are rendered for this deployment's prefixes.
    assert stored[("index-pattern", "tracelink-logs")]["attributes"]["title"] == (
        f"{index_prefix}-logs-*"
    )

    second = _setup(env, "--kibana-url", kibana.url)
    assert second.returncode == 0, second.stderr
    assert f"index template {index_prefix}-logs ({index_prefix}-logs-*): unchanged" in second.stdout
    assert f"index template {index_prefix}-dlq ({index_prefix}-dlq-*): unchanged" in second.stdout
    assert f"(0 created, {len(objects)} replaced)" in second.stdout
    assert _templates(es_url, index_prefix) == templates
    assert kibana.objects_in() == stored

    for result in (first, second):
        assert SECRET not in result.stdout + result.stderr
    # The credentials did reach Kibana, in the Authorization header only.
    assert all(request.headers.get("Authorization") == KIBANA_AUTH for request in kibana.imports)


def test_without_kibana_url_only_elasticsearch_is_set_up(
    es_url: str, index_prefix: str, kibana: KibanaDouble, tmp_path: Path
) -> None:
    # TRACELINK_KIBANA_URL alone is the link base URL, not an instruction to import.
    env = _env(es_url, index_prefix, TRACELINK_KIBANA_URL=kibana.url)
    result = _setup(env, "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "Kibana" not in result.stdout
    assert kibana.imports == []
    assert kibana.status_calls == 0
    rendered = (tmp_path / "out" / "saved_objects.ndjson").read_text(encoding="utf-8")
    assert f'"title":"{index_prefix}-logs-*"' in rendered
    config = json.loads((tmp_path / "out" / "jaeger-ui-config.json").read_text(encoding="utf-8"))
    assert config["linkPatterns"][0]["url"].startswith(f"{kibana.url}/app/discover#/?")


def test_refused_kibana_credentials_exit_1_with_the_reason(es_url: str, index_prefix: str) -> None:
    kibana = KibanaDouble(authorization=KIBANA_AUTH).start()
    try:
        result = _setup(
            _env(es_url, index_prefix, TRACELINK_KIBANA_PASSWORD="wrong-one"),
            "--kibana-url",
            kibana.url,
        )
    finally:
        kibana.stop()
    assert result.returncode == 1
    assert "tracelink setup: failed: Kibana refused the credentials (HTTP 401)" in result.stderr
    assert "wrong-one" not in result.stderr + result.stdout
    assert kibana.imports == []


def test_kibana_7_is_refused(es_url: str, index_prefix: str) -> None:
    kibana = KibanaDouble(statuses=[status_reply("available", version="7.17.9")]).start()
    try:
        env = _env(es_url, index_prefix)
        del env["TRACELINK_KIBANA_USERNAME"], env["TRACELINK_KIBANA_PASSWORD"]
        result = _setup(env, "--kibana-url", kibana.url)
    finally:
        kibana.stop()
    assert result.returncode == 1
    assert "Kibana 7.17.9 is too old" in result.stderr
    assert kibana.imports == []


def test_kibana_that_never_becomes_available_fails_setup(es_url: str, index_prefix: str) -> None:
    kibana = KibanaDouble(statuses=[status_reply("critical", summary="Elasticsearch is down")])
    kibana.start()
    try:
        env = _env(es_url, index_prefix, TRACELINK_KIBANA_WAIT_SECONDS="3")
        env.pop("TRACELINK_KIBANA_USERNAME")
        env.pop("TRACELINK_KIBANA_PASSWORD")
        result = _setup(env, "--kibana-url", kibana.url)
    finally:
        kibana.stop()
    assert result.returncode == 1
    assert "did not report 'available' within 3 s" in result.stderr
    assert "critical (Elasticsearch is down)" in result.stderr


def test_bad_configuration_exits_2_naming_the_variable(es_url: str, index_prefix: str) -> None:
    env = _env(es_url, index_prefix, TRACELINK_KIBANA_SPACE="Not A Space")
    result = _setup(env)
    assert result.returncode == 2
    assert "TRACELINK_KIBANA_SPACE" in result.stderr
    assert SECRET not in result.stderr
