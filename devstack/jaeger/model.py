"""OpenTelemetry spans → the span documents Jaeger v2.20 writes to Elasticsearch.

A port of what Jaeger's storage exporter does to OTLP data before its Elasticsearch writer
stores it, at Jaeger v2.20.0 (jaegertracing/jaeger):

1. the standard sanitizers (``internal/jptrace/sanitizer/sanitizer.go``): missing, empty or
   non-string ``service.name``; an empty span name becomes ``empty-span-name``
   (``emptyspanname.go``); an end time not after the start time;
2. ``ToDBModel`` (``internal/storage/v2/elasticsearch/tracestore/to_dbmodel.go``) —
   :func:`otlp_to_dbmodel_spans`, the shape of Jaeger's ``es_01.json`` test fixture;
3. the writer's tags-as-fields split (``tracestore/core/writer.go``
   ``convertNestedTagsToFieldTags`` / ``splitElevatedTags``), which since Jaeger 2.8 always
   runs: ``factory.go`` ``ensureRequiredFields`` adds ``span.kind`` and ``error`` to the
   configured ``tags_as_fields.include`` unless ``tags_as_fields.all`` is set. So a stored
   server or errored span has ``"tag": {"error": true, "span@kind": "server"}`` and neither
   key in ``tags``; ``tags`` and ``process.tags`` are then lists, ``[]`` when empty, never
   ``null`` — :func:`otlp_to_jaeger_documents`, what lands in Elasticsearch.

The input is the OTLP protobuf message itself, so Python spans take exactly the path they
take in production: the SDK's own OTLP encoder, then Jaeger's conversion. Key order
(``dbmodel/model.go``: ``tag`` after ``tags``; map keys sorted as Go's encoder sorts them),
``null`` for empty ``references`` and ``logs``, no ``parentSpanID`` for a root, no ``flags``
when 0, typed tag values, lower-case hex IDs and microsecond times all match Jaeger's output.

One deliberate difference, for a value Jaeger cannot write at all: a float attribute that is
NaN or ±Inf (Go's JSON encoder refuses it, so Jaeger loses the whole span) is written as the
string ``"NaN"``/``"+Inf"``/``"-Inf"``. Everything else is Jaeger's, down to the JSON text.

Everything here is pure: no I/O, no clocks, no globals.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from tracelink.layout import jaeger_service_daily_index, jaeger_span_daily_index

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = [
    "TagsAsFields",
    "otlp_to_dbmodel_spans",
    "otlp_to_jaeger_documents",
    "service_document",
    "service_document_id",
    "service_index",
    "span_document_id",
    "span_index",
    "spans_to_jaeger_documents",
]

JaegerDocument = dict[str, Any]

# Names Jaeger uses (otelsemconv / jaeger-idl model constants).
_SERVICE_NAME: Final = "service.name"
_MISSING_SERVICE_NAME: Final = "missing-service-name"
_WRONG_TYPE_SERVICE_NAME: Final = "service-name-wrong-type"
_EMPTY_SERVICE_NAME: Final = "empty-service-name"
_EMPTY_SPAN_NAME: Final = "empty-span-name"
_WARNINGS_ATTRIBUTE: Final = "@jaeger@warnings"
_EVENT_NAME_FIELD: Final = "event"
_REF_TYPE_ATTRIBUTE: Final = "opentracing.ref_type"
_REF_TYPE_CHILD_OF: Final = "child_of"
_TRACE_STATE_TAG: Final = "w3c.tracestate"

# OTLP enum values (opentelemetry/proto/trace/v1/trace.proto).
_SPAN_KINDS: Final = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS_OK: Final = 1
_STATUS_ERROR: Final = 2


# factory.go ensureRequiredFields: always stored as fields unless every tag is.
_REQUIRED_FIELD_TAGS: Final = frozenset({"span.kind", "error"})


@dataclass(frozen=True)
class TagsAsFields:
    """Jaeger's ``tags_as_fields`` options (``all``, ``include`` as ``keys``,
    ``dot_replacement``): which tags are stored as ``tag``/``process.tag`` object fields
    (dots replaced by ``dot_replacement``) instead of the nested ``tags`` list.

    The defaults are Jaeger's defaults. Whatever is configured, Jaeger v2 also stores
    ``span.kind`` and ``error`` as fields (:attr:`elevated_keys`). Binary tags always stay
    nested.
    """

    all: bool = False
    keys: frozenset[str] = field(default_factory=frozenset)
    dot_replacement: str = "@"

    @property
    def elevated_keys(self) -> frozenset[str]:
        """The keys stored as fields when not :attr:`all` (``ensureRequiredFields``)."""
        return self.keys | _REQUIRED_FIELD_TAGS


# --- Go-compatible JSON text (pcommon.Value.AsString of maps and slices) --------------------

_GO_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    # encoding/json escapes HTML-significant characters and the JavaScript line separators.
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


class _UnsupportedValueError(ValueError):
    """A value Go's JSON encoder refuses (NaN, ±Inf)."""


