"""logging_ext rendering speed, each against a baseline measured in the same run.

1. Stamping overhead: the same chain and renderer with and without the trace stamp, inside
   an active span (structlog events and stdlib records), next to the naive stamp
   (``get_current_span().get_span_context()`` + hex formatting) in the same position.
2. stdlib: a record (one structured extra) stamped at creation and rendered to an ECS JSON
   line, vs opentelemetry-instrumentation-logging's LoggingInstrumentor (trace injection on)
   + python-json-logger's JsonFormatter; also the whole ``logger.info`` call for context.
3. structlog: ``configure_logging``'s structlog path vs structlog's documented fast
   configuration (filtering bound logger, cached, BytesLogger, orjson) plus the trace
   processor from structlog's OpenTelemetry recipe.

Run: ``.venv/bin/python bench/bench_logging_ext.py`` — prints one JSON object.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import structlog
from opentelemetry import trace
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from pythonjsonlogger.json import JsonFormatter
from structlog.contextvars import merge_contextvars
from structlog.typing import EventDict

import logging_ext
from bench._timing import difference, interleaved, machine_note, min_ratio, ratio, summary
from logging_ext._render import ECSRenderer
from logging_ext._trace import current_trace

ROUNDS = 40
NUMBER = 1000


class NullText(io.TextIOBase):
    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


class NullBytes:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def naive_trace(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """What most services write: look the span up and format its IDs on every record."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict["trace.id"] = format(ctx.trace_id, "032x")
        event_dict["span.id"] = format(ctx.span_id, "016x")
        event_dict["trace.sampled"] = ctx.trace_flags.sampled
    return event_dict


