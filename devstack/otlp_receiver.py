"""The embedded stack's OTLP/HTTP receiver: what the OpenTelemetry Collector or Jaeger v2
would be for services in other languages.

``POST /v1/traces`` — spans are stored as the Jaeger-format span documents the embedded
stack writes for its Python services (:mod:`devstack.jaeger`), so ``/correlate`` reads them
like any other. ``POST /v1/logs`` — the request is forwarded to the log topic as the
Collector's ``kafka`` exporter writes it with ``encoding: otlp_proto``: the value is the
``ExportLogsServiceRequest`` protobuf, one message per request, no key and no headers
(``exporter/kafkaexporter/internal/marshaler/pdata_marshaler.go``, ``MarshalLogs`` in
open-telemetry/opentelemetry-collector-contrib; a key only with
``partition_logs_by_resource_attributes`` / ``partition_logs_by_trace_id``, headers only
with ``include_metadata_keys``). A request too large for one Kafka message is split per
resource.

Answers follow the OTLP/HTTP specification (``docs/specification.md`` of
open-telemetry/opentelemetry-proto) and the Collector's ``otlpreceiver/otlphttp.go``:

- ``application/x-protobuf`` and ``application/json`` bodies, ``Content-Encoding: gzip``;
  the response is in the request's encoding;
- 200 with ``Export{Trace,Logs}ServiceResponse``; ``partial_success`` counts the records
  refused (an invalid trace or span ID; a log resource too large for a Kafka message) with
  the reason, and the client does not retry them;
- 400 with a ``google.rpc.Status`` for a body that does not decode (never retried);
- 413 above ``TRACELINK_OTLP_MAX_BODY_BYTES`` (after decompression too);
- 415 for any other content type, 405 for any other method (plain text, as the Collector);
- 503 with ``Retry-After`` while Elasticsearch (traces) or Kafka (logs) cannot be written:
  OTel exporters retry on it. A retried trace request is idempotent (span ``_id`` s are
  deterministic); a retried log request may be produced twice, as with the Collector: a
  record with a ``log.record.uid`` (its ``event.id``) is then a no-op the second time, one
  without gets an ``event.id`` from its new Kafka position and is indexed again.

Run as ``python -m devstack.otlp_receiver`` (configured by environment, as the other parts
of the stack); ``GET /healthz`` answers 200 once it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from pydantic import Field

from tracelink.otlp_json import (
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    InvalidIdError,
    has_id_size,
    ids_to_protobuf_json,
)
from tracelink.settings import ConfigError, ElasticsearchSettings, KafkaSettings, load_settings

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

    from devstack.jaeger import JaegerElasticsearchSpanExporter

__all__ = [
    "BadRequestError",
    "Encoding",
    "OtlpReceiverSettings",
    "create_app",
    "decode_logs",
    "decode_traces",
    "encode_message",
    "main",
    "media_encoding",
    "split_valid_logs",
    "split_valid_spans",
]

_log = logging.getLogger(__name__)

Encoding = Literal["proto", "json"]

_PROTOBUF: Final = "application/x-protobuf"
_JSON: Final = "application/json"
_CONTENT_TYPES: Final[dict[str, Encoding]] = {_PROTOBUF: "proto", _JSON: "json"}
# The specification's recommended limit.
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024 * 1024
# How long a client should wait before retrying while a backend is down (seconds).
RETRY_AFTER_S: Final = 5
# The largest message value sent: the Collector's kafka exporter default
# (producer.max_message_bytes 1000000), under Kafka's default message.max.bytes (1048588)
# with room for the record batch around it. A log request above it is split per resource.
_KAFKA_MAX_VALUE_BYTES: Final = 1_000_000
_READ_CHUNK: Final = 64 * 1024

# gRPC codes carried in google.rpc.Status (the Collector's statusutil mapping).
_CODE_INVALID_ARGUMENT: Final = 3
_CODE_UNAVAILABLE: Final = 14
_CODE_RESOURCE_EXHAUSTED: Final = 8


class OtlpReceiverSettings(KafkaSettings, ElasticsearchSettings):
    """Where the receiver listens and what it accepts (env ``TRACELINK_<FIELD>``)."""

    otlp_host: str = Field(default="127.0.0.1", min_length=1, description="OTLP/HTTP address")
    otlp_port: int = Field(
        default=4318, ge=0, le=65535, description="OTLP/HTTP port of the embedded stack (0 = off)"
    )
    otlp_max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        description="largest OTLP request body accepted, after decompression (413 above)",
    )


class BadRequestError(ValueError):
    """The request body does not decode as the OTLP message it should be (HTTP 400)."""


class TooLargeError(ValueError):
    """The request body is above the size limit (HTTP 413)."""


# --- pure: content types, bodies, OTLP/JSON --------------------------------------------------


def media_encoding(content_type: str | None) -> Encoding | None:
    """``"proto"`` / ``"json"`` for the two OTLP media types (parameters ignored), else ``None``."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return _CONTENT_TYPES.get(media)


