"""Jaeger span documents for tests, in each era's shape.

Written into indices that carry the span template the embedded stack installs
(``devstack.jaeger.templates``); tests that have the shared reference data also run against
Jaeger's real template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Era = Literal["stripped", "v1-string", "v1-native", "v2", "v2.20"]


def _stored_trace_id(trace_id: str, era: Era) -> str:
    if era == "stripped":
        return trace_id.lstrip("0")
    if era in ("v1-string", "v1-native") and trace_id.startswith("0" * 16):
        return trace_id[16:]
    return trace_id


def _value(value: Any, era: Era) -> Any:
    if era in ("stripped", "v1-string"):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"


@dataclass
class SpanSpec:
    """A span to write; :meth:`document` renders it the way Jaeger of ``era`` stored it."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    service: str
    operation: str
    start_us: int
    duration_us: int
    tags: dict[str, Any] = field(default_factory=dict)
    era: Era = "v2"
    tags_as_fields: bool = False
    follows_from: str | None = None

    def document(self) -> dict[str, Any]:
        era = self.era
        trace = _stored_trace_id(self.trace_id, era)

        def sid(span_id: str) -> str:
            # Before Jaeger 1.16 span IDs lost their leading zeros too.
            return span_id.lstrip("0") if era == "stripped" else span_id

        references: list[dict[str, Any]] = []
        if self.parent_span_id is not None:
            references.append(
                {"refType": "CHILD_OF", "traceID": trace, "spanID": sid(self.parent_span_id)}
            )
        if self.follows_from is not None:
            references.append(
                {"refType": "FOLLOWS_FROM", "traceID": trace, "spanID": sid(self.follows_from)}
            )
        doc: dict[str, Any] = {
            "traceID": trace,
            "spanID": sid(self.span_id),
            "flags": 1,
            "operationName": self.operation,
            "references": references,
            "startTime": self.start_us,
            "startTimeMillis": self.start_us // 1000,
            "duration": self.duration_us,
            "logs": [],
            "process": {
                "serviceName": self.service,
                "tags": [{"key": "telemetry.sdk.language", "type": "string", "value": "python"}],
            },
        }
        # Jaeger 2.8+ always stores span.kind and error as fields (its writer's
        # ensureRequiredFields), whatever else is configured.
        as_fields = (
            set(self.tags)
            if self.tags_as_fields
            else {"span.kind", "error"} & set(self.tags)
            if era == "v2.20"
            else set()
        )
        doc["tags"] = [
            {"key": key, "type": _kind(value), "value": _value(value, era)}
            for key, value in self.tags.items()
            if key not in as_fields
        ]
        fields = {k.replace(".", "@"): v for k, v in self.tags.items() if k in as_fields}
        if fields:
            doc["tag"] = {key: fields[key] for key in sorted(fields)}
        if era == "v2.20" and self.parent_span_id is not None:
            doc["parentSpanID"] = self.parent_span_id
        return doc


def log_document(
    *,
    trace_id: str | None,
    span_id: str | None,
    timestamp: str,
    message: str,
    event_id: str,
    service: str = "checkout",
    level: str = "info",
    sampled: bool | None = True,
    dotted: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A log document as the shipper indexes it (nested), or with dotted keys."""
    flat: dict[str, Any] = {
        "@timestamp": timestamp,
        "message": message,
        "log.level": level,
        "log.logger": f"{service}.app",
        "event.id": event_id,
        "service.name": service,
        "ecs.version": "8.11.0",
    }
    if trace_id is not None:
        flat["trace.id"] = trace_id
        if sampled is not None:
            flat["trace.sampled"] = sampled
    if span_id is not None:
        flat["span.id"] = span_id
    flat.update(extra or {})
    if dotted:
        return flat
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        if key == "@timestamp":
            nested[key] = value
            continue
        target = nested
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return nested
