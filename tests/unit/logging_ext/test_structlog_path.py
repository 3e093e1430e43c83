"""structlog through configure_logging: bad %-arguments never raise, and loggers that
structlog cached on first use follow every later configuration (and close())."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import structlog

import logging_ext
from logging_ext.testing import capture_logs, parse_lines

# Module-level, like a service's: structlog caches what it assembles on first use.
module_logger = structlog.get_logger("orders.module")


def test_bad_percent_arguments_are_a_render_error_not_a_type_error() -> None:
    with capture_logs("orders") as records:
        log = structlog.get_logger("orders")
        log.info("order %s %s", 1)  # noqa: PLE1206 - one argument short, on purpose
        log.warning("order %d", "x")  # wrong type
        log.log(logging.ERROR, "order %s %s", 1)
        log.info("order %(id)s", {"other": 1})  # mapping without the key
        log.info("order %s", 7)  # well-formed still interpolates
        logging.getLogger("orders.std").info("order %s %s", 1)  # noqa: PLE1206 - stdlib, to compare
    by_level = [(r["log.level"], r["message"]) for r in records]
    assert by_level == [
        ("info", "order %s %s (1,)"),
        ("warning", "order %d ('x',)"),
        ("error", "order %s %s (1,)"),
        ("info", "order %(id)s ({'other': 1},)"),
        ("info", "order 7"),
        ("info", "order %s %s (1,)"),
    ]
    errors = [r.get("tracelink.render_error") for r in records]
    assert errors[0] == errors[2] == errors[5]  # the same words as the stdlib path
    assert errors[0] is not None
    assert errors[0].startswith("message formatting failed: TypeError: not enough arguments")
    assert errors[1] is not None
    assert errors[1].startswith("message formatting failed: TypeError")
    assert errors[3] == "message formatting failed: KeyError: 'id'"
    assert errors[4] is None


def test_bad_percent_arguments_in_async_methods_do_not_raise() -> None:
    async def main() -> None:
        log = structlog.get_logger("orders.async")
        await log.ainfo("order %s %s", 1)
        await log.alog(logging.WARNING, "order %s %s", 2)
        await log.ainfo("order %s", 3)

    with capture_logs("orders") as records:
        asyncio.run(main())
    records = [r for r in records if r["log.logger"] == "orders.async"]  # not asyncio's
    assert [r["message"] for r in records] == ["order %s %s (1,)", "order %s %s (2,)", "order 3"]
    assert [r["log.level"] for r in records] == ["info", "warning", "info"]


def test_unusual_numeric_levels_do_not_raise() -> None:
    with capture_logs("orders", level="DEBUG") as records:
        structlog.get_logger("orders").log(25, "between info and warning")
        structlog.get_logger("orders").log(5, "below debug: filtered")
    assert [(r["log.level"], r["message"]) for r in records] == [
        ("info", "between info and warning")
    ]


def test_capture_logs_sees_a_cached_module_logger_in_every_block() -> None:
    for service in ("first", "second", "third"):
        with capture_logs(service) as records:
            module_logger.info("placed", n=service)
        assert [(r["service.name"], r["n"]) for r in records] == [(service, service)]


def test_a_cached_logger_follows_reconfiguration_level_chain_and_sink() -> None:
    log = structlog.get_logger("orders.cached")
    bound = None
    first, second = io.StringIO(), io.StringIO()
    handle = logging_ext.configure_logging("one", stream=first, level="WARNING")
    try:
        log.warning("cached under one")
        log.info("below one's level")
        bound = log.bind(request="r-1")  # a derived logger, kept by the application
        bound.warning("bound under one")
        handle = logging_ext.configure_logging(
            "two", stream=second, level="DEBUG", redact_keys=["request"]
        )
        log.debug("debug under two")
        bound.info("bound under two")
    finally:
        handle.close()
    one, two = parse_lines(first.getvalue()), parse_lines(second.getvalue())
    assert [(r["service.name"], r["message"]) for r in one] == [
        ("one", "cached under one"),
        ("one", "bound under one"),
    ]
    assert [(r["service.name"], r["message"]) for r in two] == [
        ("two", "debug under two"),
        ("two", "bound under two"),
    ]
    assert one[1]["request"] == "r-1"
    assert two[1]["request"] != "r-1"  # two's redaction applies: its chain, not one's
    assert two[1]["log.logger"] == "orders.cached"


def test_after_close_a_cached_logger_logs_through_the_restored_configuration() -> None:
    theirs = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.KeyValueRenderer(key_order=["event"])],
        logger_factory=structlog.PrintLoggerFactory(theirs),
        cache_logger_on_first_use=False,
    )
    ours = io.StringIO()
    try:
        log = structlog.get_logger("orders.closing", user="u-1")  # assembled on first use
        with logging_ext.configure_logging("orders", stream=ours):
            log.info("while configured")
        log.info("after close")
    finally:
        structlog.reset_defaults()
    assert [r["message"] for r in parse_lines(ours.getvalue())] == ["while configured"]
    assert theirs.getvalue() == "event='after close' user='u-1'\n"


def test_is_enabled_for_follows_the_current_level() -> None:
    log: Any = structlog.get_logger("orders.levels")
    with capture_logs("orders", level="WARNING"):
        assert log.is_enabled_for(logging.WARNING)
        assert not log.is_enabled_for(logging.INFO)
        assert log.get_effective_level() == logging.WARNING
    with capture_logs("orders", level="DEBUG"):
        assert log.is_enabled_for(logging.DEBUG)
