"""OTLP log payloads: an ``ExportLogsServiceRequest`` per message, many records in each.

This is what the OpenTelemetry Collector's Kafka exporter writes for logs: with
``encoding: otlp_proto`` (its default) the value is the protobuf of the whole batch of
``plog.Logs`` it was handed — one message, one request, many resources, scopes and records
(``exporter/kafkaexporter/internal/marshaler/pdata_marshaler.go``: ``MarshalLogs`` returns a
single message); ``otlp_json`` is the same in OTLP/JSON (hex trace and span IDs, lowerCamelCase
keys, 64-bit integers as decimal strings). The exporter sets no key unless
``partition_logs_by_trace_id`` (then it splits the batch per trace and keys each message
with the trace ID in hex) or ``partition_logs_by_resource_attributes`` is set, and no
headers of its own (``exporter/kafkaexporter/config.go``, ``README.md``).

Every log record becomes one document. The mapping follows the ECS mapping mode of the
Collector's ``elasticsearchexporter``
(``exporter/elasticsearchexporter/internal/encoder/log/ecs.go`` and
``internal/encoder/ecs/attributes.go``) and OTel's semantic conventions:

==========================================  ==============================================
OTLP                                        document
==========================================  ==============================================
``timeUnixNano``, else                      ``@timestamp`` (µs, UTC); neither: the Kafka
``observedTimeUnixNano``                    message time (the transform's rule)
``severityText`` (lower-case), else         ``log.level``
``severityNumber`` range (1–4 trace, 5–8
debug, 9–12 info, 13–16 warn, 17–20 error,
21–24 fatal)
``severityNumber`` (when set)               ``event.severity``
``body`` string                             ``message``
``body`` map or array                       ``body.structured`` (kept as it is)
``body`` number or boolean / bytes          ``message`` (as JSON text) / ``body.binary``
                                            (base64)
``traceId`` (16 bytes) / ``spanId`` (8)     ``trace.id`` (32 hex) / ``span.id`` (16 hex);
                                            another length: ``tracelink.invalid.*``,
                                            flagged ``invalid_trace_id``/``invalid_span_id``
``flags`` bit 0 (W3C sampled)               ``trace.sampled`` (with a trace ID)
resource ``service.name``, ``service.version``  ``service.name``, ``service.version``
resource ``deployment.environment.name``    ``service.environment``
(else ``deployment.environment``)
resource ``service.instance.id``            ``service.node.name``
resource ``host.name``                      ``host.name``
scope name / version                        ``log.logger`` / ``otel.scope.version``
attribute ``exception.type``,               ``error.type``, ``error.message``,
``exception.message``,                      ``error.stack_trace``
``exception.stacktrace``
attribute ``event.name``, field             ``event.action``
``eventName``
attribute ``log.record.uid``                ``event.id``; absent: derived from the message's
                                            ``topic-partition-offset`` and the record's
                                            index in it, so a replay writes nothing twice
every other attribute (record, then scope,  the same key, at the top level (as the
then resource)                              exporter's ECS mode); a key already taken, or
                                            ``tracelink.*``, ``@timestamp``,
                                            ``event.ingested``: ``labels.<key with _>``
==========================================  ==============================================

A record with no ``service.name`` is indexed without one and flagged ``missing_service``.

A message that claims the format and does not satisfy it is a dead letter of the whole
message: a protobuf that does not parse (truncated, corrupt); one whose log records hold
only fields a ``LogRecord`` does not have (a traces or metrics payload on the log topic;
unknown fields beside known content are a newer OTLP version's and are accepted); OTLP/JSON
whose structure is wrong (``resourceLogs`` not a list, a record not an object, a field of
the wrong type); or a payload with no log record at all.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

import orjson
from google.protobuf import json_format, unknown_fields
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber

from shipper.formats._record import Origin, Record, Rejected
from shipper.formats.otel_json import FLAG_MISSING_SERVICE
from tracelink.levels import severity_number_level
from tracelink.otlp_json import SPAN_ID_BYTES, TRACE_ID_BYTES, hex_id_size, ids_from_protobuf_json
from tracelink.times import MAX_EPOCH_US, format_rfc3339_us_fast

__all__ = [
    "INVALID_OTLP_JSON",
    "INVALID_OTLP_PROTO",
    "NO_RECORDS",
    "decode_json",
    "decode_proto",
    "request_to_otlp_json",
]

# Dead-letter kinds.
INVALID_OTLP_PROTO: Final = "invalid_otlp_proto"
INVALID_OTLP_JSON: Final = "invalid_otlp_json"
NO_RECORDS: Final = "no_records"

# Resource attributes with an ECS home (the exporter's resourceAttrsConversionMap, for the
# fields tracelink's documents and index template know).
_RESOURCE_ECS: Final = {
    "service.name": "service.name",
    "service.version": "service.version",
    "deployment.environment.name": "service.environment",
    "deployment.environment": "service.environment",
    "service.instance.id": "service.node.name",
    "host.name": "host.name",
}
_RECORD_ECS: Final = {
    "exception.type": "error.type",
    "exception.message": "error.message",
    "exception.stacktrace": "error.stack_trace",
    "event.name": "event.action",
}
_UID: Final = "log.record.uid"
# Keys an attribute may not take: the shipper's metadata and fields it sets itself.
_RESERVED_ROOTS: Final = frozenset({"tracelink", "@timestamp"})
_RESERVED_KEYS: Final = frozenset({"event.ingested"})

_Attributes = list[tuple[str, Any]]


class _InvalidError(Exception):
    """Internal: the OTLP/JSON structure is wrong; the message says where."""


_KEY_PREFIXES: dict[str, tuple[str, ...] | None] = {}
_KEY_CACHE_SIZE: Final = 4096


def _prefixes_of(key: str) -> tuple[str, ...] | None:
    """``"a.b.c"`` → ``("a", "a.b")``; ``None`` for a key no document can hold (an empty
    segment) or one reserved for the shipper. Memoised: payloads repeat the same keys."""
    found = _KEY_PREFIXES.get(key, False)
    if found is not False:
        return found  # type: ignore[return-value]
    parts = key.split(".")
    result: tuple[str, ...] | None
    if "" in parts or parts[0] in _RESERVED_ROOTS or key in _RESERVED_KEYS:
        result = None
    else:
        result = tuple(".".join(parts[:n]) for n in range(1, len(parts)))
    if len(_KEY_PREFIXES) >= _KEY_CACHE_SIZE:
        _KEY_PREFIXES.clear()  # bounded: a producer inventing keys cannot grow it
    _KEY_PREFIXES[key] = result
    return result


class _Flat:
    """A document under construction as flat dotted keys (``{"log.level": …}``), the form
    the transform's compiled plans take fastest, refusing a key that would collide with one
    already there (``a`` and ``a.b``; the same key twice)."""

    __slots__ = ("doc", "prefixes")

    def __init__(self, doc: dict[str, Any], prefixes: set[str]) -> None:
        self.doc = doc
        self.prefixes = prefixes  # every proper prefix of a key; never a key itself

    def add(self, key: str, value: Any) -> bool:
        """Set ``key`` unless it is taken, collides, or is not a key a document may hold."""
        prefixes = _prefixes_of(key)
        doc = self.doc
        if prefixes is None or key in doc or key in self.prefixes:
            return False
        for prefix in prefixes:
            if prefix in doc:
                return False
        self.prefixes.update(prefixes)
        doc[key] = value
        return True

    def attribute(self, key: str, value: Any) -> str | None:
        """An attribute at its own key, or ``labels.<key with _>`` when taken or reserved;
        returns the key it took (``None``: dropped). Where it goes depends on the keys
        already there and on ``value is None`` only (what :func:`_proto_record` relies on)."""
        if value is None:
            return None
        if self.add(key, value):
            return key
        label = "labels." + (key.replace(".", "_") or "_")
        while not self.add(label, value):
            if "labels" in self.doc:
                return None  # an attribute named "labels" took it: the first value stays
            label += "_"
        return label


@dataclass(slots=True)
class _Resource:
    """One resource's fields (ECS ones and other attributes), built once for its records."""

    flat: _Flat
    blockers: frozenset[str]  # its keys and their prefixes: what a record's key may not be
    has_service: bool


