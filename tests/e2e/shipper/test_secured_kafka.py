"""``tracelink ship`` against a secured Kafka, as a user runs it.

The whole pipeline — logging_ext in a service → Kafka over mutual TLS (stunnel in front of
the stand-in) → ``tracelink ship`` → Elasticsearch — and the start-up failures: a broker
that refuses us ends the shipper with one line naming the setting and exit 2; a broker that
is only unreachable is waited for. (SASL success is not tested here: the stand-in build
keeps no SASL users; see the README, "Connecting to a secured Kafka".)
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import logging_ext
from devstack.standins import free_port
from tests.support.cli import tracelink_executable
from tests.support.logs import make_tracer_provider
from tests.support.shipping import Elasticsearch, wait_until
from tests.support.tls import TlsKafka
from tracelink.kafka_security import KafkaSecurity

SECRET = "Sup3r-secret-for-e2e"
RECORDS = 200


def _env(es_url: str, index_prefix: str, topic: str, **kafka: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRACELINK_KAFKA")}
    env.update(
        {
            "TRACELINK_ES_URL": es_url,
            "TRACELINK_LOG_TOPIC": topic,
            "TRACELINK_DLQ_TOPIC": f"{topic}.dlq",
            "TRACELINK_CONSUMER_GROUP": f"{topic}-shippers",
            "TRACELINK_LOG_INDEX_PREFIX": f"{index_prefix}-logs",
            "TRACELINK_DLQ_INDEX_PREFIX": f"{index_prefix}-dlq",
            "TRACELINK_METRICS_PORT": "0",
            "TRACELINK_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "TRACELINK_DRAIN_TIMEOUT_S": "4",
            "TRACELINK_RETRY_MAX_BACKOFF_MS": "1000",
            **kafka,
        }
    )
    return env


class Ship:
    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.out_path = tmp_path / "ship.out"
        self.err_path = tmp_path / "ship.err"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [tracelink_executable(), "ship"], env=env, stdout=out, stderr=err
            )

    @property
    def output(self) -> str:
        return self.out_path.read_text(errors="replace") + self.err_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")


@pytest.fixture
def ships() -> Iterator[list[Ship]]:
    started: list[Ship] = []
    yield started
    for ship in started:
        if ship.proc.poll() is None:
            ship.proc.kill()
            ship.proc.wait(10)


def _refused_line(ship: Ship) -> str:
    assert ship.proc.wait(90) == 2, ship.output[-3000:]
    lines = [line for line in ship.stderr.splitlines() if line.strip()]
    assert lines, ship.output[-3000:]
    return lines[-1]


def test_wrong_ca_exits_2_with_one_line_naming_the_ca_setting(
    tls_kafka: TlsKafka, es_url: str, index_prefix: str, tmp_path: Path, ships: list[Ship]
) -> None:
    env = _env(
        es_url,
        index_prefix,
        "secured-logs",
        **tls_kafka.env(TRACELINK_KAFKA_CA_CERTS=str(tls_kafka.certificates.wrong_ca)),
    )
    ships.append(ship := Ship(env, tmp_path))
    line = _refused_line(ship)
    assert line.startswith("tracelink ship: configuration error: TRACELINK_KAFKA_CA_CERTS: ")
    assert "not trusted" in line


def test_wrong_password_exits_2_naming_the_credentials_never_the_password(
    sasl_kafka: str, es_url: str, index_prefix: str, tmp_path: Path, ships: list[Ship]
) -> None:
    secret_file = tmp_path / "kafka-password"
    secret_file.write_text(SECRET + "\n")
    env = _env(
        es_url,
        index_prefix,
        "sasl-logs",
        TRACELINK_KAFKA_BOOTSTRAP=sasl_kafka,
        TRACELINK_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        TRACELINK_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        TRACELINK_KAFKA_USERNAME="shipper",
        TRACELINK_KAFKA_PASSWORD_FILE=str(secret_file),
    )
    ships.append(ship := Ship(env, tmp_path))
    line = _refused_line(ship)
    assert line.startswith(
        "tracelink ship: configuration error: "
        "TRACELINK_KAFKA_USERNAME / TRACELINK_KAFKA_PASSWORD_FILE: "
    )
    assert "rejected the credentials of user 'shipper'" in line
    assert SECRET not in ship.output


def test_unreachable_secured_broker_is_waited_for(
    tls_kafka: TlsKafka, es_url: str, index_prefix: str, tmp_path: Path, ships: list[Ship]
) -> None:
    env = _env(
        es_url,
        index_prefix,
        "later-logs",
        **tls_kafka.env(TRACELINK_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}"),
    )
    ships.append(ship := Ship(env, tmp_path))
    wait_until(
        lambda: ship.output.count("not available") >= 2,
        timeout=90,
        what="two retries of the unreachable broker",
    )
    assert ship.proc.poll() is None  # still waiting, no exit 2
    ship.proc.send_signal(signal.SIGTERM)
    assert ship.proc.wait(60) == 0, ship.output[-3000:]


def test_whole_pipeline_over_mutual_tls(
    tls_kafka: TlsKafka, es_url: str, index_prefix: str, tmp_path: Path, ships: list[Ship]
) -> None:
    """logging_ext (configured from the same TRACELINK_KAFKA_* variables as the shipper)
    → Kafka over TLS with client certificates → tracelink ship → Elasticsearch."""
    topic = f"tls-pipeline-{uuid.uuid4().hex[:8]}"
    tls_kafka.create_topic(topic)
    env = _env(es_url, index_prefix, topic, **tls_kafka.env())

    tracer = make_tracer_provider()[0].get_tracer("tests")
    handle = logging_ext.configure_logging(
        "checkout",
        kafka_bootstrap=tls_kafka.bootstrap,
        topic=topic,
        stream=None,
        kafka_security=KafkaSecurity.from_env(env),
    )
    try:
        with tracer.start_as_current_span("place order") as span:
            for i in range(RECORDS):
                logging.getLogger("checkout").info("step %d of the order", i)
        assert handle.flush(timeout=60)
    finally:
        handle.close()
    assert (handle.sent, handle.failed, handle.dropped) == (RECORDS, 0, 0)
    trace_id = format(span.get_span_context().trace_id, "032x")

    ships.append(ship := Ship(env, tmp_path))
    es = Elasticsearch(es_url)
    logs = f"{index_prefix}-logs-*"
    try:
        wait_until(
            lambda: (es.count_or_none(logs) or 0) >= RECORDS,
            timeout=120,
            interval=1.0,
            what=f"{RECORDS} documents shipped over TLS",
        )
        ship.proc.send_signal(signal.SIGTERM)
        assert ship.proc.wait(60) == 0, ship.output[-3000:]
        documents = es.documents(logs)
    finally:
        es.close()
    assert len(documents) == RECORDS
    assert {doc["_source"]["trace"]["id"] for doc in documents} == {trace_id}
    assert "SSL" in ship.output  # the start-up line says how it connected
