"""trace.id / span.id / trace.sampled come from the context current at the log call."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, Tracer

import logging_ext
from logging_ext._trace import current_trace
from logging_ext.testing import capture_logs


def ids(span: trace.Span) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def test_current_trace_inside_and_outside_a_span(tracer: Tracer) -> None:
    assert current_trace() is None
    with tracer.start_as_current_span("outer") as outer:
        assert current_trace() == (*ids(outer), True)
        with tracer.start_as_current_span("inner") as inner:
            assert current_trace() == (*ids(inner), True)
        assert current_trace() == (*ids(outer), True)
    assert current_trace() is None


def test_fast_lookup_agrees_with_the_public_api(tracer: Tracer) -> None:
    for _ in range(300):  # more spans than the cache holds: stale entries must never match
        with tracer.start_as_current_span("s"):
            ctx = trace.get_current_span().get_span_context()
            expected = (format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"), True)
            assert current_trace() == expected


def test_context_cache_follows_the_current_span(tracer: Tracer) -> None:
    # The last (Context, stamp) is remembered: re-entering an earlier context, and leaving
    # every span, must give that context's own stamp, never the remembered one.
    assert current_trace() is None
    with tracer.start_as_current_span("a") as a:
        a_context = otel_context.get_current()
        assert current_trace() == (*ids(a), True)
        with tracer.start_as_current_span("b") as b:
            assert current_trace() == (*ids(b), True)
            token = otel_context.attach(a_context)
            try:
                assert current_trace() == (*ids(a), True)
            finally:
                otel_context.detach(token)
            assert current_trace() == (*ids(b), True)
        assert current_trace() == (*ids(a), True)
    assert current_trace() is None
    assert current_trace() is None


def test_context_cache_keeps_unsampled_spans_unsampled(
    tracer: Tracer, unsampled_tracer: Tracer
) -> None:
    with unsampled_tracer.start_as_current_span("quiet") as quiet:
        assert current_trace() == (*ids(quiet), False)
        assert current_trace() == (*ids(quiet), False)  # from the cache
        with tracer.start_as_current_span("loud") as loud:
            assert current_trace() == (*ids(loud), True)
        assert current_trace() == (*ids(quiet), False)


def test_context_cache_across_threads(tracer: Tracer) -> None:
    # Two threads inside their own spans look up in lockstep, so each lookup follows one by
    # the other thread: the remembered context is always the other thread's.
    rounds = 200
    barrier = threading.Barrier(2)
    seen: dict[str, list[object]] = {"a": [], "b": []}
    expected: dict[str, tuple[str, str, bool]] = {}

    def work(name: str) -> None:
        with tracer.start_as_current_span(name) as span:
            expected[name] = (*ids(span), True)
            for _ in range(rounds):
                barrier.wait()
                seen[name].append(current_trace())

    threads = [threading.Thread(target=work, args=(name,)) for name in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert expected["a"] != expected["b"]
    for name, stamps in seen.items():
        assert stamps == [expected[name]] * rounds
    assert current_trace() is None  # the main thread is in no span


def test_invalid_span_context_is_no_trace() -> None:
    with trace.use_span(trace.INVALID_SPAN):
        assert current_trace() is None


def test_remote_parent_context_is_a_trace() -> None:
    context = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(context)):
        assert current_trace() == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)


@pytest.mark.parametrize("kind", ["stdlib", "structlog"])
def test_unsampled_spans_keep_their_ids(kind: str, unsampled_tracer: Tracer) -> None:
    with capture_logs() as records, unsampled_tracer.start_as_current_span("quiet") as span:
        assert not span.is_recording()
        if kind == "stdlib":
            logging.getLogger("x").info("hi")
        else:
            structlog.get_logger().info("hi")
    (record,) = records
    assert (record["trace.id"], record["span.id"]) == ids(span)
    assert record["trace.sampled"] is False


@pytest.mark.parametrize("kind", ["stdlib", "structlog"])
def test_no_trace_keys_outside_spans(kind: str) -> None:
    with capture_logs() as records:
        if kind == "stdlib":
            logging.getLogger("x").info("hi")
        else:
            structlog.get_logger().info("hi")
    (record,) = records
    assert not {"trace.id", "span.id", "trace.sampled"} & record.keys()


def test_asyncio_tasks_each_log_their_own_trace(tracer: Tracer) -> None:
    async def handle(name: str, ready: asyncio.Event, go: asyncio.Event) -> tuple[str, str]:
        with tracer.start_as_current_span(name) as span:
            ready.set()
            await go.wait()  # both tasks are inside their spans, interleaved
            logging.getLogger("tasks").info(name)
            await asyncio.sleep(0)
            structlog.get_logger("tasks").info(name)
            return ids(span)

    async def main() -> dict[str, tuple[str, str]]:
        go = asyncio.Event()
        ready = [asyncio.Event(), asyncio.Event()]
        tasks = {
            name: asyncio.create_task(handle(name, event, go))
            for name, event in zip(("a", "b"), ready, strict=True)
        }
        for event in ready:
            await event.wait()
        go.set()
        return {name: await task for name, task in tasks.items()}

    with capture_logs() as captured:
        expected = asyncio.run(main())
    records = [r for r in captured if r["log.logger"] == "tasks"]  # not asyncio's own
    assert len(records) == 4
    for record in records:
        assert (record["trace.id"], record["span.id"]) == expected[record["message"]]
    assert expected["a"][0] != expected["b"][0]


def test_threads_started_through_the_helper_carry_the_trace(tracer: Tracer) -> None:
    def work(label: str) -> None:
        logging.getLogger("worker").info(label)
        structlog.get_logger("worker").info(label)

    with capture_logs() as records, tracer.start_as_current_span("request") as span:
        expected = ids(span)
        with logging_ext.ContextThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(work, ["pool-1", "pool-2"]))
        thread = threading.Thread(target=logging_ext.with_context(work), args=("thread",))
        thread.start()
        thread.join()
        with ThreadPoolExecutor(max_workers=2) as plain_pool:
            # The same wrapper submitted many times, running concurrently.
            wrapped = logging_ext.with_context(work)
            list(plain_pool.map(wrapped, ["wrapped-1", "wrapped-2", "wrapped-3"]))
            plain_pool.submit(work, "bare").result()
    by_label: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_label.setdefault(record["message"], []).append(record)
    for label in ("pool-1", "pool-2", "thread", "wrapped-1", "wrapped-2", "wrapped-3"):
        assert len(by_label[label]) == 2
        for record in by_label[label]:
            assert (record["trace.id"], record["span.id"]) == expected, label
            assert record["process.thread.name"] != "MainThread"
    # Without the helper the worker thread has no trace: what the helper is for.
    for record in by_label["bare"]:
        assert "trace.id" not in record


def test_run_in_executor_with_the_helper(tracer: Tracer) -> None:
    def blocking() -> None:
        logging.getLogger("io").info("blocking call")

    async def main() -> tuple[str, str]:
        loop = asyncio.get_running_loop()
        with tracer.start_as_current_span("async-request") as span:
            await loop.run_in_executor(None, logging_ext.with_context(blocking))
            executor = logging_ext.ContextThreadPoolExecutor(max_workers=1)
            loop.set_default_executor(executor)
            await loop.run_in_executor(None, blocking)
            return ids(span)

    with capture_logs() as captured:
        expected = asyncio.run(main())
    records = [r for r in captured if r["log.logger"] == "io"]
    assert [(r["trace.id"], r["span.id"]) for r in records] == [expected, expected]


def test_with_context_does_not_leak_changes_back() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outer")

    def change() -> str:
        var.set("inner")
        return var.get()

    wrapped = logging_ext.with_context(change)
    assert wrapped() == "inner"
    assert var.get() == "outer"
    assert wrapped.__name__ == "change"


def test_queue_handler_formats_later_in_another_thread_with_the_creation_trace(
    tracer: Tracer,
) -> None:
    """QueueHandler + QueueListener: the record is formatted in the listener's thread, after
    the span ended; the stamp taken at creation still says where it was logged."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    collect = Collect()
    collect.setFormatter(logging_ext.ECSFormatter("orders"))
    records_queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records_queue, collect)
    logger = logging.getLogger("queued")
    queue_handler = logging.handlers.QueueHandler(records_queue)
    logger.addHandler(queue_handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    uninstall = logging_ext.install_trace_record_factory()
    try:
        with tracer.start_as_current_span("request") as span:
            expected = ids(span)
            logger.info("queued %s", "message", extra={"order_id": 9})
        listener.start()
        listener.stop()
    finally:
        uninstall()
        logger.removeHandler(queue_handler)
        logger.propagate = True
    (line,) = lines
    record = orjson.loads(line)
    assert (record["trace.id"], record["span.id"]) == expected
    assert record["message"] == "queued message"
    assert record["order_id"] == 9


def test_record_factory_install_is_idempotent_and_reversible() -> None:
    original = logging.getLogRecordFactory()
    uninstall = logging_ext.install_trace_record_factory()
    installed = logging.getLogRecordFactory()
    assert installed is not original
    second = logging_ext.install_trace_record_factory()
    assert logging.getLogRecordFactory() is installed
    second()  # removing the no-op second install changes nothing
    assert logging.getLogRecordFactory() is installed
    uninstall()
    uninstall()
    assert logging.getLogRecordFactory() is original


def test_record_factory_removed_under_a_later_factory_becomes_a_pass_through(
    tracer: Tracer,
) -> None:
    original = logging.getLogRecordFactory()
    uninstall = logging_ext.install_trace_record_factory()
    ours = logging.getLogRecordFactory()

    def later(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = ours(*args, **kwargs)
        record.later = True
        return record

    logging.setLogRecordFactory(later)
    try:
        uninstall()
        assert logging.getLogRecordFactory() is later  # not ripped out from under `later`
        with tracer.start_as_current_span("s"):
            record = logging.getLogger("x").makeRecord("x", 20, "f", 1, "m", (), None)
        assert record.later is True  # type: ignore[attr-defined]
        assert "_logging_ext_trace" not in record.__dict__
    finally:
        logging.setLogRecordFactory(original)
