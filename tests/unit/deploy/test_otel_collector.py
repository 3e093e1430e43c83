"""``deploy/otel-collector/config.yaml`` checked against the Collector it runs on.

No Docker engine runs here, so the Collector cannot start and validate its own file. Instead
this test holds, as data, what ``otel/opentelemetry-collector-contrib:0.159.0`` (the image
docker-compose.yml pins) accepts:

- which components its distribution contains — from the distribution's manifest,
  ``distributions/otelcol-contrib/manifest.yaml`` of open-telemetry/opentelemetry-collector-
  releases at tag v0.159.0 (the image is built from it: ``.goreleaser.yaml`` publishes
  ``otel/opentelemetry-collector-contrib:{{ .Version }}``);
- every key each component's configuration struct decodes (its ``mapstructure`` tags, with
  squashed structs merged in) — core components from open-telemetry/opentelemetry-collector
  at tag v0.159.0, contrib ones from open-telemetry/opentelemetry-collector-contrib (files
  cited per schema below: the contrib repository is too large to fetch whole, so its files
  were read one by one from the stored versions named there, the newest stored, all carrying
  features of releases shortly before v0.159.0);

and checks that the file names only components that exist and only keys their structs have
(with the same schema checker as Jaeger's configuration, ``tests/support/config_schema.py``).
A key the struct lacks makes the real Collector refuse to start ("has invalid keys").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from tests.support.config_schema import ANY, LEAF, Deprecated, MapOf, Node, problems

REPO = Path(__file__).resolve().parents[3]
CONFIG_PATH = REPO / "deploy" / "otel-collector" / "config.yaml"
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
COLLECTOR_IMAGE: Final = "otel/opentelemetry-collector-contrib:0.159.0"


def keys(*names: str, **nested: Node) -> dict[str, Node]:
    return {**dict.fromkeys(names, LEAF), **nested}


# --- the structs, at v0.159.0 -------------------------------------------------------------

# config/confignet/confignet.go AddrConfig (squashed into the servers below).
NET_ADDR = keys("endpoint", "transport", dialer=keys("timeout"))
# config/configtls/generated_config.go: Config (squashed) + ClientConfig.
TLS_COMMON = keys(
    "ca_file",
    "ca_pem",
    "cert_file",
    "cert_pem",
    "key_file",
    "key_pem",
    "min_version",
    "max_version",
    "cipher_suites",
    "include_system_ca_certs_pool",
    "include_insecure_cipher_suites",
    "reload_interval",
    "curve_preferences",
    tpm=ANY,
)
TLS_CLIENT = {**TLS_COMMON, **keys("insecure", "insecure_skip_verify", "server_name_override")}
# config/configgrpc/configgrpc.go ServerConfig.
GRPC_SERVER = {
    **NET_ADDR,
    **keys(
        "max_recv_msg_size_mib",
        "max_concurrent_streams",
        "read_buffer_size",
        "write_buffer_size",
        "include_metadata",
        tls=ANY,
        keepalive=ANY,
        auth=ANY,
        middlewares=ANY,
    ),
}
# config/configgrpc/configgrpc.go ClientConfig.
GRPC_CLIENT = keys(
    "endpoint",
    "compression",
    "read_buffer_size",
    "write_buffer_size",
    "wait_for_ready",
    "user_agent",
    "balancer_name",
    "authority",
    tls=TLS_CLIENT,
    keepalive=keys("time", "timeout", "permit_without_stream"),
    headers=ANY,
    auth=ANY,
    middlewares=ANY,
)
# config/confighttp/server.go ServerConfig.
HTTP_SERVER = {
    **NET_ADDR,
    **keys(
        "max_request_body_size",
        "include_metadata",
        "compression_algorithms",
        "read_timeout",
        "read_header_timeout",
        "write_timeout",
        "idle_timeout",
        "keep_alives_enabled",
        tls=ANY,
        cors=ANY,
        auth=ANY,
        response_headers=ANY,
        middlewares=ANY,
    ),
}
# exporter/exporterhelper: TimeoutConfig (squashed), QueueBatchConfig, configretry.
EXPORTER_HELPER = keys("timeout", sending_queue=ANY, retry_on_failure=ANY)

# Component type -> (module in the v0.159.0 manifest, configuration schema).
RECEIVERS: Final[dict[str, tuple[str, Node]]] = {
    # receiver/otlpreceiver/config.go: Config{Protocols{GRPC, HTTP: HTTPConfig}}.
    "otlp": (
        "go.opentelemetry.io/collector/receiver/otlpreceiver",
        keys(
            protocols=keys(
                grpc=GRPC_SERVER,
                http={
                    **HTTP_SERVER,
                    **keys("traces_url_path", "metrics_url_path", "logs_url_path"),
                },
            )
        ),
    ),
}
PROCESSORS: Final[dict[str, tuple[str, Node]]] = {
    # processor/batchprocessor/config.go.
    "batch": (
        "go.opentelemetry.io/collector/processor/batchprocessor",
        keys(
            "timeout",
            "send_batch_size",
            "send_batch_max_size",
            "metadata_keys",
            "metadata_cardinality_limit",
        ),
    ),
}
KAFKA_SIGNAL = keys("topic", "topic_from_metadata_key", "encoding")
EXPORTERS: Final[dict[str, tuple[str, Node]]] = {
    # exporter/otlpexporter/config.go; metadata.yaml: type otlp_grpc (deprecated alias otlp).
    "otlp_grpc": (
        "go.opentelemetry.io/collector/exporter/otlpexporter",
        {**EXPORTER_HELPER, **GRPC_CLIENT},
    ),
    # exporter/kafkaexporter/config.go (contrib, the file stored at commit 00168f3c6fa1)
    # with pkg/kafka/configkafka/config.go ClientConfig (commit 06a7fdba3730) squashed in;
    # metadata.yaml (commit 087a5f1da93a, features from v0.154.0): type kafka.
    "kafka": (
        "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/kafkaexporter",
        {
            **EXPORTER_HELPER,
            **keys(
                "brokers",
                "resolve_canonical_bootstrap_servers_only",
                "protocol_version",
                "client_id",
                "rack_id",
                "use_leader_epoch",
                "include_metadata_keys",
                "topic_from_attribute",
                "partition_traces_by_id",
                "partition_metrics_by_resource_attributes",
                "partition_logs_by_resource_attributes",
                "partition_logs_by_trace_id",
                auth=ANY,
                tls=TLS_CLIENT,
                metadata=keys("full", "refresh_interval", retry=keys("max", "backoff")),
                producer=keys(
                    "max_message_bytes",
                    "required_acks",
                    "compression",
                    "compression_params",
                    "flush_max_messages",
                    "allow_auto_topic_creation",
                ),
                logs=KAFKA_SIGNAL,
                metrics=KAFKA_SIGNAL,
                traces=KAFKA_SIGNAL,
                profiles=KAFKA_SIGNAL,
            ),
            "topic": Deprecated("deprecated since v0.124.0: use logs::topic"),
            "encoding": Deprecated("deprecated since v0.124.0: use logs::encoding"),
        },
    ),
}
EXTENSIONS: Final[dict[str, tuple[str, Node]]] = {
    # extension/healthcheckextension/config.go (contrib, commit 0ec4f86030b8): the HTTP
    # server squashed, plus path, response_body and check_collector_pipeline;
    # metadata.yaml (commit 1257c9a552eb, feature gate from v0.142.0): type health_check.
    "health_check": (
        "github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension",
        {
            **HTTP_SERVER,
            **keys(
                "path",
                response_body=keys("healthy", "unhealthy"),
                check_collector_pipeline=keys("enabled", "interval", "exporter_failure_threshold"),
            ),
        },
    ),
}
SECTIONS: Final = {
    "receivers": RECEIVERS,
    "processors": PROCESSORS,
    "exporters": EXPORTERS,
    "extensions": EXTENSIONS,
}

# distributions/otelcol-contrib/manifest.yaml at v0.159.0: the modules of every component
# this file uses (the full manifest has some 250; only these are needed here).
CONTRIB_0_159_MODULES: Final = frozenset(
    {
        "go.opentelemetry.io/collector/receiver/otlpreceiver",
        "go.opentelemetry.io/collector/processor/batchprocessor",
        "go.opentelemetry.io/collector/exporter/otlpexporter",
        "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/kafkaexporter",
        "github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension",
    }
)

SERVICE: Final = keys(
    "extensions",
    telemetry=ANY,
    pipelines=MapOf(keys("receivers", "processors", "exporters")),
)
TOP: Final = keys(
    receivers=ANY, processors=ANY, exporters=ANY, extensions=ANY, connectors=ANY, service=SERVICE
)


def _config() -> dict[str, Any]:
    loaded = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _component_type(component_id: str) -> str:
    """``otlp_grpc/jaeger`` → ``otlp_grpc`` (an ID is ``type[/name]``)."""
    return component_id.split("/", 1)[0]


def test_the_collector_image_is_the_version_the_schemas_describe() -> None:
    assert COMPOSE["services"]["otel-collector"]["image"] == COLLECTOR_IMAGE


def test_every_component_exists_in_that_distribution() -> None:
    config = _config()
    for section, known in SECTIONS.items():
        for component_id in config.get(section) or {}:
            kind = _component_type(component_id)
            assert kind in known, f"{section}.{component_id}: {kind} is not modelled here"
            module, _schema = known[kind]
            assert module in CONTRIB_0_159_MODULES, (section, component_id)


def test_every_key_is_a_field_of_its_component_struct() -> None:
    config = _config()
    found = problems(config, TOP)
    for section, known in SECTIONS.items():
        for component_id, settings in (config.get(section) or {}).items():
            _module, schema = known[_component_type(component_id)]
            found += problems(settings, schema, (section, component_id))
    assert found == []


@pytest.mark.parametrize(
    ("section", "component", "settings", "expected"),
    [
        ("exporters", "kafka", {"topic": "logs"}, "deprecated"),
        ("exporters", "kafka", {"logs": {"topik": "logs"}}, "unknown key"),
        ("receivers", "otlp", {"protocols": {"http": {"endpoint": "x", "port": 1}}}, "unknown"),
        ("extensions", "health_check", {"endpoint": {"host": "x"}}, "found a mapping"),
    ],
)
def test_the_check_catches_what_the_collector_refuses(
    section: str, component: str, settings: dict[str, Any], expected: str
) -> None:
    _module, schema = SECTIONS[section][component]
    [problem] = problems(settings, schema, (component,))
    assert expected in problem


def test_the_pipelines_forward_traces_to_jaeger_and_logs_to_the_log_topic() -> None:
    config = _config()
    pipelines = config["service"]["pipelines"]
    # Every component a pipeline or the service names is defined, and every defined one used.
    used: dict[str, set[str]] = {section: set() for section in SECTIONS}
    used["extensions"] = set(config["service"]["extensions"])
    for pipeline in pipelines.values():
        for section in ("receivers", "processors", "exporters"):
            used[section] |= set(pipeline.get(section, []))
    for section, names in used.items():
        assert names == set(config.get(section) or {}), section

    assert pipelines["traces"]["exporters"] == ["otlp_grpc/jaeger"]
    jaeger = config["exporters"]["otlp_grpc/jaeger"]
    assert jaeger["endpoint"] == "jaeger:4317"
    assert jaeger["tls"]["insecure"] is True
    jaeger_config = yaml.safe_load((REPO / "deploy/jaeger/config.yaml").read_text())
    assert jaeger_config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")

    assert pipelines["logs"]["exporters"] == ["kafka"]
    kafka = config["exporters"]["kafka"]
    assert kafka["brokers"] == ["kafka:19092"]
    assert kafka["logs"] == {"topic": "logs", "encoding": "otlp_proto"}
    # The topic the shipper reads in compose.
    assert COMPOSE["services"]["shipper"]["environment"]["TRACELINK_LOG_TOPIC"] == "logs"

    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"


def test_compose_runs_the_collector_with_this_file_and_checks_its_health() -> None:
    services = COMPOSE["services"]
    collector = services["otel-collector"]
    assert collector["command"] == ["--config", "/etc/otelcol-contrib/config.yaml"]
    assert (
        "./deploy/otel-collector/config.yaml:/etc/otelcol-contrib/config.yaml:ro"
        in collector["volumes"]
    )
    assert set(collector["ports"]) == {"4317:4317", "4318:4318"}
    assert collector["depends_on"]["jaeger"]["condition"] == "service_healthy"
    # The image has no shell or HTTP client: a sidecar polls the health_check extension.
    endpoint = _config()["extensions"]["health_check"]["endpoint"]
    port = endpoint.rsplit(":", 1)[1]
    assert endpoint.startswith("0.0.0.0:")
    health = services["otel-collector-health"]
    assert f"http://otel-collector:{port}/" in health["healthcheck"]["test"]
    assert health["depends_on"]["otel-collector"]["condition"] == "service_started"
