from __future__ import annotations

from planner_helpers import assert_rule_equivalent

import thresher as th
from thresher import col
from thresher.planner.logical import Filter
from thresher.planner.optimizer.rules import merge_filters


def test_two_filters_become_one():
    df = th.from_pydict({"a": [1, 2, 3], "b": [3, 2, 1]})
    plan = Filter(Filter(df.plan, col("b") < 3), col("a") > 1)
    out = merge_filters.apply(plan)
    assert isinstance(out, Filter) and not isinstance(out.input, Filter)
    assert repr(out.predicate) == '((col("b") < 3) & (col("a") > 1))'


def test_expensive_over_cheap_stays_split():
    df = th.from_pydict({"u": ["a"], "b": [1]})
    plan = Filter(Filter(df.plan, col("b") < 3), col("u").url.download().is_null())
    assert merge_filters.apply(plan) is None


def test_same_rows():
    df = th.from_pydict({"a": [1, 2, 3, None], "b": [3, 2, 1, 0]})
    assert_rule_equivalent(df.filter(col("b") < 3).filter(col("a") > 1), "merge_filters")
