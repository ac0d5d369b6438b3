"""The group-by reductions of the Polars lowering (``_reduced_right``: inner, left, semi and anti
joins against a group-by on the join keys compute only the left side's groups) under the
differential fuzzer of ``reduce_fuzz.py``: forced wherever the shape allows (no row floor, size
ratio or left-side filter needed), off, and Polars (DataFrame pipelines) or DuckDB (SQL) must give
the same rows; and once at the rule's real thresholds, the right side's input over the 200,000-row
floor. The coverage counts make sure the rule did fire, for each kind of join."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reduce_fuzz  # noqa: E402

pytest.importorskip("duckdb")
pytestmark = pytest.mark.filterwarnings("ignore:coalescing join requested:UserWarning")


def _check(stats: Counter[str], n: int) -> None:
    assert stats["fired"] >= n // 4, stats
    assert stats["refused"] + stats["polars-rejects"] + stats["duckdb-rejects"] <= n // 4, stats


@pytest.mark.parametrize("kind", ["frame", "sql"])
def test_reduced_group_bys_give_the_same_rows(kind: str) -> None:
    reduce_fuzz.COVERAGE.clear()
    stats = reduce_fuzz.fuzz(seed=0, n=150, kind=kind)
    _check(stats, 150)
    for how in ("inner", "left", "semi", "anti"):
        assert reduce_fuzz.COVERAGE[f"reduced {how}"] > 0, reduce_fuzz.COVERAGE


@pytest.mark.parametrize("kind", ["frame", "sql"])
def test_reduced_group_bys_at_the_real_row_floor(kind: str) -> None:
    # the right side's table holds 250,000 rows: over REDUCE_APART_MIN_ROWS, so a left side
    # filtered only below its own group-by reduces it without any override
    stats = reduce_fuzz.fuzz(seed=0, n=6, kind=kind, big=250_000)
    assert stats["fired"] >= 1, stats


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["frame", "sql"])
@pytest.mark.parametrize("seed", range(1, 6))
def test_reduced_group_bys_many(kind: str, seed: int) -> None:
    reduce_fuzz.COVERAGE.clear()
    stats = reduce_fuzz.fuzz(seed=seed, n=1000, kind=kind)
    _check(stats, 1000)
    assert reduce_fuzz.COVERAGE["implied semi join dropped"] > 0 or kind == "frame", reduce_fuzz.COVERAGE
    stats = reduce_fuzz.fuzz(seed=seed, n=20, kind=kind, big=250_000)
    assert stats["fired"] >= 1, stats
