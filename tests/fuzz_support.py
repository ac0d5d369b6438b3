"""What the differential fuzzers share: run hypothesis cases through a checker that says
``"match"`` or ``"refused: ..."`` (and raises on a wrong answer), count the outcomes, and check
that refusals stay rare, so "refuse everything" cannot pass."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as with_seed
from hypothesis.strategies import SearchStrategy, tuples


def run_cases(strategies: tuple[SearchStrategy[Any], ...], run_one: Callable[..., str], n: int,
              seed: int | None = None) -> Counter[str]:
    """``n`` cases drawn from ``strategies`` through ``run_one``: the outcomes counted ("match",
    "refused" and each refusal's text). Without ``seed`` the draw is the same every run."""
    stats: Counter[str] = Counter()

    @settings(max_examples=n, derandomize=seed is None, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(tuples(*strategies))
    def check(case: tuple[Any, ...]) -> None:
        outcome = run_one(*case)
        stats["match" if outcome == "match" else "refused"] += 1
        if outcome != "match":
            stats[outcome] += 1

    if seed is not None:
        check = with_seed(seed)(check)
    check()
    return stats


def assert_mostly_supported(stats: Counter[str], max_refused: float) -> None:
    """At most ``max_refused`` (a share) of the cases were refused, and some ran."""
    total = stats["match"] + stats["refused"]
    refusals = {k: v for k, v in stats.items() if k.startswith("refused:")}
    assert total > 0
    assert stats["refused"] <= max_refused * total, f"{stats['refused']}/{total} refused: {refusals}"


def same_number(x: float, y: float) -> bool:
    """Equal up to the last digits (1e-12 relative), NaN equal to NaN."""
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y or math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-300)
