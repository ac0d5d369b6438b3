from __future__ import annotations

from planner_helpers import assert_rule_equivalent

import thresher as th
from thresher import col
from thresher.planner.logical import Project
from thresher.planner.optimizer.rules import projection_merge


def test_stacked_projections_merge():
    df = th.from_pydict({"a": [1, 2]})
    q = df.select((col("a") + 1).alias("b")).select((col("b") * 2).alias("c"))
    out = projection_merge.apply(q.plan)
    assert isinstance(out, Project) and not isinstance(out.input, Project)
    assert repr(out.exprs[0]) == '((col("a") + 1) * 2).alias("c")'
    assert_rule_equivalent(q, "projection_merge")


def test_expensive_used_twice_is_not_duplicated():
    df = th.from_pydict({"u": ["x"]})
    q = df.select(col("u").url.download().alias("b")).select(col("b").alias("c"), col("b").alias("d"))
    assert projection_merge.apply(q.plan) is None
