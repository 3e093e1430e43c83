"""Starting and stopping the demo services: clean exits, flushed spans, clear failures."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from devstack.demo.launcher import DemoServiceError, DemoServices
from devstack.demo.traffic import drive_traffic
from tests.support.demo import demo_services, trace_spans, wait_for
from tests.support.servers import ElasticsearchServer, KafkaServer


@pytest.fixture
def make_demo(
    kafka_server: KafkaServer,
    es_server: ElasticsearchServer,
    index_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., DemoServices]]:
    created: list[DemoServices] = []

    def make(**options: Any) -> DemoServices:
        demo = demo_services(
            kafka_server, es_server, tmp_path_factory.mktemp("demo"), index_prefix, **options
        )
        created.append(demo)
        return demo

    yield make
    for demo in created:
        demo.stop()


def test_a_clean_stop_exits_zero_frees_the_ports_and_flushes_spans(
    make_demo: Callable[..., DemoServices], es_server: ElasticsearchServer, index_prefix: str
) -> None:
    demo = make_demo(failure_rate=0.0)
    demo.start(timeout=120)
    report = asyncio.run(drive_traffic(demo.gateway_url, 1))
    [order] = report.outcomes
    assert (order.status, order.persisted) == ("completed", True)
    urls = demo.urls
    # Right after the answer: the spans are still in the exporters' buffers.
    demo.stop()
    assert not demo.running
    assert {service: demo.exit_code(service) for service in urls} == dict.fromkeys(urls, 0)
    for url in urls.values():
        # Nothing listens any more (closed connections may linger in TIME_WAIT, which a
        # restarted server's SO_REUSEADDR ignores).
        parts = urlsplit(url)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    spans = wait_for(
        lambda: trace_spans(es_server.url, index_prefix, order.trace_id or ""),
        what="the spans flushed at shutdown",
    )
    services = {span["process"]["serviceName"] for span in spans}
    assert {"gateway", "order", "payment", "inventory"} <= services


def test_a_service_that_cannot_start_is_reported_and_nothing_is_left_running(
    make_demo: Callable[..., DemoServices],
) -> None:
    demo = make_demo(extra_env={"TRACELINK_DEMO_FAILURE_RATE": "5"})
    with pytest.raises(DemoServiceError, match="TRACELINK_DEMO_FAILURE_RATE"):
        demo.start(timeout=120)
    assert not demo.running
    assert all(demo.exit_code(service) is not None for service in demo.urls)
