"""deploy/jaeger/config.yaml, read the way Jaeger 2.20 reads and validates it.

Jaeger v2 decodes its YAML with ``mapstructure`` into Go structs and refuses unknown keys;
``Configuration.Validate`` then rejects any explicitly set legacy rotation flag while the
feature gate ``es.config.rejectLegacyRotationFlags`` is on, which it is by default in 2.20
(``false`` counts: ``HasValue()`` is true for any value written). A config that fails either
makes Jaeger exit at start, and in compose restart-loop behind a health check that never
passes, with every demo service waiting on it.

``JAEGER_2_20`` below is the set of keys Jaeger 2.20.0 accepts in this file, derived from its
config structs. Sources, at tag v2.20.0 of jaegertracing/jaeger unless another repository
is named (the OpenTelemetry Collector modules at v0.155.0 / v1.61.0, the versions Jaeger
v2.20.0's go.mod pins):

- ``internal/storage/elasticsearch/config/config.go``: ``Configuration`` (lines 115-229),
  ``IndexOptions`` (35-59, ``date_layout``/``rollover_frequency`` "Deprecated: superseded by
  rotation.periodic"), ``Indices`` (62-70), ``TagsAsFields`` (234-243), ``Sniffing``
  (247-253), ``BulkProcessing`` (255-264), ``Authentication`` and its token/basic structs
  (267-295); ``Validate`` (468-536) rejects the legacy flags at 500-508.
- ``internal/storage/elasticsearch/config/config_legacy.go``: the feature gate (lines 18-27,
  ``StageBeta`` = on by default) and ``hasAnyLegacyRotationFlags`` (75-82).
- ``internal/storage/elasticsearch/config/config_rotation.go``: ``RotationConfig`` and its
  variants (17-94); ``validateRotationConfig`` (102-141) forbids mixing ``rotation`` with
  the legacy index fields.
- ``cmd/internal/storageconfig/config.go``: ``Config`` (31-34), ``TraceBackend`` (37-45).
- ``cmd/jaeger/internal/extension/jaegerquery/config.go`` (20-33) and
  ``.../jaegerquery/internal/flags.go``: ``UIConfig`` (21-28), ``QueryOptions`` (109-135).
- ``cmd/jaeger/internal/exporters/storageexporter/config.go``: ``Config`` (21-25).
- open-telemetry/opentelemetry-collector: ``receiver/otlpreceiver/config.go`` (37-64),
  ``processor/batchprocessor/config.go`` (16-46), ``config/confighttp/server.go``
  ``ServerConfig`` (38-105), ``config/configgrpc/configgrpc.go`` ``ServerConfig``
  (195-225), ``config/confignet/confignet.go`` ``AddrConfig`` (76-90), ``service/config.go``
  (13-21), ``service/pipelines/config.go`` (25-54),
  ``service/telemetry/otelconftelemetry/config.go`` (14-26) and ``.../migration/v0.3.0.go``
  ``LogsConfigV030`` (from line 167), ``ResourceConfigV030`` (262-266: inline attributes).
- open-telemetry/opentelemetry-collector-contrib (v0.155.0):
  ``extension/healthcheckv2extension/config.go`` ``Config`` (the squashed ``LegacyConfig``,
  ``grpc``, ``http``, ``component_health``) and ``.../internal/http/config.go``
  (``Config``, ``PathConfig``, ``LegacyConfig`` with ``use_v2``).

Parts the file does not use are modelled as ``ANY`` (TLS, queue and retry settings), which
the checker accepts without looking inside.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Final

import yaml

from tests.support.config_schema import ANY, LEAF, Deprecated, MapOf, Node, problems

REPO = Path(__file__).resolve().parents[3]
JAEGER_CONFIG_PATH = REPO / "deploy" / "jaeger" / "config.yaml"

_USE_ROTATION = "superseded by indices.<type>.rotation; rejected while the feature gate "
_GATE = "es.config.rejectLegacyRotationFlags is on (the 2.20 default)"

# config_legacy.go hasAnyLegacyRotationFlags: any of these, with any value, fails Validate.
LEGACY_ROTATION_FLAGS: Final = (
    "use_aliases",
    "use_ilm",
    "span_read_alias",
    "span_write_alias",
    "service_read_alias",
    "service_write_alias",
)

# --- OpenTelemetry Collector building blocks (v0.155.0) --------------------------------------

_NET_ADDR: Final[dict[str, Node]] = {"endpoint": LEAF, "transport": LEAF, "dialer": ANY}
_HTTP_SERVER: Final[dict[str, Node]] = {
    **_NET_ADDR,
    "tls": ANY,
    "cors": ANY,
    "auth": ANY,
    "max_request_body_size": LEAF,
    "include_metadata": LEAF,
    "response_headers": ANY,
    "compression_algorithms": LEAF,
    "read_timeout": LEAF,
    "read_header_timeout": LEAF,
    "write_timeout": LEAF,
    "idle_timeout": LEAF,
    "middlewares": LEAF,
    "keep_alives_enabled": LEAF,
}
_GRPC_SERVER: Final[dict[str, Node]] = {
    **_NET_ADDR,
    "tls": ANY,
    "max_recv_msg_size_mib": LEAF,
    "max_concurrent_streams": LEAF,
    "read_buffer_size": LEAF,
    "write_buffer_size": LEAF,
    "keepalive": ANY,
    "auth": ANY,
    "include_metadata": LEAF,
}
_OTLP_RECEIVER: Final[dict[str, Node]] = {
    "protocols": {
        "grpc": _GRPC_SERVER,
        "http": {
            **_HTTP_SERVER,
            "traces_url_path": LEAF,
            "metrics_url_path": LEAF,
            "logs_url_path": LEAF,
        },
    }
}
_BATCH_PROCESSOR: Final[dict[str, Node]] = {
    "timeout": LEAF,
    "send_batch_size": LEAF,
    "send_batch_max_size": LEAF,
    "metadata_keys": LEAF,
    "metadata_cardinality_limit": LEAF,
}
_SERVICE: Final[dict[str, Node]] = {
    "extensions": LEAF,
    "pipelines": MapOf({"receivers": LEAF, "processors": LEAF, "exporters": LEAF}),
    "telemetry": {
        "logs": {
            "level": LEAF,
            "development": LEAF,
            "encoding": LEAF,
            "disable_caller": LEAF,
            "disable_stacktrace": LEAF,
            "sampling": ANY,
            "output_paths": LEAF,
            "error_output_paths": LEAF,
            "initial_fields": ANY,
            "processors": ANY,
        },
        "metrics": ANY,
        "traces": ANY,
        # Declarative resource schema or the legacy inline attribute map (",remain").
        "resource": ANY,
    },
}
_PATH_CONFIG: Final[dict[str, Node]] = {"enabled": LEAF, "path": LEAF}
_HEALTHCHECK_V2: Final[dict[str, Node]] = {
    # The squashed legacy config (an HTTP server of its own; use_v2 switches it off) ...
    **_HTTP_SERVER,
    "path": LEAF,
    "response_body": {"healthy": LEAF, "unhealthy": LEAF},
    "check_collector_pipeline": ANY,
    "use_v2": LEAF,
    # ... then the v2 protocols.
    "http": {**_HTTP_SERVER, "status": _PATH_CONFIG, "config": _PATH_CONFIG},
    "grpc": ANY,
    "component_health": ANY,
}

# --- Jaeger v2.20.0 ----------------------------------------------------------------------

_PERIODIC: Final[dict[str, Node]] = {"date_layout": LEAF, "rollover_frequency": LEAF}
_ALIASES: Final[dict[str, Node]] = {"read_alias": LEAF, "write_alias": LEAF}
_ROTATION: Final[dict[str, Node]] = {
    "periodic": _PERIODIC,
    "manual_rollover": _ALIASES,
    "auto_rollover": {**_ALIASES, "policy_name": LEAF},
    "data_stream": Deprecated("not yet implemented in 2.20: Validate rejects it"),
}
_INDEX_OPTIONS: Final[dict[str, Node]] = {
    "priority": LEAF,
    "shards": LEAF,
    "replicas": LEAF,
    "date_layout": Deprecated("superseded by rotation.periodic.date_layout"),
    "rollover_frequency": Deprecated("superseded by rotation.periodic.rollover_frequency"),
    "rotation": _ROTATION,
}
_TOKEN_AUTH: Final[dict[str, Node]] = {
    "file_path": LEAF,
    "from_context": LEAF,
    "reload_interval": LEAF,
}
ES_CONFIGURATION: Final[dict[str, Node]] = {
    "server_urls": LEAF,
    "remote_read_clusters": LEAF,
    "auth": {
        "basic": {
            "username": LEAF,
            "password": LEAF,
            "password_file": LEAF,
            "reload_interval": LEAF,
        },
        "bearer_token": _TOKEN_AUTH,
        "api_key": _TOKEN_AUTH,
        "authenticator": LEAF,  # configauth.Config, squashed
    },
    "tls": ANY,
    "sniffing": {"enabled": LEAF, "use_https": LEAF},
    "disable_health_check": LEAF,
    "health_check_timeout_startup": LEAF,
    "send_get_body_as": LEAF,
    "query_timeout": LEAF,
    "http_compression": LEAF,
    "custom_headers": MapOf(LEAF),
    "bulk_processing": {
        "max_bytes": LEAF,
        "max_actions": LEAF,
        "flush_interval": LEAF,
        "workers": LEAF,
    },
    "version": LEAF,
    "log_level": LEAF,
    "indices": {
        "index_prefix": LEAF,
        "spans": _INDEX_OPTIONS,
        "services": _INDEX_OPTIONS,
        "dependencies": _INDEX_OPTIONS,
        "sampling": _INDEX_OPTIONS,
    },
    **{flag: Deprecated(_USE_ROTATION + _GATE) for flag in LEGACY_ROTATION_FLAGS},
    "create_mappings": LEAF,
    "max_doc_count": LEAF,
    "max_span_age": LEAF,
    "max_trace_duration": LEAF,
    "service_cache_ttl": LEAF,
    "adaptive_sampling_lookback": LEAF,
    "tags_as_fields": {
        "all": LEAF,
        "dot_replacement": LEAF,
        "config_file": LEAF,
        "include": LEAF,
    },
}
_JAEGER_STORAGE: Final[dict[str, Node]] = {
    "backends": MapOf(
        {
            "memory": ANY,
            "badger": ANY,
            "grpc": ANY,
            "cassandra": ANY,
            "elasticsearch": ES_CONFIGURATION,
            "opensearch": ES_CONFIGURATION,
            "clickhouse": ANY,
        }
    ),
    "metric_backends": ANY,
}
_JAEGER_QUERY: Final[dict[str, Node]] = {
    "base_path": LEAF,
    "ui": {"config_file": LEAF, "assets_path": LEAF, "log_access": LEAF},
    "bearer_token_propagation": LEAF,
    "header_forwarding": LEAF,
    "multi_tenancy": ANY,
    "max_clock_skew_adjust": LEAF,
    "max_trace_size": LEAF,
    "enable_tracing": LEAF,
    "http": _HTTP_SERVER,
    "grpc": _GRPC_SERVER,
    "ai": ANY,
    "otlp_proxy": {"target": LEAF},
    "storage": {"traces": LEAF, "traces_archive": LEAF, "metrics": LEAF},
}
_STORAGE_EXPORTER: Final[dict[str, Node]] = {
    "trace_storage": LEAF,
    "queue": ANY,
    "retry_on_failure": ANY,
}

# The components this file may name (component IDs are `type` or `type/name`); a component
# type not listed here is reported as an unknown key, so adding one means modelling it.
JAEGER_2_20: Final[dict[str, Node]] = {
    "service": _SERVICE,
    "extensions": {
        "jaeger_storage": _JAEGER_STORAGE,
        "jaeger_query": _JAEGER_QUERY,
        "healthcheckv2": _HEALTHCHECK_V2,
    },
    "receivers": {"otlp": _OTLP_RECEIVER},
    "processors": {"batch": _BATCH_PROCESSOR},
    "exporters": {"jaeger_storage_exporter": _STORAGE_EXPORTER},
}

INDEX_TYPES: Final = ("spans", "services", "dependencies", "sampling")


def _load() -> dict[str, Any]:
    loaded = yaml.safe_load(JAEGER_CONFIG_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    # YAML anchors share one object between the index types; the tests edit copies of it.
    unshared: dict[str, Any] = json.loads(json.dumps(loaded))
    return unshared


def _elasticsearch(config: dict[str, Any]) -> dict[str, Any]:
    backends = config["extensions"]["jaeger_storage"]["backends"]
    (backend,) = backends.values()
    es = backend["elasticsearch"]
    assert isinstance(es, dict)
    return es


def test_every_key_is_one_jaeger_2_20_accepts() -> None:
    assert problems(_load(), JAEGER_2_20) == []


def test_no_legacy_rotation_flag_is_set_not_even_false() -> None:
    es = _elasticsearch(_load())
    assert set(LEGACY_ROTATION_FLAGS) & set(es) == set()


def test_each_index_type_rotates_daily_in_the_new_form_only() -> None:
    """Daily ``jaeger-span-YYYY-MM-DD`` (what tracelink reads by default), written as
    ``rotation.periodic`` and never mixed with the legacy ``date_layout`` /
    ``rollover_frequency`` (``validateRotationConfig`` rejects the mix)."""
    indices = _elasticsearch(_load())["indices"]
    for index_type in INDEX_TYPES:
        options = indices[index_type]
        assert "date_layout" not in options, index_type
        assert "rollover_frequency" not in options, index_type
        assert options["rotation"] == {
            "periodic": {"date_layout": "2006-01-02", "rollover_frequency": "day"}
        }, index_type


def test_the_checker_rejects_what_jaeger_2_20_rejects() -> None:
    """The config as it was before (``use_aliases: false`` and the legacy index fields), a
    mix of old and new forms, and a misspelt key: each one is reported by its path."""
    config = _load()
    es = _elasticsearch(config)

    legacy = copy.deepcopy(config)
    legacy_es = _elasticsearch(legacy)
    legacy_es["use_aliases"] = False
    legacy_es["indices"]["spans"] = {
        "date_layout": "2006-01-02",
        "rollover_frequency": "day",
        "shards": 1,
        "replicas": 0,
    }
    found = problems(legacy, JAEGER_2_20)
    assert any(".elasticsearch.use_aliases: deprecated" in p for p in found), found
    assert any(".indices.spans.date_layout: deprecated" in p for p in found), found
    assert any(".indices.spans.rollover_frequency: deprecated" in p for p in found), found

    mixed = copy.deepcopy(config)
    _elasticsearch(mixed)["indices"]["services"]["date_layout"] = "2006-01-02"
    assert problems(mixed, JAEGER_2_20)

    typo = copy.deepcopy(config)
    _elasticsearch(typo)["indices"]["spans"]["rotation"]["periodic"]["date_format"] = "x"
    (problem,) = problems(typo, JAEGER_2_20)
    assert "rotation.periodic.date_format: unknown key" in problem

    for flag in LEGACY_ROTATION_FLAGS:
        flagged = copy.deepcopy(config)
        _elasticsearch(flagged)[flag] = es.get(flag, "")
        assert problems(flagged, JAEGER_2_20), flag