def _go_json_string(text: str) -> str:
    out = ['"']
    for char in text:
        escaped = _GO_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _go_json_float(value: float) -> str:
    """``encoding/json``'s float64 text: shortest round-trip digits, exponent only when
    ``|x| < 1e-6`` or ``|x| >= 1e21``, and ``e-7`` rather than ``e-07``."""
    if not math.isfinite(value):
        raise _UnsupportedValueError(repr(value))
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    shortest = Decimal(repr(value))
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        sign, digits, exponent = shortest.normalize().as_tuple()
        assert isinstance(exponent, int)
        text = "".join(map(str, digits))
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        power = exponent + len(digits) - 1
        exp_text = f"e{'-' if power < 0 else '+'}{abs(power):02d}"
        if exp_text.startswith("e-0"):
            exp_text = "e-" + exp_text[3:]
        return ("-" if sign else "") + mantissa + exp_text
    return format(shortest.normalize(), "f")


_GO_JSON_SCALARS: Final[dict[str, Callable[[AnyValue], str]]] = {
    "string_value": lambda v: _go_json_string(v.string_value),
    "bool_value": lambda v: "true" if v.bool_value else "false",
    "int_value": lambda v: str(v.int_value),
    "double_value": lambda v: _go_json_float(v.double_value),
    # []byte marshals as standard base64.
    "bytes_value": lambda v: '"' + base64.b64encode(v.bytes_value).decode("ascii") + '"',
}


def _go_json_raw(value: AnyValue) -> str:
    """JSON of ``AnyValue.AsRaw()`` as Go's ``json.Marshal`` writes it (map keys sorted)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return "[" + ",".join(_go_json_raw(item) for item in value.array_value.values) + "]"
    if kind == "kvlist_value":
        # AsRaw gives a Go map: a repeated key keeps its last value, keys come out sorted.
        entries = {kv.key: kv.value for kv in value.kvlist_value.values}
        members = (
            f"{_go_json_string(key)}:{_go_json_raw(entries[key])}" for key in sorted(entries)
        )
        return "{" + ",".join(members) + "}"
    scalar = _GO_JSON_SCALARS.get(kind or "")
    return scalar(value) if scalar is not None else "null"


def _as_string(value: AnyValue) -> str:
    # pcommon ignores the marshalling error and returns "" (NaN/Inf inside a map or slice).
    try:
        return _go_json_raw(value)
    except _UnsupportedValueError:
        return ""


# --- tags ---------------------------------------------------------------------------------


def _float_value(value: float) -> float | int | str:
    """A float64 tag value as Jaeger's JSON has it: integral values carry no ``.0``."""
    if not math.isfinite(value):
        # Jaeger cannot store this span at all; keeping the span beats losing it.
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


_TAG_SCALARS: Final[dict[str, tuple[str, Callable[[AnyValue], Any]]]] = {
    "string_value": ("string", lambda v: v.string_value),
    "bool_value": ("bool", lambda v: v.bool_value),
    "int_value": ("int64", lambda v: v.int_value),
    "double_value": ("float64", lambda v: _float_value(v.double_value)),
    # Jaeger writes bytes as lower-case hex (pcommon's own AsString would give base64).
    "bytes_value": ("binary", lambda v: v.bytes_value.hex()),
}