@dataclass(slots=True)
class _Scope:
    name: str
    version: str
    attributes: _Attributes


@dataclass(slots=True)
class _Fields:
    """One log record's OTLP fields, as plain values (from protobuf or OTLP/JSON)."""

    time_ns: int
    observed_ns: int
    severity_number: int
    severity_text: str
    body: Any
    body_kind: str  # "", "string", "structured", "scalar", "bytes"
    attributes: _Attributes
    flags: int
    trace_id: str  # hex, "" when absent
    trace_bytes: int  # length in bytes, for the validity check
    span_id: str
    span_bytes: int
    event_name: str


# --- protobuf ---------------------------------------------------------------------------


def decode_proto(value: bytes, origin: Origin) -> list[Record] | Rejected:
    """The records of an ``ExportLogsServiceRequest`` protobuf (module docstring)."""
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(value)
        records = list(_proto_records(request, origin))
    except DecodeError as exc:
        return Rejected(
            INVALID_OTLP_PROTO,
            f"not an OTLP ExportLogsServiceRequest protobuf ({len(value)} bytes): {exc}",
        )
    except _InvalidError as exc:
        return Rejected(INVALID_OTLP_PROTO, str(exc))
    if not records:
        return Rejected(NO_RECORDS, "OTLP ExportLogsServiceRequest without any log record")
    return records


