"""``tracelink setup``'s settings: Kibana credentials fall back to Elasticsearch's."""

from __future__ import annotations

import base64

import pytest

from kibana.objects import RenderOptions
from kibana.settings import SetupSettings
from tracelink.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TRACELINK_"):
            monkeypatch.delenv(name)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_no_credentials_by_default() -> None:
    settings = load_settings(SetupSettings)
    assert settings.kibana_authorization() is None
    assert settings.retention_days == 30
    assert settings.kibana_space == ""


def test_kibana_credentials_win_over_elasticsearch_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELINK_ES_USERNAME", "elastic")
    monkeypatch.setenv("TRACELINK_ES_PASSWORD", "es-pw")
    assert load_settings(SetupSettings).kibana_authorization() == _basic("elastic", "es-pw")
    monkeypatch.setenv("TRACELINK_KIBANA_API_KEY", "a2V5")
    assert load_settings(SetupSettings).kibana_authorization() == "ApiKey a2V5"
    monkeypatch.setenv("TRACELINK_KIBANA_USERNAME", "kb")
    monkeypatch.setenv("TRACELINK_KIBANA_PASSWORD", "kb-pw")
    assert load_settings(SetupSettings).kibana_authorization() == _basic("kb", "kb-pw")


def test_elasticsearch_api_key_is_the_last_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELINK_ES_API_KEY", "ZXM=")
    monkeypatch.setenv("TRACELINK_KIBANA_API_KEY", "  ")  # exported but empty: unset
    assert load_settings(SetupSettings).kibana_authorization() == "ApiKey ZXM="


def test_secrets_stay_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELINK_KIBANA_USERNAME", "kb")
    monkeypatch.setenv("TRACELINK_KIBANA_PASSWORD", "hunter2-secret")
    assert "hunter2-secret" not in repr(load_settings(SetupSettings))


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("TRACELINK_KIBANA_USERNAME", "kb", "TRACELINK_KIBANA_PASSWORD"),
        ("TRACELINK_KIBANA_SPACE", "Ops Team", "TRACELINK_KIBANA_SPACE"),
        ("TRACELINK_RETENTION_DAYS", "-1", "TRACELINK_RETENTION_DAYS"),
        ("TRACELINK_KIBANA_WAIT_SECONDS", "0", "TRACELINK_KIBANA_WAIT_SECONDS"),
        ("TRACELINK_KIBANA_CA_CERTS", "/nonexistent/ca.pem", "TRACELINK_KIBANA_CA_CERTS"),
        ("TRACELINK_ES_USERNAME", "elastic", "TRACELINK_ES_PASSWORD"),
        ("TRACELINK_KIBANA_URL", "kibana:5601", "TRACELINK_KIBANA_URL"),
    ],
)
def test_bad_configuration_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(SetupSettings)
    assert caught.value.variable == named


def test_render_options_take_the_prefixes_and_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELINK_LOG_INDEX_PREFIX", "app-logs")
    monkeypatch.setenv("TRACELINK_JAEGER_INDEX_PREFIX", "prod")
    monkeypatch.setenv("TRACELINK_API_PUBLIC_URL", "https://tl.example.com/")
    opts = RenderOptions.from_settings(load_settings(SetupSettings))
    assert opts.log_index_prefix == "app-logs"
    assert opts.jaeger_index_prefix == "prod"
    assert opts.api_public_url == "https://tl.example.com"
    assert opts.dlq_index_prefix == "tracelink-dlq"
