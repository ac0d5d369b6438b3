from __future__ import annotations

import pyarrow as pa
from planner_helpers import CountingSource, assert_rule_equivalent, count_kernel, optimized

import thresher as th
from thresher import col
from thresher.planner.logical import Limit, Project, ScanSource


def test_limit_over_map_reads_only_the_first_partitions():
    src = CountingSource(pa.table({"a": list(range(1000))}), partition_rows=10)
    df = th.DataFrame(ScanSource(src))
    q = df.with_columns(b=col("a") * 2).limit(5)
    plan = optimized(q)
    assert isinstance(plan, Project) and isinstance(plan.input, Limit)
    assert plan.input.input.limit == 5
    assert q.to_pydict() == {"a": [0, 1, 2, 3, 4], "b": [0, 2, 4, 6, 8]}
    assert src.reads == 1  # of 100 partitions
    src.reads = 0
    th.set_optimizer(disabled=["limit_pushdown"])
    q.to_pydict()
    th.set_optimizer(disabled=[])
    assert src.reads > 1
    assert_rule_equivalent(q, "limit_pushdown", ordered=True)


def test_limit_before_download(images_df):
    q = images_df.with_columns(b=col("path").url.download()).limit(3)
    with count_kernel("url.download") as n:
        q.to_arrow()
    assert n["url.download"] == 3


def test_limit_into_union_inputs():
    a = th.from_pydict({"x": list(range(10))})
    q = a.union(a).limit(4, offset=1)
    plan = optimized(q)
    assert isinstance(plan, Limit)
    assert all(isinstance(i, Limit) or getattr(i, "limit", None) for i in plan.input.children())
    assert_rule_equivalent(q, "limit_pushdown", ordered=True)


def test_limit_after_sort_is_not_pushed():
    a = th.from_pydict({"x": [3, 1, 2]})
    q = a.sort("x").limit(1)
    assert q.to_pydict() == {"x": [1]}
    assert_rule_equivalent(q, "limit_pushdown", ordered=True)