def _proto_records(request: ExportLogsServiceRequest, origin: Origin) -> Iterator[Record]:
    index = 0
    prefix = f"{origin.topic}-{origin.partition}-{origin.offset}-"  # of derived event.ids
    for resource_logs in request.resource_logs:
        resource = _split_resource(
            [(kv.key, _proto_any(kv.value)) for kv in resource_logs.resource.attributes]
        )
        for scope_logs in resource_logs.scope_logs:
            proto_scope = scope_logs.scope
            scope = _Scope(
                proto_scope.name,
                proto_scope.version,
                [(kv.key, _proto_any(kv.value)) for kv in proto_scope.attributes],
            )
            layouts: dict[Any, _Layout] = {}
            for log_record in scope_logs.log_records:
                _check_log_record(log_record)
                record = _proto_record(
                    log_record, resource, scope, origin, index, layouts=layouts, event_prefix=prefix
                )
                # Rendered only if this record turns out to be a dead letter.
                record.alone = partial(_proto_alone, resource_logs, scope_logs, log_record)
                yield record
                index += 1


def _check_log_record(record: LogRecord) -> None:
    """A payload of another signal parses too (protobuf keeps fields it does not know, or
    of the wrong wire type, as unknown fields): its "log records" hold nothing a LogRecord
    has. A record with unknown fields *and* content is a newer OTLP version's: accepted."""
    if (
        # The content first: a real record stops here without the unknown-field scan.
        not record.time_unix_nano
        and not record.observed_time_unix_nano
        and not record.severity_number
        and not record.severity_text
        and not record.HasField("body")
        and not record.attributes
        and len(unknown_fields.UnknownFieldSet(record)) > 0
    ):
        raise _InvalidError(
            "protobuf parsed, but its log records carry only fields a LogRecord does not "
            "have: not an ExportLogsServiceRequest (a traces or metrics payload?)"
        )


def _proto_any(value: AnyValue) -> Any:  # noqa: PLR0911 - one return per AnyValue member
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return _double(value.double_value)
    if kind == "kvlist_value":
        return {kv.key: _proto_any(kv.value) for kv in value.kvlist_value.values}
    if kind == "array_value":
        return [_proto_any(item) for item in value.array_value.values]
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def _double(value: float) -> float | str:
    # JSON has no NaN or infinity: keep them visible as text.
    return value if math.isfinite(value) else str(value)


def _proto_body(record: LogRecord) -> tuple[Any, str]:
    """A record's body and its kind (see :class:`_Fields`)."""
    value = record.body
    # A non-empty string_value can only be the string member (a oneof): the usual body
    # is read without WhichOneof, ~0.2 µs a call on this hot path.
    text = value.string_value
    if text:
        return text, "string"
    if record.HasField("body"):
        kind = value.WhichOneof("value")
        if kind == "string_value":
            return text, "string"
        if kind == "bytes_value":
            return _proto_any(value), "bytes"
        if kind in ("kvlist_value", "array_value"):
            return _proto_any(value), "structured"
        if kind is not None:
            return _proto_any(value), "scalar"
    return None, ""


def _proto_attributes(record: LogRecord) -> _Attributes:
    # A non-empty string_value is the string member (as for the body); an empty one:
    # _proto_any says what the value is.
    return [
        (kv.key, (any_value := kv.value).string_value or _proto_any(any_value))
        for kv in record.attributes
    ]


