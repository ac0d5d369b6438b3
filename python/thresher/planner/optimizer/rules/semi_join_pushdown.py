"""semi_join_pushdown: a semi or anti join moves below the joins under it, to the side its keys use.

A semi/anti join only removes rows of its left input, by a test on the left key columns. When that
input is an inner join (or the preserved side of a left join) and the keys all come from one side,
the test can run on that side before the join, so the join (often the biggest one of the query)
sees fewer rows.

Before::

    Join semi on [col("o_orderkey") = col("l_orderkey")]
      Join inner on [col("o_orderkey") = col("l_orderkey")]
        Join inner on [col("c_custkey") = col("o_custkey")]
          Scan customer
          Scan orders
        Scan lineitem
      <big orders>

After::

    Join inner on [col("o_orderkey") = col("l_orderkey")]
      Join inner on [col("c_custkey") = col("o_custkey")]
        Scan customer
        Join semi on [col("o_orderkey") = col("l_orderkey")]
          Scan orders
          <big orders>
      Scan lineitem

Output columns and their order do not change (a semi/anti join keeps its left schema).
"""

from __future__ import annotations

from dataclasses import replace

from thresher.planner.logical import Join, LogicalPlan
from thresher.planner.optimizer.rules._util import plan_has, rewrite_top_down


def _semi_join(node: LogicalPlan) -> bool:
    return isinstance(node, Join) and node.how in ("semi", "anti")


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    if not plan_has(plan, _semi_join):
        return None
    return rewrite_top_down(plan, _push)


def _push(node: LogicalPlan) -> LogicalPlan | None:
    if not (isinstance(node, Join) and node.how in ("semi", "anti") and node.left_on):
        return None
    below = node.left
    # not through another semi/anti join: the two would swap places forever
    if not (isinstance(below, Join) and below.how in ("inner", "left") and below.left_on):
        return None
    keys: set[str] = set()
    for e in node.left_on:
        keys |= e.columns()
    left_names = set(below.left.schema.names)
    right_names = set(below.right.schema.names)
    if left_names & (right_names - below.coalesced_right_keys()):
        return None  # suffixed names: the keys could mean either side
    if keys <= left_names:
        return replace(below, left=replace(node, left=below.left))
    if below.how == "inner" and keys <= right_names and not keys & below.coalesced_right_keys():
        return replace(below, right=replace(node, left=below.right))
    return None
