"""Handles on the Kafka and Elasticsearch servers a test session uses."""

from __future__ import annotations

from dataclasses import dataclass

from devstack.standins import ElasticsearchStandin, KafkaStandin


@dataclass
class KafkaServer:
    bootstrap: str
    standin: KafkaStandin | None = None

    def log_tail(self) -> str:
        return self.standin.log_tail() if self.standin else ""


@dataclass
class ElasticsearchServer:
    url: str
    standin: ElasticsearchStandin | None = None

    def log_tail(self) -> str:
        return self.standin.log_tail() if self.standin else ""