def _proto_fields(record: LogRecord) -> _Fields:
    body, body_kind = _proto_body(record)
    trace_id = record.trace_id
    span_id = record.span_id
    # Positional: one call per record on the hot path.
    return _Fields(
        record.time_unix_nano,
        record.observed_time_unix_nano,
        record.severity_number,
        record.severity_text,
        body,
        body_kind,
        _proto_attributes(record),
        record.flags,
        trace_id.hex(),
        len(trace_id),
        span_id.hex(),
        len(span_id),
        record.event_name,
    )


def _proto_alone(resource_logs: Any, scope_logs: Any, record: LogRecord) -> bytes:
    """This record alone, as an OTLP/JSON request (its dead letter's payload)."""
    alone = ExportLogsServiceRequest()
    one = alone.resource_logs.add()
    one.resource.CopyFrom(resource_logs.resource)
    one.schema_url = resource_logs.schema_url
    scope = one.scope_logs.add()
    scope.scope.CopyFrom(scope_logs.scope)
    scope.schema_url = scope_logs.schema_url
    scope.log_records.add().CopyFrom(record)
    return request_to_otlp_json(alone)


def request_to_otlp_json(request: ExportLogsServiceRequest) -> bytes:
    """A request in OTLP/JSON: protobuf's JSON mapping (lowerCamelCase keys, 64-bit integers
    as strings, other bytes in base64) but trace and span IDs in hex, as OTLP specifies."""
    return orjson.dumps(ids_from_protobuf_json(json_format.MessageToDict(request)))


# --- OTLP/JSON --------------------------------------------------------------------------


def decode_json(value: bytes, origin: Origin, parsed: Any = None) -> list[Record] | Rejected:
    """The records of an ``ExportLogsServiceRequest`` in OTLP/JSON (module docstring).

    ``parsed`` is the JSON value when detection already parsed it.
    """
    if parsed is None:
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            return Rejected(INVALID_OTLP_JSON, f"OTLP/JSON that is not JSON: {exc}")
    try:
        records = list(_json_records(parsed, origin))
    except _InvalidError as exc:
        return Rejected(INVALID_OTLP_JSON, f"not an OTLP/JSON ExportLogsServiceRequest: {exc}")
    if not records:
        return Rejected(NO_RECORDS, "OTLP/JSON ExportLogsServiceRequest without any log record")
    return records


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """A field by its OTLP/JSON name, or by the proto name (receivers accept both)."""
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _list(obj: dict[str, Any], camel: str, snake: str, where: str) -> list[Any]:
    value = _get(obj, camel, snake)
    if value is None:
        return []
    if type(value) is not list:
        raise _InvalidError(f"{where}{camel} is {_kind(value)}, not a list")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise _InvalidError(f"{where} is {_kind(value)}, not an object")
    return value


def _json_records(parsed: Any, origin: Origin) -> Iterator[Record]:
    request = _object(parsed, "the message")
    if "resourceLogs" not in request and "resource_logs" not in request:
        other = next((key for key in ("resourceSpans", "resourceMetrics") if key in request), None)
        raise _InvalidError(f"an OTLP {other} payload, not logs" if other else "no resourceLogs")
    index = 0
    for r, item in enumerate(_list(request, "resourceLogs", "resource_logs", "")):
        where = f"resourceLogs[{r}]"
        resource_logs = _object(item, where)
        resource_obj = _object(resource_logs.get("resource") or {}, f"{where}.resource")
        resource = _split_resource(_json_attributes(resource_obj, f"{where}.resource."))
        for s, scope_item in enumerate(
            _list(resource_logs, "scopeLogs", "scope_logs", where + ".")
        ):
            swhere = f"{where}.scopeLogs[{s}]"
            scope_logs = _object(scope_item, swhere)
            scope_obj = _object(scope_logs.get("scope") or {}, f"{swhere}.scope")
            scope = _Scope(
                _text(scope_obj.get("name"), f"{swhere}.scope.name"),
                _text(scope_obj.get("version"), f"{swhere}.scope.version"),
                _json_attributes(scope_obj, f"{swhere}.scope."),
            )
            for k, record_item in enumerate(
                _list(scope_logs, "logRecords", "log_records", swhere + ".")
            ):
                rwhere = f"{swhere}.logRecords[{k}]"
                record_obj = _object(record_item, rwhere)
                record = _build(_json_fields(record_obj, rwhere), resource, scope, origin, index)
                record.alone = _json_alone(resource_logs, scope_logs, record_obj)
                yield record
                index += 1


