"""docker-compose.yml, the Dockerfile and the Jaeger config, checked without a Docker engine.

No Docker runs on the development and CI machines, so these tests check what can be checked:
the file against the Compose specification's JSON schema, the build inputs and mounted files,
that every ``TRACELINK_*`` variable a tracelink service gets is a real setting of the command
it runs, start order (healthchecks behind ``depends_on`` conditions), pinned images, the
Jaeger v2 pipeline, and that the README documents every published port.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tracelink.settings import (
    TracelinkSettings,
)

REPO = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
JAEGER_CONFIG_PATH = REPO / "deploy" / "jaeger" / "config.yaml"

# The component whose settings each tracelink subcommand reads.
COMMAND_COMPONENT = {"setup": "kibana", "ship": "shipper", "serve": "correlate"}


def _settings_fields(component: str) -> set[str]:
    """Every field of every settings class in ``<component>.settings``."""
    module = importlib.import_module(f"{component}.settings")
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, TracelinkSettings)
        and value.__module__ == module.__name__
    ]
    assert classes, f"{module.__name__} defines no settings class"
    return {name for cls in classes for name in cls.model_fields}


GATEWAY_NODE = REPO / "devstack" / "demo" / "gateway-node"
# Built from their own folder, not the tracelink image.
OWN_IMAGES = {"gateway": "tracelink-gateway-node:local"}


def _tracelink_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in SERVICES.items() if "build" in svc}


def _gateway_node_variables() -> set[str]:
    """Every TRACELINK_* variable the Node.js gateway's code reads."""
    names: set[str] = set()
    for path in GATEWAY_NODE.glob("*.js"):
        names |= set(re.findall(r"process\.env\.(TRACELINK_\w+)", path.read_text()))
    return names


def test_compose_file_is_valid_against_the_compose_spec(shared_reference: Path) -> None:
    schema = json.loads((shared_reference / "compose" / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(COMPOSE)]
    assert errors == []
    # The validator does reject a broken file (so the pass above means something).
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["api"]["depends_on"]["setup"]["condition"] = "when_ready"
    assert list(validator.iter_errors(broken))


def test_every_built_service_has_its_dockerfile_and_build_inputs() -> None:
    built = _tracelink_services()
    assert {"setup", "shipper", "api"} <= set(built)
    for name, service in built.items():
        context = REPO / service["build"]["context"]
        dockerfile = context / service["build"].get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), name
        for line in dockerfile.read_text(encoding="utf-8").splitlines():
            match = re.match(r"COPY\s+(?!--from)(\S+)\s+\S+$", line)
            if match:
                assert (context / match.group(1)).exists(), (name, line)


def test_dockerfile_is_small_non_root_and_caches_dependencies() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert froms
    assert all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", image) for image in froms)
    assert re.search(r"^USER\s+(?!root|0\b)\S+", text, flags=re.MULTILINE)
    # pyproject.toml (the dependency list) is copied and installed before any source.
    copy_pyproject = text.index("COPY pyproject.toml")
    install_deps = text.index("pip install -r")
    first_source = text.index("COPY tracelink")
    assert copy_pyproject < install_deps < first_source
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "tests"} <= set(ignored)


def test_gateway_image_is_node_20_slim_non_root_with_locked_production_packages() -> None:
    text = (GATEWAY_NODE / "Dockerfile").read_text(encoding="utf-8")
    assert re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE) == ["node:20.20.2-slim"]
    assert re.search(r"^USER\s+node$", text, flags=re.MULTILINE)
    # The lockfile is copied and installed before the code, production packages only.
    assert text.index("COPY package.json package-lock.json") < text.index("npm ci --omit=dev")
    assert text.index("npm ci --omit=dev") < text.index("COPY server.js")
    assert "node_modules" in (GATEWAY_NODE / ".dockerignore").read_text().split()
    # The tracelink image does not carry the gateway's packages either.
    assert "**/node_modules" in (REPO / ".dockerignore").read_text().split()
    assert (GATEWAY_NODE / "package-lock.json").is_file()


def test_every_tracelink_variable_is_a_setting_of_the_command_it_configures() -> None:
    for name, service in SERVICES.items():
        variables = {k for k in service.get("environment", {}) if k.startswith("TRACELINK_")}
        if "build" not in service:
            assert not variables, f"{name} is not a tracelink service"
            continue
        if name in OWN_IMAGES:
            unknown = variables - _gateway_node_variables()
            assert not unknown, f"{name}: not read by its code: {sorted(unknown)}"
            continue
        if service.get("entrypoint") == ["python", "-m", "devstack.demo"]:
            command, fields = "demo", _settings_fields("devstack.demo")
        else:
            command = service["command"][0]
            fields = _settings_fields(COMMAND_COMPONENT[command])
        unknown = {v for v in variables if v.removeprefix("TRACELINK_").lower() not in fields}
        assert not unknown, f"{name} ({command}): not settings: {sorted(unknown)}"


