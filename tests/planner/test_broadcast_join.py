from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from planner_helpers import assert_rule_equivalent, optimized

import thresher as th
from thresher.planner.logical import Join, Project
from thresher.planner.optimizer.rules import broadcast_join


def _joins(plan):
    return [n for n in plan.walk() if isinstance(n, Join)]


def test_small_right_side_from_parquet_footer_is_broadcast(tmp_path):
    pq.write_table(pa.table({"k": list(range(1000)), "v": list(range(1000))}), tmp_path / "facts.parquet")
    pq.write_table(pa.table({"k": [1, 2, 3], "name": ["a", "b", "c"]}), tmp_path / "dim.parquet")
    facts, dim = th.read_parquet(str(tmp_path / "facts.parquet")), th.read_parquet(str(tmp_path / "dim.parquet"))
    q = facts.join(dim, on="k")
    out = broadcast_join.apply(q.plan)
    assert _joins(out)[0].strategy == "broadcast"
    assert broadcast_join.apply(out) is None
    assert_rule_equivalent(q, "broadcast_join")


def test_small_left_side_of_inner_join_is_flipped():
    small = th.from_pydict({"k": [1, 2], "name": ["a", "b"]})
    big = th.from_arrow(pa.table({"k": list(range(300_000)), "v": list(range(300_000))}))
    q = small.join(big, on="k")
    import thresher.planner.optimizer.rules.broadcast_join as bj

    old = bj.BROADCAST_BYTES
    bj.BROADCAST_BYTES = 1 << 20
    try:
        out = broadcast_join.apply(q.plan)
    finally:
        bj.BROADCAST_BYTES = old
    assert isinstance(out, Project) and out.schema.names == q.schema.names
    (j,) = _joins(out)
    assert j.strategy == "broadcast" and j.right.schema.names == ["k", "name"]


def test_user_strategy_is_kept():
    a = th.from_pydict({"k": [1]})
    q = a.join(th.from_pydict({"k": [1]}), on="k", strategy="hash")
    assert broadcast_join.apply(q.plan) is None
    assert _joins(optimized(q))[0].strategy == "hash"
