"""Configuration of the demo services (``TRACELINK_DEMO_*`` plus the shared ``TRACELINK_*``).

One settings class serves all five services and the traffic driver; each service reads the
fields it needs. ``TRACELINK_DEMO_PORT`` unset means the service's own default port, so the
services can run side by side on one machine without any configuration.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, field_validator

from tracelink.settings import ElasticsearchSettings, KafkaSettings, check_base_url

__all__ = ["DEFAULT_PORTS", "SERVICES", "DemoSettings", "ServiceName"]

ServiceName = Literal["gateway", "order", "payment", "inventory", "notification"]
SERVICES: Final[tuple[ServiceName, ...]] = (
    "gateway",
    "order",
    "payment",
    "inventory",
    "notification",
)
DEFAULT_PORTS: Final[dict[ServiceName, int]] = {
    "gateway": 8100,
    "order": 8101,
    "payment": 8102,
    "inventory": 8103,
    "notification": 8104,
}


def _default_url(service: ServiceName) -> str:
    return f"http://127.0.0.1:{DEFAULT_PORTS[service]}"


class DemoSettings(KafkaSettings, ElasticsearchSettings):
    """Settings of one demo service process (env ``TRACELINK_<FIELD>``)."""

    demo_host: str = Field(default="127.0.0.1", min_length=1, description="address to listen on")
    demo_port: int | None = Field(
        default=None, ge=0, le=65535, description="port to listen on (unset: the service default)"
    )
    demo_listen_fd: int | None = Field(
        default=None,
        ge=0,
        description="serve on this inherited listening socket instead of binding host:port",
    )
    demo_order_url: str = Field(default=_default_url("order"), description="order service")
    demo_payment_url: str = Field(default=_default_url("payment"), description="payment service")
    demo_inventory_url: str = Field(
        default=_default_url("inventory"), description="inventory service"
    )
    demo_events_topic: str = Field(
        default="order.events", min_length=1, description="Kafka topic of order events"
    )
    demo_seed: int = Field(default=7, description="seed of every simulated behaviour")
    demo_failure_rate: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="share of order database writes that time out on every attempt (lost orders)",
    )
    demo_db_timeout: float = Field(
        default=0.2, gt=0, le=30, description="seconds before one database write attempt times out"
    )
    demo_db_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="database write attempts before the order service gives up",
    )
    demo_environment: str = Field(
        default="demo", min_length=1, description="deployment environment reported in telemetry"
    )

    @field_validator("demo_order_url", "demo_payment_url", "demo_inventory_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_base_url(value)

    def port_for(self, service: ServiceName) -> int:
        """Where ``service`` listens: ``TRACELINK_DEMO_PORT`` or its default."""
        return self.demo_port if self.demo_port is not None else DEFAULT_PORTS[service]
