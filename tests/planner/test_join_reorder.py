from __future__ import annotations

from planner_helpers import assert_rule_equivalent, optimized

import thresher as th
from thresher import col
from thresher.planner.logical import Join
from thresher.planner.optimizer.rules import join_reorder


def _frames():
    facts = th.from_pydict({"f": list(range(200)), "big_id": [i % 50 for i in range(200)],
                            "small_id": [i % 3 for i in range(200)]})
    big = th.from_pydict({"big_id": list(range(50)), "bv": [f"b{i}" for i in range(50)]})
    small = th.from_pydict({"small_id": [0, 1], "sv": ["s0", "s1"]})
    return facts, big, small


def test_smaller_input_joins_first():
    facts, big, small = _frames()
    q = facts.join(big, on="big_id").join(small, on="small_id")
    out = join_reorder.apply(q.plan)
    assert out is not None and out.schema.names == q.schema.names
    joins = [n for n in out.walk() if isinstance(n, Join)]
    assert repr(joins[0].right_on[0]) == 'col("big_id")'  # the big one is now the outer join
    assert repr(joins[1].right_on[0]) == 'col("small_id")'
    assert join_reorder.apply(out) is None


def test_not_reordered_when_outer_keys_come_from_the_middle_input():
    facts, big, small = _frames()
    big2 = big.with_columns(small_id=col("big_id") % 3)
    q = facts.select("f", "big_id").join(big2, on="big_id").join(small, on="small_id")
    assert join_reorder.apply(q.plan) is None


def test_not_reordered_for_outer_joins():
    facts, big, small = _frames()
    q = facts.join(big, on="big_id", how="left").join(small, on="small_id")
    assert join_reorder.apply(q.plan) is None


def test_same_rows():
    facts, big, small = _frames()
    q = facts.join(big, on="big_id").join(small.filter(col("sv") == "s1"), on="small_id")
    optimized(q)
    assert_rule_equivalent(q, "join_reorder")
