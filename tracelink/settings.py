"""Configuration shared by every tracelink component (the README's configuration table).

Each component composes the groups it needs (``class ShipperSettings(KafkaSettings,
ElasticsearchSettings)``). Every field is read from ``TRACELINK_<FIELD NAME>``; an explicit
argument (a CLI flag) wins over the environment, which wins over the default.

Bad configuration is reported as one :class:`ConfigError` line that names the variable; the
CLI prints it and exits 2. Secret values never appear in that line, in ``repr`` or in logs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tracelink.errors import ConfigError
from tracelink.kafka_security import KafkaSecurity
from tracelink.topics import log_topics, produce_topic

__all__ = [
    "ENV_PREFIX",
    "ConfigError",
    "ElasticsearchSettings",
    "KafkaSettings",
    "LinkSettings",
    "TracelinkSettings",
    "check_base_url",
    "env_name",
    "load_settings",
]

ENV_PREFIX = "TRACELINK_"

# Index names must be lower-case and must not contain the characters Elasticsearch forbids.
# `\Z`, not `$`, which would let a trailing newline through.
_INDEX_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_.+-]*\Z")
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.-]+:\d{1,5}\Z|^\[[0-9A-Fa-f:]+\]:\d{1,5}\Z")

S = TypeVar("S", bound="TracelinkSettings")


def env_name(field: str) -> str:
    """The environment variable that configures ``field``."""
    return ENV_PREFIX + field.upper()


def _split_csv(value: Any) -> Any:
    """Comma-separated strings become lists; blanks around items are ignored."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _check_prefix(value: str, *, allow_empty: bool = False) -> str:
    if allow_empty and value == "":
        return value
    if not _INDEX_PREFIX.match(value):
        raise ValueError(
            "must be a lower-case Elasticsearch index name prefix "
            "(letters, digits, '_', '.', '+', '-'; not starting with a symbol)"
        )
    return value


