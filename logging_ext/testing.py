"""Helpers for testing code that logs through ``logging_ext``.

``capture_logs`` configures logging exactly as a service would, but collects the records as
dicts instead of writing them out::

    with capture_logs("orders") as records:
        place_order()
    assert records[-1]["message"] == "order placed"
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from logging_ext._configure import configure_logging

__all__ = ["RecordStream", "capture_logs", "parse_lines"]


class RecordStream(io.TextIOBase):
    """A text stream that parses each JSON line written to it into ``records``."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, Any]] = []
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        data = self._partial + text
        *lines, self._partial = data.split("\n")
        self.records.extend(orjson.loads(line) for line in lines if line)
        return len(text)


def parse_lines(text: str) -> list[dict[str, Any]]:
    """The records of newline-delimited ECS JSON ``text``."""
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


@contextmanager
def capture_logs(
    service_name: str = "test", *, level: str | int = "DEBUG", **options: Any
) -> Iterator[list[dict[str, Any]]]:
    """``configure_logging(service_name, ...)`` into a list of parsed records.

    ``options`` are passed on (``redact_keys``, ``service_version``, ...). The previous
    logging configuration is restored on exit. Every block sees every logger's records,
    module-level structlog loggers too (structlog caches them on first use; they follow
    each new configuration).
    """
    stream = RecordStream()
    handle = configure_logging(service_name, level=level, stream=stream, **options)
    try:
        yield stream.records
    finally:
        handle.close()
