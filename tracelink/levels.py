"""The one log-level table: names, aliases, and the numbers other producers use.

Every part that reads or writes a level uses this module: ``logging_ext`` (structlog
method names → Python's level names), the shipper (pino numbers, OTLP severity numbers,
Python's numbers → names), the correlate API (rank, "at least", error levels) and the
Kibana objects (error levels).

Names are stored lower-case, as the producer spelled them (``warn`` stays ``warn``,
``warning`` stays ``warning``): both are known here and rank the same, so searches and
comparisons treat them alike without rewriting anyone's records.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ERROR_LEVELS",
    "LEVEL_NAMES",
    "STRUCTLOG_METHOD_LEVELS",
    "level_names_at_least",
    "level_rank",
    "pino_level",
    "severity_number_level",
    "stdlib_level",
]

# Rank of each known name: Python's numbers where Python has the level, the syslog and OTel
# names placed between them. Equal ranks are aliases.
_RANKS: Final = {
    "trace": 5,
    "debug": 10,
    "info": 20,
    "informational": 20,
    "information": 20,
    "notice": 25,
    "warn": 30,
    "warning": 30,
    "error": 40,
    "err": 40,
    "critical": 50,
    "crit": 50,
    "fatal": 50,
    "alert": 55,
    "emergency": 60,
    "emerg": 60,
}
_INFO: Final = _RANKS["info"]

LEVEL_NAMES: Final = tuple(_RANKS)
"""Every level name this table knows (lower case)."""

ERROR_LEVELS: Final = frozenset(name for name, rank in _RANKS.items() if rank >= _RANKS["error"])
"""Names of the levels that count as errors (``error`` and everything above)."""

# structlog's method names that are not Python level names (``log.warn(...)``,
# ``log.exception(...)``, ``log.fatal(...)``, ``log.msg(...)``) → the Python level name.
STRUCTLOG_METHOD_LEVELS: Final = {
    "warn": "warning",
    "exception": "error",
    "fatal": "critical",
    "msg": "info",
}

# pino's default levels (pino's ``levels.values``): trace 10 … fatal 60.
_PINO: Final = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}

# Python's ``logging`` numbers.
_STDLIB: Final = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}

# OTel's SeverityNumber ranges (log data model): 1–4 TRACE, 5–8 DEBUG, 9–12 INFO,
# 13–16 WARN, 17–20 ERROR, 21–24 FATAL. Index = (number - 1) // 4.
_SEVERITY_RANGES: Final = ("trace", "debug", "info", "warn", "error", "fatal")


def level_rank(level: str | None) -> int:
    """Severity of a level name for comparisons; unknown names and ``None`` rank as ``info``."""
    if level is None:
        return _INFO
    return _RANKS.get(level.lower(), _INFO)


def level_names_at_least(level: str) -> list[str]:
    """Every known level name as severe as ``level`` or more, sorted (for a ``terms`` filter).

    Raises ``ValueError`` for a name that is not a level.
    """
    rank = _RANKS.get(level.lower())
    if rank is None:
        raise ValueError(f"unknown level {level!r}; known: {', '.join(LEVEL_NAMES)}")
    return sorted(name for name, other in _RANKS.items() if other >= rank)


def pino_level(number: int) -> str | None:
    """pino's numeric level → its name; ``None`` for a number pino does not define."""
    return _PINO.get(number)


def stdlib_level(number: int) -> str | None:
    """Python's ``logging`` level number → its lower-case name; ``None`` when not standard."""
    return _STDLIB.get(number)


def severity_number_level(number: int) -> str | None:
    """An OTLP ``SeverityNumber`` (1–24) → its range's name; ``None`` for 0 or out of range."""
    if not 1 <= number <= 24:
        return None
    return _SEVERITY_RANGES[(number - 1) // 4]
