"""The Elasticsearch layout every component agrees on.

Index names, the index templates tracelink owns (logs and dead letters), and the patterns
for Jaeger's span indices, which tracelink only reads. Field names written by the shipper
and read by the API and by the Kibana objects are defined here once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "DLQ_FIELDS",
    "LOG_FIELDS",
    "dlq_index",
    "dlq_index_pattern",
    "dlq_index_template",
    "jaeger_index_name",
    "jaeger_service_daily_index",
    "jaeger_span_daily_index",
    "jaeger_span_pattern",
    "jaeger_span_read_alias",
    "log_index",
    "log_index_pattern",
    "log_index_template",
    "template_name",
]

# ECS 8.x field names of a log record plus tracelink's own metadata.
LOG_FIELDS: Final = {
    "timestamp": "@timestamp",
    "message": "message",
    "level": "log.level",
    "logger": "log.logger",
    "trace_id": "trace.id",
    "span_id": "span.id",
    "sampled": "trace.sampled",
    "event_id": "event.id",
    "ingested": "event.ingested",
    "service": "service.name",
    "service_version": "service.version",
    "environment": "service.environment",
    "host": "host.name",
    "pid": "process.pid",
    "thread": "process.thread.name",
    "error_type": "error.type",
    "error_message": "error.message",
    "error_stack": "error.stack_trace",
    "ecs_version": "ecs.version",
    # stack_info=True: the stack of the logging call (ECS has no field for it).
    "stack_info": "log.origin.stack_trace",
    # Set by logging_ext when it had to fall back while rendering (bad %-args, a failing
    # processor): what went wrong; the record itself is still there.
    "render_error": "tracelink.render_error",
    # Where the record came from in Kafka: "<topic>/<partition>/<offset>".
    "origin": "tracelink.origin",
    # "record" or "kafka" (the record's @timestamp was missing or unparseable), or "ingest"
    # (neither had a usable time).
    "timestamp_source": "tracelink.timestamp_source",
    # The record's own @timestamp when it could not be used (kept as text).
    "timestamp_original": "tracelink.timestamp_original",
    # A trace/span ID that is not hex: kept for humans, never used for joins.
    "invalid_trace_id": "tracelink.invalid.trace_id",
    "invalid_span_id": "tracelink.invalid.span_id",
    # An event.id that is not a string of 1-512 bytes, as text; event.id is then derived.
    "invalid_event_id": "tracelink.invalid.event_id",
    # The CRC-32 of the Kafka message value: equal for replays of one record, so a 409 on
    # an event.id that another record holds is told apart from a replay.
    "digest": "tracelink.digest",
    # The event.id a record gave when another record already held it (flag event_id_conflict).
    "event_id_original": "tracelink.event_id_original",
    # A producer's own "tracelink" value, as JSON text, when it could not move to extra.tracelink.
    "forged": "tracelink.forged",
    # What the shipper changed on the way: "truncated", "invalid_trace_id", ...
    "flags": "tracelink.flags",
}

DLQ_FIELDS: Final = {
    "timestamp": "@timestamp",
    "reason": "error.message",
    "error_type": "error.type",
    "origin": "tracelink.origin",
    "topic": "tracelink.kafka.topic",
    "partition": "tracelink.kafka.partition",
    "offset": "tracelink.kafka.offset",
    "payload": "tracelink.payload",
    "payload_bytes": "tracelink.payload_bytes",
    "payload_encoding": "tracelink.payload_encoding",
    "payload_truncated": "tracelink.payload_truncated",
}


def _daily(prefix: str, when: datetime) -> str:
    return f"{prefix}-{when.astimezone(UTC):%Y-%m-%d}"


def log_index(prefix: str, when: datetime) -> str:
    """The daily log index for a record whose ``@timestamp`` is ``when`` (UTC date)."""
    return _daily(prefix, when)


def dlq_index(prefix: str, when: datetime) -> str:
    """The daily dead-letter index for a letter written at ``when`` (UTC date)."""
    return _daily(prefix, when)


def log_index_pattern(prefix: str) -> str:
    return f"{prefix}-*"


def dlq_index_pattern(prefix: str) -> str:
    return f"{prefix}-*"


def jaeger_index_name(jaeger_prefix: str, name: str) -> str:
    """Jaeger's name for its index ``name`` (``jaeger-span``, ``jaeger-service``) under its
    index prefix: ``prod`` and ``prod-`` both give ``prod-jaeger-span``, no prefix gives
    ``jaeger-span``.

    As Jaeger joins them (``IndexPrefix.Apply`` and ``joinPrefix`` in
    ``internal/storage/elasticsearch/config/config.go`` of Jaeger v2.20.0): the separator
    ``-`` is added unless the prefix already ends with it.
    """
    if not jaeger_prefix:
        return name
    if jaeger_prefix.endswith(_JAEGER_SEPARATOR):
        return jaeger_prefix + name
    return jaeger_prefix + _JAEGER_SEPARATOR + name


_JAEGER_SEPARATOR: Final = "-"


def _jaeger_base(jaeger_prefix: str) -> str:
    return jaeger_index_name(jaeger_prefix, "jaeger-span")


def jaeger_span_pattern(jaeger_prefix: str = "") -> str:
    """Every span index of one Jaeger deployment (daily and rollover backing indices)."""
    return _jaeger_base(jaeger_prefix) + "-*"


def jaeger_span_daily_index(jaeger_prefix: str, when: datetime) -> str:
    """The daily span index Jaeger writes a span starting at ``when`` to."""
    return _daily(_jaeger_base(jaeger_prefix), when)


def jaeger_service_daily_index(jaeger_prefix: str, when: datetime) -> str:
    """The daily ``service:operation`` index Jaeger writes alongside a span starting at ``when``."""
    return _daily(jaeger_index_name(jaeger_prefix, "jaeger-service"), when)


def jaeger_span_read_alias(jaeger_prefix: str = "") -> str:
    """The read alias Jaeger's rollover mode maintains over its span indices."""
    return _jaeger_base(jaeger_prefix) + "-read"


