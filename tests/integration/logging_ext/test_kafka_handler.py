"""The Kafka handler against a real Kafka wire server (the stand-in unless told otherwise)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
import structlog
from structlog.typing import EventDict

import logging_ext
from devstack.standins import KafkaStandin, free_port
from logging_ext._render import ECSRenderer
from logging_ext.testing import RecordStream
from tests.support.logs import consume, make_tracer_provider


def test_records_arrive_with_trace_key_headers_and_unique_event_ids(
    kafka_bootstrap: str, topic: str
) -> None:
    tracer = make_tracer_provider()[0].get_tracer("tests")
    stream = RecordStream()
    handle = logging_ext.configure_logging(
        "orders", kafka_bootstrap=kafka_bootstrap, topic=topic, stream=stream
    )
    try:
        with tracer.start_as_current_span("checkout") as span:
            for i in range(10):
                logging.getLogger("orders.api").info("step %d", i, extra={"step": i})
                structlog.get_logger("orders.api").info("event", step=i)
        for i in range(5):
            logging.getLogger("orders.jobs").info("no trace %d", i)
    finally:
        handle.close()
    assert (handle.sent, handle.dropped, handle.failed) == (25, 0, 0)

    records = consume(kafka_bootstrap, topic, expected=25)
    assert len(records) == 25
    ids = [r.value["event.id"] for r in records]
    assert len(set(ids)) == 25
    # Each message is exactly the line written to the stream.
    by_id = {r["event.id"]: r for r in stream.records}
    assert all(r.value == by_id[r.value["event.id"]] for r in records)

    trace_id = format(span.get_span_context().trace_id, "032x")
    span_id = format(span.get_span_context().span_id, "016x")
    traced = [r for r in records if "trace.id" in r.value]
    untraced = [r for r in records if "trace.id" not in r.value]
    assert len(traced) == 20
    assert len(untraced) == 5
    for record in traced:
        assert record.key == trace_id.encode()
        assert record.headers["traceparent"] == f"00-{trace_id}-{span_id}-01".encode()
        assert record.headers["content-type"] == b"application/json"
    assert len({r.partition for r in traced}) == 1  # all logs of a trace: one partition
    for record in untraced:
        assert record.key is None
        assert "traceparent" not in record.headers
        assert record.headers["content-type"] == b"application/json"


def test_kafka_handler_wired_by_hand(kafka_bootstrap: str, topic: str) -> None:
    tracer = make_tracer_provider(sampled=False)[0].get_tracer("tests")
    handler = logging_ext.KafkaHandler(
        kafka_bootstrap, topic, formatter=logging_ext.ECSFormatter("billing")
    )
    logger = logging.getLogger("billing.self-wired")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    uninstall = logging_ext.install_trace_record_factory()
    try:
        with tracer.start_as_current_span("unsampled") as span:
            for i in range(10):
                logger.info("invoice %d", i)
        assert handler.drain(timeout=60)
        assert (handler.sent, handler.dropped, handler.failed) == (10, 0, 0)
    finally:
        uninstall()
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
        handler.close()
    records = consume(kafka_bootstrap, topic, expected=10)
    assert len(records) == 10
    trace_id = format(span.get_span_context().trace_id, "032x")
    for record in records:
        assert record.value["service.name"] == "billing"
        assert record.value["trace.sampled"] is False
        assert record.headers["traceparent"].endswith(b"-00")
        assert record.key == trace_id.encode()


def test_unreachable_kafka_drops_and_counts_and_never_blocks(
    capfd: pytest.CaptureFixture[str],
) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"  # nothing listens there
    handle = logging_ext.configure_logging(
        "orders", kafka_bootstrap=bootstrap, stream=None, queue_size=50
    )
    slowest = 0.0
    try:
        for i in range(500):
            started = time.perf_counter()
            logging.getLogger("orders").info("record %d", i)
            slowest = max(slowest, time.perf_counter() - started)
        # Nothing can be sent: the queue holds 50, every other record was dropped and counted.
        assert handle.kafka is not None
        assert handle.kafka.queued == 50
        assert handle.dropped == 450
        assert handle.sent == 0
        assert not handle.flush(timeout=0.2)  # nothing can be delivered: says so, in time
    finally:
        handle.close(timeout=1.0)
    assert (handle.sent, handle.dropped, handle.failed) == (0, 500, 0)
    # Generous bound for a loaded machine: a blocked call would take seconds.
    assert slowest < 0.5
    err = capfd.readouterr().err
    assert "unreachable" in err
    # Rate-limited: one line about drops, not 450.
    assert err.count("dropping log records") == 1


def test_an_oversized_record_arrives_truncated(kafka_bootstrap: str, topic: str) -> None:
    handle = logging_ext.configure_logging(
        "orders",
        kafka_bootstrap=kafka_bootstrap,
        topic=topic,
        stream=None,
        producer_config={"max_request_size": 8192},
    )
    try:
        logging.getLogger("orders").info("huge payload", extra={"payload": "x" * 100_000})
        logging.getLogger("orders").info("small")
    finally:
        handle.close()
    assert (handle.sent, handle.dropped, handle.failed) == (2, 0, 0)
    records = {r.value["message"]: r.value for r in consume(kafka_bootstrap, topic, expected=2)}
    assert records["huge payload"]["payload"].endswith("…[truncated]")
    assert "truncated" in records["huge payload"]["tracelink.render_error"]
    assert "tracelink.render_error" not in records["small"]


def test_close_flushes_what_is_queued(kafka_bootstrap: str, topic: str) -> None:
    handle = logging_ext.configure_logging(
        "orders", kafka_bootstrap=kafka_bootstrap, topic=topic, stream=None
    )
    try:
        for i in range(2000):
            logging.getLogger("orders").info("record %d", i)
    finally:
        handle.close()  # right away: the queue is still full of records
    assert (handle.sent, handle.dropped, handle.failed) == (2000, 0, 0)
    records = consume(kafka_bootstrap, topic, expected=2000)
    assert len({r.value["event.id"] for r in records}) == len(records) == 2000
    # close() also restored the logging configuration: later records never reach Kafka.
    logging.getLogger("orders").warning("after close")
    assert (handle.sent, handle.dropped) == (2000, 0)


def test_records_queued_while_kafka_is_down_are_sent_when_it_comes_up(
    tmp_path: Path,
) -> None:
    port = free_port()
    handle = logging_ext.configure_logging(
        "orders", kafka_bootstrap=f"127.0.0.1:{port}", topic="late-logs", stream=None
    )
    standin = KafkaStandin(port=port, data_dir=tmp_path)
    try:
        for i in range(20):
            logging.getLogger("orders").info("while down %d", i)
        time.sleep(0.5)
        standin.start()
        assert handle.flush(timeout=90), (handle.sent, handle.dropped, handle.failed)
        handle.close()
        assert (handle.sent, handle.dropped, handle.failed) == (20, 0, 0)
        records = consume(standin.bootstrap, "late-logs", expected=20)
        assert sorted(r.value["message"] for r in records) == sorted(
            f"while down {i}" for i in range(20)
        )
    finally:
        handle.close()
        standin.stop()


def test_the_producers_own_logs_never_loop_back(kafka_bootstrap: str, topic: str) -> None:
    stream = RecordStream()
    handle = logging_ext.configure_logging(
        "orders",
        kafka_bootstrap=kafka_bootstrap,
        topic=topic,
        stream=stream,
        level="DEBUG",
        logger_levels={"aiokafka": "DEBUG"},
    )
    try:
        for i in range(3):
            logging.getLogger("orders").info("app %d", i)
        assert handle.flush(timeout=60)
    finally:
        handle.close()
    records = consume(kafka_bootstrap, topic, expected=3)
    assert [r.value["log.logger"] for r in records] == ["orders"] * 3
    # aiokafka did log (to the stream) while sending: those records stayed out of Kafka.
    assert any(r["log.logger"].startswith("aiokafka") for r in stream.records)
    assert handle.sent == 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_gets_a_fresh_sender(kafka_bootstrap: str, topic: str) -> None:
    handle = logging_ext.configure_logging(
        "orders", kafka_bootstrap=kafka_bootstrap, topic=topic, stream=None
    )
    try:
        for i in range(5):
            logging.getLogger("parent").info("before fork %d", i)
        assert handle.flush(timeout=60)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                for i in range(7):
                    logging.getLogger("child").info("in child %d", i)
                handle.close(timeout=30)
                code = 0 if (handle.sent, handle.dropped, handle.failed) == (7, 0, 0) else 3
            finally:
                os._exit(code)
        for i in range(3):
            logging.getLogger("parent").info("after fork %d", i)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        handle.close()
    assert (handle.sent, handle.dropped, handle.failed) == (8, 0, 0)
    records = consume(kafka_bootstrap, topic, expected=15)
    assert len({r.value["event.id"] for r in records}) == len(records) == 15
    pids = Counter(r.value["process.pid"] for r in records)
    assert pids == {os.getpid(): 8, pid: 7}


def test_interpreter_exit_flushes_without_close(kafka_bootstrap: str, topic: str) -> None:
    script = textwrap.dedent(
        f"""
        import logging, logging_ext
        logging_ext.configure_logging(
            "exiting", kafka_bootstrap={kafka_bootstrap!r}, topic={topic!r}, stream=None
        )
        for i in range(300):
            logging.getLogger("exiting").info("record %d", i)
        """
    )
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[3],
    )
    records = consume(kafka_bootstrap, topic, expected=300)
    assert len({r.value["event.id"] for r in records}) == len(records) == 300


def _foreign_trace(logger: object, method_name: str, event_dict: EventDict) -> EventDict:
    """A custom chain step that writes a trace of its own, with a numeric trace ID."""
    if event_dict.get("foreign"):
        event_dict["trace.id"] = 0x4BF92F3577B34DA6A3CE929D0E0E4736
        event_dict["span.id"] = "00f067aa0ba902b7"
        event_dict["trace.sampled"] = True
    return event_dict


def test_a_record_with_a_bad_stamp_costs_that_record_not_the_sender(
    kafka_bootstrap: str, topic: str, capfd: pytest.CaptureFixture[str]
) -> None:
    handler = logging_ext.KafkaHandler(
        kafka_bootstrap,
        topic,
        formatter=logging_ext.ECSFormatter(chain=[_foreign_trace, ECSRenderer("billing")]),
    )
    logger = logging.getLogger("billing.custom-chain")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("before")
        assert handler.drain(timeout=60)
        logger.info("bad stamp", extra={"foreign": True})
        for i in range(5):
            logger.info("after %d", i)
        assert handler.drain(timeout=60)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
    assert (handler.sent, handler.dropped, handler.failed) == (6, 0, 1)
    assert not handler.sender.closed or handler.sender._finalized  # closed by close() only
    records = consume(kafka_bootstrap, topic, expected=6)
    assert sorted(r.value["message"] for r in records) == sorted(
        ["before", *(f"after {i}" for i in range(5))]
    )
    assert "unusable trace stamp" in capfd.readouterr().err
