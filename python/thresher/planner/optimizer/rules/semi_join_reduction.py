"""semi_join_reduction: a group-by joined on its keys only aggregates the keys the other side has.

A decorrelated scalar subquery (TPC-H Q2, Q17: ``l_quantity < (SELECT 0.2 * avg(l_quantity)
FROM lineitem WHERE l_partkey = p_partkey)``) becomes a join against a group-by on the
correlation key. Groups whose key the outer side never has are computed and then thrown away by
the join. When the outer side gets its keys from a filtered input below its joins (the parts of
one brand and container), a semi join against that input before the group-by keeps only the rows
that can matter (the "magic set" rewrite; DuckDB's delim join does the same).

Before::

    Join inner on [col("p_partkey") = col("k")]
      Join inner on [col("l_partkey") = col("p_partkey")]
        Scan lineitem
        Scan part predicate=[p_brand == 'Brand#23']
      Aggregate keys=[col("l_partkey").alias("k")] aggs=[col("l_quantity").mean()]
        Scan lineitem

After::

    Join inner on [col("p_partkey") = col("k")]
      Join inner on [col("l_partkey") = col("p_partkey")]
        Scan lineitem
        Scan part predicate=[p_brand == 'Brand#23']
      Aggregate keys=[col("l_partkey").alias("k")] aggs=[col("l_quantity").mean()]
        Join semi on [col("l_partkey") = col("p_partkey")]
          Scan lineitem
          Scan part predicate=[p_brand == 'Brand#23']

The key source is found by walking down the outer side's inner joins to the side that holds the
keys (following equi-join keys to the other side, taking the side estimated smaller); it must be
strictly below the outer side (so nothing big runs twice), or be the outer side itself where that
is a filtered read of one table (cheap to read twice), and estimated at a tenth of the group-by's
input or less (``planner.stats``), so the semi join removes most of it.

Inner joins commute, so a group-by on the left side is reduced too, with the whole right side as
the key source (a filtered scan). TPC-DS q2 sums web and catalog sales per week
(``wswscs``) and joins each of its two uses with the weeks of one year::

    Join inner on [col("wswscs.d_week_seq") = col("date_dim.d_week_seq")]
      Project [...] Aggregate keys=[col("date_dim.d_week_seq")] aggs=[...]
        Join inner on [col("sold_date_sk") = col("date_dim.d_date_sk")]
          Union [web_sales, catalog_sales]
          Scan date_dim
      Scan date_dim predicate=[d_year == 2001]

Each use now sums only that year's sales (``Join semi`` of the aggregate's input with
``Scan date_dim predicate=[d_year == 2001]`` on the week, which semi_join_pushdown moves onto
the inner date_dim): two group-bys over a fifth of the sales each instead of one shared group-by
over all of them (SF1: 274 -> 219 ms CPU). A group-by on the left with a key source deeper in
the right side is left alone: TPC-DS q83's three per-item sums then each semi-joined the items
with store returns in those weeks, 47 -> 56 ms.
"""

from __future__ import annotations

import math
from dataclasses import replace

from thresher.expressions.expr import Column, Expr, strip_alias
from thresher.planner.logical import Aggregate, Filter, Join, LogicalPlan, Project, ScanSource
from thresher.planner.optimizer.rules._util import rewrite_bottom_up, substitute
from thresher.planner.stats import estimate

#: the key source must be estimated at this fraction of the group-by's input or less
SELECTIVITY = 0.1

#: a plan projection_pushdown narrowed from one this rule left unchanged stays unchanged (the runner
#: skips it there; ``optimize(validate=True)`` runs it and checks):
QUIET_AFTER_NARROWING = ("it decides on join and group-by keys (kept), the names two join sides share "
                         "(kept), filters and row estimates (which no column count changes)")


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    return rewrite_bottom_up(plan, _reduce, only=(Join,))


def _reduce(node: LogicalPlan) -> LogicalPlan | None:
    if not (isinstance(node, Join) and node.how in ("inner", "left") and node.left_on):
        return None
    right = _reduced(node.left, node.left_on, node.right, node.right_on, node.nulls_equal)
    if right is not None:
        return replace(node, right=right)
    if node.how == "inner":  # (inner joins commute: the group-by may be the left side)
        left = _reduced(node.right, node.right_on, node.left, node.left_on, node.nulls_equal, whole_only=True)
        if left is not None:
            return replace(node, left=left)
    return None


def _reduced(outer: LogicalPlan, outer_on: tuple[Expr, ...], grouped: LogicalPlan,
             grouped_keys: tuple[Expr, ...], join_nulls_equal: bool, whole_only: bool = False) -> LogicalPlan | None:
    """``grouped`` with its group-by's input semi-joined with the key source below ``outer`` (with
    ``whole_only``, only with ``outer`` itself, a filtered scan)."""
    found = grouped_on(grouped, grouped_keys)
    if found is None:
        return None
    agg, key_exprs = found
    lk_cols: set[str] = set()
    for e in outer_on:
        lk_cols |= e.columns()
    located = _key_source(outer, {c: c for c in lk_cols})
    if located is None:
        return None
    source, names = located
    if (source is outer and not _scan_only(source)) or (whole_only and source is not outer):
        return None
    if not _selective(source, agg.input):
        return None
    key_cols: set[str] = set()
    for e in key_exprs:
        key_cols |= e.columns()
    if _already_reduced(agg.input, set(names.values()), key_cols):
        return None
    on = tuple(substitute(strip_alias(e), {c: Column(n) for c, n in names.items()}) for e in outer_on)
    # (a join whose NULL keys match meets the group-by's NULL group: the semi join keeps the NULL
    # keys where the key source has one, as the outer side has)
    reduced = replace(agg, input=Join(agg.input, source, key_exprs, on, "semi", nulls_equal=join_nulls_equal))
    return _replace_node(grouped, agg, reduced)


