"""Interleaved micro-timing for benchmarks on a shared, noisy machine.

Each round times every variant once (``number`` calls each), in turn, so load spikes hit
all variants alike. Results give the median and the minimum over rounds; ratios are the
median of per-round ratios and the ratio of the minimums (the least disturbed samples).
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable, Mapping
from typing import Any


def interleaved(
    variants: Mapping[str, Callable[[], object]],
    *,
    number: int = 2000,
    rounds: int = 25,
    setup: Mapping[str, Callable[[], Callable[[], None]]] | None = None,
) -> dict[str, list[float]]:
    """Per-call microseconds of each variant, one sample per round.

    ``setup[name]()`` runs before the variant's timing in each round and returns its undo.
    """
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            undo = setup[name]() if setup and name in setup else None
            try:
                samples[name].append(timeit.timeit(fn, number=number) / number * 1e6)
            finally:
                if undo is not None:
                    undo()
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_us": round(statistics.median(samples), 3),
        "min_us": round(min(samples), 3),
    }


def ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median of per-round ratios."""
    return round(statistics.median(n / d for n, d in zip(numerator, denominator, strict=True)), 3)


def min_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Ratio of the fastest samples: the least disturbed by other load on the machine."""
    return round(min(numerator) / min(denominator), 3)


def difference(minuend: list[float], subtrahend: list[float]) -> float:
    """Median of per-round differences, in microseconds."""
    return round(statistics.median(a - b for a, b in zip(minuend, subtrahend, strict=True)), 3)


def machine_note() -> dict[str, Any]:
    import os

    load1, load5, _ = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_avg_1m": round(load1, 2), "load_avg_5m": round(load5, 2)}
