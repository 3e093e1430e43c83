"""Kibana's compose health check, run as Docker runs it against Kibana-shaped answers.

The check is the ``CMD-SHELL`` line of docker-compose.yml, run with ``/bin/sh -c`` and the
same ``curl`` against the Kibana protocol double on a loopback port. The bodies are what
Kibana 8.19 sends: compact JSON, ``status`` holding ``overall`` first, then ``core`` and
``plugins`` (its status route), each status object starting with ``level``
(``getSummaryStatus``); the HTTP status is 503 only when *core* is unavailable, so a plugin
that keeps Kibana unavailable still answers 200 (``routes/status.ts``: ``coreOverall.level``
decides the code). The old check, any ``"level":"available"`` anywhere, passed then.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.kibana import KibanaDouble, Reply

REPO = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def _status(overall: str, core: str, plugin: str, code: int) -> Reply:
    body = {
        "name": "kibana",
        "uuid": "5b2de169-2785-441b-ae8c-186a1936b17d",
        "version": {"number": "8.19.16", "build_snapshot": False},
        "status": {
            "overall": {"level": overall, "summary": f"Kibana is {overall}"},
            "core": {
                "elasticsearch": {"level": core, "summary": "Elasticsearch"},
                "savedObjects": {"level": core, "summary": "SavedObjects service"},
            },
            "plugins": {"data": {"level": plugin, "summary": "data"}},
        },
        "metrics": {},
    }
    return Reply(code, json.dumps(body, separators=(",", ":")).encode())


@pytest.fixture
def kibana() -> Iterator[KibanaDouble]:
    double = KibanaDouble().start()
    yield double
    double.stop()


def _healthy(kibana: KibanaDouble, reply: Reply) -> bool:
    if shutil.which("curl") is None:
        pytest.skip("curl (which the Kibana image has) is not installed here")
    kibana.statuses = [reply]
    kind, command = COMPOSE["services"]["kibana"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    assert "http://localhost:5601/" in command
    local = command.replace("http://localhost:5601", kibana.url)
    result = subprocess.run(["/bin/sh", "-c", local], check=False, capture_output=True, timeout=30)
    return result.returncode == 0


def test_healthy_when_the_overall_level_is_available(kibana: KibanaDouble) -> None:
    assert _healthy(kibana, _status("available", "available", "available", 200))


@pytest.mark.parametrize(
    ("overall", "core", "plugin", "code"),
    [
        # A plugin keeps Kibana unavailable; core is fine, so the answer is a 200.
        ("unavailable", "available", "unavailable", 200),
        ("degraded", "available", "degraded", 200),
        ("critical", "available", "critical", 200),
        # Core unavailable: 503, though a plugin says available.
        ("unavailable", "unavailable", "available", 503),
    ],
)
def test_not_healthy_while_the_overall_level_is_not_available(
    kibana: KibanaDouble, overall: str, core: str, plugin: str, code: int
) -> None:
    assert not _healthy(kibana, _status(overall, core, plugin, code))


def test_not_healthy_before_kibana_serves_its_status(kibana: KibanaDouble) -> None:
    not_ready = Reply(503, b"Kibana server is not ready yet", "text/plain; charset=utf-8")
    assert not _healthy(kibana, not_ready)
