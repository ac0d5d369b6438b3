"""What the differential fuzzers share: run hypothesis cases through a checker that says
``"match"`` or ``"refused: ..."`` (and raises on a wrong answer), count the outcomes, and check
that refusals stay rare, so "refuse everything" cannot pass."""

from __future__ import annotations

import decimal
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import polars as pl
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


def same_dtype(got: pl.DataType, want: pl.DataType) -> bool:
    """Polars dtypes equal (lists by their inner types)."""
    if got == want:
        return True
    if isinstance(got, pl.List) and isinstance(want, pl.List):
        return same_dtype(got.inner, want.inner)
    return False


def same_value(a: object, b: object) -> bool:
    """Two cells of a Polars row equal: NULL only to NULL, bools only to bools, numbers up to float
    rounding (NaN to NaN; decimals and integers exactly), lists element by element."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float, decimal.Decimal)) and isinstance(b, (int, float, decimal.Decimal)):
        if isinstance(a, float) or isinstance(b, float):
            x, y = float(a), float(b)
            if math.isnan(x) or math.isnan(y):
                return math.isnan(x) and math.isnan(y)
            return x == y or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
        return same_number(float(a), float(b)) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b