def _json_alone(
    resource_logs: dict[str, Any], scope_logs: dict[str, Any], record: dict[str, Any]
) -> Callable[[], bytes]:
    def render() -> bytes:
        one_scope = {k: v for k, v in scope_logs.items() if k not in ("logRecords", "log_records")}
        one_scope["logRecords"] = [record]
        one = {k: v for k, v in resource_logs.items() if k not in ("scopeLogs", "scope_logs")}
        one["scopeLogs"] = [one_scope]
        return orjson.dumps({"resourceLogs": [one]})

    return render


def _json_attributes(obj: dict[str, Any], where: str) -> _Attributes:
    out: _Attributes = []
    for i, item in enumerate(_list(obj, "attributes", "attributes", where)):
        kv = _object(item, f"{where}attributes[{i}]")
        key = kv.get("key")
        if type(key) is not str:
            raise _InvalidError(f"{where}attributes[{i}].key is {_kind(key)}, not a string")
        out.append((key, _json_any(kv.get("value"), f"{where}attributes[{i}].value")))
    return out


_ANY_KEYS: Final = {
    "stringValue": "string",
    "string_value": "string",
    "boolValue": "bool",
    "bool_value": "bool",
    "intValue": "int",
    "int_value": "int",
    "doubleValue": "double",
    "double_value": "double",
    "arrayValue": "array",
    "array_value": "array",
    "kvlistValue": "kvlist",
    "kvlist_value": "kvlist",
    "bytesValue": "bytes",
    "bytes_value": "bytes",
}


def _json_any(value: Any, where: str) -> Any:  # noqa: PLR0911 - one return per member
    """An OTLP/JSON ``AnyValue`` → a plain value (``None`` when empty)."""
    if value is None:
        return None
    obj = _object(value, where)
    if not obj:
        return None
    if len(obj) != 1:
        raise _InvalidError(f"{where} has {len(obj)} members, an AnyValue has one")
    ((key, inner),) = obj.items()
    kind = _ANY_KEYS.get(key)
    if kind == "string":
        return _text(inner, where)
    if kind == "bool":
        if type(inner) is not bool:
            raise _InvalidError(f"{where}.{key} is {_kind(inner)}, not a boolean")
        return inner
    if kind == "int":
        return _int(inner, f"{where}.{key}")
    if kind == "double":
        if type(inner) not in (int, float) and inner not in ("NaN", "Infinity", "-Infinity"):
            raise _InvalidError(f"{where}.{key} is {_kind(inner)}, not a number")
        return inner
    if kind == "bytes":
        return _text(inner, where)  # base64 text, kept as it is
    if kind == "array":
        items = _list(_object(inner, f"{where}.{key}"), "values", "values", f"{where}.{key}.")
        return [_json_any(item, f"{where}.{key}.values[{i}]") for i, item in enumerate(items)]
    if kind == "kvlist":
        return dict(_json_attributes_named(_object(inner, f"{where}.{key}"), f"{where}.{key}."))
    raise _InvalidError(f"{where} has {key!r}, not an AnyValue member")


def _json_attributes_named(obj: dict[str, Any], where: str) -> _Attributes:
    out: _Attributes = []
    for i, item in enumerate(_list(obj, "values", "values", where)):
        kv = _object(item, f"{where}values[{i}]")
        key = kv.get("key")
        if type(key) is not str:
            raise _InvalidError(f"{where}values[{i}].key is {_kind(key)}, not a string")
        out.append((key, _json_any(kv.get("value"), f"{where}values[{i}].value")))
    return out


def _int(value: Any, where: str) -> int:
    """A 64-bit integer: OTLP/JSON writes decimal strings; numbers are accepted too."""
    if type(value) is int:
        return value
    if type(value) is str and value.isascii() and value.lstrip("-").isdigit():
        return int(value)
    raise _InvalidError(f"{where} is {_kind(value)}, not an integer")


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if type(value) is not str:
        raise _InvalidError(f"{where} is {_kind(value)}, not a string")
    return value


