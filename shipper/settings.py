"""The shipper's configuration: where it reads and writes, and the knobs that bound it.

Every field is read from ``TRACELINK_<FIELD NAME>`` and mirrored by a ``--field-name`` flag of
``tracelink ship``. Limits exist so that one bad message can neither exhaust memory nor
explode the index mapping, and so that a drain always ends before Kafka gives the partitions
away.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tracelink.settings import (
    ConfigError,
    ElasticsearchSettings,
    KafkaSettings,
    RetentionSettings,
    env_name,
)

__all__ = ["ShipperSettings"]

_MIB = 1024 * 1024


class ShipperSettings(KafkaSettings, ElasticsearchSettings, RetentionSettings):
    """Settings of ``tracelink ship`` (Kafka and Elasticsearch groups plus the shipper's own)."""

    metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="Prometheus /metrics, /healthz, /readyz (0=off)"
    )
    metrics_host: str = Field(
        default="0.0.0.0",  # noqa: S104 - scraped from outside the container by design
        min_length=1,
        description="address the metrics port binds to",
    )

    # --- input formats ---------------------------------------------------------------------
    log_format: Literal["auto", "ecs", "otlp_proto", "otlp_json"] = Field(
        default="auto",
        description="what the log topics carry: auto (detected per message), ecs (one JSON "
        "record per message), otlp_proto or otlp_json (OTLP log requests, as the "
        "OpenTelemetry Collector's Kafka exporter writes them)",
    )

    # --- batching and concurrency -------------------------------------------------------
    batch_max_records: int = Field(
        default=5000, ge=1, le=100_000, description="records fetched per batch at most"
    )
    batch_max_bytes: int = Field(
        default=8 * _MIB,
        ge=64 * 1024,
        le=90 * _MIB,
        description="bulk request body size at most (a batch is split into several requests)",
    )
    max_in_flight: int = Field(
        default=4, ge=1, le=64, description="batches being written to Elasticsearch at once"
    )
    fetch_wait_ms: int = Field(
        default=200, ge=1, le=10_000, description="how long a fetch waits for records"
    )

    # --- retries ---------------------------------------------------------------------------
    retry_initial_backoff_ms: int = Field(
        default=100, ge=1, le=60_000, description="first retry delay of a failed bulk item"
    )
    retry_max_backoff_ms: int = Field(
        default=30_000, ge=1, le=600_000, description="cap of the exponential retry delay"
    )
    retry_max_attempts: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="bulk attempts of one document refused with 429/5xx before it is "
        "dead-lettered (0 = no limit; whole-cluster failures never count)",
    )
    retry_max_seconds: float = Field(
        default=600.0,
        ge=0,
        le=7 * 86_400,
        description="seconds one document may keep failing with 429/5xx before it is "
        "dead-lettered (0 = no limit; whole-cluster failures never count)",
    )
    es_request_timeout_s: float = Field(
        default=60.0, gt=0, le=600, description="timeout of one Elasticsearch request"
    )

    # --- Kafka group membership and shutdown -------------------------------------------
    kafka_session_timeout_ms: int = Field(
        default=30_000,
        ge=6_000,
        le=300_000,
        description="consumer group session timeout (also the rebalance timeout)",
    )
    kafka_heartbeat_interval_ms: int | None = Field(
        default=None,
        ge=100,
        le=60_000,
        description="consumer group heartbeat interval (default: a tenth of the session timeout)",
    )
    drain_timeout_s: float = Field(
        default=15.0,
        gt=0,
        description="time to finish in-flight batches on shutdown or rebalance "
        "(must be shorter than the session timeout)",
    )

    # --- limits on what one message may be -------------------------------------------------
    max_message_bytes: int = Field(
        default=1 * _MIB,
        ge=1024,
        le=64 * _MIB,
        description="larger messages are dead-lettered unparsed",
    )
    max_field_bytes: int = Field(
        default=32 * 1024,
        ge=256,
        le=16 * _MIB,
        description="longer string values are truncated (flagged 'truncated')",
    )
    max_fields: int = Field(
        default=1000,
        ge=10,
        le=100_000,
        description="records with more leaf fields are dead-lettered",
    )
    max_depth: int = Field(
        default=16,
        ge=2,
        le=100,
        description="records nested deeper are dead-lettered",
    )
    timestamp_max_distance_days: int = Field(
        default=7,
        ge=1,
        le=100_000,
        description="records whose @timestamp date is further from the ingest date are "
        "flagged 'timestamp_out_of_range' (still indexed, in the index of their own date)",
    )
    dlq_payload_max_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=16 * _MIB,
        description="how much of a dead letter's payload the DLQ index keeps as text",
    )

    @property
    def heartbeat_interval_ms(self) -> int:
        """The heartbeat interval in force (configured, or a tenth of the session timeout)."""
        if self.kafka_heartbeat_interval_ms is not None:
            return self.kafka_heartbeat_interval_ms
        return max(100, self.kafka_session_timeout_ms // 10)

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        # The topic names are checked by KafkaSettings (tracelink.topics' rule).
        if self.dlq_topic in self.log_topics:
            # Dead letters read back as input would go round for ever.
            raise ConfigError(
                env_name("log_topic"), f"includes the dead-letter topic {self.dlq_topic!r}"
            )
        session_s = self.kafka_session_timeout_ms / 1000
        if self.drain_timeout_s >= session_s:
            # Kafka waits at most the rebalance (= session) timeout for a member to rejoin;
            # a longer drain would get this replica thrown out of the group mid-drain.
            raise ConfigError(
                env_name("drain_timeout_s"),
                f"must be shorter than the consumer session timeout "
                f"({env_name('kafka_session_timeout_ms')}={self.kafka_session_timeout_ms} ms)",
            )
        if (
            self.kafka_heartbeat_interval_ms is not None
            and self.kafka_heartbeat_interval_ms * 3 > self.kafka_session_timeout_ms
        ):
            raise ConfigError(
                env_name("kafka_heartbeat_interval_ms"),
                "must be at most a third of the session timeout",
            )
        if self.retry_initial_backoff_ms > self.retry_max_backoff_ms:
            raise ConfigError(
                env_name("retry_initial_backoff_ms"),
                f"must not exceed {env_name('retry_max_backoff_ms')}",
            )
        if self.max_message_bytes > self.batch_max_bytes:
            raise ConfigError(
                env_name("max_message_bytes"),
                f"must not exceed {env_name('batch_max_bytes')} (one record must fit a request)",
            )
        if self.max_field_bytes > self.max_message_bytes:
            raise ConfigError(
                env_name("max_field_bytes"), f"must not exceed {env_name('max_message_bytes')}"
            )
