"""The log topic rule (stdlib only: services import it).

``TRACELINK_LOG_TOPIC`` names one topic or several, comma-separated (``logs,otel-logs``: the
services' topic and a Collector's, shipped by one consumer group). The shipper consumes every
one of them; everything that *produces* logs from that setting — the demo services through
``logging_ext``, the Node.js demo gateway, the embedded stack's OTLP receiver — writes to the
first. So one setting serves a whole stack (``tracelink dev`` gives every part the same
environment), and the extra topics are the ones other producers (a Collector) write to.
"""

from __future__ import annotations

import re
from typing import Final

from tracelink.errors import ConfigError

__all__ = ["LOG_TOPIC_VAR", "check_topic_name", "log_topics", "produce_topic"]

LOG_TOPIC_VAR: Final = "TRACELINK_LOG_TOPIC"

# Kafka's legal topic names (``Topic.validate`` in Apache Kafka's clients: at most 249 of
# ASCII letters, digits, '.', '_', '-'; not "." or "..").
_TOPIC: Final = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def _is_topic_name(name: str) -> bool:
    return bool(_TOPIC.fullmatch(name)) and name not in (".", "..")


def check_topic_name(topic: str) -> str:
    """``topic`` when it is one legal Kafka topic name, else ``ValueError`` saying why (a
    comma-separated list is not one)."""
    if not isinstance(topic, str):
        raise ValueError(f"a Kafka topic name is a string, not {type(topic).__name__}")
    if not _is_topic_name(topic):
        hint = " (one topic: the first of TRACELINK_LOG_TOPIC's list)" if "," in topic else ""
        raise ValueError(f"{topic!r} is not a Kafka topic name{hint}")
    return topic


def log_topics(value: str) -> list[str]:
    """The topics of a ``TRACELINK_LOG_TOPIC`` value, in order (blanks around names ignored);
    :class:`ConfigError` naming the variable when it names none, an illegal name, or one
    twice."""
    topics = [topic.strip() for topic in value.split(",") if topic.strip()]
    bad = [topic for topic in topics if not _is_topic_name(topic)]
    if bad:
        raise ConfigError(LOG_TOPIC_VAR, f"not a Kafka topic name: {bad[0]!r}")
    if not topics:
        raise ConfigError(LOG_TOPIC_VAR, "names no topic")
    if len(set(topics)) != len(topics):
        raise ConfigError(LOG_TOPIC_VAR, "names a topic twice")
    return topics


def produce_topic(value: str) -> str:
    """The topic a producer configured by ``TRACELINK_LOG_TOPIC`` writes to: the first."""
    return log_topics(value)[0]
