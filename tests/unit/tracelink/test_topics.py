"""``TRACELINK_LOG_TOPIC``: several topics for the shipper, the first for every producer."""

from __future__ import annotations

import pytest

from devstack.demo.settings import DemoSettings
from devstack.otlp_receiver import OtlpReceiverSettings
from logging_ext._kafka import KafkaSender
from tracelink.errors import ConfigError
from tracelink.settings import KafkaSettings, load_settings
from tracelink.topics import check_topic_name, log_topics, produce_topic


def test_one_topic_or_several() -> None:
    assert log_topics("logs") == ["logs"]
    assert log_topics(" logs , otel-logs ") == ["logs", "otel-logs"]
    assert produce_topic("logs,otel-logs") == "logs"
    assert produce_topic("otel-logs") == "otel-logs"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("logs,otel logs", "not a Kafka topic name: 'otel logs'"),
        (" , ", "names no topic"),
        ("logs,otel,logs", "names a topic twice"),
        ("logs,..", "not a Kafka topic name: '..'"),
        ("x" * 250, "not a Kafka topic name"),
    ],
)
def test_a_bad_list_names_the_variable(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        log_topics(value)
    assert caught.value.variable == "TRACELINK_LOG_TOPIC"
    assert problem in caught.value.problem


@pytest.mark.parametrize("settings_class", [KafkaSettings, OtlpReceiverSettings, DemoSettings])
def test_every_component_produces_to_the_first_topic(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[KafkaSettings]
) -> None:
    monkeypatch.setenv("TRACELINK_LOG_TOPIC", "logs,otel-logs")
    settings = load_settings(settings_class)
    assert settings.log_topics == ["logs", "otel-logs"]
    assert settings.produce_topic == "logs"
    monkeypatch.setenv("TRACELINK_LOG_TOPIC", "logs,logs")
    with pytest.raises(ConfigError, match="TRACELINK_LOG_TOPIC: names a topic twice"):
        load_settings(settings_class)


def test_a_producer_takes_one_topic_name_only() -> None:
    assert check_topic_name("logs") == "logs"
    with pytest.raises(ValueError, match="first of TRACELINK_LOG_TOPIC"):
        check_topic_name("logs,otel-logs")
    with pytest.raises(ValueError, match="not a Kafka topic name"):
        KafkaSender("127.0.0.1:9092", "logs,otel-logs")