def gunzip_bounded(body: bytes, limit: int) -> bytes:
    """``body`` gunzipped, refusing more than ``limit`` bytes of output (a gzip bomb stops
    at the limit, not at the end of memory)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequestError(f"the body is not valid gzip: {exc}") from None
    if len(out) > limit:
        raise TooLargeError(f"the body is larger than {limit} bytes once decompressed")
    if not inflater.eof:
        raise BadRequestError("the gzip body is truncated")
    return out


def _decode(body: bytes, encoding: Encoding, message: Message) -> None:
    if encoding == "proto":
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise BadRequestError(f"the body is not a valid protobuf message: {exc}") from None
        return
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequestError(f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise BadRequestError("the JSON body is nested too deeply") from None
    if not isinstance(document, dict):
        raise BadRequestError("the JSON body is not an object")
    try:
        # OTLP/JSON's hex IDs become the base64 protobuf's JSON mapping reads; receivers must
        # ignore fields they do not know (specification).
        json_format.ParseDict(ids_to_protobuf_json(document), message, ignore_unknown_fields=True)
    except InvalidIdError as exc:
        raise BadRequestError(str(exc)) from None
    except (json_format.ParseError, RecursionError, ValueError) as exc:
        raise BadRequestError(f"the JSON body is not OTLP: {exc}") from None


def decode_traces(body: bytes, encoding: Encoding) -> ExportTraceServiceRequest:
    """An ``ExportTraceServiceRequest`` from OTLP protobuf or OTLP/JSON; ``BadRequestError``."""
    request = ExportTraceServiceRequest()
    _decode(body, encoding, request)
    return request


def decode_logs(body: bytes, encoding: Encoding) -> ExportLogsServiceRequest:
    """An ``ExportLogsServiceRequest`` from OTLP protobuf or OTLP/JSON; ``BadRequestError``."""
    request = ExportLogsServiceRequest()
    _decode(body, encoding, request)
    return request


def encode_message(message: Message, encoding: Encoding) -> bytes:
    """``message`` in the response encoding (OTLP/JSON: lowerCamelCase, as the Collector)."""
    if encoding == "proto":
        return bytes(message.SerializeToString())
    return str(json_format.MessageToJson(message, indent=None)).encode()


def _remove_where(items: Any, refused: Callable[[Any], bool]) -> int:
    """Delete the items of a repeated protobuf field for which ``refused`` holds; how many."""
    doomed = [index for index, item in enumerate(items) if refused(item)]
    for index in reversed(doomed):
        del items[index]
    return len(doomed)


def _span_refused(span: Any) -> bool:
    # Jaeger stores a span under its trace: both IDs are required and not all zero.
    return not (
        len(span.trace_id) == TRACE_ID_BYTES
        and any(span.trace_id)
        and len(span.span_id) == SPAN_ID_BYTES
        and any(span.span_id)
        and has_id_size(span.parent_span_id, SPAN_ID_BYTES)
    )


def _log_refused(record: Any) -> bool:
    return not (
        has_id_size(record.trace_id, TRACE_ID_BYTES) and has_id_size(record.span_id, SPAN_ID_BYTES)
    )


def split_valid_spans(request: ExportTraceServiceRequest) -> tuple[int, str]:
    """Remove (in place) the spans Jaeger could not store under a trace: a trace ID that is
    not 16 non-zero bytes, a span ID not 8 non-zero bytes, a parent ID of the wrong length.
    Returns how many were removed and why (empty when none)."""
    removed = sum(
        _remove_where(scope_spans.spans, _span_refused)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
    )
    reason = f"{removed} spans with an invalid trace ID or span ID" if removed else ""
    return removed, reason


def split_valid_logs(request: ExportLogsServiceRequest) -> tuple[int, str]:
    """Remove (in place) the log records whose trace ID or span ID has the wrong length
    (absent IDs are fine: a record outside any span). Returns how many and why."""
    removed = sum(
        _remove_where(scope_logs.log_records, _log_refused)
        for resource_logs in request.resource_logs
        for scope_logs in resource_logs.scope_logs
    )
    reason = f"{removed} log records with a trace ID or span ID of the wrong length"
    return removed, reason if removed else ""


def _record_count(request: ExportLogsServiceRequest) -> int:
    return sum(len(scope.log_records) for rl in request.resource_logs for scope in rl.scope_logs)


def log_messages(
    request: ExportLogsServiceRequest, max_bytes: int = _KAFKA_MAX_VALUE_BYTES
) -> tuple[list[tuple[bytes, int]], int]:
    """The Kafka message values for ``request``, each with how many records it carries: the
    request itself when it fits one message, else one ``ExportLogsServiceRequest`` per
    resource. Also returns how many records were in resources too large for one message
    (refused)."""
    whole = request.SerializeToString()
    if len(whole) <= max_bytes:
        return ([(whole, _record_count(request))] if request.resource_logs else []), 0
    values: list[tuple[bytes, int]] = []
    refused = 0
    for resource_logs in request.resource_logs:
        single = ExportLogsServiceRequest()
        single.resource_logs.add().CopyFrom(resource_logs)
        value = single.SerializeToString()
        if len(value) <= max_bytes:
            values.append((value, _record_count(single)))
        else:
            refused += _record_count(single)
    return values, refused


# --- I/O ------------------------------------------------------------------------------------


@dataclass
class _Backends:
    settings: OtlpReceiverSettings
    spans: JaegerElasticsearchSpanExporter
    producer: AIOKafkaProducer | None = None
    producer_lock: asyncio.Lock | None = None


def _status_response(
    http_status: int, code: int, message: str, encoding: Encoding, **headers: str
) -> web.Response:
    body = encode_message(Status(code=code, message=message), encoding)
    content_type = _PROTOBUF if encoding == "proto" else _JSON
    return web.Response(
        status=http_status, body=body, headers={"Content-Type": content_type, **headers}
    )


def _unavailable(message: str, encoding: Encoding) -> web.Response:
    return _status_response(
        503, _CODE_UNAVAILABLE, message, encoding, **{"Retry-After": str(RETRY_AFTER_S)}
    )


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The decompressed body, at most ``limit`` bytes (``TooLargeError`` / ``BadRequestError``)."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLargeError(f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    content_encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if content_encoding in ("", "identity"):
        return body
    if content_encoding == "gzip":
        return gunzip_bounded(body, limit)
    raise BadRequestError(f"unsupported Content-Encoding {content_encoding!r} (gzip or none)")


def _otlp_handler(
    handle: Callable[[_Backends, bytes, Encoding], Any],
) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.StreamResponse:
        encoding = media_encoding(request.headers.get("Content-Type"))
        if encoding is None:
            return web.Response(
                status=415,
                text=f"415 unsupported media type, supported: [{_JSON}, {_PROTOBUF}]",
            )
        backends: _Backends = request.app[_BACKENDS]
        try:
            body = await _read_body(request, backends.settings.otlp_max_body_bytes)
        except TooLargeError as exc:
            return _status_response(413, _CODE_RESOURCE_EXHAUSTED, str(exc), encoding)
        except BadRequestError as exc:
            return _status_response(400, _CODE_INVALID_ARGUMENT, str(exc), encoding)
        try:
            result: web.StreamResponse = await handle(backends, body, encoding)
        except BadRequestError as exc:
            return _status_response(400, _CODE_INVALID_ARGUMENT, str(exc), encoding)
        return result

    return handler


def _ok(message: Message, encoding: Encoding) -> web.Response:
    content_type = _PROTOBUF if encoding == "proto" else _JSON
    return web.Response(
        status=200, body=encode_message(message, encoding), headers={"Content-Type": content_type}
    )


async def _export_traces(backends: _Backends, body: bytes, encoding: Encoding) -> web.Response:
    from devstack.jaeger import otlp_to_jaeger_documents

    request = decode_traces(body, encoding)
    refused, reason = split_valid_spans(request)
    documents = otlp_to_jaeger_documents(request)
    response = ExportTraceServiceResponse()
    if documents:
        outcome = await asyncio.to_thread(backends.spans.write_documents, documents)
        if outcome.unwritten:
            return _unavailable(
                f"Elasticsearch could not store {outcome.unwritten} of "
                f"{len(documents)} spans; retry later",
                encoding,
            )
        if outcome.rejected:
            refused += len(outcome.rejected)
            reason = "; ".join(filter(None, [reason, *sorted(set(outcome.rejected))[:3]]))
    if refused:
        response.partial_success.rejected_spans = refused
        response.partial_success.error_message = reason
    return _ok(response, encoding)


async def _producer(backends: _Backends) -> AIOKafkaProducer:
    """The Kafka producer, connected on first use (Kafka may start after the receiver or
    come back after an outage); ``KafkaError`` while it cannot connect."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    assert backends.producer_lock is not None
    async with backends.producer_lock:
        if backends.producer is not None:
            return backends.producer
        producer = AIOKafkaProducer(
            # Bootstrap servers, TLS and SASL as every tracelink Kafka client has them.
            **backends.settings.kafka_client_kwargs(),
            client_id="tracelink-otlp-receiver",
            acks="all",
            # aiokafka's default, which a value of _KAFKA_MAX_VALUE_BYTES fits with its batch.
            max_request_size=1024 * 1024,
            # An exporter waits about 10 s per attempt; answer 503 well before that.
            request_timeout_ms=5000,
        )
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(KafkaError):
                await producer.stop()
            raise
        backends.producer = producer
        return producer