def _json_fields(record: dict[str, Any], where: str) -> _Fields:
    severity = _get(record, "severityNumber", "severity_number")
    if severity is None:
        severity_number = 0
    elif type(severity) is str and not severity.lstrip("-").isdigit():
        try:
            severity_number = SeverityNumber.Value(severity)
        except ValueError:
            raise _InvalidError(f"{where}.severityNumber {severity!r} is not a severity") from None
    else:
        severity_number = _int(severity, f"{where}.severityNumber")
    body_value = record.get("body")
    body: Any = None
    body_kind = ""
    if body_value is not None:
        body = _json_any(body_value, f"{where}.body")
        member = next(iter(_object(body_value, f"{where}.body")), "")
        kind = _ANY_KEYS.get(member, "")
        body_kind = {
            "string": "string",
            "bytes": "bytes",
            "array": "structured",
            "kvlist": "structured",
        }.get(kind, "scalar" if kind else "")
    trace_id = _text(_get(record, "traceId", "trace_id"), f"{where}.traceId")
    span_id = _text(_get(record, "spanId", "span_id"), f"{where}.spanId")
    flags = _get(record, "flags", "flags")
    return _Fields(
        time_ns=_int(_get(record, "timeUnixNano", "time_unix_nano") or 0, f"{where}.timeUnixNano"),
        observed_ns=_int(
            _get(record, "observedTimeUnixNano", "observed_time_unix_nano") or 0,
            f"{where}.observedTimeUnixNano",
        ),
        severity_number=severity_number,
        severity_text=_text(_get(record, "severityText", "severity_text"), f"{where}.severityText"),
        body=body,
        body_kind=body_kind,
        attributes=_json_attributes(record, f"{where}."),
        flags=_int(flags, f"{where}.flags") if flags is not None else 0,
        trace_id=trace_id,
        trace_bytes=hex_id_size(trace_id),
        span_id=span_id,
        span_bytes=hex_id_size(span_id),
        event_name=_text(_get(record, "eventName", "event_name"), f"{where}.eventName"),
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


# --- the mapping (both encodings) -------------------------------------------------------


def _split_resource(attributes: _Attributes) -> _Resource:
    flat = _Flat({}, set())
    has_service = False
    other: _Attributes = []
    for key, value in attributes:
        target = _RESOURCE_ECS.get(key)
        if target is not None and value is not None and flat.add(target, value):
            if target == "service.name" and value != "":
                has_service = True
        elif target != "service.environment":  # deployment.environment after .name: dropped
            other.append((key, value))
    for key, value in other:
        flat.attribute(key, value)
    return _Resource(flat, frozenset(flat.doc.keys() | flat.prefixes), has_service)


@dataclass(slots=True, eq=False)  # hashed by identity: it is a record's shape
class _Layout:
    """Where one record shape's attributes go, and the scope's and resource's fields after
    them: what :func:`_build` decides key by key, decided once per shape (see
    :func:`_proto_record`)."""

    targets: tuple[str | None, ...]  # per record attribute: its key (None: dropped)
    tail: dict[str, Any]  # the scope's attributes and the resource's fields, placed
    scalar: bool  # no object or array among the fields outside the record's attributes


# Stands for a record attribute's value while a layout is worked out: placement depends on
# whether a value is None, never on the value itself.
_PLACEHOLDER: Final = object()
_NONE_KEY: Final = object()  # a shape's mark for an attribute whose value is None


def _proto_record(
    log_record: LogRecord,
    resource: _Resource,
    scope: _Scope,
    origin: Origin,
    index: int,
    *,
    layouts: dict[Any, _Layout],
    event_prefix: str,
) -> Record:
    """``_build(_proto_fields(log_record), …)``, hand-optimised for the hot path of payloads;
    ``layouts`` is the cache of one scope of one payload (its records share resource and
    scope), ``event_prefix`` the payload's ``<topic>-<partition>-<offset>-``.

    Why: placing attributes key by key (collision and reserved-key checks against every
    field before them) was ~2.5 µs of a record's ~21 µs through the shipper, and it depends
    only on the fixed fields present, the attribute keys and which values are None — the
    same for the hundred records of a payload; the fields go from the message to the
    document without a :class:`_Fields` in between. A record with a ``log.record.uid``
    (whose placement depends on its value) takes the plain path, which is this function's
    test oracle.
    """
    attributes = _proto_attributes(log_record)
    shape_keys = tuple([key if value is not None else _NONE_KEY for key, value in attributes])
    if _UID in shape_keys:
        return _build(_proto_fields(log_record), resource, scope, origin, index)
    flags: list[str] = []
    invalid: dict[str, str] = {}
    body, body_kind = _proto_body(log_record)
    trace_id = log_record.trace_id
    span_id = log_record.span_id
    doc = _fixed(
        log_record.time_unix_nano or log_record.observed_time_unix_nano,
        log_record.severity_text,
        log_record.severity_number,
        body,
        body_kind,
        trace_id.hex(),
        len(trace_id),
        span_id.hex(),
        len(span_id),
        log_record.flags,
        log_record.event_name,
        scope,
        invalid,
        flags,
    )
    shape = (tuple(doc), shape_keys)
    layout = layouts.get(shape)
    if layout is None:
        layout = layouts[shape] = _layout(shape[0], shape_keys, resource, scope)
    doc["event.id"] = f"{event_prefix}{index}"  # as _build derives it
    scalar = layout.scalar
    for target, (_, value) in zip(layout.targets, attributes, strict=True):
        if target is not None:
            doc[target] = value
            if scalar and type(value) in _CONTAINERS:
                scalar = False
    doc.update(layout.tail)
    if not resource.has_service:
        flags.append(FLAG_MISSING_SERVICE)
    return Record(doc, index, flags, invalid or None, shape=layout if scalar else None)


def _layout(
    fixed: tuple[str, ...], shape_keys: tuple[Any, ...], resource: _Resource, scope: _Scope
) -> _Layout:
    """:func:`_build`'s placement, step by step, with placeholders for the record's values."""
    doc: dict[str, Any] = dict.fromkeys(fixed, _PLACEHOLDER)
    doc["event.id"] = _PLACEHOLDER
    prefixes = set(_fixed_prefixes(tuple(doc)))
    flat = _Flat(doc, prefixes)
    targets = tuple(
        None if key is _NONE_KEY else flat.attribute(_RECORD_ECS.get(key, key), _PLACEHOLDER)
        for key in shape_keys
    )
    placed = len(doc)
    for key, value in scope.attributes:
        flat.attribute(key, value)
    if resource.blockers.isdisjoint(doc) and prefixes.isdisjoint(resource.flat.doc):
        doc.update(resource.flat.doc)
    else:
        for key, value in resource.flat.doc.items():
            flat.attribute(key, value)
    tail = dict(list(doc.items())[placed:])
    scalar = "body.structured" not in doc and all(type(v) not in _CONTAINERS for v in tail.values())
    return _Layout(targets, tail, scalar)


_CONTAINERS: Final = (dict, list)


# The proper prefixes of the fields _build sets itself (they cannot collide with each other).
_FIXED_PREFIXES: Final = {
    "log.level": ("log",),
    "log.logger": ("log",),
    "event.severity": ("event",),
    "event.id": ("event",),
    "event.action": ("event",),
    "trace.id": ("trace",),
    "trace.sampled": ("trace",),
    "span.id": ("span",),
    "otel.scope.version": ("otel", "otel.scope"),
    "body.structured": ("body",),
    "body.binary": ("body",),
}


def _build(
    fields: _Fields, resource: _Resource, scope: _Scope, origin: Origin, index: int
) -> Record:
    """One record's ECS document (before the transform), flags and invalid IDs."""
    flags: list[str] = []
    invalid: dict[str, str] = {}
    doc = _fixed_of(fields, scope, invalid, flags)
    # event.id is held first (an attribute may not take it), filled after the attributes.
    doc["event.id"] = None
    prefixes = set(_fixed_prefixes(tuple(doc)))
    flat = _Flat(doc, prefixes)
    uid = None
    for key, value in fields.attributes:
        if uid is None and key == _UID and type(value) is str and value:
            uid = value
        else:
            flat.attribute(_RECORD_ECS.get(key, key), value)
    doc["event.id"] = uid or f"{origin.topic}-{origin.partition}-{origin.offset}-{index}"
    for key, value in scope.attributes:
        flat.attribute(key, value)
    if resource.blockers.isdisjoint(doc) and prefixes.isdisjoint(resource.flat.doc):
        doc.update(resource.flat.doc)  # the usual case: nothing collides
    else:
        for key, value in resource.flat.doc.items():
            flat.attribute(key, value)
    if not resource.has_service:
        flags.append(FLAG_MISSING_SERVICE)
    return Record(doc, index, flags, invalid or None)


_SHAPE_PREFIXES: dict[tuple[str, ...], frozenset[str]] = {}


def _fixed_prefixes(shape: tuple[str, ...]) -> frozenset[str]:
    """The prefixes of the fixed fields present (a handful of shapes: memoised)."""
    found = _SHAPE_PREFIXES.get(shape)
    if found is None:
        found = frozenset(p for key in shape for p in _FIXED_PREFIXES.get(key, ()))
        if len(_SHAPE_PREFIXES) >= _KEY_CACHE_SIZE:
            _SHAPE_PREFIXES.clear()
        _SHAPE_PREFIXES[shape] = found
    return found


def _fixed_of(
    fields: _Fields, scope: _Scope, invalid: dict[str, str], flags: list[str]
) -> dict[str, Any]:
    """:func:`_fixed` of a record's fields."""
    return _fixed(
        fields.time_ns or fields.observed_ns,
        fields.severity_text,
        fields.severity_number,
        fields.body,
        fields.body_kind,
        fields.trace_id,
        fields.trace_bytes,
        fields.span_id,
        fields.span_bytes,
        fields.flags,
        fields.event_name,
        scope,
        invalid,
        flags,
    )


def _fixed(  # noqa: PLR0917 - one argument per field: no object per record
    stamp: int,
    severity_text: str,
    severity_number: int,
    body: Any,
    body_kind: str,
    trace_hex: str,
    trace_bytes: int,
    span_hex: str,
    span_bytes: int,
    trace_flags: int,
    event_name: str,
    scope: _Scope,
    invalid: dict[str, str],
    flags: list[str],
) -> dict[str, Any]:
    """The fields the mapping sets itself (keys of ``_FIXED_PREFIXES`` and top-level ones);
    ``stamp`` is ``timeUnixNano``, else ``observedTimeUnixNano``."""
    doc: dict[str, Any] = {}
    if stamp:
        micros = stamp // 1000
        # Out of date_nanos range: the transform keeps the text and uses the Kafka time.
        doc["@timestamp"] = format_rfc3339_us_fast(micros) if micros <= MAX_EPOCH_US else str(stamp)
    level = severity_text.strip().lower() or severity_number_level(severity_number)
    if level:
        doc["log.level"] = level
    if severity_number:
        doc["event.severity"] = severity_number
    _body(doc, body_kind, body)
    # The usual IDs (right length, not all zero) inline; the others as _id says.
    if trace_bytes == TRACE_ID_BYTES and trace_hex.strip("0"):
        trace_id: str | None = trace_hex.lower()
    else:
        trace_id = _id(trace_hex, trace_bytes, TRACE_ID_BYTES, "trace", invalid, flags)
    if trace_id is not None:
        doc["trace.id"] = trace_id
        doc["trace.sampled"] = bool(trace_flags & 0x01)
    if span_bytes == SPAN_ID_BYTES and span_hex.strip("0"):
        span_id: str | None = span_hex.lower()
    else:
        span_id = _id(span_hex, span_bytes, SPAN_ID_BYTES, "span", invalid, flags)
    if span_id is not None:
        doc["span.id"] = span_id
    if scope.name:
        doc["log.logger"] = scope.name
    if scope.version:
        doc["otel.scope.version"] = scope.version
    if event_name:
        doc["event.action"] = event_name
    return doc


def _body(doc: dict[str, Any], kind: str, body: Any) -> None:
    if kind == "string":
        doc["message"] = body
    elif kind == "structured":
        doc["body.structured"] = body
    elif kind == "scalar":
        doc["message"] = orjson.dumps(body).decode()
    elif kind == "bytes":
        doc["body.binary"] = body


def _id(  # noqa: PLR0917 - a private helper of _fixed, called twice
    hex_id: str, size: int, want: int, name: str, invalid: dict[str, str], flags: list[str]
) -> str | None:
    """The ID in lower-case hex when it has the right length and is not all zero; another
    length is kept in ``invalid`` and flagged."""
    if not hex_id:
        return None
    if size != want:
        invalid[f"{name}_id"] = hex_id
        flags.append(f"invalid_{name}_id")
        return None
    if hex_id.strip("0") == "":
        return None  # W3C's invalid ID: no trace context
    return hex_id.lower()