def _tag(key: str, value: AnyValue) -> dict[str, Any]:
    kind = value.WhichOneof("value")
    if kind in ("array_value", "kvlist_value"):
        return {"key": key, "type": "string", "value": _as_string(value)}
    scalar = _TAG_SCALARS.get(kind or "")
    if scalar is None:
        # An empty AnyValue: AsRaw() is nil, the type falls back to string.
        return {"key": key, "type": "string", "value": None}
    type_name, read = scalar
    return {"key": key, "type": type_name, "value": read(value)}


def _tags(attributes: Iterable[KeyValue]) -> list[dict[str, Any]]:
    return [_tag(kv.key, kv.value) for kv in attributes]


def _string(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "type": "string", "value": value}


# --- IDs and times ------------------------------------------------------------------------


def _hex_id(raw: bytes) -> str:
    # pcommon TraceID/SpanID.String(): "" for the all-zero (empty) ID.
    return "" if not any(raw) else raw.hex()


def _go_time_string(unix_nanos: int) -> str:
    """Go's ``time.Time.String()`` of a UTC instant (as the sanitizer's warning prints it)."""
    seconds, nanos = divmod(unix_nanos, 1_000_000_000)
    when = datetime.fromtimestamp(seconds, UTC)
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{when:%Y-%m-%d %H:%M:%S}{fraction} +0000 UTC"


# --- sanitizers (what Jaeger's storage exporter does before converting) ---------------------


def _service_name(attributes: Sequence[KeyValue]) -> tuple[str, list[KeyValue]]:
    """The process service name after Jaeger's empty-service-name sanitizer, and the
    remaining resource attributes in order."""
    found: AnyValue | None = None
    for kv in attributes:
        if kv.key == _SERVICE_NAME:
            found = kv.value
    rest = [kv for kv in attributes if kv.key != _SERVICE_NAME]
    if found is None:
        name = _MISSING_SERVICE_NAME
    elif found.WhichOneof("value") != "string_value":
        name = _WRONG_TYPE_SERVICE_NAME
    elif found.string_value == "":
        name = _EMPTY_SERVICE_NAME
    else:
        name = found.string_value
    return name, rest


def _sanitized_times(span: Span) -> tuple[int, int, str | None]:
    """Start and end in ns; an end not after the start becomes start + 1 ns, with a warning."""
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start < end:
        return start, end, None
    adjusted = start + 1
    warning = (
        "Negative duration detected, sanitizing end timestamp. "
        f"Original end timestamp: {_go_time_string(end)}, "
        f"adjusted to: {_go_time_string(adjusted)}"
    )
    return start, adjusted, warning


# --- conversion ---------------------------------------------------------------------------


