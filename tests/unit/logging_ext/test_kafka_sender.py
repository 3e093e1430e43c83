"""Kafka sender pieces that need no server: accounting, loop-back guard, notices, partitions."""

from __future__ import annotations

import asyncio
import dis
import io
import logging
import threading
from contextlib import redirect_stderr

import pytest
from aiokafka.errors import KafkaConnectionError, RecordTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

import logging_ext
from logging_ext._kafka import KafkaSender
from logging_ext._notice import Notice
from logging_ext._trace import TraceStamp, traceparent


def test_notice_is_rate_limited_per_kind() -> None:
    notice = Notice(interval=3600)
    err = io.StringIO()
    with redirect_stderr(err):
        assert notice.warn("dropped", "first")
        assert not notice.warn("dropped", "second")
        assert notice.warn("failed", "other kind")
    assert err.getvalue() == "logging_ext: first\nlogging_ext: other kind\n"


def test_notice_reports_how_many_were_suppressed() -> None:
    notice = Notice(interval=0.0)
    err = io.StringIO()
    notice.interval = 3600
    with redirect_stderr(err):
        notice.warn("k", "a")
        notice.warn("k", "b")
        notice.interval = 0.0
        notice.warn("k", "c")
    assert err.getvalue().splitlines()[-1] == "logging_ext: c (1 similar warnings suppressed)"


def test_a_closed_sender_drops_and_counts_without_starting_a_thread() -> None:
    sender = KafkaSender("127.0.0.1:9", "logs")
    sender.close()
    sender.close()
    with redirect_stderr(io.StringIO()):
        for _ in range(5):
            sender.submit(b"{}", None)
    assert (sender.sent, sender.dropped, sender.failed) == (0, 5, 0)
    assert sender._thread is None


def test_records_from_the_sender_thread_are_ignored() -> None:
    sender = KafkaSender("127.0.0.1:9", "logs")
    sender._thread_ident = threading.get_ident()  # as if this were the sender's thread
    sender.submit(b"{}", None)
    assert sender.queued == 0
    assert sender.dropped == 0
    assert sender._thread is None
    sender._thread_ident = None
    sender.close()


def test_kafka_handler_skips_rendering_on_the_sender_thread() -> None:
    handler = logging_ext.KafkaHandler("127.0.0.1:9", "logs")
    handler.sender._thread_ident = threading.get_ident()
    handler.handle(logging.makeLogRecord({"msg": "from aiokafka, on the sender thread"}))
    assert handler.sender.queued == 0
    handler.sender._thread_ident = None
    handler.close(timeout=0)


@given(st.text(alphabet="0123456789abcdef", min_size=32, max_size=32), st.integers(1, 64))
def test_partitions_match_kafkas_default_partitioner(trace_id: str, count: int) -> None:
    sender = KafkaSender("127.0.0.1:9", "logs")
    sender._partitions = list(range(count))
    expected = DefaultPartitioner()(trace_id.encode(), sender._partitions, sender._partitions)
    assert sender._partition_for(trace_id) == expected
    sender.close()


def test_traceparent_header() -> None:
    assert traceparent(("a" * 32, "b" * 16, True)) == f"00-{'a' * 32}-{'b' * 16}-01"
    assert traceparent(("a" * 32, "b" * 16, False)).endswith("-00")


@pytest.mark.parametrize("servers", ["k1:9092,k2:9092", ["k1:9092", " k2:9092 "]])
def test_bootstrap_lists(servers: str | list[str]) -> None:
    sender = KafkaSender(servers, "logs")
    assert sender.bootstrap_servers == ["k1:9092", "k2:9092"]
    sender.close()


def test_submit_reenters_from_a_signal_handler_and_close_too() -> None:
    sender = KafkaSender("127.0.0.1:9", "logs")
    with sender._lock:  # as if interrupted inside submit()
        sender.close(timeout=0)
        with redirect_stderr(io.StringIO()):
            sender.submit(b"{}", None)
    assert sender.dropped == 1


