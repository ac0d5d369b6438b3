from __future__ import annotations

from planner_helpers import assert_rule_equivalent

import thresher as th
from thresher import col, lit
from thresher.planner.logical import Filter
from thresher.planner.optimizer.rules import constant_folding


def test_literals_fold_and_true_terms_vanish():
    df = th.from_pydict({"x": [1, 2, 5]})
    plan = Filter(df.plan, (col("x") > (lit(1) + 2)) & lit(True))
    out = constant_folding.apply(plan)
    assert isinstance(out, Filter) and repr(out.predicate) == '(col("x") > 3)'
    assert constant_folding.apply(Filter(df.plan, lit(True))) == df.plan


def test_same_rows():
    df = th.from_pydict({"x": [1, 2, 5, None]})
    assert_rule_equivalent(df.filter(col("x") > (lit(1) + 2)).with_columns(y=lit(2) * 3), "constant_folding")
