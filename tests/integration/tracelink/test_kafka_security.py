"""Connecting to a secured Kafka, for real: TLS through stunnel in front of the stand-in,
SASL/SCRAM against the stand-in's own ``--authentication``.

``check_connection`` is what every part (shipper, dev/demo, logging_ext) asks before its
clients start; these tests hold it to telling each refusal apart from "unreachable".
"""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError

import logging_ext
from devstack.standins import free_port
from logging_ext._kafka import KafkaSender
from tests.support.tls import TlsKafka
from tracelink.errors import ConfigError
from tracelink.kafka_security import KafkaSecurity, check_connection

SECRET = "n0t-the-Passw0rd"


def _check(security: KafkaSecurity, bootstrap: str) -> None:
    asyncio.run(check_connection(security, bootstrap, connect_timeout_s=10))


def _refusal(security: KafkaSecurity, bootstrap: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _check(security, bootstrap)
    return caught.value


def test_mutual_tls_is_accepted(tls_kafka: TlsKafka) -> None:
    _check(tls_kafka.security(), tls_kafka.bootstrap)


def test_wrong_ca_names_the_ca_setting(tls_kafka: TlsKafka) -> None:
    refused = _refusal(
        tls_kafka.security(ca_certs=tls_kafka.certificates.wrong_ca), tls_kafka.bootstrap
    )
    assert refused.variable == "TRACELINK_KAFKA_CA_CERTS"
    assert "not trusted" in str(refused)


def test_system_cas_do_not_trust_a_private_ca(tls_kafka: TlsKafka) -> None:
    refused = _refusal(tls_kafka.security(ca_certs=None), tls_kafka.bootstrap)
    assert refused.variable == "TRACELINK_KAFKA_CA_CERTS"


def test_missing_client_certificate_names_the_client_cert_setting(tls_kafka: TlsKafka) -> None:
    refused = _refusal(tls_kafka.security(client_cert=None, client_key=None), tls_kafka.bootstrap)
    assert refused.variable == "TRACELINK_KAFKA_CLIENT_CERT"
    assert "requires a client certificate" in str(refused)


def test_a_refusal_slower_than_the_first_listening_is_still_told(
    tls_kafka: TlsKafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No time to hear the broker's verdict before speaking Kafka: the request races the
    refusal (a reset may swallow the alert). Whichever way the race goes — the alert read
    with the request, or lost and heard again by the second, longer listen — the refusal
    is told, never taken for "unreachable"."""
    monkeypatch.setattr("tracelink.kafka_security._VERDICT_WAIT_S", 0.0)
    refused = _refusal(tls_kafka.security(client_cert=None, client_key=None), tls_kafka.bootstrap)
    assert refused.variable == "TRACELINK_KAFKA_CLIENT_CERT"


def test_client_certificate_of_another_ca_is_refused(tls_kafka: TlsKafka) -> None:
    certs = tls_kafka.certificates
    refused = _refusal(
        tls_kafka.security(client_cert=certs.rogue_client_cert, client_key=certs.rogue_client_key),
        tls_kafka.bootstrap,
    )
    assert refused.variable == "TRACELINK_KAFKA_CLIENT_CERT"
    assert "refused our client certificate" in str(refused)


def test_wrong_credentials_name_the_credentials(sasl_kafka: str) -> None:
    security = KafkaSecurity(
        protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        username="shipper",
        password=SECRET,
    )
    refused = _refusal(security, sasl_kafka)
    assert refused.variable == "TRACELINK_KAFKA_USERNAME / TRACELINK_KAFKA_PASSWORD"
    assert "rejected the credentials of user 'shipper'" in str(refused)
    assert SECRET not in str(refused)


def test_sasl_ssl_runs_tls_then_sasl_and_names_what_failed(sasl_ssl_kafka: TlsKafka) -> None:
    certs = sasl_ssl_kafka.certificates
    sasl = {
        "protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "username": "shipper",
        "password": SECRET,
        "client_cert": None,
        "client_key": None,
    }
    # TLS first: a wrong CA is reported before any credential is sent.
    refused = _refusal(
        sasl_ssl_kafka.security(**sasl, ca_certs=certs.wrong_ca), sasl_ssl_kafka.bootstrap
    )
    assert refused.variable == "TRACELINK_KAFKA_CA_CERTS"
    # Then SASL over the verified TLS connection.
    refused = _refusal(sasl_ssl_kafka.security(**sasl), sasl_ssl_kafka.bootstrap)
    assert refused.variable == "TRACELINK_KAFKA_USERNAME / TRACELINK_KAFKA_PASSWORD"
    assert SECRET not in str(refused)


def test_sasl_against_a_listener_without_sasl_names_the_mechanism(kafka_bootstrap: str) -> None:
    security = KafkaSecurity(
        protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", username="shipper", password=SECRET
    )
    refused = _refusal(security, kafka_bootstrap)
    assert refused.variable == "TRACELINK_KAFKA_SASL_MECHANISM"


def test_unreachable_is_retriable_not_a_refusal(tls_kafka: TlsKafka) -> None:
    with pytest.raises(KafkaConnectionError):
        _check(tls_kafka.security(), f"127.0.0.1:{free_port()}")


def test_logging_ext_ships_over_mutual_tls(tls_kafka: TlsKafka) -> None:
    topic = f"tls-logs-{uuid.uuid4().hex[:8]}"
    tls_kafka.create_topic(topic)
    handle = logging_ext.configure_logging(
        "orders",
        kafka_bootstrap=tls_kafka.bootstrap,
        topic=topic,
        stream=None,
        kafka_security=tls_kafka.security(),
    )
    try:
        for i in range(20):
            logging.getLogger("orders").info("over TLS %d", i)
        assert handle.flush(timeout=60)
    finally:
        handle.close()
    assert (handle.sent, handle.dropped, handle.failed) == (20, 0, 0)
    messages = asyncio.run(_read_all(tls_kafka, topic, expected=20))
    assert sorted(messages) == sorted(f"over TLS {i}" for i in range(20))


def test_logging_ext_reads_the_same_variables_as_the_shipper(
    tls_kafka: TlsKafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in tls_kafka.env().items():
        monkeypatch.setenv(key, value)
    topic = f"tls-env-{uuid.uuid4().hex[:8]}"
    tls_kafka.create_topic(topic)
    handle = logging_ext.configure_logging(
        "orders", kafka_bootstrap=tls_kafka.bootstrap, topic=topic, stream=None
    )
    try:
        logging.getLogger("orders").info("configured from TRACELINK_KAFKA_*")
        assert handle.flush(timeout=60)
    finally:
        handle.close()
    assert handle.sent == 1


def test_logging_ext_reports_a_refusal_on_stderr_never_to_the_app(
    tls_kafka: TlsKafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    sender = KafkaSender(
        tls_kafka.bootstrap,
        "refused-topic",
        flush_timeout=1.0,
        kafka_security=tls_kafka.security(ca_certs=tls_kafka.certificates.wrong_ca),
    )
    try:
        sender.submit(b'{"message": "kept out of the app"}', None)
        deadline_ok = _wait(lambda: "TRACELINK_KAFKA_CA_CERTS" in stderr.getvalue(), 30)
    finally:
        sender.close(timeout=1.0)
    assert deadline_ok, stderr.getvalue()
    lines = [line for line in stderr.getvalue().splitlines() if "refuses" in line]
    assert lines[0].startswith("logging_ext: Kafka refuses this service: TRACELINK_KAFKA_CA_CERTS")
    assert sender.sent == 0
    assert sender.dropped == 1  # counted, not raised


def _wait(condition: object, timeout: float) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


async def _read_all(tls_kafka: TlsKafka, topic: str, *, expected: int) -> list[str]:
    import orjson

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=tls_kafka.bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        **tls_kafka.security().client_kwargs(),
    )
    await consumer.start()
    messages: list[str] = []
    try:
        async with asyncio.timeout(60):
            while len(messages) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    messages += [orjson.loads(r.value)["message"] for r in records]
    finally:
        await consumer.stop()
    return messages


def test_certificate_files_are_checked_when_read(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(ConfigError) as caught:
        KafkaSecurity(protocol="SSL", ca_certs=missing)
    assert caught.value.variable == "TRACELINK_KAFKA_CA_CERTS"
