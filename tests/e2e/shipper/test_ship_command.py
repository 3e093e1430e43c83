"""``tracelink ship`` as a user runs it: crashes, signals, bad configuration."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.standins import free_port
from tests.support.cli import ShipProcess, tracelink_executable
from tests.support.es_proxy import ElasticsearchProxy
from tests.support.shipping import (
    Elasticsearch,
    committed_offsets,
    encode,
    log_record,
    produce,
    shipper_env,
    shipper_settings,
    wait_until,
)

RECORDS = 50_000
KILL_AT = (8_000, 20_000, 35_000)


@pytest.fixture
def processes() -> Iterator[list[ShipProcess]]:
    started: list[ShipProcess] = []
    yield started
    for process in started:
        if process.proc.poll() is None:
            process.kill()


def test_three_sigkills_mid_stream_leave_every_event_exactly_once(
    kafka_bootstrap: str,
    es_url: str,
    topic: str,
    index_prefix: str,
    tmp_path: Path,
    processes: list[ShipProcess],
) -> None:
    run = uuid.uuid4().hex[:8]
    asyncio.run(
        produce(kafka_bootstrap, topic, (encode(log_record(i, run)) for i in range(RECORDS)))
    )
    settings = shipper_settings(
        kafka_bootstrap=kafka_bootstrap,
        es_url=es_url,
        topic=topic,
        index_prefix=index_prefix,
        batch_max_records=2000,
    )
    env = shipper_env(settings)
    es = Elasticsearch(es_url)
    logs = f"{index_prefix}-logs-*"
    log_path = tmp_path / "ship.log"
    try:
        for threshold in KILL_AT:
            process = ShipProcess(env, log_path)
            processes.append(process)
            wait_until(
                lambda threshold=threshold: es.count(logs) >= threshold,  # type: ignore[misc]
                timeout=180,
                interval=1.0,
                what=f"{threshold} documents before the kill",
            )
            process.kill()
        process = ShipProcess(env, log_path)
        processes.append(process)
        wait_until(
            lambda: es.count(logs) >= RECORDS,
            timeout=240,
            interval=1.0,
            what="every record after the crashes",
        )
        assert process.terminate() == 0, process.output()[-3000:]
        assert "drained" in process.output()

        # Exactly once: as many documents as records, and every record's event.id among them.
        assert es.count(logs, refresh=True) == RECORDS
        expected = [f"{run}-{i}" for i in range(RECORDS)]
        assert es.found(f"{index_prefix}-logs-2026-11-22", expected) == RECORDS
    finally:
        es.close()


def test_bad_configuration_is_one_line_and_exit_2() -> None:
    result = subprocess.run(
        [tracelink_executable(), "ship"],
        env={**os.environ, "TRACELINK_DRAIN_TIMEOUT_S": "300"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "TRACELINK_DRAIN_TIMEOUT_S" in lines[0]
    assert "session timeout" in lines[0]


def test_flags_are_validated_like_the_environment() -> None:
    result = subprocess.run(
        [tracelink_executable(), "ship", "--max-in-flight", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "TRACELINK_MAX_IN_FLIGHT" in result.stderr


def test_waits_for_elasticsearch_and_stops_cleanly_on_sigterm(
    kafka_bootstrap: str, topic: str, tmp_path: Path, processes: list[ShipProcess]
) -> None:
    port = free_port()
    settings = shipper_settings(
        kafka_bootstrap=kafka_bootstrap,
        es_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        topic=topic,
        index_prefix="tl-unreachable",
        metrics_port=port,
        metrics_host="127.0.0.1",
    )
    process = ShipProcess(shipper_env(settings), tmp_path / "ship.log")
    processes.append(process)

    def not_ready() -> bool:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 503 and "not started" in response.text

    wait_until(not_ready, timeout=60, what="/readyz to say not ready")
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    time.sleep(1)
    assert process.terminate(timeout=30) == 0
    output = process.output()
    assert "Elasticsearch not available" in output
    assert "retrying in" in output


def test_metrics_port_in_use_is_a_configuration_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [tracelink_executable(), "ship", "--metrics-host", "127.0.0.1"],
            env={**os.environ, "TRACELINK_METRICS_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("tracelink ship: configuration error: TRACELINK_METRICS_PORT:")
    assert f"127.0.0.1:{port}" in line


def test_a_cluster_refusing_the_credentials_holds_everything_until_it_accepts_them(
    kafka_bootstrap: str,
    es_url: str,
    topic: str,
    index_prefix: str,
    tmp_path: Path,
    processes: list[ShipProcess],
) -> None:
    """Every bulk request answered 401 (a real proxy in front of the stand-in, which has no
    security): ``/readyz`` says 503 naming the credentials, the log says it once (not once
    per retry), nothing is indexed, dead-lettered or committed. Once the cluster accepts the
    shipper again every record is indexed exactly once and committed, and it is ready."""
    records = 300
    run = uuid.uuid4().hex[:8]
    asyncio.run(
        produce(kafka_bootstrap, topic, (encode(log_record(i, run)) for i in range(records)))
    )
    port = free_port()
    es = Elasticsearch(es_url)
    logs = f"{index_prefix}-logs-*"
    with ElasticsearchProxy(es_url) as proxy:
        proxy.refuse_bulk()
        settings = shipper_settings(
            kafka_bootstrap=kafka_bootstrap,
            es_url=proxy.url,
            topic=topic,
            index_prefix=index_prefix,
            metrics_port=port,
            metrics_host="127.0.0.1",
            batch_max_records=100,
            retry_initial_backoff_ms=100,
            retry_max_backoff_ms=500,
        )
        process = ShipProcess(shipper_env(settings), tmp_path / "ship.log")
        processes.append(process)

        def readyz() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            except httpx.HTTPError:
                return None

        def refused_repeatedly() -> bool:
            response = readyz()
            return (
                proxy.refused_bulks >= 5
                and response is not None
                and response.status_code == 503
                and any("credentials" in r for r in response.json()["reasons"])
            )

        wait_until(refused_repeatedly, timeout=90, what="/readyz naming the credentials")
        response = readyz()
        assert response is not None
        assert response.status_code == 503, response.text
        [reason] = [r for r in response.json()["reasons"] if "credentials" in r]
        assert "401" in reason
        group = settings.consumer_group
        committed = asyncio.run(committed_offsets(kafka_bootstrap, group, topic))
        assert set(committed.values()) == {None}, committed
        assert es.count(logs, refresh=True) == 0
        assert es.count(f"{index_prefix}-dlq-*", refresh=True) == 0
        said = [line for line in process.output().splitlines() if "answers 401" in line]
        assert len(said) == 1, said
        assert "TRACELINK_ES_API_KEY" in said[0]

        proxy.pass_all()
        wait_until(lambda: es.count(logs) >= records, timeout=90, what="every record once accepted")
        wait_until(
            lambda: (r := readyz()) is not None and r.status_code == 200,
            timeout=30,
            what="/readyz 200 again",
        )

        def all_committed() -> bool:
            offsets = asyncio.run(committed_offsets(kafka_bootstrap, group, topic))
            return sum(offset or 0 for offset in offsets.values()) == records

        wait_until(all_committed, timeout=30, what="every offset committed")
        assert process.terminate(timeout=60) == 0, process.output()[-3000:]
    try:
        output = process.output()
        assert len([line for line in output.splitlines() if "answers 401" in line]) == 1
        assert "accepts the credentials again" in output
        # Exactly once: as many documents as records, every event.id among them.
        assert es.count(logs, refresh=True) == records
        expected = [f"{run}-{i}" for i in range(records)]
        assert es.found(f"{index_prefix}-logs-2026-11-22", expected) == records
        assert es.count(f"{index_prefix}-dlq-*", refresh=True) == 0
    finally:
        es.close()
