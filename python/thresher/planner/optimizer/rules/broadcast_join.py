"""broadcast_join: a join whose build side is small (from statistics) is broadcast, not shuffled.

Before::

    Join inner on [col("label_id") = col("id")]
      Scan images            # 10M rows
      Scan labels            # 1,000 rows, 40 KB

After::

    Join inner on [col("label_id") = col("id")] strategy=broadcast
      Scan images
      Scan labels

The right input is broadcast to every partition of the left one when it is estimated under
``BROADCAST_BYTES`` (or ``BROADCAST_ROWS`` when sizes are unknown) and the join keeps only left
rows' matches (inner, left, semi, anti). An inner join whose *left* side is the small one is
flipped first (with a projection restoring the column order) when the keys have the same names and
types and no column would be renamed. Both sides known and large: ``hash`` (a shuffle on the
keys). Unknown sizes or a strategy the user chose: unchanged. The strategy is a hint for the
executors; the rows are the same whichever is used.
"""

from __future__ import annotations

from thresher.expressions.expr import Column
from thresher.planner.logical import Join, LogicalPlan
from thresher.planner.optimizer.rules._joins import no_suffixes, reorder_to
from thresher.planner.optimizer.rules._util import rewrite_top_down
from thresher.planner.stats import Estimate, estimate

BROADCAST_BYTES = 10 << 20
BROADCAST_ROWS = 100_000
#: most of its changes set a join's strategy only (a hint no rule reads): the optimizer's runner
#: then does not run the other rules again for them (see ``runner.hints_only``)
SETS_JOIN_STRATEGIES = True


def is_small(e: Estimate) -> bool | None:
    if e.bytes is not None:
        return e.bytes <= BROADCAST_BYTES
    if e.rows is not None:
        return e.rows <= BROADCAST_ROWS
    return None


def _flip(j: Join) -> LogicalPlan | None:
    if j.how != "inner":
        return None
    for lk, rk in zip(j.left_on, j.right_on):
        if not (isinstance(lk, Column) and isinstance(rk, Column) and lk.name == rk.name):
            return None
        if str(j.left.schema[lk.name]) != str(j.right.schema[rk.name]):
            return None
    flipped = Join(j.right, j.left, j.right_on, j.left_on, "inner", j.suffix, "broadcast", j.nulls_equal)
    if not (no_suffixes(j) and no_suffixes(flipped)):
        return None
    return reorder_to(flipped, j.schema.names)


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    def visit(node: LogicalPlan) -> LogicalPlan | None:
        if not isinstance(node, Join) or node.strategy != "auto" or node.how == "cross":
            return None
        left, right = is_small(estimate(node.left)), is_small(estimate(node.right))
        if right and node.how in ("inner", "left", "semi", "anti"):
            return node._with_inputs(node.children(), strategy="broadcast")  # (its schema kept)
        if left and right is False:
            flipped = _flip(node)
            if flipped is not None:
                return flipped
        if left is False and right is False:
            return node._with_inputs(node.children(), strategy="hash")
        return None

    return rewrite_top_down(plan, visit, only=(Join,))