def test_a_sender_thread_that_cannot_start_drops_and_reports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    sender = KafkaSender("127.0.0.1:9", "logs")
    err = io.StringIO()
    with redirect_stderr(err):
        sender.submit(b"{}", None)
        sender.submit(b"{}", None)
    monkeypatch.undo()
    assert (sender.sent, sender.dropped, sender.failed) == (0, 2, 0)
    assert "cannot start the Kafka sender" in err.getvalue()
    sender.close()


def test_an_oversized_record_is_truncated_to_fit() -> None:
    import orjson

    from logging_ext._kafka import shrink_record

    line = orjson.dumps(
        {"message": "m" * 50_000, "error.stack_trace": "s" * 20_000, "order_id": 7, "ü": "é" * 9}
    )
    shrunk = shrink_record(line, 8_000)
    assert shrunk is not None
    assert len(shrunk) <= 8_000
    record = orjson.loads(shrunk)
    assert record["order_id"] == 7
    assert record["message"].endswith("…[truncated]")
    assert record["tracelink.render_error"].startswith(f"truncated from {len(line)} bytes")
    assert shrink_record(b"not json", 10) is None
    assert shrink_record(orjson.dumps({"n": 1}), 5) is None  # nothing left to cut


@pytest.mark.parametrize(
    "function",
    [
        logging_ext.KafkaHandler.emit,
        KafkaSender.submit,
        KafkaSender._message,
        KafkaSender._send_partition,
    ],
)
def test_the_per_record_path_runs_no_import(function: object) -> None:
    """An ``import`` statement costs a lookup in ``sys.modules`` (and the import lock)
    every time it runs: none on the path every record takes."""
    code = getattr(function, "__code__", None)
    assert code is not None
    assert not [i for i in dis.get_instructions(code) if i.opname == "IMPORT_NAME"]


def test_a_bad_stamp_fails_that_record_only() -> None:
    sender = KafkaSender("127.0.0.1:9", "logs")
    sender._partitions = [0, 1]
    good: tuple[bytes, TraceStamp] = (b"{}", ("4bf92f3577b34da6a3ce929d0e0e4736", "00f0", True))
    with redirect_stderr(io.StringIO()) as err:
        assert sender._message((b"{}", (123, "00f0", True)), 0) is None  # type: ignore[arg-type]
        assert sender._message((b"{}", ("x",)), 0) is None  # type: ignore[arg-type]
        message = sender._message(good, 0)
    assert message is not None
    assert message[1] == b"4bf92f3577b34da6a3ce929d0e0e4736"
    assert sender.failed == 2
    assert "unusable trace stamp" in err.getvalue()
    sender.close()


def _failed_future(error: BaseException) -> asyncio.Future[object]:
    loop = asyncio.new_event_loop()
    try:
        future: asyncio.Future[object] = loop.create_future()
        future.set_exception(error)
        return future
    finally:
        loop.close()


def test_a_batch_kafka_gave_up_on_goes_back_to_the_queue_in_order() -> None:
    """What the producer could not deliver within its request timeout (Kafka unreachable
    longer than that) waits in the queue again, ahead of newer records; not ``failed``."""
    sender = KafkaSender("127.0.0.1:9", "logs", queue_size=4)
    sender._thread = threading.current_thread()  # as if started: submit only queues
    batch: list[tuple[bytes, TraceStamp | None]] = [(b"1", None), (b"2", None)]
    sender._in_flight = 2
    sender._accepted = 2
    sender.submit(b"3", None)
    sender.submit(b"4", None)
    with redirect_stderr(io.StringIO()):
        sender.submit(b"5", None)  # 2 queued + 2 in flight: full
    sender._delivered(batch, _failed_future(KafkaConnectionError("broker gone")))
    assert [line for line, _ in sender._queue] == [b"1", b"2", b"3", b"4"]
    assert (sender.sent, sender.dropped, sender.failed, sender._in_flight) == (0, 1, 0, 0)
    sender._thread = None
    sender.close(timeout=0)


def test_a_batch_kafka_refused_is_failed_and_counted() -> None:
    sender = KafkaSender("127.0.0.1:9", "logs")
    sender._in_flight = 2
    with redirect_stderr(io.StringIO()):
        sender._delivered([(b"1", None), (b"2", None)], _failed_future(RecordTooLargeError()))
    assert (sender.sent, sender.failed, sender.queued, sender._in_flight) == (0, 2, 0, 0)
    sender.close()
