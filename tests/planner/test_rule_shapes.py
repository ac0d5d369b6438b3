"""Shapes of node in the plan masks (a filter over a filter, a semi join, a chain of joins): the
runner skips a rule whose shapes a plan lacks (NEEDS_KINDS) without calling it, and trusts a
rule's first change without comparing the plans by value. Plans are the ones the full fixpoint
gives; the counts of rule runs guard the gain."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import thresher as th
from thresher import col
from thresher.errors import ThresherError
from thresher.planner.logical import Filter, LogicalPlan
from thresher.planner.optimizer import runner
from thresher.planner.optimizer.rules._util import (
    AggregateOverJoin,
    ConjunctionFilter,
    FilterOverFilter,
    FilterOverLeftJoin,
    InnerOverInner,
    JoinChain,
    JoinOnGroupBy,
    KeySetSemiJoin,
    OneRowSideJoin,
    ProjectOverProject,
    SemiJoin,
    Shape,
    kinds_mask,
    plan_kinds,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

#: NEEDS_KINDS with node classes only (as before the shapes)
_CLASSES_ONLY = {name: tuple(dict.fromkeys(k.of if isinstance(k, type) and issubclass(k, Shape) else k
                                           for k in kinds))
                 for name, kinds in runner.NEEDS_KINDS.items()}


def _has(plan: LogicalPlan, shape: type) -> bool:
    return bool(plan_kinds(plan) & kinds_mask((shape,)))


def test_plan_kinds_hold_the_shapes() -> None:
    a = th.from_pydict({"k": [1, 2], "v": [3, 4]})
    b = th.from_pydict({"k": [1], "w": [5]})
    c = th.from_pydict({"k": [1], "x": [6]})
    inner = a.join(b, on="k")
    assert not _has(inner.plan, SemiJoin) and not _has(inner.plan, JoinOnGroupBy)
    assert not _has(inner.plan, JoinChain) and not _has(inner.plan, InnerOverInner)
    chain = inner.join(c, on="k")
    assert _has(chain.plan, JoinChain) and _has(chain.plan, InnerOverInner)
    semi = a.join(b, on="k", how="semi")
    assert _has(semi.plan, SemiJoin) and not _has(semi.plan, OneRowSideJoin)
    on_groups = a.join(b.group_by("k").agg(col("w").sum()), on="k", how="left")
    assert _has(on_groups.plan, JoinOnGroupBy) and not _has(on_groups.plan, FilterOverLeftJoin)
    assert _has(on_groups.filter(col("w").is_null()).plan, FilterOverLeftJoin)
    one_row = a.join(b.select(col("w").max().alias("m")), how="cross")
    assert not _has(one_row.plan, OneRowSideJoin)  # (a cross join: not an inner join on keys)
    assert _has(a.join(b.group_by().agg(col("k").max()), on="k").plan, OneRowSideJoin)
    ff = Filter(Filter(a.plan, col("v") > 0), col("k") > 0)
    assert _has(ff, FilterOverFilter) and not _has(ff.input, FilterOverFilter)
    assert _has(a.select("k").select("k").plan, ProjectOverProject)
    # a semi join's right side that semi_join_key_set can compute as a set of keys: under projections, a
    # filter over a join or an inner join on keys (not a filtered scan, nor a left join)
    assert not _has(semi.plan, KeySetSemiJoin) and not _has(inner.plan, KeySetSemiJoin)
    assert not _has(a.join(b.filter(col("w") > 0), on="k", how="anti").plan, KeySetSemiJoin)
    assert _has(a.join(inner.select("k"), on="k", how="semi").plan, KeySetSemiJoin)
    assert _has(a.join(inner.filter(col("v") != col("w")).select("k"), on="k", how="anti").plan, KeySetSemiJoin)
    assert not _has(a.join(a.join(b, on="k", how="left").select("k"), on="k", how="semi").plan, KeySetSemiJoin)
    grouped = inner.group_by("k").agg(col("v").sum())
    assert _has(grouped.plan, AggregateOverJoin) and not _has(a.group_by("k").agg(col("v").sum()).plan,
                                                              AggregateOverJoin)
    # (eager_aggregation's joins only: an inner or a left join on keys, under a group-by with keys)
    assert _has(a.join(b, on="k", how="left").group_by("k").agg(col("v").sum()).plan, AggregateOverJoin)
    assert _has(inner.select("k", "v").group_by("k").agg(col("v").sum()).plan, AggregateOverJoin)
    for how in ("anti", "semi"):
        assert not _has(a.join(b, on="k", how=how).group_by("k").agg(col("v").sum()).plan, AggregateOverJoin)
    assert not _has(inner.group_by().agg(col("v").sum()).plan, AggregateOverJoin)  # (no keys)
    assert not _has(a.join(b, how="cross").group_by("k").agg(col("v").sum()).plan, AggregateOverJoin)
    # a filter of two terms or more (cheap_predicate_first orders them), not of one
    assert _has(a.filter((col("v") > 0) & (col("k") > 1)).plan, ConjunctionFilter)
    assert not _has(a.filter(col("v") > 0).plan, ConjunctionFilter)
    assert not _has(a.filter((col("v") > 0) | (col("k") > 1)).plan, ConjunctionFilter)
    assert runner.NEEDS_KINDS["eager_aggregation"] == (AggregateOverJoin,)  # (not overridden by the join rules')


def test_tpch_plans_with_and_without_the_shapes(tpch_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The 22 TPC-H DataFrame queries optimize to the same plans (and firings) as with node classes
    only in NEEDS_KINDS, in 39% fewer rule runs (697 -> 426; q16 26 -> 15, q22 25 -> 15; 424 and q16 14
    since semi_join_pushdown reaches its own fixpoint in one run, q15 and q16; 412, q16 12, q22 13 with
    semi_join_key_set's own shape)."""
    from benchmarks.tpch.queries_df import QUERIES, tables

    t = tables(tpch_dir)
    fast = {q: runner.optimize(f(t).plan, validate=True) for q, f in QUERIES.items()}
    monkeypatch.setattr(runner, "NEEDS_KINDS", _CLASSES_ONLY)
    full = {q: runner.optimize(f(t).plan) for q, f in QUERIES.items()}
    for q in QUERIES:
        assert fast[q].plan.pretty() == full[q].plan.pretty(), q
        assert [f.rule for f in fast[q].log] == [f.rule for f in full[q].log], q
    runs = {q: r.rule_runs for q, r in fast.items()}
    # (412, q16 12, q22 13: semi_join_key_set only where a semi join's right side is a join, see
    # KeySetSemiJoin; 375, 10, 11: cheap_predicate_first only with a conjunction, eager_aggregation
    # only over an inner or left join; the rules of EXPENSIVE_ONLY_RULES run here: validate)
    assert sum(runs.values()) <= 375 < sum(r.rule_runs for r in full.values())
    assert runs[16] <= 10 and runs[22] <= 11