class TracelinkSettings(BaseSettings):
    """Base for every component's settings: the ``TRACELINK_`` prefix and strictness."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
        frozen=True,
    )


class KafkaSettings(TracelinkSettings):
    """Where the logs travel."""

    kafka_bootstrap: Annotated[list[str], NoDecode] = Field(
        default=["127.0.0.1:9092"],
        description="Kafka bootstrap servers, comma-separated host:port",
    )
    log_topic: str = Field(
        default="logs",
        min_length=1,
        description="topic the logs travel on; several, comma-separated, for the shipper "
        "(producers write to the first)",
    )
    dlq_topic: str = Field(default="logs.dlq", min_length=1, description="dead-letter topic")
    consumer_group: str = Field(
        default="tracelink-shipper", min_length=1, description="shipper consumer group"
    )
    # Security of every Kafka client. These fields only carry the values (and give them
    # flags); what they mean and which combinations work is tracelink.kafka_security's rule.
    kafka_security_protocol: str = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_mechanism: str | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL only)"
    )
    kafka_username: str | None = Field(default=None, description="SASL user")
    kafka_password: SecretStr | None = Field(default=None, description="SASL password")
    kafka_password_file: Path | None = Field(
        default=None, description="file holding the SASL password (mounted secrets)"
    )
    kafka_ca_certs: Path | None = Field(
        default=None, description="CA bundle (PEM) trusted for the brokers' certificates"
    )
    kafka_client_cert: Path | None = Field(
        default=None, description="client certificate (PEM) for mutual TLS"
    )
    kafka_client_key: Path | None = Field(
        default=None, description="key of the client certificate (PEM)"
    )
    kafka_ssl_check_hostname: bool = Field(
        default=True, description="require the broker certificate to name the host"
    )
    _kafka_security: KafkaSecurity = PrivateAttr(default_factory=KafkaSecurity)

    @field_validator("kafka_bootstrap", mode="before")
    @classmethod
    def _split_bootstrap(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("kafka_bootstrap")
    @classmethod
    def _check_bootstrap(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one host:port is required")
        for item in value:
            if not _HOST_PORT.match(item):
                raise ValueError(f"{item!r} is not host:port")
        return value

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        log_topics(self.log_topic)  # ConfigError naming the variable when it is wrong
        self._kafka_security = KafkaSecurity.from_env(self._kafka_security_variables())

    @property
    def log_topics(self) -> list[str]:
        """Every topic of ``TRACELINK_LOG_TOPIC`` (what the shipper consumes)."""
        return log_topics(self.log_topic)

    @property
    def produce_topic(self) -> str:
        """The topic producers write to: the first of ``TRACELINK_LOG_TOPIC``."""
        return produce_topic(self.log_topic)

    def _kafka_security_variables(self) -> dict[str, str]:
        values: dict[str, object] = {
            "kafka_security_protocol": self.kafka_security_protocol,
            "kafka_sasl_mechanism": self.kafka_sasl_mechanism,
            "kafka_username": self.kafka_username,
            "kafka_password": (
                None if self.kafka_password is None else self.kafka_password.get_secret_value()
            ),
            "kafka_password_file": self.kafka_password_file,
            "kafka_ca_certs": self.kafka_ca_certs,
            "kafka_client_cert": self.kafka_client_cert,
            "kafka_client_key": self.kafka_client_key,
            "kafka_ssl_check_hostname": str(self.kafka_ssl_check_hostname).lower(),
        }
        return {env_name(key): str(value) for key, value in values.items() if value is not None}

    @property
    def kafka_security(self) -> KafkaSecurity:
        """How the Kafka clients connect (TLS, SASL); validated when the settings were read."""
        return self._kafka_security

    def kafka_client_kwargs(self) -> dict[str, Any]:
        """``bootstrap_servers`` plus the security arguments, for any aiokafka client."""
        return {
            "bootstrap_servers": ",".join(self.kafka_bootstrap),
            **self._kafka_security.client_kwargs(),
        }


class ElasticsearchSettings(TracelinkSettings):
    """Where logs are indexed and spans are read."""

    es_url: Annotated[list[str], NoDecode] = Field(
        default=["http://127.0.0.1:9200"],
        description="Elasticsearch URL(s), comma-separated",
    )
    es_api_key: SecretStr | None = Field(default=None, description="Elasticsearch API key")
    es_username: str | None = Field(default=None, description="Elasticsearch user (basic auth)")
    es_password: SecretStr | None = Field(default=None, description="Elasticsearch password")
    es_ca_certs: Path | None = Field(default=None, description="CA bundle for TLS to Elasticsearch")
    log_index_prefix: str = Field(
        default="tracelink-logs", description="daily log indices <prefix>-YYYY-MM-DD"
    )
    dlq_index_prefix: str = Field(
        default="tracelink-dlq", description="daily dead-letter indices <prefix>-YYYY-MM-DD"
    )
    jaeger_index_prefix: str = Field(
        default="", description="Jaeger's es.index-prefix ('prod' reads prod-jaeger-span-*)"
    )

    @field_validator("es_url", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("es_url")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one URL is required")
        for url in value:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"{url!r} is not an http(s):// URL")
        return [url.rstrip("/") for url in value]

    @field_validator("log_index_prefix", "dlq_index_prefix")
    @classmethod
    def _check_index_prefix(cls, value: str) -> str:
        return _check_prefix(value)

    @field_validator("jaeger_index_prefix")
    @classmethod
    def _check_jaeger_prefix(cls, value: str) -> str:
        # Kept as given: tracelink.layout joins it to the index names as Jaeger does
        # ("prod" and "prod-" both give "prod-jaeger-span-*").
        return _check_prefix(value, allow_empty=True)

    @field_validator("es_ca_certs")
    @classmethod
    def _check_ca(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{str(value)!r} is not a readable file")
        return value

    def model_post_init(self, context: Any, /) -> None:
        if (self.es_username is None) != (self.es_password is None):
            missing = "es_password" if self.es_password is None else "es_username"
            raise ConfigError(env_name(missing), "set both username and password, or neither")
        log_prefix, dlq_prefix = self.log_index_prefix, self.dlq_index_prefix
        if (
            log_prefix == dlq_prefix
            or dlq_prefix.startswith(log_prefix + "-")
            or log_prefix.startswith(dlq_prefix + "-")
        ):
            # Neither pattern may match the other's indices, either way round: <log>-* must
            # never search dead letters, and two index templates of the same priority
            # matching one index make Elasticsearch refuse to create it.
            raise ConfigError(
                env_name("dlq_index_prefix"),
                f"must not overlap the log indices ({dlq_prefix}-* and {log_prefix}-* "
                "may not match each other's indices)",
            )


class RetentionSettings(TracelinkSettings):
    """How long the daily log and dead-letter indices live (read by setup and the shipper)."""

    retention_days: int = Field(
        default=30,
        ge=0,
        le=36500,
        description="delete daily log and dead-letter indices after this many days "
        "(ILM, where the server has it; 0 = keep them)",
    )


class LinkSettings(TracelinkSettings):
    """Base URLs that links in the API, Kibana objects and Jaeger UI point at."""

    jaeger_ui_url: str = Field(default="http://localhost:16686", description="Jaeger UI base URL")
    kibana_url: str = Field(default="http://localhost:5601", description="Kibana base URL")
    api_public_url: str = Field(
        default="http://localhost:8080",
        description="the correlate API as users' browsers reach it (for links)",
    )

    @field_validator("jaeger_ui_url", "kibana_url", "api_public_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return check_base_url(value)


def check_base_url(value: str) -> str:
    """An ``http(s)://host…`` base URL without its trailing ``/``; ``ValueError`` otherwise."""
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"{value!r} is not an http(s):// URL")
    return value.rstrip("/")


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build ``cls`` from overrides (CLI flags; ``None`` = not given) over the environment.

    Raises :class:`ConfigError` naming the first offending variable.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return cls(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        problem = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(env_name(field), problem) from None