def _scan_only(node: LogicalPlan) -> bool:
    """A filtered (and projected) read of one table: cheap to read a second time for the keys,
    and a filter of the group-by's input (an unfiltered dimension holds every key)."""
    return _filtered(node) and _one_scan(node)


def _one_scan(node: LogicalPlan) -> bool:
    while isinstance(node, (Project, Filter)):
        node = node.input
    return isinstance(node, ScanSource)


def grouped_on(right: LogicalPlan, right_on: tuple[Expr, ...]) -> tuple[Aggregate, tuple[Expr, ...]] | None:
    """``right`` is ``[Project renames | Filter]* Aggregate`` grouped on exactly the join keys."""
    names: list[str] = []
    for e in right_on:
        k = strip_alias(e)
        if not isinstance(k, Column):
            return None
        names.append(k.name)
    node = right
    while isinstance(node, (Project, Filter)):
        if isinstance(node, Project):
            srcs = {e.output_name(): strip_alias(e) for e in node.exprs}
            mapped = [srcs.get(n) for n in names]
            if not all(isinstance(m, Column) for m in mapped):
                return None
            names = [m.name for m in mapped if isinstance(m, Column)]
        node = node.input
    if not isinstance(node, Aggregate) or not node.keys:
        return None
    keys = {k.output_name(): strip_alias(k) for k in node.keys}
    if set(keys) != set(names):
        return None
    return node, tuple(keys[n] for n in names)


def _already_reduced(node: LogicalPlan, lk_cols: set[str], key_cols: set[str]) -> bool:
    """A semi join on these keys is already somewhere below (semi_join_pushdown may have moved it):
    one from this key source (``lk_cols``, its column names), or any semi join on the group-by
    keys (``key_cols``). Without the second test, a join chain whose order join_reorder flips
    (TPC-DS q83: three grouped inputs joined on one key) gets one more semi join, from another
    source, on every pass of the fixpoint loop: the plan grew until the pass limit."""
    if isinstance(node, Join) and node.how == "semi":
        cols: set[str] = set()
        for e in node.right_on:
            cols |= e.columns()
        left: set[str] = set()
        for e in node.left_on:
            left |= e.columns()
        if cols == lk_cols or left == key_cols:
            return True
    return any(_already_reduced(c, lk_cols, key_cols) for c in node.children())


def _key_source(node: LogicalPlan, names: dict[str, str]) -> tuple[LogicalPlan, dict[str, str]] | None:
    """The deepest input below ``node``'s inner joins that holds the key columns.

    ``names`` maps each key column to its name at the current node; an equi-join key may be
    followed to the other side's key (``a = b``: the rows that survive have both), and the walk
    prefers a filtered side.
    """
    while isinstance(node, Join) and node.how in ("inner", "left") and node.left_on:
        ln, rn = set(node.left.schema.names), set(node.right.schema.names)
        dropped = node.coalesced_right_keys()
        if ln & (rn - dropped):
            break  # suffixed names
        cols = set(names.values())
        pairs = {}
        if node.how == "inner":
            for le, re_ in zip(node.left_on, node.right_on):
                a, b = strip_alias(le), strip_alias(re_)
                if isinstance(a, Column) and isinstance(b, Column):
                    pairs[a.name] = b.name
        options: list[tuple[LogicalPlan, dict[str, str]]] = []
        if cols <= ln:
            options.append((node.left, names))
        if node.how == "inner":
            if cols <= rn and not cols & dropped:
                options.append((node.right, names))
            elif all(c in pairs for c in cols):
                options.append((node.right, {k: pairs[v] for k, v in names.items()}))
        if not options:
            break
        node, names = min(options, key=lambda o: _rows(o[0]))
    return (node, names) if set(names.values()) <= set(node.schema.names) else None


def _rows(node: LogicalPlan) -> float:
    rows = estimate(node).rows
    return math.inf if rows is None else rows


def _selective(source: LogicalPlan, grouped: LogicalPlan) -> bool:
    """Worth a semi join: the key source is estimated at a tenth of the group-by input or less
    (or, without statistics, it filters something)."""
    s, g = _rows(source), _rows(grouped)
    if math.isinf(s) or math.isinf(g):
        return _filtered(source)
    return s <= SELECTIVITY * g


def _filtered(node: LogicalPlan) -> bool:
    """Does ``node`` drop rows of its inputs somewhere (a filter, a scan predicate, a semi join)?"""
    if isinstance(node, Filter):
        return True
    if isinstance(node, ScanSource):
        return node.predicate is not None
    if isinstance(node, Join) and node.how == "semi":
        return True
    if isinstance(node, Aggregate):
        return False
    return any(_filtered(c) for c in node.children())


def _replace_node(root: LogicalPlan, old: LogicalPlan, new: LogicalPlan) -> LogicalPlan:
    if root is old:
        return new
    return root.with_children([_replace_node(c, old, new) for c in root.children()])
