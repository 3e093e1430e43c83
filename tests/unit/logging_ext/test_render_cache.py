"""The renderer's pre-serialised runs of fields must write exactly the bytes that serialising
every field on every record writes: whichever trace, thread, process or renderer came last."""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson
import pytest
import structlog
from structlog.typing import EventDict

import logging_ext
from logging_ext._render import ECSRenderer

FROZEN_NS = 1_763_807_027_123_456_000  # 2025-11-22T10:23:47.123456Z
EVENT_ID = "019aab6e-0f23-7a6b-9c7e-3f1d2a4b5c6d"
TRACE_A = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)
TRACE_B = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", False)
# A child span of A (the same trace.id string), and A's IDs unsampled.
TRACE_A_CHILD = (TRACE_A[0], "53995c3f42cd8ad8", True)
TRACE_A_UNSAMPLED = (TRACE_A[0], TRACE_A[1], False)


def renderer(service: str = "orders", **kwargs: Any) -> ECSRenderer:
    return ECSRenderer(
        service,
        host_name="host-1",
        clock=lambda: FROZEN_NS,
        event_id=lambda: EVENT_ID,
        **kwargs,
    )


def record(trace: object = TRACE_A, **attrs: Any) -> logging.LogRecord:
    fields = {
        "name": "orders.api",
        "msg": "placed",
        "levelname": "INFO",
        "levelno": logging.INFO,
        "created": FROZEN_NS / 1e9,
        "process": 4242,
        "threadName": "MainThread",
        "_logging_ext_trace": trace,
        "order_id": 7,
    }
    fields.update(attrs)
    return logging.makeLogRecord(fields)


def expected(
    service: str = "orders",
    trace: tuple[str, str, bool] | None = TRACE_A,
    pid: object = 4242,
    thread: object = "MainThread",
    version: str | None = None,
) -> bytes:
    """The line with every field written out, in contract order."""
    out: dict[str, Any] = {
        "@timestamp": "2025-11-22T10:23:47.123456Z",
        "log.level": "info",
        "message": "placed",
        "log.logger": "orders.api",
    }
    if trace is not None:
        out["trace.id"], out["span.id"], out["trace.sampled"] = trace
    out["event.id"] = EVENT_ID
    out["service.name"] = service
    if version is not None:
        out["service.version"] = version
    out["host.name"] = "host-1"
    out["ecs.version"] = "8.11.0"
    out["process.pid"] = pid
    out["process.thread.name"] = thread
    out["order_id"] = 7
    return orjson.dumps(out)


def test_trace_fields_follow_the_trace_of_each_record() -> None:
    ours = renderer()
    traces = (TRACE_A, TRACE_B, None, TRACE_A, TRACE_A_CHILD, TRACE_A, TRACE_A_UNSAMPLED, TRACE_B)
    for trace in traces:
        line, stamp = ours.render_record(record(trace))
        assert line == expected(trace=trace)
        assert stamp == trace


def test_equal_stamps_made_anew_render_alike() -> None:
    ours = renderer()
    for _ in range(3):
        fresh = ("".join(TRACE_A[0]), "".join(TRACE_A[1]), True)
        assert ours.render_record(record(fresh))[0] == expected()


def test_static_fields_follow_pid_and_thread_of_each_record() -> None:
    ours = renderer()
    cases: list[tuple[object, object]] = [
        (4242, "MainThread"),
        (4243, "MainThread"),
        (4243, "worker-1"),
        (4242, "MainThread"),
        (None, None),  # logging.logProcesses / logThreads turned off
        (4242, None),
        (None, "MainThread"),
        (4242.0, "MainThread"),  # odd types: written field by field
        (4242, ["not", "a", "name"]),
    ]
    for pid, thread in cases:
        line = ours.render_record(record(process=pid, threadName=thread))[0]
        assert line == expected(pid=pid, thread=thread)


def test_a_thread_name_orjson_refuses_is_written_as_the_fallback_writes_it() -> None:
    line = renderer().render_record(record(threadName="lone \udcff surrogate"))[0]
    assert orjson.loads(line)["process.thread.name"] == "lone \\udcff surrogate"
    assert orjson.loads(line)["order_id"] == 7


def test_renderers_with_different_static_fields_do_not_share_them() -> None:
    first, second = renderer("orders"), renderer("billing", service_version="2.0")
    for _ in range(2):
        assert first.render_record(record())[0] == expected("orders")
        assert second.render_record(record())[0] == expected("billing", version="2.0")


def test_odd_trace_values_from_a_structlog_processor_are_written_as_given() -> None:
    ours = renderer()

    def odd_trace(_: Any, __: str, event_dict: EventDict) -> EventDict:
        event_dict["trace.id"], event_dict["span.id"] = 12345, ["span"]
        return event_dict

    log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[odd_trace, ours])
    line = orjson.loads(log.info("placed"))
    assert (line["trace.id"], line["span.id"], line["trace.sampled"]) == (12345, ["span"], False)
    assert line["service.name"] == "orders"
    assert list(line)[-2:] == ["process.pid", "process.thread.name"]


def test_threads_rendering_at_once_get_their_own_fields() -> None:
    # Both threads render in lockstep, so the one-entry caches always hold the other's entry.
    ours = logging_ext.ECSFormatter(chain=[logging_ext.add_trace_context, renderer()])
    barrier = threading.Barrier(2)
    lines: dict[str, list[bytes]] = {"a": [], "b": []}
    traces = {"a": TRACE_A, "b": TRACE_B}

    def work(name: str) -> None:
        for _ in range(200):
            barrier.wait()
            lines[name].append(ours.render(record(traces[name], threadName=name))[0])

    threads = [threading.Thread(target=work, args=(name,)) for name in lines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, rendered in lines.items():
        assert rendered == [expected(trace=traces[name], thread=name)] * 200


@pytest.mark.parametrize("trace", [TRACE_A, None])
def test_structlog_events_match_the_spelled_out_line(trace: tuple[str, str, bool] | None) -> None:
    ours = renderer()

    def stamp(_: Any, __: str, event_dict: EventDict) -> EventDict:
        if trace is not None:
            event_dict["trace.id"], event_dict["span.id"], event_dict["trace.sampled"] = trace
        return event_dict

    log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[stamp, ours])
    line = log.info("placed", order_id=7)
    fields = orjson.loads(line)
    want = orjson.loads(
        expected(trace=trace, pid=fields["process.pid"], thread=threading.current_thread().name)
    )
    want["log.logger"] = ""
    assert line == orjson.dumps(want).decode()
