from __future__ import annotations

import pytest

from devstack.demo.cli import main
from devstack.demo.settings import DEFAULT_PORTS, DemoSettings
from tracelink.settings import ConfigError, load_settings


def test_defaults_let_the_services_run_side_by_side() -> None:
    settings = load_settings(DemoSettings)
    assert settings.demo_order_url == f"http://127.0.0.1:{DEFAULT_PORTS['order']}"
    assert settings.demo_events_topic == "order.events"
    assert {settings.port_for(s) for s in DEFAULT_PORTS} == set(DEFAULT_PORTS.values())
    assert len(set(DEFAULT_PORTS.values())) == 5


def test_environment_configures_a_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELINK_DEMO_PORT", "9123")
    monkeypatch.setenv("TRACELINK_DEMO_PAYMENT_URL", "http://payments:80/")
    monkeypatch.setenv("TRACELINK_DEMO_FAILURE_RATE", "0.5")
    monkeypatch.setenv("TRACELINK_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("TRACELINK_JAEGER_INDEX_PREFIX", "prod")
    settings = load_settings(DemoSettings)
    assert settings.port_for("gateway") == 9123
    assert settings.demo_payment_url == "http://payments:80"
    assert settings.demo_failure_rate == 0.5
    assert settings.kafka_bootstrap == ["k1:9092", "k2:9092"]
    assert settings.jaeger_index_prefix == "prod"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRACELINK_DEMO_FAILURE_RATE", "1.5"),
        ("TRACELINK_DEMO_ORDER_URL", "order:8101"),
        ("TRACELINK_DEMO_PORT", "70000"),
    ],
)
def test_bad_configuration_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings(DemoSettings)
    assert info.value.variable == variable
    # The service entry point turns it into one line and exit code 2.
    assert main(["order"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"configuration error: {variable}:")
    assert "\n" not in err


def test_traffic_rejects_nonsense_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traffic", "--orders", "-1"]) == 2
    assert "--orders" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["bogus"])
    assert info.value.code == 2
