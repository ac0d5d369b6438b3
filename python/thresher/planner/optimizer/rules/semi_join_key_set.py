"""semi_join_key_set: the right side of a semi or anti join is only a set of keys; it is computed as one.

A semi (anti) join asks of its right side which key values it holds, never how often. Two shapes
there compute far more than that set (TPC-DS q95's ``ws_wh``: the orders shipped from two
warehouses, as a self-join of web_sales on the order number, 6.6 million rows for 60,000
orders, used by two IN subqueries):

- a join filtered on one inequality between its sides, whose keys are the set asked for, holds
  a key where some row of one side and some row of the other differ there: where the minimum
  of one side differs from the maximum of the other (one group-by per side instead of a
  many-to-many join; NULLs are left out by both, as ``!=`` with a NULL keeps no row);
- an inner join whose key set comes from one side holds that side's keys that meet the other
  side: a semi join of that side (no row repeated per match).

Before::

    Join semi on [col("k") = col("o")]
      <outer>
      Project [col("a.o")]
        Filter (col("a.w") != col("b.w"))
          Join inner on [col("a.o") = col("b.o")]
            Scan a
            Scan b

After::

    Join semi on [col("k") = col("o")]
      <outer>
      Project [col("a.o")]
        Filter ((col("a.w.min") != col("b.w.max")) | (col("a.w.max") != col("b.w.min")))
          Join inner on [col("a.o") = col("b.o")]
            Aggregate keys=[col("a.o")] aggs=[col("a.w").min().alias("a.w.min"), col("a.w").max().alias("a.w.max")]
              Scan a
            Aggregate keys=[col("b.o")] aggs=[col("b.w").min().alias("b.w.min"), col("b.w").max().alias("b.w.max")]
              Scan b

If every value of one side equals every value of the other (one value on both), min = max on
both and neither inequality holds; otherwise one of them does. Floating-point columns are left
alone (NaN compares unequal to itself but is ordered by min and max). Renaming projections
between the semi join and these shapes are looked through.
"""

from __future__ import annotations

from dataclasses import replace

from thresher.expressions.expr import AggCall, Call, Column, column_sources, plain_column_names, strip_alias
from thresher.planner.logical import Aggregate, Filter, Join, LogicalPlan, Project
from thresher.planner.optimizer.rules._util import rewrite_bottom_up


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    return rewrite_bottom_up(plan, _semi, only=(Join,))


def _semi(node: LogicalPlan) -> LogicalPlan | None:
    if not (isinstance(node, Join) and node.how in ("semi", "anti") and node.right_on):
        return None
    keys = plain_column_names(node.right_on)
    if keys is None:
        return None
    right = _key_set(node.right, keys)
    return None if right is None else replace(node, right=right)


def _key_set(plan: LogicalPlan, keys: list[str]) -> LogicalPlan | None:
    """A plan holding the same set of ``keys`` values as ``plan`` (columns of the same names and
    types; other columns may differ), cheaper to compute; None when none is known."""
    if isinstance(plan, Project):
        sources = column_sources(plan.exprs)
        if not all(k in sources for k in keys):
            return None
        below = _key_set(plan.input, [sources[k] for k in keys])
        if below is None:
            return None
        wanted = [e for e in plan.exprs if e.output_name() in keys]
        return Project(below, tuple(wanted))
    if isinstance(plan, Filter) and isinstance(plan.input, Join):
        return _unequal_pair(plan, plan.input, keys)
    if isinstance(plan, Join) and plan.how == "inner" and plan.left_on:
        return _as_semi(plan, keys)
    return None


def _disjoint(join: Join) -> bool:
    return not (set(join.left.schema.names) & set(join.right.schema.names))


def _as_semi(join: Join, keys: list[str]) -> LogicalPlan | None:
    """An inner join whose ``keys`` all come from one side: that side semi-joined with the other."""
    if not _disjoint(join):
        return None
    if all(k in join.left.schema for k in keys):
        return replace(join, how="semi")
    if all(k in join.right.schema for k in keys):
        return replace(join, left=join.right, right=join.left, left_on=join.right_on, right_on=join.left_on, how="semi")
    return None


def _unequal_pair(filt: Filter, join: Join, keys: list[str]) -> LogicalPlan | None:
    """``Filter(a.c != b.c)`` over ``Join inner(A, B)`` whose ``keys`` are join keys of one side:
    the join of the two sides' min and max of ``c`` per join key, filtered on their differing."""
    if join.how != "inner" or not join.left_on or not _disjoint(join):
        return None
    pred = filt.predicate
    if not (isinstance(pred, Call) and pred.name == "neq" and len(pred.args) == 2):
        return None
    a, b = (strip_alias(x) for x in pred.args)
    if not (isinstance(a, Column) and isinstance(b, Column)):
        return None
    left, right = join.left, join.right
    if a.name in right.schema and b.name in left.schema:
        a, b = b, a
    if not (a.name in left.schema and b.name in right.schema):
        return None
    if left.schema[a.name].is_float() or right.schema[b.name].is_float():
        return None
    lkeys, rkeys = plain_column_names(join.left_on), plain_column_names(join.right_on)
    if lkeys is None or rkeys is None:
        return None
    if not (all(k in lkeys for k in keys) or all(k in rkeys for k in keys)):
        return None

    def bounds(side: LogicalPlan, side_keys: list[str], c: Column) -> tuple[Aggregate, Column, Column] | None:
        lo, hi = f"{c.name}.min", f"{c.name}.max"
        if lo in side.schema or hi in side.schema or c.name in side_keys:
            return None
        agg = Aggregate(side, tuple(Column(k) for k in dict.fromkeys(side_keys)),
                        (AggCall("min", c).alias(lo), AggCall("max", c).alias(hi)))
        return agg, Column(lo), Column(hi)

    lb, rb = bounds(left, lkeys, a), bounds(right, rkeys, b)
    if lb is None or rb is None:
        return None
    (lagg, alo, ahi), (ragg, blo, bhi) = lb, rb
    if set(lagg.schema.names) & set(ragg.schema.names):
        return None
    differ = Call("or", (Call("neq", (alo, bhi)), Call("neq", (ahi, blo))))
    return Filter(replace(join, left=lagg, right=ragg), differ)