async def _export_logs(backends: _Backends, body: bytes, encoding: Encoding) -> web.Response:
    from aiokafka.errors import KafkaError, MessageSizeTooLargeError

    request = decode_logs(body, encoding)
    refused, reason = split_valid_logs(request)
    values, too_large = log_messages(request)
    # The first of TRACELINK_LOG_TOPIC: the shipper of the same stack reads them all.
    topic = backends.settings.produce_topic
    try:
        producer = await _producer(backends)
        for value, records in values:
            try:
                await producer.send_and_wait(topic, value)
            except MessageSizeTooLargeError:
                # The broker's limit is below ours: a retry would fail the same way.
                too_large += records
    except KafkaError as exc:
        _log.warning("Kafka unavailable for OTLP logs: %s", exc)
        return _unavailable(f"Kafka could not take the logs ({exc}); retry later", encoding)
    if too_large:
        refused += too_large
        reason = "; ".join(
            filter(None, [reason, f"{too_large} log records in a resource too large for Kafka"])
        )
    response = ExportLogsServiceResponse()
    if refused:
        response.partial_success.rejected_log_records = refused
        response.partial_success.error_message = reason
    return _ok(response, encoding)


async def _method_not_allowed(_request: web.Request) -> web.Response:
    return web.Response(status=405, text="405 method not allowed, supported: [POST]")


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


