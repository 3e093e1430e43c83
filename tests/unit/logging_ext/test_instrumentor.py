"""Coexistence with opentelemetry-instrumentation-logging's LoggingInstrumentor."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.trace import Tracer

import logging_ext
from logging_ext.testing import RecordStream

IGNORED = {"@timestamp", "event.id"}


@pytest.fixture
def instrumentor() -> Iterator[LoggingInstrumentor]:
    instrumentor = LoggingInstrumentor()
    yield instrumentor
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def _log_three(tracer: Tracer) -> tuple[str, str]:
    logger = logging.getLogger("coexist")
    with tracer.start_as_current_span("op") as span:
        logger.info("in span", extra={"order_id": 1})
        context = span.get_span_context()
    logger.info("outside")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _comparable(records: list[dict[str, Any]], ids: tuple[str, str]) -> list[dict[str, Any]]:
    """The records with the run's own IDs replaced by placeholders (spans differ per run)."""
    placeholders = {ids[0]: "<trace>", ids[1]: "<span>"}
    return [{k: placeholders.get(v, v) for k, v in r.items() if k not in IGNORED} for r in records]


@pytest.mark.parametrize("order", ["instrument-first", "configure-first"])
def test_output_is_identical_with_logging_instrumentor(
    order: str, tracer: Tracer, instrumentor: LoggingInstrumentor
) -> None:
    alone = RecordStream()
    handle = logging_ext.configure_logging("svc", stream=alone)
    try:
        alone_ids = _log_three(tracer)
    finally:
        handle.close()

    both = RecordStream()
    if order == "instrument-first":
        instrumentor.instrument(set_logging_format=True, enable_log_auto_instrumentation=False)
        handle = logging_ext.configure_logging("svc", stream=both)
    else:
        handle = logging_ext.configure_logging("svc", stream=both)
        instrumentor.instrument(set_logging_format=True, enable_log_auto_instrumentation=False)
    try:
        both_ids = _log_three(tracer)
    finally:
        instrumentor.uninstrument()
        handle.close()

    assert _comparable(both.records, both_ids) == _comparable(alone.records, alone_ids)
    assert (both.records[0]["trace.id"], both.records[0]["span.id"]) == both_ids
    for record in both.records:
        assert not [key for key in record if key.startswith("otel")]
    # The traces line up record by record (the spans differ between the two runs).
    assert ["trace.id" in r for r in both.records] == [True, False, False]


def test_formatter_alone_uses_logging_instrumentor_stamp(
    tracer: Tracer, instrumentor: LoggingInstrumentor
) -> None:
    """Wiring only the formatter under LoggingInstrumentor: its creation-time stamp is used."""
    instrumentor.instrument(inject_trace_context=True, enable_log_auto_instrumentation=False)
    try:
        logger = logging.getLogger("instrumented")
        with tracer.start_as_current_span("op") as span:
            record = logger.makeRecord(logger.name, logging.INFO, "f", 1, "m", (), None)
    finally:
        instrumentor.uninstrument()
    formatted = logging_ext.ECSFormatter("svc").format(record)
    assert format(span.get_span_context().trace_id, "032x") in formatted
    assert "otelTraceID" not in formatted