def template_name(prefix: str) -> str:
    """Our index templates are named after their prefix (never with ``@``)."""
    return prefix


_KEYWORD: Final = {"type": "keyword", "ignore_above": 1024}


def _text_type(match_only_text: bool) -> dict[str, Any]:
    return {"type": "match_only_text"} if match_only_text else {"type": "text"}


def log_index_template(
    prefix: str, *, match_only_text: bool = True, ilm_policy: str | None = None
) -> dict[str, Any]:
    """The composable index template for ``<prefix>-*`` (body of ``PUT _index_template``).

    Priority 500 so it wins over Elasticsearch's built-in templates; the pattern is ours, not
    ``logs-*-*`` (which the built-in data-stream template owns).
    """
    text = _text_type(match_only_text)
    settings: dict[str, Any] = {
        # Bounded mapping growth: the shipper flattens beyond this into a dead letter.
        "index.mapping.total_fields.limit": 2000,
        "index.mapping.depth.limit": 20,
    }
    if ilm_policy:
        settings["index.lifecycle.name"] = ilm_policy
    return {
        "index_patterns": [log_index_pattern(prefix)],
        "priority": 500,
        "_meta": {"managed_by": "tracelink", "description": "tracelink log indices"},
        "template": {
            "settings": settings,
            "mappings": {
                "dynamic_templates": [
                    {
                        "strings_as_keyword": {
                            "match_mapping_type": "string",
                            "mapping": _KEYWORD,
                        }
                    }
                ],
                "properties": {
                    "@timestamp": {"type": "date_nanos"},
                    "message": text,
                    "log": {"properties": {"level": _KEYWORD, "logger": _KEYWORD}},
                    "trace": {"properties": {"id": _KEYWORD, "sampled": {"type": "boolean"}}},
                    "span": {"properties": {"id": _KEYWORD}},
                    "event": {
                        "properties": {
                            "id": _KEYWORD,
                            "ingested": {"type": "date"},
                            "dataset": _KEYWORD,
                        }
                    },
                    "service": {
                        "properties": {
                            "name": _KEYWORD,
                            "version": _KEYWORD,
                            "environment": _KEYWORD,
                        }
                    },
                    "host": {"properties": {"name": _KEYWORD}},
                    "process": {
                        "properties": {
                            "pid": {"type": "long"},
                            "thread": {"properties": {"name": _KEYWORD}},
                        }
                    },
                    "error": {
                        "properties": {
                            "type": _KEYWORD,
                            "message": text,
                            "stack_trace": {"type": "text", "index": False},
                        }
                    },
                    "ecs": {"properties": {"version": _KEYWORD}},
                    "labels": {"type": "object", "dynamic": True},
                    "tracelink": {
                        "properties": {
                            "origin": _KEYWORD,
                            "timestamp_source": _KEYWORD,
                            "timestamp_original": _KEYWORD,
                            "flags": _KEYWORD,
                            "digest": {"type": "long", "index": False},
                            "event_id_original": _KEYWORD,
                            "forged": {"type": "text", "index": False},
                            "invalid": {
                                "properties": {
                                    "trace_id": _KEYWORD,
                                    "span_id": _KEYWORD,
                                    "event_id": _KEYWORD,
                                }
                            },
                        }
                    },
                },
            },
        },
    }


def dlq_index_template(prefix: str, *, ilm_policy: str | None = None) -> dict[str, Any]:
    """The index template for ``<prefix>-*``: dead letters, searchable by reason and origin.

    Dynamic mapping is off: a dead letter's payload is text, never parsed into fields, so
    the input that broke the log index cannot break this one.
    """
    settings: dict[str, Any] = {}
    if ilm_policy:
        settings["index.lifecycle.name"] = ilm_policy
    return {
        "index_patterns": [dlq_index_pattern(prefix)],
        "priority": 500,
        "_meta": {"managed_by": "tracelink", "description": "tracelink dead letters"},
        "template": {
            "settings": settings,
            "mappings": {
                "dynamic": False,
                "properties": {
                    "@timestamp": {"type": "date"},
                    "error": {"properties": {"message": {"type": "text"}, "type": _KEYWORD}},
                    "tracelink": {
                        "properties": {
                            "origin": _KEYWORD,
                            "kafka": {
                                "properties": {
                                    "topic": _KEYWORD,
                                    "partition": {"type": "integer"},
                                    "offset": {"type": "long"},
                                }
                            },
                            "payload": {"type": "text"},
                            "payload_bytes": {"type": "long"},
                            "payload_encoding": _KEYWORD,
                            "payload_truncated": {"type": "boolean"},
                        }
                    },
                },
            },
        },
    }
