"""The shipper's settings: defaults, and one clear line for every bad value."""

from __future__ import annotations

import pytest

from shipper.settings import ShipperSettings
from tracelink.settings import ConfigError, load_settings


def test_defaults_are_consistent() -> None:
    settings = load_settings(ShipperSettings)
    assert settings.metrics_port == 9464
    assert settings.drain_timeout_s < settings.kafka_session_timeout_ms / 1000
    assert settings.heartbeat_interval_ms * 3 <= settings.kafka_session_timeout_ms


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("TRACELINK_DRAIN_TIMEOUT_S", "45", "shorter than the consumer session timeout"),
        ("TRACELINK_KAFKA_HEARTBEAT_INTERVAL_MS", "20000", "a third of the session timeout"),
        ("TRACELINK_METRICS_PORT", "70000", "less than or equal to 65535"),
        ("TRACELINK_BATCH_MAX_RECORDS", "0", "greater than or equal to 1"),
        ("TRACELINK_MAX_MESSAGE_BYTES", "80000000", "less than or equal to"),
        ("TRACELINK_RETRY_INITIAL_BACKOFF_MS", "60000", "must not exceed"),
        ("TRACELINK_MAX_FIELD_BYTES", "abc", "valid integer"),
        ("TRACELINK_LOG_FORMAT", "otlp", "'auto', 'ecs', 'otlp_proto' or 'otlp_json'"),
        ("TRACELINK_LOG_TOPIC", "logs,otlp logs", "not a Kafka topic name: 'otlp logs'"),
        ("TRACELINK_LOG_TOPIC", " , ", "names no topic"),
        ("TRACELINK_LOG_TOPIC", "logs,otlp_logs,logs", "names a topic twice"),
        ("TRACELINK_LOG_TOPIC", "logs,logs.dlq", "includes the dead-letter topic"),
    ],
)
def test_bad_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(ShipperSettings)
    assert caught.value.variable == variable
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_flags_win_and_heartbeat_follows_the_session() -> None:
    settings = load_settings(ShipperSettings, kafka_session_timeout_ms="6000", drain_timeout_s="4")
    assert settings.heartbeat_interval_ms == 600


def test_several_log_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELINK_LOG_TOPIC", "logs, otlp_logs")
    monkeypatch.setenv("TRACELINK_LOG_FORMAT", "otlp_json")
    settings = load_settings(ShipperSettings)
    assert settings.log_topics == ["logs", "otlp_logs"]
    assert settings.log_format == "otlp_json"
    assert load_settings(ShipperSettings, log_topic="logs").log_topics == ["logs"]
