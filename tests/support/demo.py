"""Helpers for tests of the demo services: their span documents and their log lines."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from devstack.demo.launcher import DemoServices
from tests.support.servers import ElasticsearchServer, KafkaServer

T = TypeVar("T")


def demo_services(
    kafka: KafkaServer, es: ElasticsearchServer, log_dir: Path, jaeger_prefix: str, **options: Any
) -> DemoServices:
    """The demo services wired to the test servers, with their own events topic."""
    return DemoServices(
        kafka_bootstrap=kafka.bootstrap,
        es_url=es.url,
        log_dir=log_dir,
        jaeger_index_prefix=jaeger_prefix,
        events_topic=f"order.events.{uuid.uuid4().hex[:8]}",
        **options,
    )


def wait_for(probe: Callable[[], T | None], *, timeout: float = 60.0, what: str = "it") -> T:
    """Poll ``probe`` until it returns something truthy; generous for a loaded machine."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def trace_spans(es_url: str, jaeger_prefix: str, trace_id: str) -> list[dict[str, Any]]:
    """Every span document of ``trace_id`` in the prefix's Jaeger span indices."""
    pattern = f"{jaeger_prefix}-jaeger-span-*"
    with httpx.Client(base_url=es_url, timeout=10) as client:
        client.post(f"/{pattern}/_refresh", params={"ignore_unavailable": "true"})
        response = client.post(
            f"/{pattern}/_search",
            params={"ignore_unavailable": "true"},
            json={
                "size": 1000,
                "query": {"term": {"traceID": trace_id}},
                "sort": [{"startTime": "asc"}],
            },
        )
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return [hit["_source"] for hit in response.json()["hits"]["hits"]]


def tag(span: dict[str, Any], key: str) -> Any:
    """The value of a span tag, nested in ``tags`` or stored as a field in ``tag`` (where
    Jaeger 2.8+ always puts ``span.kind`` and ``error``, with ``@`` for ``.``), or ``None``."""
    for item in span.get("tags") or ():
        if item["key"] == key:
            return item["value"]
    return (span.get("tag") or {}).get(key.replace(".", "@"))


def field(record: dict[str, Any], dotted: str) -> Any:
    """An ECS field of a log record written with dotted keys or as nested objects."""
    if dotted in record:
        return record[dotted]
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def log_records(path: Path) -> list[dict[str, Any]]:
    """The JSON log records a service wrote to its output (other lines are skipped)."""
    records = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records