def structlog_recipe_trace(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """The trace processor of structlog's OpenTelemetry recipe (docs: Frameworks)."""
    span = trace.get_current_span()
    if not span.is_recording():
        event_dict["span"] = None
        return event_dict
    ctx = span.get_span_context()
    parent = getattr(span, "parent", None)
    event_dict["span"] = {
        "span_id": format(ctx.span_id, "016x"),
        "trace_id": format(ctx.trace_id, "032x"),
        "parent_span_id": None if not parent else format(parent.span_id, "016x"),
    }
    return event_dict


def _bound(processors: list[Any]) -> Any:
    return structlog.wrap_logger(
        structlog.BytesLogger(NullBytes()),  # type: ignore[arg-type]
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    ).bind()


def _our_factory() -> Callable[..., logging.LogRecord]:
    """logging_ext's stamping factory, left active but not installed (setup installs it)."""
    previous = logging.getLogRecordFactory()
    logging_ext.install_trace_record_factory()
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(previous)
    return factory


def _factory_installer(
    factory: Callable[..., logging.LogRecord],
) -> Callable[[], Callable[[], None]]:
    def install() -> Callable[[], None]:
        previous = logging.getLogRecordFactory()
        logging.setLogRecordFactory(factory)
        return lambda: logging.setLogRecordFactory(previous)

    return install


def stamping() -> dict[str, Any]:
    renderer = ECSRenderer("bench", as_bytes=True)
    redact = logging_ext.RedactSecrets()
    plain = _bound([merge_contextvars, redact, renderer])
    ours = _bound([merge_contextvars, logging_ext.add_trace_context, redact, renderer])
    naive = _bound([merge_contextvars, naive_trace, redact, renderer])
    samples = interleaved(
        {
            "unstamped": lambda: plain.info("order placed", order_id=42),
            "logging_ext": lambda: ours.info("order placed", order_id=42),
            "naive": lambda: naive.info("order placed", order_id=42),
        },
        number=NUMBER,
        rounds=ROUNDS,
    )

    # stdlib: the record factory stamps at creation; the formatter then reads the stamp.
    logger = logging.getLogger("bench.stamping")
    stamping_factory = _our_factory()
    plain_formatter = logging_ext.ECSFormatter(
        chain=[merge_contextvars, redact, ECSRenderer("bench")]
    )
    stamped_formatter = logging_ext.ECSFormatter(
        chain=[merge_contextvars, logging_ext.add_trace_context, redact, ECSRenderer("bench")]
    )

    def make() -> logging.LogRecord:
        return logger.makeRecord(
            logger.name, logging.INFO, __file__, 1, "order placed", (), None, extra={"order_id": 42}
        )

    std = interleaved(
        {
            "unstamped": lambda: plain_formatter.render(make()),
            "logging_ext": lambda: stamped_formatter.render(make()),
        },
        number=NUMBER,
        rounds=ROUNDS,
        setup={"logging_ext": _factory_installer(stamping_factory)},
    )

    def naive_lookup() -> object:
        ctx = trace.get_current_span().get_span_context()
        return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"), ctx.trace_flags.sampled

    lookups = interleaved(
        {"naive": naive_lookup, "logging_ext": current_trace}, number=NUMBER * 5, rounds=ROUNDS
    )
    return {
        "lookup_alone": {
            "naive": summary(lookups["naive"]),
            "logging_ext": summary(lookups["logging_ext"]),
        },
        "structlog": {
            "unstamped": summary(samples["unstamped"]),
            "stamped": summary(samples["logging_ext"]),
            "naive_stamped": summary(samples["naive"]),
            "overhead_us": difference(samples["logging_ext"], samples["unstamped"]),
            "naive_overhead_us": difference(samples["naive"], samples["unstamped"]),
            "overhead_of_minimums_us": round(
                min(samples["logging_ext"]) - min(samples["unstamped"]), 3
            ),
            "naive_overhead_of_minimums_us": round(
                min(samples["naive"]) - min(samples["unstamped"]), 3
            ),
        },
        "stdlib": {
            "unstamped": summary(std["unstamped"]),
            "stamped": summary(std["logging_ext"]),
            "overhead_us": difference(std["logging_ext"], std["unstamped"]),
            "overhead_of_minimums_us": round(min(std["logging_ext"]) - min(std["unstamped"]), 3),
        },
        "target_overhead_us": 0.7,
    }


def stdlib_render() -> dict[str, Any]:
    logger = logging.getLogger("bench.render")
    logger.propagate = False
    logger.setLevel(logging.INFO)

    ours_factory = _our_factory()
    instrumentor = LoggingInstrumentor()
    instrumentor.instrument(inject_trace_context=True, enable_log_auto_instrumentation=False)
    otel_factory = logging.getLogRecordFactory()
    instrumentor.uninstrument()

    ecs = logging_ext.ECSFormatter("bench")
    json_logger = JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")

    def make() -> logging.LogRecord:
        return logger.makeRecord(
            logger.name, logging.INFO, __file__, 1, "order placed", (), None, extra={"order_id": 42}
        )

    setup = {
        "logging_ext": _factory_installer(ours_factory),
        "baseline": _factory_installer(otel_factory),
    }
    rendered = interleaved(
        {
            "record_only": make,
            "logging_ext": lambda: ecs.format(make()),
            "baseline": lambda: json_logger.format(make()),
        },
        number=NUMBER,
        rounds=ROUNDS,
        setup=setup,
    )
    record_ours = _with_factory(ours_factory, make)
    record_base = _with_factory(otel_factory, make)
    floor = _hand_written_floor(ecs)
    format_only = interleaved(
        {
            "logging_ext": lambda: ecs.format(record_ours),
            "baseline": lambda: json_logger.format(record_base),
            "floor": lambda: floor(record_ours),
        },
        number=NUMBER,
        rounds=ROUNDS,
    )

    # The whole logger.info call, handler and all, for context: stdlib's own machinery
    # (caller lookup, LogRecord, handler dispatch) is the same for both and dominates.
    handle = logging_ext.configure_logging("bench", stream=NullText())
    ours_logger = logging.getLogger("bench.e2e.ours")
    base_logger = logging.getLogger("bench.e2e.base")
    base_logger.propagate = False
    base_handler = logging.StreamHandler(NullText())
    base_handler.setFormatter(json_logger)
    base_logger.addHandler(base_handler)
    configured_factory = logging.getLogRecordFactory()
    e2e = interleaved(
        {
            "logging_ext": lambda: ours_logger.info("order placed", extra={"order_id": 42}),
            "baseline": lambda: base_logger.info("order placed", extra={"order_id": 42}),
        },
        number=NUMBER,
        rounds=ROUNDS,
        setup={
            "logging_ext": _factory_installer(configured_factory),
            "baseline": _factory_installer(otel_factory),
        },
    )
    handle.close()
    sample_ours = ecs.format(record_ours)
    sample_base = json_logger.format(record_base)
    # What each adds to a record's life: creating it through its factory (stamping) and
    # rendering it, minus creating a plain record, which both pay alike.
    plain = min(rendered["record_only"])
    ours_added = min(rendered["logging_ext"]) - plain
    base_added = min(rendered["baseline"]) - plain
    return {
        "stamp_and_render": {
            "logging_ext_us": round(ours_added, 3),
            "baseline_us": round(base_added, 3),
            "speedup": round(base_added / ours_added, 3),
            "method": "minimum over rounds of (create + render) minus plain record creation",
        },
        "create_and_render": {
            "logging_ext": summary(rendered["logging_ext"]),
            "baseline": summary(rendered["baseline"]),
            "record_only": summary(rendered["record_only"]),
            "speedup": ratio(rendered["baseline"], rendered["logging_ext"]),
            "speedup_of_minimums": min_ratio(rendered["baseline"], rendered["logging_ext"]),
        },
        "render_only": {
            "logging_ext": summary(format_only["logging_ext"]),
            "baseline": summary(format_only["baseline"]),
            "hand_written_floor": summary(format_only["floor"]),
            "floor_speedup_of_minimums": min_ratio(format_only["baseline"], format_only["floor"]),
            "speedup": ratio(format_only["baseline"], format_only["logging_ext"]),
            "speedup_of_minimums": min_ratio(format_only["baseline"], format_only["logging_ext"]),
        },
        "logger_info_end_to_end": {
            "logging_ext": summary(e2e["logging_ext"]),
            "baseline": summary(e2e["baseline"]),
            "speedup": ratio(e2e["baseline"], e2e["logging_ext"]),
            "speedup_of_minimums": min_ratio(e2e["baseline"], e2e["logging_ext"]),
        },
        "target_speedup": 3.0,
        "sample_logging_ext": json.loads(sample_ours),
        "sample_baseline": json.loads(sample_base),
    }


def _hand_written_floor(ecs: logging_ext.ECSFormatter) -> Callable[[logging.LogRecord], str]:
    """The same line built by hand for this one record shape: no extras detection, no
    redaction, no fallbacks, no contextvars. What any Python renderer costs at least."""
    from logging_ext._ids import uuid7_at

    renderer = ecs.renderer
    static = renderer._static

    def render(record: logging.LogRecord) -> str:
        stamp = record.__dict__["_logging_ext_trace"]
        micros = round(record.created * 1_000_000)
        ms, us = divmod(micros, 1000)
        cached = renderer._millisecond
        text = cached[1] if cached[0] == ms else renderer._new_millisecond(ms)
        out = {
            "@timestamp": f"{text}{us:03d}Z",
            "log.level": record.levelname.lower(),
            "message": record.msg,
            "log.logger": record.name,
            "trace.id": stamp[0],
            "span.id": stamp[1],
            "trace.sampled": stamp[2],
            "event.id": uuid7_at(micros // 1000),
            **static,
            "process.pid": record.process,
            "process.thread.name": record.threadName,
            "order_id": record.__dict__["order_id"],
        }
        return orjson.dumps(out).decode()

    return render


def _with_factory(
    factory: Callable[..., logging.LogRecord], make: Callable[[], logging.LogRecord]
) -> logging.LogRecord:
    undo = _factory_installer(factory)()
    try:
        return make()
    finally:
        undo()


def structlog_path() -> dict[str, Any]:
    structlog.reset_defaults()
    structlog.configure(
        cache_logger_on_first_use=True,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        processors=[
            merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog_recipe_trace,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=structlog.BytesLoggerFactory(NullBytes()),  # type: ignore[arg-type]
    )
    baseline = structlog.get_logger("bench")
    baseline.info("warm up")
    handle = logging_ext.configure_logging("bench", stream=NullText())
    ours = structlog.get_logger("bench")
    ours.info("warm up")
    samples = interleaved(
        {
            "logging_ext": lambda: ours.info("order placed", order_id=42),
            "baseline": lambda: baseline.info("order placed", order_id=42),
        },
        number=NUMBER,
        rounds=ROUNDS,
    )
    handle.close()
    structlog.reset_defaults()
    return {
        "logging_ext": summary(samples["logging_ext"]),
        "baseline": summary(samples["baseline"]),
        "speedup": ratio(samples["baseline"], samples["logging_ext"]),
        "speedup_of_minimums": min_ratio(samples["baseline"], samples["logging_ext"]),
        "target_speedup": 1.0,
    }


def main() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("bench")
    started = time.time()
    with tracer.start_as_current_span("bench"):
        results = {
            "benchmark": "logging_ext rendering",
            "python": sys.version.split()[0],
            "machine_before": machine_note(),
            "stamping": stamping(),
            "stdlib": stdlib_render(),
            "structlog": structlog_path(),
            "machine_after": machine_note(),
            "rounds": ROUNDS,
            "calls_per_round": NUMBER,
            "seconds": round(time.time() - started, 1),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