_BACKENDS: Final = web.AppKey("backends", _Backends)


def create_app(
    settings: OtlpReceiverSettings, spans: JaegerElasticsearchSpanExporter
) -> web.Application:
    """The receiver's aiohttp application; the caller owns ``spans`` (closes it after).

    The Kafka producer is made on first use and closed with the application.
    """
    # The body limit is enforced while reading (to answer 413 with a Status), not by aiohttp.
    app = web.Application(client_max_size=settings.otlp_max_body_bytes + 1)
    app[_BACKENDS] = _Backends(settings=settings, spans=spans, producer_lock=asyncio.Lock())
    app.router.add_post("/v1/traces", _otlp_handler(_export_traces))
    app.router.add_post("/v1/logs", _otlp_handler(_export_logs))
    for path in ("/v1/traces", "/v1/logs"):
        app.router.add_route("*", path, _method_not_allowed)
    app.router.add_get("/healthz", _healthz)

    async def close_producer(app: web.Application) -> None:
        backends = app[_BACKENDS]
        if backends.producer is not None:
            await backends.producer.stop()
            backends.producer = None

    app.on_cleanup.append(close_producer)
    return app


def make_span_writer(settings: OtlpReceiverSettings) -> JaegerElasticsearchSpanExporter:
    """The span writer the receiver uses: one retry, then the client is told to come back."""
    from devstack.jaeger import JaegerElasticsearchSpanExporter

    return JaegerElasticsearchSpanExporter.from_settings(
        settings, max_attempts=2, retry_backoff=0.2, max_backoff=1.0
    )


async def serve(settings: OtlpReceiverSettings, stop: asyncio.Event) -> None:
    """Listen on ``otlp_host:otlp_port`` until ``stop`` is set, then close everything."""
    spans = make_span_writer(settings)
    # Decompression is done here, bounded by the body limit (a gzip bomb is a 413).
    runner = web.AppRunner(create_app(settings, spans), access_log=None, auto_decompress=False)
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.otlp_host, settings.otlp_port)
        await site.start()
        _log.info("OTLP/HTTP receiver on http://%s:%d", settings.otlp_host, settings.otlp_port)
        await stop.wait()
    finally:
        await runner.cleanup()
        await asyncio.to_thread(spans.shutdown)


def main() -> int:
    """``python -m devstack.otlp_receiver``: serve until SIGTERM/SIGINT (exit 0); bad
    configuration exits 2 with one line naming the variable."""
    try:
        settings = load_settings(OtlpReceiverSettings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    if settings.otlp_port == 0:
        print("TRACELINK_OTLP_PORT is 0: the OTLP receiver is off", file=sys.stderr)  # noqa: T201
        return 2
    from tracelink.logsetup import configure_process_logging

    close_logging = configure_process_logging("tracelink-otlp-receiver")
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(settings, stop)

    try:
        asyncio.run(run())
    except OSError as exc:
        _log.error("cannot listen on %s:%d: %s", settings.otlp_host, settings.otlp_port, exc)
        return 1
    finally:
        close_logging()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
