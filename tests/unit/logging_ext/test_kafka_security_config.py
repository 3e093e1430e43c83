"""configure_logging's Kafka security: the argument, else the TRACELINK_KAFKA_* variables."""

from __future__ import annotations

import logging

import pytest

import logging_ext
from tracelink.kafka_security import KafkaSecurity

SECRET = "pa55-w0rd-never-shown"


def _sasl_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELINK_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("TRACELINK_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("TRACELINK_KAFKA_USERNAME", "orders")
    monkeypatch.setenv("TRACELINK_KAFKA_PASSWORD", SECRET)


def test_without_the_argument_the_variables_configure_the_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _sasl_env(monkeypatch)
    handle = logging_ext.configure_logging("orders", kafka_bootstrap="127.0.0.1:9", stream=None)
    try:
        sender = handle.kafka
        assert sender is not None
        assert sender.security == KafkaSecurity.from_env()
        kwargs = sender._producer_kwargs
        assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
        assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
        assert kwargs["sasl_plain_username"] == "orders"
    finally:
        handle.close(timeout=0)


def test_the_argument_wins_over_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    _sasl_env(monkeypatch)
    handle = logging_ext.configure_logging(
        "orders", kafka_bootstrap="127.0.0.1:9", stream=None, kafka_security=KafkaSecurity()
    )
    try:
        assert handle.kafka is not None
        assert handle.kafka._producer_kwargs["security_protocol"] == "PLAINTEXT"
        assert "sasl_plain_password" not in handle.kafka._producer_kwargs
    finally:
        handle.close(timeout=0)


def test_a_bad_variable_is_a_value_error_naming_it_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _sasl_env(monkeypatch)
    monkeypatch.setenv("TRACELINK_KAFKA_SASL_MECHANISM", "KERBEROS")
    before = list(logging.getLogger().handlers)
    with pytest.raises(ValueError, match=r"^TRACELINK_KAFKA_SASL_MECHANISM: ") as caught:
        logging_ext.configure_logging("orders", kafka_bootstrap="127.0.0.1:9", stream=None)
    assert SECRET not in str(caught.value)
    assert logging.getLogger().handlers == before


def test_without_kafka_the_variables_are_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELINK_KAFKA_SECURITY_PROTOCOL", "nonsense")
    with logging_ext.configure_logging("orders", stream=None) as handle:
        assert handle.kafka is None
