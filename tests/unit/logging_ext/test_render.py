"""The record shape: golden output, fields, exceptions, extras, fallbacks."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import structlog
from opentelemetry.trace import Tracer
from structlog.contextvars import bound_contextvars, merge_contextvars

import logging_ext
from logging_ext._render import ECSRenderer
from logging_ext.testing import capture_logs

FROZEN_NS = 1_763_807_027_123_456_000  # 2025-11-22T10:23:47.123456Z
TRACE = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)


def frozen_chain() -> list[Any]:
    renderer = ECSRenderer(
        "orders",
        service_version="1.4.2",
        environment="staging",
        host_name="host-1",
        clock=lambda: FROZEN_NS,
        event_id=lambda: "019aab6e-0f23-7a6b-9c7e-3f1d2a4b5c6d",
    )
    return [merge_contextvars, logging_ext.add_trace_context, logging_ext.RedactSecrets(), renderer]


def frozen_record(**attrs: Any) -> logging.LogRecord:
    fields = {
        "name": "orders.api",
        "msg": "order %s placed",
        "args": (7,),
        "levelname": "INFO",
        "levelno": logging.INFO,
        "created": FROZEN_NS / 1e9,
        "process": 4242,
        "threadName": "MainThread",
        "_logging_ext_trace": TRACE,
    }
    fields.update(attrs)
    return logging.makeLogRecord(fields)


GOLDEN_STDLIB = (
    '{"@timestamp":"2025-11-22T10:23:47.123456Z","log.level":"info","message":"order 7 placed",'
    '"log.logger":"orders.api","trace.id":"4bf92f3577b34da6a3ce929d0e0e4736",'
    '"span.id":"00f067aa0ba902b7","trace.sampled":true,'
    '"event.id":"019aab6e-0f23-7a6b-9c7e-3f1d2a4b5c6d","service.name":"orders",'
    '"service.version":"1.4.2","service.environment":"staging","host.name":"host-1",'
    '"ecs.version":"8.11.0","process.pid":4242,"process.thread.name":"MainThread",'
    '"order_id":7,"password":"[REDACTED]"}'
)


def test_golden_stdlib_record_with_frozen_clock() -> None:
    formatter = logging_ext.ECSFormatter(chain=frozen_chain())
    record = frozen_record(order_id=7, password="hunter2")
    assert formatter.format(record) == GOLDEN_STDLIB


def test_golden_stdlib_record_through_the_generic_chain_is_identical() -> None:
    """The fast path for stdlib records and the event-dict chain render the same bytes."""
    formatter = logging_ext.ECSFormatter(chain=frozen_chain())
    record = frozen_record(order_id=7, password="hunter2")
    event_dict = logging_ext._formatter.event_dict_from_record(record)
    for step in frozen_chain()[:-1]:
        event_dict = step(None, "info", event_dict)
    line, stamp = formatter.renderer.render(None, "info", event_dict)
    assert line.decode() == GOLDEN_STDLIB
    assert stamp == TRACE


def test_golden_structlog_event_with_frozen_clock(tracer: Tracer) -> None:
    log = structlog.wrap_logger(structlog.ReturnLogger(), processors=frozen_chain())
    threading_name = "MainThread"
    line = log.info("order placed", order_id=7, password="hunter2")
    assert line == (
        '{"@timestamp":"2025-11-22T10:23:47.123456Z","log.level":"info",'
        '"message":"order placed","log.logger":"",'
        '"event.id":"019aab6e-0f23-7a6b-9c7e-3f1d2a4b5c6d",'
        '"service.name":"orders","service.version":"1.4.2","service.environment":"staging",'
        '"host.name":"host-1","ecs.version":"8.11.0",'
        f'"process.pid":{orjson.loads(line)["process.pid"]},'
        f'"process.thread.name":"{threading_name}","order_id":7,"password":"[REDACTED]"}}'
    )


def test_contract_fields_and_types(tracer: Tracer) -> None:
    with (
        capture_logs("orders", service_version="2.0.0", environment="prod") as records,
        tracer.start_as_current_span("op"),
    ):
        logging.getLogger("orders.db").warning("slow query")
    (record,) = records
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", record["@timestamp"])
    assert record["log.level"] == "warning"
    assert record["log.logger"] == "orders.db"
    assert record["message"] == "slow query"
    assert re.fullmatch(r"[0-9a-f]{32}", record["trace.id"])
    assert re.fullmatch(r"[0-9a-f]{16}", record["span.id"])
    assert record["trace.sampled"] is True
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", record["event.id"]
    )
    assert record["service.name"] == "orders"
    assert record["service.version"] == "2.0.0"
    assert record["service.environment"] == "prod"
    assert isinstance(record["host.name"], str)
    assert record["host.name"]
    assert isinstance(record["process.pid"], int)
    assert record["process.thread.name"] == "MainThread"
    assert record["ecs.version"] == "8.11.0"


def test_unset_service_fields_are_omitted_not_null(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    with capture_logs("orders") as records:
        logging.getLogger("x").info("hi")
    assert "service.version" not in records[0]
    assert "service.environment" not in records[0]


def test_service_fields_from_the_otel_resource_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "service.version=9.9.9,deployment.environment.name=qa"
    )
    with capture_logs("orders") as records:
        logging.getLogger("x").info("hi")
    assert records[0]["service.version"] == "9.9.9"
    assert records[0]["service.environment"] == "qa"
    assert records[0]["service.name"] == "orders"  # the argument wins


def test_microseconds_are_always_six_digits() -> None:
    renderer = ECSRenderer("s", clock=lambda: 1_763_807_027_000_000_000)
    line = renderer(None, "info", {"event": "x"})
    assert orjson.loads(line)["@timestamp"] == "2025-11-22T10:23:47.000000Z"


LOGGERS: dict[str, Callable[..., None]] = {}


def _log_both(kind: str, message: str, **fields: Any) -> None:
    if kind == "stdlib":
        logging.getLogger("shape").info(message, extra=fields)
    else:
        structlog.get_logger("shape").info(message, **fields)


def test_stdlib_and_structlog_records_have_the_same_shape(tracer: Tracer) -> None:
    with capture_logs("orders") as records, tracer.start_as_current_span("op"):
        _log_both("stdlib", "hello", order_id=1, user={"id": 2})
        _log_both("structlog", "hello", order_id=1, user={"id": 2})
    stdlib, native = records
    assert list(stdlib) == list(native)
    for key in ("log.level", "message", "log.logger", "trace.id", "span.id", "order_id", "user"):
        assert stdlib[key] == native[key]
    assert stdlib["event.id"] != native["event.id"]


def test_exceptions_become_error_fields_in_both_worlds() -> None:
    with capture_logs() as records:
        empty: dict[str, int] = {}
        try:
            empty["missing"]
        except KeyError:
            logging.getLogger("app").exception("lookup failed")
            structlog.get_logger("app").exception("lookup failed")
        structlog.get_logger("app").error("explicit", exc_info=ValueError("bad value"))
    stdlib, native, explicit = records
    for record in (stdlib, native):
        assert record["log.level"] == "error"
        assert record["error.type"] == "KeyError"
        assert record["error.message"] == "'missing'"
        assert record["error.stack_trace"].startswith("Traceback (most recent call last):")
        assert record["error.stack_trace"].rstrip().endswith("KeyError: 'missing'")
    assert stdlib.keys() == native.keys()
    assert explicit["error.type"] == "ValueError"
    assert explicit["error.message"] == "bad value"


def test_error_type_of_a_non_builtin_exception_is_qualified() -> None:
    class OrderRejectedError(Exception):
        pass

    with capture_logs() as records:
        logging.getLogger("app").error("no", exc_info=OrderRejectedError("x"))
    assert records[0]["error.type"].endswith(
        "test_error_type_of_a_non_builtin_exception_is_qualified.<locals>.OrderRejectedError"
    )


def test_stack_info_is_kept() -> None:
    with capture_logs() as records:
        logging.getLogger("app").info("where", stack_info=True)
        structlog.get_logger("app").info("where", stack_info=True)
    for record in records:
        assert record["log.origin.stack_trace"].startswith("Stack (most recent call last):")
        assert "test_stack_info_is_kept" in record["log.origin.stack_trace"]


@pytest.mark.parametrize("kind", ["stdlib", "structlog"])
def test_extras_never_overwrite_contract_fields(kind: str, tracer: Tracer) -> None:
    hostile = {
        "trace.id": "not-a-trace",
        "span.id": "nope",
        "service.name": "impostor",
        "log.level": "fatal",
        "ecs.version": "1.0",
        "event.id": "dup",
        "trace": {"id": "nested"},
        "log": "flat",
        "_id": "es-metadata",
        "process.pid.extra": 1,
        "event.duration": 5,
        "user.id": "u1",
    }
    with capture_logs("orders") as records, tracer.start_as_current_span("op") as span:
        _log_both(kind, "hi", **hostile)
    (record,) = records
    context = span.get_span_context()
    assert record["trace.id"] == format(context.trace_id, "032x")
    assert record["span.id"] == format(context.span_id, "016x")
    assert record["service.name"] == "orders"
    assert record["log.level"] == "info"
    assert record["ecs.version"] == "8.11.0"
    assert record["event.id"] != "dup"
    assert record["extra.trace.id"] == "not-a-trace"
    assert record["extra.span.id"] == "nope"
    assert record["extra.service.name"] == "impostor"
    assert record["extra.log.level"] == "fatal"
    assert record["extra.event.id"] == "dup"
    assert record["extra.trace"] == {"id": "nested"}
    assert record["extra.log"] == "flat"
    assert record["extra._id"] == "es-metadata"
    assert record["extra.process.pid.extra"] == 1
    # Not conflicts: ECS fields next to ours, and plain dotted names.
    assert record["event.duration"] == 5
    assert record["user.id"] == "u1"


def test_trace_keys_outside_a_span_are_moved_aside() -> None:
    with capture_logs() as records:
        structlog.get_logger().info("hi", **{"trace.id": "abc"})
        logging.getLogger("x").info("hi", extra={"span.id": "def", "trace.sampled": True})
    for record in records:
        assert "trace.id" not in record
        assert "span.id" not in record
        assert "trace.sampled" not in record
    assert records[0]["extra.trace.id"] == "abc"
    assert records[1]["extra.span.id"] == "def"


def test_stdlib_extra_named_event_and_structlog_message_kwarg() -> None:
    with capture_logs() as records:
        logging.getLogger("x").info("real", extra={"event": "login"})
        structlog.get_logger("x").info("real", message="shadow")
    assert records[0]["message"] == "real"
    assert records[0]["extra.event"] == "login"
    assert records[1]["message"] == "real"
    assert records[1]["extra.message"] == "shadow"


class Unserialisable:
    def __repr__(self) -> str:
        return "<Unserialisable 42>"


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    def __str__(self) -> str:
        raise RuntimeError("no str either")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Unserialisable(), "<Unserialisable 42>"),
        ({1, 2}, "{1, 2}"),
        (b"\x00bytes", "b'\\x00bytes'"),
        (2**70, str(2**70)),
        (BrokenRepr(), "<unrepresentable BrokenRepr object>"),
        ({"nested": Unserialisable()}, {"nested": "<Unserialisable 42>"}),
        ({1: "int key"}, {"1": "int key"}),
        ("lone \udcff surrogate", "lone \\udcff surrogate"),
    ],
    ids=["object", "set", "bytes", "bigint", "broken-repr", "nested", "int-key", "surrogate"],
)
@pytest.mark.parametrize("kind", ["stdlib", "structlog"])
def test_unserialisable_values_fall_back_to_repr(kind: str, value: Any, expected: Any) -> None:
    with capture_logs() as records:
        _log_both(kind, "odd value", value=value)
    assert records[0]["value"] == expected
    assert records[0]["message"] == "odd value"


def test_circular_structures_do_not_break_rendering() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with capture_logs() as records:
        structlog.get_logger().info("loop", data=loop)
    assert records[0]["message"] == "loop"
    assert "data" in records[0]


def test_bad_percent_args_are_reported_not_raised() -> None:
    with capture_logs() as records:
        logging.getLogger("x").info("%d items", "many")
    (record,) = records
    assert record["message"].startswith("%d items")
    assert "TypeError" in record["tracelink.render_error"]


def test_messages_whose_str_raises_still_render() -> None:
    with capture_logs() as records:
        logging.getLogger("x").info(BrokenRepr())
        structlog.get_logger("x").info(BrokenRepr())
    assert len(records) == 2
    for record in records:
        assert isinstance(record["message"], str)


def test_a_failing_processor_never_raises_into_the_application() -> None:
    def explode(logger: Any, method: str, event_dict: Any) -> Any:
        raise RuntimeError("processor bug")

    with capture_logs() as records:
        config = structlog.get_config()
        structlog.configure(processors=[explode, *config["processors"]])
        structlog.get_logger("x").info("still here", order_id=1)
    (record,) = records
    assert record["message"] == "still here"
    assert record["tracelink.render_error"] == "RuntimeError: processor bug"


def test_a_broken_stream_never_raises(capfd: pytest.CaptureFixture[str]) -> None:
    class Broken:
        def write(self, text: str) -> int:
            raise OSError("disk full")

        def flush(self) -> None:
            raise OSError("disk full")

    handle = logging_ext.configure_logging("x", stream=Broken())
    try:
        logging.getLogger("x").error("first")
        structlog.get_logger("x").error("second")
    finally:
        handle.close()
    assert "disk full" in capfd.readouterr().err


def test_renderer_emergency_record_when_everything_fails() -> None:
    renderer = ECSRenderer("s")

    class Evil(dict):  # type: ignore[type-arg]
        def pop(self, *args: Any) -> Any:
            raise RuntimeError("evil dict")

    line, stamp = renderer.render(None, "warning", Evil(event="x"))
    record = orjson.loads(line)
    assert record["log.level"] == "warning"
    assert record["tracelink.render_error"] == "RuntimeError: evil dict"
    assert stamp is None


def test_structlog_logger_names() -> None:
    with capture_logs() as records:
        structlog.get_logger("orders.api").info("named")
        structlog.get_logger().info("unnamed")
    assert records[0]["log.logger"] == "orders.api"
    assert records[1]["log.logger"] == __name__


def test_structlog_contextvars_reach_both_worlds() -> None:
    with capture_logs() as records, bound_contextvars(request_id="r-1"):
        structlog.get_logger().info("a")
        logging.getLogger("x").info("b")
    assert [r["request_id"] for r in records] == ["r-1", "r-1"]


def test_levels_map_to_lower_case_names() -> None:
    with capture_logs(level="DEBUG") as records:
        log = structlog.get_logger()
        log.debug("d")
        log.warning("w")
        log.critical("c")
        logging.getLogger("x").log(5, "custom level below debug is filtered")
        logging.getLogger("x").critical("c")
    assert [r["log.level"] for r in records] == ["debug", "warning", "critical", "critical"]


def test_message_is_always_a_string() -> None:
    with capture_logs() as records:
        structlog.get_logger().info({"not": "a string"})
        logging.getLogger("x").info(12345)
    assert records[0]["message"] == "{'not': 'a string'}"
    assert records[1]["message"] == "12345"


def test_renderer_as_str_and_bytes() -> None:
    as_str = ECSRenderer("s")(None, "info", {"event": "x"})
    as_bytes = ECSRenderer("s", as_bytes=True)(None, "info", {"event": "x"})
    assert isinstance(as_str, str)
    assert isinstance(as_bytes, bytes)
    assert orjson.loads(as_str)["message"] == orjson.loads(as_bytes)["message"] == "x"


def test_ecs_formatter_handles_structlog_wrap_for_formatter(tracer: Tracer) -> None:
    """structlog routed through stdlib (ProcessorFormatter.wrap_for_formatter) comes out alike."""
    formatter = logging_ext.ECSFormatter("orders")
    records: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(orjson.loads(self.format(record)))

    handler = Collect()
    handler.setFormatter(formatter)
    stdlib_logger = logging.getLogger("wrapped")
    stdlib_logger.addHandler(handler)
    stdlib_logger.propagate = False
    stdlib_logger.setLevel(logging.INFO)
    log = structlog.wrap_logger(
        stdlib_logger,
        processors=[
            merge_contextvars,
            logging_ext.add_trace_context,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    try:
        with tracer.start_as_current_span("op") as span:
            log.info("via stdlib", order_id=3, token="secret")
    finally:
        stdlib_logger.removeHandler(handler)
        stdlib_logger.propagate = True
    (record,) = records
    assert record["message"] == "via stdlib"
    assert record["log.logger"] == "wrapped"
    assert record["order_id"] == 3
    assert record["token"] == "[REDACTED]"
    assert record["trace.id"] == format(span.get_span_context().trace_id, "032x")
    assert "_record" not in record
    assert "_from_structlog" not in record


def test_formatter_requires_the_renderer_last() -> None:
    with pytest.raises(TypeError, match="ECSRenderer"):
        logging_ext.ECSFormatter(chain=[merge_contextvars])


def test_python_version_of_record_fields() -> None:
    # taskName (3.12+) must never leak as an extra.
    with capture_logs() as records:
        logging.getLogger("x").info("hi")
    assert "taskName" not in records[0]
    assert sys.version_info >= (3, 11)
