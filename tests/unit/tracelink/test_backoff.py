"""tracelink.backoff: the one capped, equal-jitter exponential backoff."""

from __future__ import annotations

import ast
import itertools
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tracelink.backoff import Backoff, backoff_delay

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("initial", "cap", "multiplier"), [(0.1, 2.0, 2.0), (0.25, 30.0, 1.5)])
def test_every_delay_is_within_half_to_all_of_its_capped_nominal(
    initial: float, cap: float, multiplier: float
) -> None:
    rng = random.Random(7)
    for attempt in range(40):
        nominal = min(cap, initial * multiplier**attempt)
        for _ in range(50):
            delay = backoff_delay(attempt, initial, cap, multiplier=multiplier, rng=rng)
            assert nominal / 2 <= delay <= nominal


def test_the_first_delay_is_around_initial_and_the_cap_is_reached() -> None:
    backoff = Backoff(0.5, 10.0, rng=random.Random(1))
    assert 0.25 <= backoff.delay(0) <= 0.5
    # 0.5 · 2^5 = 16 > 10: from attempt 5 on the nominal delay is the cap.
    assert all(5.0 <= backoff.delay(n) <= 10.0 for n in range(5, 200))


class _Edge(random.Random):
    """Draws the lowest or the highest value of every range: the bounds themselves."""

    def __init__(self, top: bool) -> None:
        super().__init__(0)
        self.top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self.top else a


def test_the_bounds_never_decrease_and_never_exceed_the_cap() -> None:
    for multiplier in (1.5, 2.0, 3.0):
        for top in (True, False):
            rng = _Edge(top)
            bounds = [backoff_delay(n, 0.1, 3.0, multiplier=multiplier, rng=rng) for n in range(40)]
            assert bounds == sorted(bounds)
            assert bounds[-1] == (3.0 if top else 1.5)
            assert all(b <= 3.0 for b in bounds)


def test_jitter_spreads_over_the_whole_range() -> None:
    rng = random.Random(11)
    draws = [backoff_delay(10, 1.0, 8.0, rng=rng) for _ in range(2000)]
    assert min(draws) < 4.2
    assert max(draws) > 7.8
    # Not all the same: retrying clients do not run in lock-step.
    assert len({round(d, 6) for d in draws}) > 1900


def test_huge_attempt_counts_do_not_overflow() -> None:
    for attempt in (1_000, 10**6, 10**18):
        assert 15.0 <= backoff_delay(attempt, 0.001, 30.0) <= 30.0
    assert backoff_delay(10**6, 1.0, 1.0) == pytest.approx(backoff_delay(0, 1.0, 1.0), abs=0.5)


def test_multiplier_one_is_a_constant_pause() -> None:
    assert all(1.0 <= backoff_delay(n, 2.0, 9.0, multiplier=1.0) <= 2.0 for n in range(30))


def test_delays_iterates_attempt_by_attempt() -> None:
    a = Backoff(0.1, 1.0, rng=random.Random(5))
    b = Backoff(0.1, 1.0, rng=random.Random(5))
    assert list(itertools.islice(a.delays(), 8)) == [b.delay(n) for n in range(8)]


@pytest.mark.parametrize(
    ("initial", "cap", "multiplier", "attempt"),
    [(0.0, 1.0, 2.0, 0), (2.0, 1.0, 2.0, 0), (-1.0, 1.0, 2.0, 0), (0.1, 1.0, 0.5, 0),
     (0.1, 1.0, 2.0, -1)],
)  # fmt: skip
def test_bad_parameters_are_refused(
    initial: float, cap: float, multiplier: float, attempt: int
) -> None:
    with pytest.raises(ValueError, match="need"):
        backoff_delay(attempt, initial, cap, multiplier=multiplier)
    if attempt == 0:
        with pytest.raises(ValueError, match="need"):
            Backoff(initial, cap, multiplier)


def test_the_module_needs_only_the_standard_library() -> None:
    """``logging_ext`` imports it inside users' services, where only its own dependencies
    are installed: importing it must pull in nothing outside the standard library."""
    tree = ast.parse((REPO / "tracelink" / "backoff.py").read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
    # In a fresh interpreter (-S: no site hooks of the virtualenv), nothing else is loaded.
    code = (
        "import sys; before = set(sys.modules); import tracelink.backoff; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "bad = sorted(new - set(sys.stdlib_module_names) - {'tracelink'}); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-S", "-c", code], check=True, cwd=REPO, timeout=60)


RETRY_LOOPS = (
    "shipper/retry.py",
    "logging_ext/_kafka.py",
    "kibana/client.py",
    "devstack/jaeger/exporter.py",
    "devstack/demo/common.py",
)


@pytest.mark.parametrize("path", RETRY_LOOPS)
def test_every_retry_loop_takes_its_delay_from_this_module(path: str) -> None:
    """One rule, one place: no retry loop doubles, caps or jitters a delay by itself."""
    text = (REPO / path).read_text(encoding="utf-8")
    assert "backoff_delay" in text or "Backoff(" in text
    assert "tracelink.backoff" in text
    for own_arithmetic in ("* 2,", "* 2 **", "2 ** min(", "random.uniform", "delay * 2"):
        assert own_arithmetic not in text, (path, own_arithmetic)
