"""Configuration of the correlate API (``tracelink serve``).

Composes the shared Elasticsearch and link groups with the API's own fields; each field is
read from ``TRACELINK_<FIELD NAME>`` and mirrored by a ``--field-name`` flag.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, SecretStr, field_validator

from tracelink.settings import ConfigError, ElasticsearchSettings, LinkSettings, env_name

__all__ = ["ApiSettings"]

# An index or alias name as Elasticsearch accepts it; one name, never a pattern or a list.
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9_.+-]{0,254}\Z")


class ApiSettings(ElasticsearchSettings, LinkSettings):
    """Everything ``tracelink serve`` and :func:`correlate.app.create_app` need."""

    api_host: str = Field(
        default="127.0.0.1", min_length=1, description="interface the API listens on"
    )
    api_port: int = Field(default=8080, ge=1, le=65535, description="port the API listens on")
    api_token: SecretStr | None = Field(
        default=None,
        description="when set, requests need 'Authorization: Bearer <token>' "
        "(health endpoints excepted)",
    )
    api_es_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="seconds one Elasticsearch request may take before the API answers 503",
    )
    api_window_padding: int = Field(
        default=3600,
        ge=0,
        le=7 * 86400,
        description="seconds added on both sides of a start/end window (late spans, clock skew)",
    )
    api_window_max_days: int = Field(
        default=31,
        ge=1,
        le=3660,
        description="windows longer than this many days search the index patterns instead "
        "of listing daily indices",
    )
    api_page_size: int = Field(
        default=10_000,
        ge=1,
        le=10_000,
        description="documents per Elasticsearch page (more are fetched with search_after)",
    )
    api_max_spans: int = Field(
        default=100_000, ge=1, description="spans read per trace at most (the rest: a warning)"
    )
    api_default_limit_logs: int = Field(
        default=10_000,
        ge=0,
        description="logs returned per trace when a request sets no limit_logs",
    )
    api_max_limit_logs: int = Field(
        default=100_000, ge=1, description="the largest limit_logs a request may ask for"
    )
    api_clock_skew_tolerance_ms: int = Field(
        default=1000,
        ge=0,
        description="how far a log may lie outside its span's time window before a warning",
    )
    api_cpu_workers: int = Field(
        default=2,
        ge=0,
        le=64,
        description="worker processes that decode, join and render traces off the event "
        "loop (more traces at once wait for one); 0 = one thread in the API process",
    )
    jaeger_span_read_alias: str | None = Field(
        default=None,
        description="a span read alias of your choosing (Jaeger's indices.spans.rotation."
        "manual_rollover.read_alias or auto_rollover.read_alias), searched besides the "
        "daily indices and [<prefix>-]jaeger-span-read",
    )
    kibana_log_data_view: str = Field(
        default="tracelink-logs",
        min_length=1,
        description="id of the Kibana data view on the log indices (for Discover links)",
    )

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        if self.api_default_limit_logs > self.api_max_limit_logs:
            raise ConfigError(
                env_name("api_default_limit_logs"),
                f"must not exceed TRACELINK_API_MAX_LIMIT_LOGS ({self.api_max_limit_logs})",
            )

    @field_validator("jaeger_span_read_alias", mode="before")
    @classmethod
    def _check_read_alias(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and not _ALIAS.match(value):
            raise ValueError(
                "must be one Elasticsearch alias name (lower-case letters, digits, '_', '.', "
                "'+', '-'; not starting with a symbol; no wildcards or commas)"
            )
        return value

    @field_validator("api_token", mode="before")
    @classmethod
    def _blank_token_is_unset(cls, value: Any) -> Any:
        # An exported-but-empty variable must not turn into "the token is the empty string".
        if isinstance(value, str) and not value.strip():
            return None
        return value
