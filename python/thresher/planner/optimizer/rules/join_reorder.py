"""join_reorder: in a chain of inner joins, the input estimated smaller is joined first.

Before::

    Join inner on [col("c_id") = col("c_id")]          # customers: 1.5M rows
      Join inner on [col("n_id") = col("n_id")]        # nations (filtered): 2 rows
        Scan orders
        Filter (col("n_name") == "FRANCE")
          Scan nation
      Scan customer

After (the 2-row join shrinks orders before the 1.5M-row one runs)::

    Project [...the original column order...]
      Join inner on [col("n_id") = col("n_id")]
        Join inner on [col("c_id") = col("c_id")]
          Scan orders
          Scan customer
        Filter (col("n_name") == "FRANCE")
          Scan nation

``Join(Join(A, B), C)`` becomes ``Join(Join(A, C), B)`` when both joins are inner equi-joins, the
outer join's keys come from ``A`` alone, no column is renamed with a suffix in either order, and
``C`` is estimated smaller than ``B`` (``planner.stats.estimate``: Parquet footers, file listings,
in-memory sizes, textbook selectivities). Inner joins commute and associate, so the rows are the
same; a projection restores the column order. Unknown sizes leave the plan alone. Trees that
``join_order`` reorders as a whole (no column names shared between inputs) are left to it.
"""

from __future__ import annotations

from thresher.expressions.expr import Column
from thresher.planner.logical import Join, LogicalPlan
from thresher.planner.optimizer.rules import join_order
from thresher.planner.optimizer.rules._joins import no_suffixes, plain_inner, reorder_to
from thresher.planner.optimizer.rules._util import rewrite_top_down
from thresher.planner.stats import estimate


def _swap(outer: Join) -> LogicalPlan | None:
    inner = outer.left
    if not (plain_inner(outer) and plain_inner(inner)):
        return None
    assert isinstance(inner, Join)
    if not (no_suffixes(inner) and no_suffixes(outer)):
        return None
    if join_order.handles(outer):
        return None  # join_order orders this tree as a whole
    a, b, c = inner.left, inner.right, outer.right
    a_names = set(a.schema.names)
    if not all(isinstance(k, Column) and k.name in a_names for k in outer.left_on):
        return None
    eb, ec = estimate(b).rows, estimate(c).rows
    if eb is None or ec is None or not ec < eb:
        return None
    try:
        # (each join keeps its keys' NULL semantics: inner joins commute and associate either way)
        first = Join(a, c, outer.left_on, outer.right_on, "inner", outer.suffix, outer.strategy, outer.nulls_equal)
        if not no_suffixes(first):
            return None
        second = Join(first, b, inner.left_on, inner.right_on, "inner", inner.suffix, inner.strategy, inner.nulls_equal)
        if not no_suffixes(second) or set(second.schema.names) != set(outer.schema.names):
            return None
    except Exception:  # noqa: BLE001 - a key that no longer resolves: keep the user's order
        return None
    return reorder_to(second, outer.schema.names)


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    def visit(node: LogicalPlan) -> LogicalPlan | None:
        return _swap(node) if isinstance(node, Join) else None

    return rewrite_top_down(plan, visit, only=(Join,))
