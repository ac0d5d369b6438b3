"""``expr_to_polars.clear_caches`` forgets every Polars expression the lowering keeps across
programs: the benchmarks call it between rounds so a repeated query is lowered from scratch."""

from __future__ import annotations

import polars as pl

import thresher as th
from thresher.operators import expr_to_polars


def _program_exprs() -> list[object]:
    frame = th.from_pydict({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    frame = frame.filter((th.col("a") * 2 > 3) & (th.col("b") != "y")).select((th.col("a") + 1).alias("c"))
    frame.to_arrow()  # lowers its program: the caches fill
    return [expr_to_polars.polars_col("a"), *(entry[2] for entry in expr_to_polars._NODES.values())]


def test_clear_caches_forgets_every_kept_expression() -> None:
    expr_to_polars.clear_caches()
    first = _program_exprs()
    assert len(first) > 1 and expr_to_polars._LITS
    again = _program_exprs()
    assert again[0] is first[0]  # kept while not cleared (the same query finds them)
    expr_to_polars.clear_caches()
    assert not (expr_to_polars._NODES or expr_to_polars._LITS or expr_to_polars._PLAIN_LITS)
    assert expr_to_polars.polars_col.cache_info().currsize == 0
    fresh = _program_exprs()
    assert all(f is not o for f in fresh for o in first)


def test_program_after_clear_is_the_same_query() -> None:
    frame = th.from_pydict({"a": [1, 2, 3, None], "b": ["x", "y", "z", None]})
    q = frame.filter(th.col("a") > 1).with_columns((th.col("a") * 10).alias("c"))
    before = q.to_arrow()
    expr_to_polars.clear_caches()
    assert q.to_arrow().equals(before)
    assert pl.from_arrow(before).shape == (2, 3)