def _references(span: Span, trace_id: str, parent_span_id: str) -> list[dict[str, str]] | None:
    refs: list[dict[str, str]] = []
    # Jaeger v2.20 still writes the parent as the first CHILD_OF reference (older readers
    # find the parent there) besides the dedicated parentSpanID field.
    if parent_span_id:
        refs.append({"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent_span_id})
    for link in span.links:
        link_trace, link_span = _hex_id(link.trace_id), _hex_id(link.span_id)
        ref_type = "FOLLOWS_FROM"
        for kv in link.attributes:
            if kv.key == _REF_TYPE_ATTRIBUTE:
                is_child = kv.value.string_value == _REF_TYPE_CHILD_OF
                ref_type = "CHILD_OF" if is_child else "FOLLOWS_FROM"
                break
        if parent_span_id and link_trace == trace_id and link_span == parent_span_id:
            refs[0]["refType"] = ref_type
            continue
        refs.append({"refType": ref_type, "traceID": link_trace, "spanID": link_span})
    return refs or None


def _span_tags(
    span: Span, scope_name: str, scope_version: str, warning: str | None
) -> list[dict[str, Any]] | None:
    tags: list[dict[str, Any]] = []
    if scope_name:
        tags.append(_string("otel.scope.name", scope_name))
    if scope_version:
        tags.append(_string("otel.scope.version", scope_version))
    tags.extend(_tags(span.attributes))
    if warning is not None:
        # The sanitizer appends its warning to the span's attributes as a string slice.
        tags.append(_string(_WARNINGS_ATTRIBUTE, "[" + _go_json_string(warning) + "]"))
    kind = _SPAN_KINDS.get(span.kind)
    if kind is not None:
        tags.append(_string("span.kind", kind))
    if span.status.code == _STATUS_OK:
        tags.append(_string("otel.status_code", "OK"))
    elif span.status.code == _STATUS_ERROR:
        tags.append({"key": "error", "type": "bool", "value": True})
    if span.status.message:
        tags.append(_string("otel.status_description", span.status.message))
    if span.trace_state:
        tags.append(_string(_TRACE_STATE_TAG, span.trace_state))
    return tags or None


def _logs(span: Span) -> list[dict[str, Any]] | None:
    logs = []
    for event in span.events:
        fields: list[dict[str, Any]] = []
        if event.name and not any(kv.key == _EVENT_NAME_FIELD for kv in event.attributes):
            fields.append(_string(_EVENT_NAME_FIELD, event.name))
        fields.extend(_tags(event.attributes))
        logs.append({"timestamp": event.time_unix_nano // 1000, "fields": fields})
    return logs or None


def _process(resource_spans: ResourceSpans) -> dict[str, Any]:
    # After the sanitizer every resource has a service.name, so ToDBModel's fallback for a
    # resource without attributes ("OTLPResourceNoServiceName") is never reached.
    name, rest = _service_name(list(resource_spans.resource.attributes))
    return {"serviceName": name, "tags": _tags(rest)}


def _split_elevated(
    tags: list[dict[str, Any]] | None, config: TagsAsFields
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """``splitElevatedTags``: the nested rest (``[]`` when empty: ``make([]KeyValue, 0)``)
    and the elevated ``{key with dots replaced: value}`` (``None`` when empty: omitted),
    its keys sorted as Go's JSON encoder writes a map (a repeated key keeps its last value)."""
    nested: list[dict[str, Any]] = []
    elevated: dict[str, Any] = {}
    keys = config.elevated_keys
    for tag in tags or ():
        if tag["type"] != "binary" and (config.all or tag["key"] in keys):
            elevated[tag["key"].replace(".", config.dot_replacement)] = tag["value"]
        else:
            nested.append(tag)
    return nested, ({key: elevated[key] for key in sorted(elevated)} if elevated else None)


def _elevate(doc: JaegerDocument, config: TagsAsFields) -> JaegerDocument:
    """The writer's tags-as-fields split (``convertNestedTagsToFieldTags``), ``tag`` placed
    after ``tags`` and ``process.tag`` after ``process.tags`` as ``dbmodel.Span`` orders them."""
    process = doc["process"]
    process_nested, process_fields = _split_elevated(process["tags"], config)
    span_nested, span_fields = _split_elevated(doc["tags"], config)
    new_process: dict[str, Any] = {"serviceName": process["serviceName"], "tags": process_nested}
    if process_fields is not None:
        new_process["tag"] = process_fields
    out: JaegerDocument = {}
    for key, value in doc.items():
        if key == "tags":
            out["tags"] = span_nested
            if span_fields is not None:
                out["tag"] = span_fields
        elif key == "process":
            out["process"] = new_process
        else:
            out[key] = value
    return out


def _document(
    span: Span, scope_name: str, scope_version: str, process: dict[str, Any]
) -> JaegerDocument:
    trace_id = _hex_id(span.trace_id)
    parent_span_id = _hex_id(span.parent_span_id)
    start, end, warning = _sanitized_times(span)
    start_us = start // 1000
    doc: JaegerDocument = {"traceID": trace_id, "spanID": _hex_id(span.span_id)}
    if parent_span_id:
        doc["parentSpanID"] = parent_span_id
    if span.flags:
        doc["flags"] = span.flags
    # The empty-span-name sanitizer.
    doc["operationName"] = span.name or _EMPTY_SPAN_NAME
    doc["references"] = _references(span, trace_id, parent_span_id)
    doc["startTime"] = start_us
    doc["startTimeMillis"] = start_us // 1000
    doc["duration"] = (end - start) // 1000
    doc["tags"] = _span_tags(span, scope_name, scope_version, warning)
    doc["logs"] = _logs(span)
    doc["process"] = {"serviceName": process["serviceName"], "tags": process["tags"]}
    return doc


def otlp_to_dbmodel_spans(
    request: ExportTraceServiceRequest | Iterable[ResourceSpans],
) -> list[JaegerDocument]:
    """Jaeger v2.20's sanitizers and ``ToDBModel`` for an OTLP trace export, in input order:
    the span documents *before* the writer's tags-as-fields split.

    Each document is a fresh ``dict`` whose key order is Jaeger's (``traceID``, ``spanID``,
    ``parentSpanID``, ``flags``, ``operationName``, ``references``, ``startTime``,
    ``startTimeMillis``, ``duration``, ``tags``, ``logs``, ``process``); lists Jaeger leaves
    empty are ``None`` (JSON ``null``), as it writes them.
    """
    resource_spans = request.resource_spans if hasattr(request, "resource_spans") else list(request)
    documents: list[JaegerDocument] = []
    for rs in resource_spans:
        process = _process(rs)
        for scope_spans in rs.scope_spans:
            scope = scope_spans.scope
            documents.extend(
                _document(span, scope.name, scope.version, process) for span in scope_spans.spans
            )
    return documents


def otlp_to_jaeger_documents(
    request: ExportTraceServiceRequest | Iterable[ResourceSpans],
    *,
    tags_as_fields: TagsAsFields | None = None,
) -> list[JaegerDocument]:
    """The span documents Jaeger v2.20 stores in Elasticsearch for an OTLP trace export, in
    input order: :func:`otlp_to_dbmodel_spans` after the writer's tags-as-fields split
    (``tags_as_fields``: Jaeger's default options when ``None``).

    ``span.kind`` and ``error`` are always in ``tag`` (``span@kind`` with the default dot
    replacement), unless ``tags_as_fields.all`` moves every non-binary tag there; ``tags``
    and ``process.tags`` are lists (``[]`` when empty); ``tag`` / ``process.tag`` are present
    only when not empty.
    """
    config = tags_as_fields if tags_as_fields is not None else TagsAsFields()
    return [_elevate(doc, config) for doc in otlp_to_dbmodel_spans(request)]


def spans_to_jaeger_documents(
    spans: Sequence[ReadableSpan], *, tags_as_fields: TagsAsFields | None = None
) -> list[JaegerDocument]:
    """SDK spans → Jaeger documents, through the SDK's own OTLP encoding (as in production)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return otlp_to_jaeger_documents(encode_spans(spans), tags_as_fields=tags_as_fields)


# --- where documents go -------------------------------------------------------------------


def _start(doc: JaegerDocument) -> datetime:
    seconds, micros = divmod(int(doc["startTime"]), 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)


def span_index(doc: JaegerDocument, jaeger_prefix: str = "") -> str:
    """The daily span index of ``doc``: ``[<prefix>-]jaeger-span-YYYY-MM-DD`` (UTC start)."""
    return jaeger_span_daily_index(jaeger_prefix, _start(doc))


def service_index(doc: JaegerDocument, jaeger_prefix: str = "") -> str:
    """The daily ``[<prefix>-]jaeger-service-YYYY-MM-DD`` index of ``doc``'s service entry."""
    return jaeger_service_daily_index(jaeger_prefix, _start(doc))


def span_document_id(doc: JaegerDocument) -> str:
    """A deterministic ``_id`` for a span document (trace ID + span ID).

    Jaeger lets Elasticsearch generate span ``_id``s; a deterministic one makes a retried
    bulk request idempotent (``create`` answers 409 for a span already stored). Readers
    never look at ``_id``.
    """
    return f"{doc['traceID']}-{doc['spanID']}"


def _fnv1a_64(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def service_document_id(service: str, operation: str) -> str:
    """Jaeger's ``_id`` of a service entry: FNV-1a 64 of service + operation, in hex."""
    return format(_fnv1a_64(service.encode() + operation.encode()), "x")


def service_document(doc: JaegerDocument) -> tuple[str, dict[str, str]]:
    """The ``(_id, body)`` of the ``serviceName``/``operationName`` entry Jaeger writes per span."""
    service = str(doc["process"]["serviceName"])
    operation = str(doc["operationName"])
    return service_document_id(service, operation), {
        "serviceName": service,
        "operationName": operation,
    }
