"""``expr_to_polars.clear_caches`` forgets every Polars expression the lowering keeps across
programs: the benchmarks call it between rounds so a repeated query is lowered from scratch."""

from __future__ import annotations

import datetime
import decimal

import polars as pl
import pytest

import thresher as th
from thresher.operators import expr_to_polars
from thresher.planner.physical import CompileSettings, compile


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


def test_clear_caches_forgets_the_scan_predicates() -> None:
    # a scan predicate's Polars expression is kept per typed value (io.predicate): the benchmark's
    # next round found its scans' filters built (the same Comparison values every round)
    from thresher.io.predicate import Comparison, Predicate, predicate_to_polars

    p = Predicate((Comparison("c_acctbal", ">", decimal.Decimal("0")), Comparison("d", "<", datetime.date(1995, 1, 1))))
    first = predicate_to_polars(p)
    assert predicate_to_polars(Predicate(p.terms)) is first  # (kept while not cleared)
    expr_to_polars.clear_caches()
    again = predicate_to_polars(Predicate(p.terms))
    assert again is not first and again.meta.serialize() == first.meta.serialize()


def test_program_after_clear_is_the_same_query() -> None:
    frame = th.from_pydict({"a": [1, 2, 3, None], "b": ["x", "y", "z", None]})
    q = frame.filter(th.col("a") > 1).with_columns((th.col("a") * 10).alias("c"))
    before = q.to_arrow()
    expr_to_polars.clear_caches()
    assert q.to_arrow().equals(before)
    assert pl.from_arrow(before).shape == (2, 3)


def test_a_program_estimates_each_node_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # every join of a chain asks for its sides' estimates (the reductions' tests): within one
    # build they are kept per node (memo_scope), not computed again for each join above
    from thresher.planner import stats

    calls: list[int] = []
    real = stats._estimate_node

    def counting(plan: object, refined: bool) -> object:
        calls.append(id(plan))
        return real(plan, refined)  # type: ignore[arg-type]

    monkeypatch.setattr(stats, "_estimate_node", counting)
    a = th.from_pydict({"k": [1, 2, 3], "x": [1, 2, 3]})
    frame = a.filter(th.col("x") > 1)
    for i in range(4):
        b = th.from_pydict({f"k{i}": [1, 2, 3], f"v{i}": [4, 5, 6]}).group_by(f"k{i}").agg(th.col(f"v{i}").sum())
        frame = frame.join(b, left_on="k", right_on=f"k{i}", how="semi" if i % 2 else "inner")
    want = frame.to_arrow(optimize=False)
    calls.clear()
    root = compile(frame.plan, CompileSettings(optimize=False)).root
    root.spec.program([])
    assert calls and len(calls) == len(set(calls))
    assert frame.to_arrow(optimize=False).equals(want)


def test_an_is_in_list_is_the_literal_polars_builds() -> None:
    # the list Series built from its values' Series (_polars.list_of) is the literal Polars'
    # own constructor gives, for each type an is_in lowers
    values: list[tuple[list[object], pl.DataType]] = [
        (["13", "31", "23"], pl.String()), ([49, 14, 3], pl.Int32()), ([1, 2**40], pl.Int64()),
        ([0.5, 2.0], pl.Float64()), ([datetime.date(1994, 1, 1)], pl.Date()), ([True], pl.Boolean()),
        ([decimal.Decimal("1.50")], pl.Decimal(15, 2)), ([], pl.String())]
    for vals, dtype in values:
        got = expr_to_polars._list_literal(vals, dtype)
        want = pl.lit(pl.Series([vals], dtype=pl.List(dtype)))
        assert got.meta.serialize(format="json") == want.meta.serialize(format="json"), (vals, dtype)
    frame = th.from_pydict({"s": ["13", "40", None], "n": [3, 4, None]})
    got = frame.filter(th.col("s").is_in(["13", "31"]) | th.col("n").is_in([4, 300])).to_arrow()
    assert got.to_pydict() == {"s": ["13", "40"], "n": [3, 4]}