def _shape_bits_by_tests(node: LogicalPlan) -> int:
    """The bits of ``node``'s class and shapes as each shape's own test gives them."""
    from thresher.planner.optimizer.rules._util import _KIND_BITS

    out = _KIND_BITS[type(node)]
    for s, bit in _KIND_BITS.items():
        if issubclass(s, Shape) and s is not Shape and isinstance(node, s.of) and s.test(node):
            out |= bit
    return out


def test_combined_shapes_are_the_tests(tpch_dir: Path) -> None:
    """A join's, filter's, projection's and group-by's shapes are found in one call per node (the
    tests one by one, with their helpers, were two thirds of plan_kinds' time), and give the bits
    the shapes' own tests give, at every node the optimizer asks about in the 22 TPC-H DataFrame
    queries and the shapes test above."""
    from benchmarks.tpch.queries_df import QUERIES, tables

    from thresher.planner.logical import Aggregate, Join, Project
    from thresher.planner.optimizer.rules import _util

    for cls in (Join, Filter, Project, Aggregate):
        entry = _util._own_entry(cls)
        assert isinstance(entry, tuple) and entry[1].__name__ != "bits", cls  # (not the one-by-one loop)
    seen: dict[int, LogicalPlan] = {}
    kinds_of = _util.kinds_of

    def checked(node: LogicalPlan, kinds: dict) -> int:
        for n in node.walk():
            if id(n) not in seen:
                seen[id(n)] = n
                assert _util._own_bits(n) == _shape_bits_by_tests(n), n.describe()
        return kinds_of(node, kinds)

    t = tables(tpch_dir)
    a = th.from_pydict({"k": [1, 2], "v": [3, 4]})
    b = th.from_pydict({"k": [1], "w": [5]})
    extra = [a.join(b, on="k").join(b, on="k", how="semi"), a.join(b.group_by("k").agg(col("w").sum()), on="k",
             how="left").filter(col("w").is_null()), a.join(b.group_by().agg(col("k").max()), on="k"),
             a.join(b, how="cross").join(b, on="k", how="anti"), a.select("k").select("k").group_by("k").agg()]
    mp = pytest.MonkeyPatch()
    mp.setattr(_util, "kinds_of", checked)
    try:
        for f in [*(q(t) for q in QUERIES.values()), *extra]:
            runner.optimize(f.plan)
    finally:
        mp.undo()
    assert len(seen) > 500


def test_a_rule_skipped_for_its_shape_is_checked_by_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    """optimize(validate=True) runs a rule skipped for lack of its shape (semi_join_key_set, on a plan
    with an inner join but no semi join) and raises if it changes the plan."""
    a = th.from_pydict({"k": [1, 2], "v": [3, 4]})
    plan = a.join(th.from_pydict({"k": [1], "w": [5]}), on="k").plan
    runner.optimize(plan, validate=True)
    runner._load("semi_join_key_set")
    mod = runner._MODULES["semi_join_key_set"]
    monkeypatch.setattr(mod, "apply", lambda p: p.with_children([Filter(p.children()[0], col("k") > 0),
                                                                  *p.children()[1:]]))
    runner.optimize(plan)  # (skipped: not called)
    with pytest.raises(ThresherError, match="NEEDS_KINDS"):
        runner.optimize(plan, validate=True)


def test_a_rule_returning_an_equal_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule's first change is not compared with its input by value: one returning an equal plan
    (a contract break) makes optimize(validate=True) raise; without validate the fixpoint still
    ends (its next answer is compared) with the plan the rules give."""
    q = th.from_pydict({"a": [1, 2], "b": [3, 4]}).filter(col("a") > 1).select("a")
    want = runner.optimize(q.plan)
    runner._load("constant_folding")
    mod = runner._MODULES["constant_folding"]
    monkeypatch.setattr(mod, "apply", lambda p: p._with_inputs(p.children()))  # a copy: equal, not the same
    got = runner.optimize(q.plan)
    assert got.plan == want.plan and got.plan.pretty() == want.plan.pretty()
    assert got.iterations <= want.iterations + 1
    with pytest.raises(ThresherError, match="equal to its input"):
        runner.optimize(q.plan, validate=True)
