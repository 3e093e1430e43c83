"""The one level table: names, aliases, and other producers' numbers."""

from __future__ import annotations

import pytest

from tracelink.levels import (
    ERROR_LEVELS,
    STRUCTLOG_METHOD_LEVELS,
    level_names_at_least,
    level_rank,
    pino_level,
    severity_number_level,
    stdlib_level,
)


def test_aliases_rank_alike() -> None:
    assert level_rank("warn") == level_rank("WARNING") == 30
    assert level_rank("err") == level_rank("error") < level_rank("fatal") == level_rank("crit")
    assert level_rank(None) == level_rank("chatty") == level_rank("info")
    assert {"error", "err", "critical", "crit", "fatal", "alert", "emerg"} <= ERROR_LEVELS
    assert "warn" not in ERROR_LEVELS
    assert "warn" in level_names_at_least("WARNING")
    with pytest.raises(ValueError, match="unknown level"):
        level_names_at_least("loud")


@pytest.mark.parametrize(
    ("number", "name"),
    [(10, "trace"), (20, "debug"), (30, "info"), (40, "warn"), (50, "error"), (60, "fatal")],
)
def test_pino_levels(number: int, name: str) -> None:
    assert pino_level(number) == name


def test_numbers_outside_the_tables() -> None:
    assert pino_level(35) is None
    assert stdlib_level(30) == "warning"
    assert stdlib_level(35) is None
    assert STRUCTLOG_METHOD_LEVELS["fatal"] == "critical"


@pytest.mark.parametrize(
    ("number", "name"),
    [
        (0, None),
        (1, "trace"),
        (4, "trace"),
        (5, "debug"),
        (9, "info"),
        (12, "info"),
        (13, "warn"),
        (16, "warn"),
        (17, "error"),
        (20, "error"),
        (21, "fatal"),
        (24, "fatal"),
        (25, None),
    ],
)
def test_severity_number_ranges(number: int, name: str | None) -> None:
    assert severity_number_level(number) == name


def test_kibanas_error_search_names_every_error_level() -> None:
    """pino's ``fatal``, syslog's ``err`` and ``crit`` count as errors in Kibana too."""
    from kibana.objects import render_saved_objects, to_ndjson

    text = to_ndjson(render_saved_objects())
    for name in ERROR_LEVELS:
        assert f" or {name}" in text or f"({name} or" in text