def test_tracelink_services_reach_the_servers_by_container_name() -> None:
    for name, service in _tracelink_services().items():
        env = service.get("environment", {})
        if "TRACELINK_ES_URL" in env:
            assert env["TRACELINK_ES_URL"] == "http://elasticsearch:9200", name
        if "TRACELINK_KAFKA_BOOTSTRAP" in env:
            assert env["TRACELINK_KAFKA_BOOTSTRAP"] == "kafka:19092", name
    assert SERVICES["setup"]["command"] == ["setup", "--kibana-url", "http://kibana:5601"]
    assert SERVICES["shipper"]["deploy"]["replicas"] == 2
    assert SERVICES["api"]["environment"]["TRACELINK_API_HOST"] == "0.0.0.0"


def test_every_mounted_file_exists() -> None:
    mounts = 0
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                mounts += 1
                assert (REPO / source).exists(), (name, source)
            else:
                assert source in COMPOSE.get("volumes", {}), (name, source)
    assert mounts >= 2


def test_start_order_is_guarded_by_health_and_completion() -> None:
    for name, service in SERVICES.items():
        for dependency, spec in service.get("depends_on", {}).items():
            target = SERVICES[dependency]
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in target, f"{name} waits for {dependency}'s health"
            elif spec["condition"] == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dependency} is a one-shot job"
            elif spec["condition"] == "service_started":
                # Only a health sidecar, which polls a server that cannot check itself.
                assert name == f"{dependency}-health", f"{name} -> {dependency}"
            else:
                pytest.fail(f"{name} -> {dependency}: {spec['condition']}")
    # Long-running servers have healthchecks; the tracelink services start after setup.
    for name in (
        "elasticsearch",
        "kibana",
        "kafka",
        "jaeger",
        "otel-collector-health",
        "shipper",
        "api",
        "gateway",
    ):
        assert "healthcheck" in SERVICES[name], name
    for name in ("shipper", "api"):
        assert SERVICES[name]["depends_on"]["setup"]["condition"] == (
            "service_completed_successfully"
        )
    assert SERVICES["kibana"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"


def test_images_are_pinned_to_exact_versions() -> None:
    versions = {}
    for name, service in SERVICES.items():
        image = service["image"]
        if "build" in service:
            assert image == OWN_IMAGES.get(name, "tracelink:local"), name
            continue
        repository, _, tag = image.rpartition(":")
        assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"{name}: {image} is not an exact version"
        versions[repository.rsplit("/", 1)[-1]] = tuple(int(p) for p in tag.split("."))
    assert versions["elasticsearch"] == versions["kibana"]
    assert versions["elasticsearch"][0] == 8
    assert versions["jaeger"][0] == 2
    assert versions["opentelemetry-collector-contrib"][0] == 0


def test_elasticsearch_is_single_node_local_with_a_set_heap() -> None:
    env = SERVICES["elasticsearch"]["environment"]
    assert env["discovery.type"] == "single-node"
    assert env["xpack.security.enabled"] == "false"
    assert re.fullmatch(r"-Xms(\d+[mg]) -Xmx\1", env["ES_JAVA_OPTS"])


def test_kafka_runs_kraft_for_containers_and_the_host() -> None:
    env = SERVICES["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    advertised = env["KAFKA_ADVERTISED_LISTENERS"]
    assert "kafka:19092" in advertised
    assert "localhost:9092" in advertised
    assert "9092:9092" in SERVICES["kafka"]["ports"]
    init = " ".join(SERVICES["kafka-init"]["command"])
    assert "--topic logs " in init
    assert "--topic logs.dlq " in init


def test_jaeger_config_has_the_expected_pipeline() -> None:
    config = yaml.safe_load(JAEGER_CONFIG_PATH.read_text(encoding="utf-8"))
    service = config["service"]
    traces = service["pipelines"]["traces"]
    assert traces["receivers"] == ["otlp"]
    assert traces["exporters"] == ["jaeger_storage_exporter"]
    # Every component the pipeline or the service names is defined.
    for section, names in (
        ("receivers", traces["receivers"]),
        ("processors", traces.get("processors", [])),
        ("exporters", traces["exporters"]),
        ("extensions", service["extensions"]),
    ):
        for component in names:
            assert component in config[section], (section, component)
    assert {"jaeger_storage", "jaeger_query"} <= set(service["extensions"])
    backends = config["extensions"]["jaeger_storage"]["backends"]
    storage = config["exporters"]["jaeger_storage_exporter"]["trace_storage"]
    assert storage in backends
    assert config["extensions"]["jaeger_query"]["storage"]["traces"] == storage
    elasticsearch = backends[storage]["elasticsearch"]
    assert any("elasticsearch:9200" in url for url in elasticsearch["server_urls"])
    # No index prefix: tracelink's default TRACELINK_JAEGER_INDEX_PREFIX is empty too.
    assert elasticsearch["indices"]["index_prefix"] == ""
    assert SERVICES["api"]["environment"]["TRACELINK_JAEGER_INDEX_PREFIX"] == ""
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")
    assert config["extensions"]["jaeger_query"]["http"]["endpoint"] == "0.0.0.0:16686"


def test_jaeger_ui_gets_the_link_patterns_and_the_config_file() -> None:
    config = yaml.safe_load(JAEGER_CONFIG_PATH.read_text(encoding="utf-8"))
    ui_config = config["extensions"]["jaeger_query"]["ui"]["config_file"]
    mounts = {
        volume.split(":")[1]: volume.split(":")[0] for volume in SERVICES["jaeger"]["volumes"]
    }
    assert mounts[ui_config] == "./kibana/jaeger-ui-config.json"
    assert mounts["/etc/jaeger/config.yaml"] == "./deploy/jaeger/config.yaml"
    assert SERVICES["jaeger"]["command"] == ["--config", "/etc/jaeger/config.yaml"]
    patterns = json.loads((REPO / "kibana" / "jaeger-ui-config.json").read_text())["linkPatterns"]
    # The links in the mounted file point where the compose stack publishes Kibana and the API.
    assert any(p["url"].startswith("http://localhost:5601/app/discover") for p in patterns)
    assert any(p["url"].startswith("http://localhost:8080/correlate/") for p in patterns)


def test_readme_documents_every_published_port() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Deploying (docker compose)", 1)[1].split("\n## ", 1)[0]
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            host_port = str(port).split(":")[0]
            assert re.search(rf"\b{host_port}\b", section), (name, host_port)
    assert "production-shaped" in section
    assert "no-Docker" in section


DEMO_SERVICES = {"gateway": 8100, "order": 8101, "payment": 8102, "inventory": 8103,
                 "notification": 8104}  # fmt: skip


def test_the_demo_shop_runs_in_compose_and_exports_to_the_collector() -> None:
    from devstack.demo.settings import SERVICES as DEMO_NAMES

    assert set(DEMO_SERVICES) == set(DEMO_NAMES)
    for name, port in DEMO_SERVICES.items():
        service = SERVICES[name]
        env = service["environment"]
        if name in OWN_IMAGES:
            # The Node.js gateway: its own image, started by the image's CMD.
            assert service["build"]["context"] == "devstack/demo/gateway-node"
            assert "node" in service["healthcheck"]["test"]
            assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
        else:
            assert service["entrypoint"] == ["python", "-m", "devstack.demo"]
            assert service["command"] == [name]
            assert env["TRACELINK_KAFKA_BOOTSTRAP"] == "kafka:19092"
            assert "TRACELINK_DEMO_PORT" in " ".join(service["healthcheck"]["test"])
        assert env["TRACELINK_DEMO_PORT"] == str(port)
        assert env["TRACELINK_DEMO_HOST"] == "0.0.0.0"
        # Every service exports to the Collector, none to Jaeger directly.
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        for other, other_port in DEMO_SERVICES.items():
            variable = f"TRACELINK_DEMO_{other.upper()}_URL"
            if variable in env:
                assert env[variable] == f"http://{other}:{other_port}"
        assert service["depends_on"]["otel-collector-health"]["condition"] == "service_healthy"
        assert "jaeger" not in service["depends_on"]
    assert SERVICES["gateway"]["ports"] == ["8100:8100"]
    traffic = SERVICES["demo-traffic"]
    assert traffic["command"][:3] == ["traffic", "--gateway-url", "http://gateway:8100"]
    assert traffic["depends_on"]["gateway"]["condition"] == "service_healthy"
    # Jaeger receives the Collector's OTLP/gRPC on 4317, inside the network only.
    jaeger = yaml.safe_load(JAEGER_CONFIG_PATH.read_text(encoding="utf-8"))
    grpc_endpoint = jaeger["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert grpc_endpoint.endswith(":4317")
    assert SERVICES["jaeger"]["ports"] == ["16686:16686"]
