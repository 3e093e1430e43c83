"""configure_logging: what it sets up, what it restores, what it refuses."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import warnings

import orjson
import pytest
import structlog

import logging_ext
from logging_ext.testing import RecordStream, capture_logs, parse_lines


def test_importing_configures_nothing() -> None:
    script = (
        "import logging, structlog\n"
        "root = logging.getLogger(); factory = logging.getLogRecordFactory()\n"
        "import logging_ext, logging_ext.testing\n"
        "assert root.handlers == [] and root.level == logging.WARNING\n"
        "assert logging.getLogRecordFactory() is factory\n"
        "assert not structlog.is_configured()\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_every_stdlib_and_structlog_record_becomes_one_json_line() -> None:
    stream = io.StringIO()
    handle = logging_ext.configure_logging("orders", stream=stream)
    try:
        logging.getLogger("aiokafka.conn").warning("third-party record")
        logging.getLogger("uvicorn.error").info("server record")
        structlog.get_logger("orders").info("structlog event", n=1)
        logging.getLogger("noisy").debug("below the level")
    finally:
        handle.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    records = [orjson.loads(line) for line in lines]
    assert [r["log.logger"] for r in records] == ["aiokafka.conn", "uvicorn.error", "orders"]
    assert all(r["service.name"] == "orders" for r in records)


def test_close_restores_the_previous_configuration_and_is_idempotent() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    handle = logging_ext.configure_logging("x", stream=io.StringIO(), level="DEBUG")
    assert root.level == logging.DEBUG
    assert len(root.handlers) == 1
    assert root.handlers[0] not in before
    handle.close()
    handle.close()
    assert handle.closed
    assert root.handlers == before


def test_configuring_again_replaces_the_previous_setup() -> None:
    first, second = RecordStream(), RecordStream()
    handle_1 = logging_ext.configure_logging("one", stream=first)
    handle_2 = logging_ext.configure_logging("two", stream=second)
    try:
        assert handle_1.closed
        logging.getLogger("x").warning("hello")
        structlog.get_logger().warning("hello")
    finally:
        handle_2.close()
    assert first.records == []
    assert [r["service.name"] for r in second.records] == ["two", "two"]


def test_handle_is_a_context_manager_and_counts_zero_without_kafka() -> None:
    with logging_ext.configure_logging("x", stream=io.StringIO()) as handle:
        assert (handle.sent, handle.dropped, handle.failed) == (0, 0, 0)
        assert handle.kafka is None
        assert handle.flush()
    assert handle.closed


def test_stream_none_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with logging_ext.configure_logging("x", stream=None):
        logging.getLogger("x").warning("nowhere")
    assert capsys.readouterr().out == ""


def test_default_stream_is_stdout_at_call_time(capsys: pytest.CaptureFixture[str]) -> None:
    with logging_ext.configure_logging("x"):
        logging.getLogger("x").warning("to stdout")
    (record,) = parse_lines(capsys.readouterr().out)
    assert record["message"] == "to stdout"


def test_levels_for_root_structlog_and_individual_loggers() -> None:
    with capture_logs(level="WARNING", logger_levels={"chatty": "DEBUG"}) as records:
        logging.getLogger("app").info("filtered")
        structlog.get_logger().info("filtered")
        logging.getLogger("chatty.sub").debug("kept: its logger is at DEBUG")
        structlog.get_logger().warning("kept")
    assert [r["message"] for r in records] == ["kept: its logger is at DEBUG", "kept"]
    assert logging.getLogger("chatty").level == logging.NOTSET  # restored


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"service_name": ""}, "service_name"),
        ({"service_name": "x", "level": "LOUD"}, "invalid log level 'LOUD'"),
        ({"service_name": "x", "logger_levels": {"a": "nope"}}, "logger 'a'"),
        ({"service_name": "x", "stream": object()}, "stream"),
        ({"service_name": "x", "kafka_bootstrap": ""}, "bootstrap"),
        ({"service_name": "x", "kafka_bootstrap": "no-port"}, "host:port"),
        ({"service_name": "x", "kafka_bootstrap": "k:9092", "topic": ""}, "topic"),
        ({"service_name": "x", "kafka_bootstrap": "k:9092", "queue_size": 0}, "queue_size"),
        ({"service_name": "x", "kafka_bootstrap": "k:9092", "flush_timeout": -1}, "flush"),
        (
            {"service_name": "x", "kafka_bootstrap": "k:9092", "producer_config": {"nope": 1}},
            "producer_config",
        ),
        (
            {
                "service_name": "x",
                "kafka_bootstrap": "k:9092",
                "producer_config": {"value_serializer": str},
            },
            "value_serializer",
        ),
    ],
)
def test_bad_arguments_fail_fast_and_change_nothing(kwargs: dict[str, object], match: str) -> None:
    root_handlers = list(logging.getLogger().handlers)
    with pytest.raises(ValueError, match=match):
        logging_ext.configure_logging(**kwargs)  # type: ignore[arg-type]
    assert logging.getLogger().handlers == root_handlers


def test_capture_warnings() -> None:
    with capture_logs(capture_warnings=True) as records, warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("careful", UserWarning, stacklevel=1)
    assert records[0]["log.logger"] == "py.warnings"
    assert "careful" in records[0]["message"]


def test_a_second_close_after_reconfiguration_does_not_undo_the_new_setup() -> None:
    first = logging_ext.configure_logging("one", stream=io.StringIO())
    second_stream = RecordStream()
    second = logging_ext.configure_logging("two", stream=second_stream)
    first.close()  # already closed by the second call: nothing happens
    try:
        logging.getLogger("x").warning("still configured")
    finally:
        second.close()
    assert second_stream.records[0]["service.name"] == "two"


def test_tracelink_processes_log_ecs_json_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    from tracelink import __version__
    from tracelink.logsetup import configure_process_logging

    close = configure_process_logging("tracelink-shipper", level="debug")
    try:
        logging.getLogger("shipper.sink").info("bulk done", extra={"items": 3})
        structlog.get_logger("shipper").debug("debug event")
    finally:
        close()
        close()
    records = parse_lines(capsys.readouterr().out)
    assert [r["message"] for r in records] == ["bulk done", "debug event"]
    assert records[0]["service.name"] == "tracelink-shipper"
    assert records[0]["service.version"] == __version__
    assert records[0]["items"] == 3


def test_the_package_reimports_cleanly() -> None:
    """Reloading every module of the package (as a test runner or a REPL may) configures
    nothing either, and the reloaded package works: a capture sees its record and leaves
    the process as it found it."""
    script = (
        "import importlib, logging, sys, structlog\n"
        "root = logging.getLogger(); factory = logging.getLogRecordFactory()\n"
        "import logging_ext, logging_ext.testing\n"
        "names = sorted(n for n in sys.modules if n.split('.')[0] == 'logging_ext')\n"
        "assert len(names) > 2, names\n"
        "for _ in range(2):\n"
        "    for name in names:\n"
        "        importlib.reload(sys.modules[name])\n"
        "assert root.handlers == [] and root.level == logging.WARNING\n"
        "assert logging.getLogRecordFactory() is factory\n"
        "assert not structlog.is_configured()\n"
        "from logging_ext.testing import capture_logs\n"
        "with capture_logs('again') as records:\n"
        "    logging.getLogger('x').warning('after reload')\n"
        "assert [r['message'] for r in records] == ['after reload'], records\n"
        "assert records[0]['service.name'] == 'again'\n"
        "assert root.handlers == [] and logging.getLogRecordFactory() is factory\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_logging_from_a_signal_handler_while_writing_does_not_deadlock() -> None:
    """In a child process with a deadline: a deadlock fails this test in seconds instead of
    hanging the suite until its global timeout."""
    script = (
        "import logging, logging_ext\n"
        "from logging_ext.testing import RecordStream\n"
        "stream = RecordStream()\n"
        "handle = logging_ext.configure_logging('x', stream=stream)\n"
        "try:\n"
        "    # As if a signal handler ran while this thread was inside the stream write.\n"
        "    with handle._pipeline._lock:\n"
        "        logging.getLogger('x').warning('from a signal handler')\n"
        "finally:\n"
        "    handle.close()\n"
        "assert stream.records[0]['message'] == 'from a signal handler', stream.records\n"
    )
    try:
        subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("logging from a signal handler deadlocked (no answer within 30 s)")
