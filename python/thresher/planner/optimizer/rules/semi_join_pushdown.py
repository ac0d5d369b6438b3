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

It also moves below a filter over a cross join with one row (a scalar subquery compared with
every row: TPC-H Q22's ``c_acctbal > (select avg(c_acctbal) ...) and not exists (...)``) to the
side with its keys: the semi/anti join tests key columns the filter and the cross join pass
through unchanged, so it may run before or after them. Before, Polars ran the anti join on the
output of the one-row join and its fused comparison; on the customer scan it streams with it
(Q22 SF1, Polars-program CPU, same process, alternating: 63-65 -> 55-59 ms). A projection of
plain columns between them is passed too. It stays put over a cross join whose other input is a
join (see ``_push_through_scalar_filter``).
"""

from __future__ import annotations

from dataclasses import replace

from thresher.expressions.expr import Column
from thresher.planner.logical import Aggregate, Filter, Join, LogicalPlan, Project
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
    if isinstance(below, Filter) or isinstance(below, Project) and isinstance(below.input, Filter):
        return _push_through_scalar_filter(node, below)
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


def _push_through_scalar_filter(node: Join, below: LogicalPlan) -> LogicalPlan | None:
    """``semi([Project] Filter(cross(L, one row)))`` -> ``[Project] Filter(cross(semi(L), one row))``
    (a projection of plain columns only: the keys keep their names)."""
    proj = below if isinstance(below, Project) else None
    flt = proj.input if proj is not None else below
    assert isinstance(flt, Filter)
    if proj is not None and not all(isinstance(e, Column) for e in proj.exprs):
        return None
    cross = flt.input
    if not (isinstance(cross, Join) and cross.how == "cross" and _one_row(cross.right)):
        return None
    if isinstance(cross.left, Join):
        # from there the semi join would move on below that join, onto its bigger input (TPC-H Q16's
        # NOT IN: an anti join that removes few rows probes all of partsupp instead of the parts
        # joined with it: 48 -> 60 ms)
        return None
    keys: set[str] = set()
    for e in node.left_on:
        keys |= e.columns()
    if set(cross.left.schema.names) & set(cross.right.schema.names) or not keys <= set(cross.left.schema.names):
        return None
    out = replace(flt, input=replace(cross, left=replace(node, left=cross.left)))
    return out if proj is None else replace(proj, input=out)


def _one_row(node: LogicalPlan) -> bool:
    """``node`` gives exactly one row (a global aggregate under projections)."""
    while isinstance(node, Project):
        node = node.input
    return isinstance(node, Aggregate) and not node.keys
