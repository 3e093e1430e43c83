"""Configuration of ``tracelink setup`` and of the Kibana importer.

``TRACELINK_KIBANA_URL`` (in :class:`~tracelink.settings.LinkSettings`) is the Kibana that
users' browsers reach, used in links. ``tracelink setup`` imports into a Kibana only when it
is given ``--kibana-url`` explicitly, because the address a setup job reaches Kibana at (a
container name) is often not the one a browser uses.

Kibana credentials default to the Elasticsearch ones (Kibana authenticates against the same
users and accepts the same API keys); set the ``TRACELINK_KIBANA_*`` variables where they
differ. Secrets are :class:`~pydantic.SecretStr`: never printed, never logged.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator

from tracelink.settings import (
    ConfigError,
    ElasticsearchSettings,
    LinkSettings,
    RetentionSettings,
    TracelinkSettings,
    env_name,
)

__all__ = ["KibanaSettings", "SetupSettings"]

_SPACE_ID = re.compile(r"^[a-z0-9_-]*\Z")


class KibanaSettings(TracelinkSettings):
    """How to talk to Kibana's HTTP API."""

    kibana_api_key: SecretStr | None = Field(
        default=None, description="Kibana API key (default: the Elasticsearch credentials)"
    )
    kibana_username: str | None = Field(
        default=None, description="Kibana user, basic auth (default: the Elasticsearch user)"
    )
    kibana_password: SecretStr | None = Field(default=None, description="Kibana password")
    kibana_ca_certs: Path | None = Field(
        default=None, description="CA bundle for TLS to Kibana (default: the system's)"
    )
    kibana_space: str = Field(
        default="", description="Kibana space to import into (empty: the default space)"
    )
    kibana_wait_seconds: float = Field(
        default=300.0,
        gt=0,
        le=3600,
        description="how long setup waits for Kibana to report 'available'",
    )

    @field_validator("kibana_space")
    @classmethod
    def _check_kibana_space(cls, value: str) -> str:
        if not _SPACE_ID.match(value):
            raise ValueError("a Kibana space id is lower-case letters, digits, '_' and '-'")
        return value

    # Validator names are unique across the settings groups: SetupSettings inherits them all,
    # and a same-named method in another group would silently replace this one.
    @field_validator("kibana_ca_certs")
    @classmethod
    def _check_kibana_ca(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{str(value)!r} is not a readable file")
        return value

    @field_validator("kibana_api_key", "kibana_password", mode="before")
    @classmethod
    def _blank_kibana_secret_is_unset(cls, value: Any) -> Any:
        # An exported-but-empty variable is "not set", not "the empty secret".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        if (self.kibana_username is None) != (self.kibana_password is None):
            missing = "kibana_password" if self.kibana_password is None else "kibana_username"
            raise ConfigError(env_name(missing), "set both username and password, or neither")


class SetupSettings(ElasticsearchSettings, LinkSettings, KibanaSettings, RetentionSettings):
    """Everything ``tracelink setup`` reads."""

    def model_post_init(self, context: Any, /) -> None:
        # ElasticsearchSettings' checks do not chain to the next base: run both explicitly.
        ElasticsearchSettings.model_post_init(self, context)
        KibanaSettings.model_post_init(self, context)

    def kibana_authorization(self) -> str | None:
        """The ``Authorization`` header value for Kibana, or ``None`` for no credentials.

        The Kibana variables win; otherwise the Elasticsearch credentials are used (Kibana
        accepts Elasticsearch users and API keys). Basic auth wins over an API key. The value
        is a secret.
        """
        if self.kibana_username is not None and self.kibana_password is not None:
            return _basic(self.kibana_username, self.kibana_password)
        if self.kibana_api_key is not None:
            return "ApiKey " + self.kibana_api_key.get_secret_value()
        if self.es_username is not None and self.es_password is not None:
            return _basic(self.es_username, self.es_password)
        if self.es_api_key is not None:
            return "ApiKey " + self.es_api_key.get_secret_value()
        return None


def _basic(username: str, password: SecretStr) -> str:
    token = f"{username}:{password.get_secret_value()}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")
