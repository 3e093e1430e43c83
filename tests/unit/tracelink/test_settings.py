from __future__ import annotations

import pytest

from tracelink.settings import (
    ConfigError,
    ElasticsearchSettings,
    KafkaSettings,
    LinkSettings,
    load_settings,
)


def test_defaults_match_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TRACELINK_KAFKA_BOOTSTRAP", "TRACELINK_ES_URL", "TRACELINK_LOG_TOPIC"):
        monkeypatch.delenv(var, raising=False)
    kafka = load_settings(KafkaSettings)
    es = load_settings(ElasticsearchSettings)
    links = load_settings(LinkSettings)
    assert kafka.kafka_bootstrap == ["127.0.0.1:9092"]
    assert (kafka.log_topic, kafka.dlq_topic, kafka.consumer_group) == (
        "logs",
        "logs.dlq",
        "tracelink-shipper",
    )
    assert es.es_url == ["http://127.0.0.1:9200"]
    assert (es.log_index_prefix, es.dlq_index_prefix, es.jaeger_index_prefix) == (
        "tracelink-logs",
        "tracelink-dlq",
        "",
    )
    assert links.jaeger_ui_url == "http://localhost:16686"
    assert links.kibana_url == "http://localhost:5601"


def test_environment_is_read_and_comma_lists_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELINK_KAFKA_BOOTSTRAP", "k1:9092, k2:9093")
    monkeypatch.setenv("TRACELINK_ES_URL", "http://es1:9200/,https://es2:9200")
    assert load_settings(KafkaSettings).kafka_bootstrap == ["k1:9092", "k2:9093"]
    assert load_settings(ElasticsearchSettings).es_url == ["http://es1:9200", "https://es2:9200"]


def test_flags_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELINK_LOG_TOPIC", "from-env")
    assert load_settings(KafkaSettings, log_topic="from-flag").log_topic == "from-flag"
    # None means "flag not given": the environment applies.
    assert load_settings(KafkaSettings, log_topic=None).log_topic == "from-env"


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("TRACELINK_KAFKA_BOOTSTRAP", "no-port", "not host:port"),
        ("TRACELINK_ES_URL", "es:9200", "not an http(s):// URL"),
        ("TRACELINK_LOG_INDEX_PREFIX", "Upper", "lower-case"),
        ("TRACELINK_LOG_INDEX_PREFIX", "logs\n", "lower-case"),
        ("TRACELINK_DLQ_INDEX_PREFIX", "tracelink-logs-dlq", "must not overlap"),
        # The other way round: tracelink-* would match every tracelink-logs-* index.
        ("TRACELINK_DLQ_INDEX_PREFIX", "tracelink", "must not overlap"),
        ("TRACELINK_ES_CA_CERTS", "/nonexistent/ca.pem", "not a readable file"),
        ("TRACELINK_ES_USERNAME", "elastic", "set both username and password"),
    ],
)
def test_bad_configuration_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(variable, value)
    cls = KafkaSettings if "KAFKA" in variable else ElasticsearchSettings
    with pytest.raises(ConfigError) as info:
        load_settings(cls)
    message = str(info.value)
    assert "\n" not in message
    assert fragment in message
    expected = "TRACELINK_ES_PASSWORD" if variable == "TRACELINK_ES_USERNAME" else variable
    assert message.startswith(expected + ":")


def test_secrets_never_appear_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELINK_ES_USERNAME", "elastic")
    monkeypatch.setenv("TRACELINK_ES_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("TRACELINK_ES_API_KEY", "key-secret")
    settings = load_settings(ElasticsearchSettings)
    assert "hunter2" not in repr(settings)
    assert "key-secret" not in repr(settings)
    assert settings.es_password is not None
    assert settings.es_password.get_secret_value() == "hunter2-secret"
