from __future__ import annotations

from planner_helpers import assert_rule_equivalent

import thresher as th
from thresher import col
from thresher.planner.logical import Aggregate, Join
from thresher.planner.optimizer.rules import semi_join_reduction


def _frames():
    part = th.from_pydict({"pk": [1, 2, 3, 4], "brand": ["a", "b", "a", "c"]})
    lines = th.from_pydict({"lp": [1, 1, 2, 3, 3, 3, 4], "qty": [1.0, 5.0, 2.0, 1.0, 2.0, 9.0, 4.0]})
    return part, lines


def _q17(part, lines):
    """Rows whose quantity is below the part's average (a decorrelated scalar subquery)."""
    avg = lines.group_by(col("lp").alias("k")).agg(col("qty").mean().alias("avg_qty"))
    return (lines.join(part.filter(col("brand") == "a"), left_on="lp", right_on="pk")
            .join(avg, left_on="lp", right_on="k").filter(col("qty") < col("avg_qty")))


def _aggregates(plan):
    return [n for n in plan.walk() if isinstance(n, Aggregate)]


def test_group_by_only_sees_the_outer_keys():
    part, lines = _frames()
    out = semi_join_reduction.apply(_q17(part, lines).plan)
    assert out is not None
    (agg,) = _aggregates(out)
    assert isinstance(agg.input, Join) and agg.input.how == "semi"
    assert agg.input.right.schema.names == ["pk", "brand"]  # the filtered part table, not the whole left side
    assert semi_join_reduction.apply(out) is None


def test_kept_when_the_keys_come_from_an_unfiltered_input():
    part, lines = _frames()
    avg = lines.group_by(col("lp").alias("k")).agg(col("qty").mean().alias("avg_qty"))
    q = lines.join(part, left_on="lp", right_on="pk").join(avg, left_on="lp", right_on="k")
    assert semi_join_reduction.apply(q.plan) is None


def test_same_rows():
    part, lines = _frames()
    assert_rule_equivalent(_q17(part, lines), "semi_join_reduction")
