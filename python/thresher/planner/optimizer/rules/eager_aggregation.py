"""eager_aggregation: a group-by over a join groups the join's big side on its join keys first.

TPC-DS q22 averages ``inv_quantity_on_hand`` by the item's product name, brand, class and
category over a year of the inventory table: millions of joined rows grouped on four strings,
where only 18,000 items meet. Grouping the inventory side on ``inv_item_sk`` first (partial
sums and counts) leaves 18,000 rows to join with the items and group on the strings.

Before::

    Aggregate keys=[i_brand] aggs=[col("inv_qty").mean()]
      Join inner on [inv_item_sk = i_item_sk]
        <inventory joined with the dates>
        Scan item

After::

    Project [i_brand, sum(s) / sum(c)]
      Aggregate keys=[i_brand] aggs=[col("s").sum(), col("c").sum()]
        Join inner on [inv_item_sk = i_item_sk]
          Aggregate keys=[inv_item_sk] aggs=[col("inv_qty").sum().alias("s"), col("inv_qty").count().alias("c")]
            <inventory joined with the dates>
          Scan item

The rows are the same whether or not the right side's keys are unique: a right row joined with
a partial group carries that group's sum, count, min or max once, as it would have met each of
the group's rows (``planner.partial_aggregates`` says how each aggregate combines; count
distinct, median and the like do not, and leave the plan alone). It applies where the
aggregates read only the left side, some group key comes from the right side (else grouping
first gains nothing), the names do not overlap, the partial group-by is estimated at a tenth
of the rows it groups or fewer (distinct counts of its keys from the file footers,
``planner.stats``) and the right side filters nothing (a join with a filtered side can drop most rows, the
estimates cannot say how many: TPC-DS q82 joins store_sales with the few items of an inventory
filter, and probing those is cheaper than grouping all the sales first). A left side that is itself a group-by is left alone (no second partial step).
The sides swap roles where the aggregates read the right side only (TPC-DS q74: customer joined
with the sales of two years), then the grouped side holds at most one join (``MAX_DEEP_JOINS``).

Where the join's other side filters or the groups are too many, the partial group-by may go
deeper: down a chain of inner joins whose other sides filter nothing, to the input (of at most
one join) that holds every column the aggregates read, grouped on the columns the joins above
and the group keys take from it (TPC-H q10: lineitem joined with a quarter's orders, grouped on
``o_custkey`` below the customer and nation joins; ``_eager_deep``).

A left join whose aggregates read only its right (optional) side, grouped by columns of its
left side, groups the right side on its join keys first (TPC-H q13: the orders of each
customer counted before 150,000 customers meet them, instead of after 1.5 million orders
did)::

    Aggregate keys=[c_custkey] aggs=[col("o_orderkey").count()]
      Join left on [c_custkey = o_custkey]
        Scan customer
        <orders>

    Aggregate keys=[c_custkey] aggs=[col("n").sum()]
      Join left on [c_custkey = o_custkey]
        Scan customer
        Aggregate keys=[o_custkey] aggs=[col("o_orderkey").count().alias("n")]
          <orders>

A left row without a match meets one NULL partial row, as it met one NULL-extended row: a sum
and a count of NULLs are 0, a min, max or mean NULL, either way. A count(*) counts that row and
leaves the plan alone. The join grouped the right side's rows anyway, so the partial group-by
need only be estimated at half the rows it groups or fewer; the left side must filter nothing
(a join with few left rows drops most right ones before they are grouped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from thresher.datatypes import Field, Schema
from thresher.expressions.expr import Column, Expr, plain_column_names, strip_alias
from thresher.planner.logical import Aggregate, Filter, Join, LogicalPlan, Project, ScanSource
from thresher.planner.optimizer.rules._util import rewrite_bottom_up, substitute
from thresher.planner.partial_aggregates import partial_aggregates
from thresher.planner.stats import column_ndv, estimate

#: the partial group-by must be estimated at most this fraction of the rows it groups
MAX_GROUP_FRACTION = 0.1
#: a partial group-by placed below a chain of joins groups an input holding at most this many
#: joins (the estimates of more inner joins compound: TPC-DS q25 joins three sales tables on
#: customer and item, estimated at millions of rows where a few hundred meet, and grouping them
#: first only cost time, 75 -> 107 ms CPU)
MAX_DEEP_JOINS = 1
#: the same for a left join's right side (whose rows the group-by above the join groups anyway)
MAX_GROUP_FRACTION_LEFT = 0.5


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    return rewrite_bottom_up(plan, _eager, only=(Aggregate,))


def _filters(node: LogicalPlan) -> bool:
    """Does ``node`` drop rows of its inputs somewhere (a filter, a scan predicate, a join other
    than a left or outer one)?"""
    if isinstance(node, Filter):
        return True
    if isinstance(node, ScanSource):
        return node.predicate is not None or node.limit is not None
    if isinstance(node, Join) and node.how not in ("left", "outer"):
        return True
    if not isinstance(node, (Project, Join)):
        return True  # anything else: assume it may
    return any(_filters(c) for c in node.children())


def _eager(node: LogicalPlan) -> LogicalPlan | None:
    if not (isinstance(node, Aggregate) and node.keys and node.aggs):
        return None
    below = node.input
    mapping: dict[str, Column] = {}
    if isinstance(below, Project):
        for e in below.exprs:
            src = strip_alias(e)
            if not isinstance(src, Column):
                return None
            if src.name != e.output_name():  # (a column passed through keeps its expressions' objects)
                mapping[e.output_name()] = src
        below = below.input
    if isinstance(below, Join) and below.how == "left" and below.right_on:
        return _eager_left(node, below, mapping)
    if not (isinstance(below, Join) and below.how == "inner" and below.left_on):
        return None
    left, right = below.left, below.right
    lnames, rnames = set(left.schema.names_view), set(right.schema.names_view)
    on = below.left_on
    agg_cols: set[str] = set()
    for a in node.aggs:
        agg_cols |= a.columns()
    if mapping:
        agg_cols = {mapping[c].name if c in mapping else c for c in agg_cols}
    if agg_cols and not agg_cols <= lnames and agg_cols <= rnames:
        # the aggregates read the right side (TPC-DS q74: customer joined with the sales of two
        # years): that side is grouped, the left one meets the groups, where it holds at most
        # one join (MAX_DEEP_JOINS; q7, q26 and q27 group store or catalog sales joined with
        # three filtered dimensions, estimated at all the sales where a few thousand meet, and
        # were 3-11% slower grouped first)
        left, right, lnames, rnames, on = right, left, rnames, lnames, below.right_on
    if _filters(right):
        return _eager_deep(node, below, mapping)
    if isinstance(left, Aggregate) or (left is not below.left and _joins(left) > MAX_DEEP_JOINS):
        return None
    if lnames & rnames:
        return None

    def over_join(e: Expr) -> Expr:
        return substitute(e, mapping, keep_name=True) if mapping else e

    def columns_over_join(e: Expr) -> set[str]:
        # the columns of over_join(e) (the mapping renames columns only), without building it:
        # most group-bys fail a check below, and substituting every expression of every one
        # of them was most of this rule's time
        cols = e.columns()
        return {mapping[c].name if c in mapping else c for c in cols} if mapping else cols

    if any(not columns_over_join(a) <= lnames for a in node.aggs):
        return None
    join_keys: list[str] = []
    for e in on:
        c = strip_alias(e)
        if not isinstance(c, Column):
            return None
        join_keys.append(c.name)
    key_cols: set[str] = set()
    for k in node.keys:
        key_cols |= columns_over_join(k)
    if not key_cols & rnames:
        return None
    group = list(dict.fromkeys(join_keys + sorted(key_cols & lnames)))
    if not _few_groups(left, group, MAX_GROUP_FRACTION):
        return _eager_deep(node, below, mapping)
    gcols = tuple(Column(g) for g in group)
    grouped_left = left is below.left

    def regroup(first: tuple[Expr, ...]) -> LogicalPlan:
        part = _partial(node, left, gcols, first)
        return replace(below, left=part) if grouped_left else replace(below, right=part)

    return _two_phase(node, tuple(over_join(k) for k in node.keys), tuple(over_join(a) for a in node.aggs),
                      rnames | set(group), regroup)


def _joins(node: LogicalPlan) -> int:
    """How many joins ``node`` holds."""
    return int(isinstance(node, Join)) + sum(_joins(c) for c in node.children())


def _eager_deep(node: Aggregate, join: Join, mapping: dict[str, Column]) -> LogicalPlan | None:
    """The partial group-by placed deeper, below a chain of inner joins (see the module's
    docstring): the deepest input of the chain that holds every column the aggregates read,
    reached through inner joins whose other sides filter nothing, grouped on the columns the joins
    above it and the group keys take from it, where that is estimated at a tenth of its rows or
    fewer. TPC-H Q10 sums a quarter's returned lineitems per customer, grouped on seven customer
    columns over ``nation ⋈ (customer ⋈ (lineitem ⋈ orders))``: the lineitem-orders join is
    grouped on ``o_custkey`` first (114,000 rows -> 38,000), so the customer and nation joins
    and the group-by on strings see a third of the rows (SF1: 279 -> 232 ms CPU by hand).

    Inner joins on plain columns commute and associate, so the grouped input meets the rest of
    the joins as it met them before: each partial row stands for the rows of its group, which
    agree on every column the joins above and the group keys read, and carries their partial
    sums, counts, minima or maxima."""
    agg_cols: set[str] = set()
    key_cols: set[str] = set()
    for a in node.aggs:
        agg_cols |= {mapping[c].name if c in mapping else c for c in a.columns()}
    for k in node.keys:
        key_cols |= {mapping[c].name if c in mapping else c for c in k.columns()}
    if not agg_cols:
        return None
    need = set(key_cols)
    path: list[tuple[Join, bool]] = []  # (join, the aggregated input is its left side)
    found: tuple[int, LogicalPlan, list[str]] | None = None
    cur: LogicalPlan = join
    while isinstance(cur, Join) and cur.how == "inner" and cur.left_on and not cur.nulls_equal:
        lnames, rnames = set(cur.left.schema.names_view), set(cur.right.schema.names_view)
        lk, rk = plain_column_names(cur.left_on), plain_column_names(cur.right_on)
        if lnames & rnames or lk is None or rk is None:
            break
        need |= set(lk) | set(rk)
        if agg_cols <= lnames:
            on_left, child, other = True, cur.left, cur.right
        elif agg_cols <= rnames:
            on_left, child, other = False, cur.right, cur.left
        else:
            break
        if _filters(other):
            break
        path.append((cur, on_left))
        if isinstance(child, Aggregate):
            return None  # (grouped already: no second partial step)
        names = child.schema.names
        group = [n for n in names if n in need]
        if group and len(path) > 1 and _joins(child) <= MAX_DEEP_JOINS and _few_groups(child, group, MAX_GROUP_FRACTION):
            found = (len(path), child, group)
        cur = child
    if found is None:
        return None
    depth, target, group = found
    taken = set(join.schema.names) - (set(target.schema.names) - set(group))

    def regroup(first: tuple[Expr, ...]) -> LogicalPlan:
        out: LogicalPlan = _partial(node, target, tuple(Column(g) for g in group), first)
        for j, on_left in reversed(path[:depth]):
            out = replace(j, left=out) if on_left else replace(j, right=out)
        return out

    keys = tuple(substitute(k, mapping, keep_name=True) if mapping else k for k in node.keys)
    aggs = tuple(substitute(a, mapping, keep_name=True) if mapping else a for a in node.aggs)
    return _two_phase(node, keys, aggs, taken, regroup)


def _two_phase(node: Aggregate, keys: tuple[Expr, ...], aggs: tuple[Expr, ...], taken: set[str],
               regroup: Callable[[tuple[Expr, ...]], LogicalPlan]) -> LogicalPlan | None:
    """``node`` as a partial aggregate (``regroup`` places the first phase of ``aggs`` below the
    join) and a final one over the join by ``keys``; None when ``aggs`` do not split, a partial
    result's name is ``taken`` (a column of the join's other side or a group key), or the result's
    schema would not be ``node``'s."""
    split = partial_aggregates(aggs, node.input.schema)
    if split is None:
        return None
    first, second, final = split
    if {a.output_name() for a in first} & taken:
        return None
    out: LogicalPlan = Aggregate(regroup(first), keys, second)
    if any(not isinstance(f, Column) for f in final):
        out = Project(out, tuple(Column(k.output_name()) for k in keys) + final)
    if [(f.name, f.dtype) for f in out.schema.fields] != [(f.name, f.dtype) for f in node.schema.fields]:
        return None
    return out


def _few_groups(plan: LogicalPlan, group: list[str], fraction: float) -> bool:
    """Whether grouping ``plan`` by ``group`` is estimated to leave at most ``fraction`` of its
    rows (False when its rows or a column's distinct values are unknown)."""
    rows = estimate(plan).rows
    if rows is None:
        return False
    groups = 1.0
    for g in group:
        n = column_ndv(plan, g)
        if n is None:
            return False
        groups *= n
    return groups <= fraction * rows


def _eager_left(node: Aggregate, join: Join, mapping: dict[str, Column]) -> LogicalPlan | None:
    """The left-join form (see the module's docstring): ``node`` groups ``join`` (through the
    renaming ``mapping``) by left columns and aggregates right ones."""
    left, right = join.left, join.right
    if isinstance(right, Aggregate) or _filters(left):
        return None
    lnames, rnames = set(left.schema.names_view), set(right.schema.names_view)
    if lnames & rnames:
        return None

    def columns_over_join(e: Expr) -> set[str]:
        return {mapping[c].name if c in mapping else c for c in e.columns()}

    for a in node.aggs:
        cols = columns_over_join(a)
        if not cols or not cols <= rnames:  # (a count(*) counts the NULL-extended rows too)
            return None
    if any(not columns_over_join(k) <= lnames for k in node.keys):
        return None
    join_keys = plain_column_names(join.right_on)
    if join_keys is None:
        return None
    group = list(dict.fromkeys(join_keys))
    if not _few_groups(right, group, MAX_GROUP_FRACTION_LEFT):
        return None
    keys = tuple(substitute(k, mapping, keep_name=True) if mapping else k for k in node.keys)
    aggs = tuple(substitute(a, mapping, keep_name=True) if mapping else a for a in node.aggs)
    gcols = tuple(Column(g) for g in group)
    return _two_phase(node, keys, aggs, lnames | set(group),
                      lambda first: replace(join, right=Aggregate(right, gcols, first)))


def _partial(node: Aggregate, left: LogicalPlan, keys: tuple[Column, ...], first: tuple[Expr, ...]) -> Aggregate:
    """``Aggregate(left, keys, first)``: where each partial aggregate is its aggregate of ``node``
    again (a sum, count, min or max of the same input, renamed), its type is that aggregate's
    in ``node`` (the columns it reads have the same fields in ``left`` as in ``node``'s input:
    an inner join and a renaming projection keep them), so the node's schema is built from
    ``node``'s instead of resolving every aggregate again (TPC-DS q66: two group-bys of 48
    CASE sums each, ~2 ms apiece). A mean (a sum and a count) is derived as usual."""
    if len(first) != len(node.aggs):
        return Aggregate(left, keys, first)
    fields = []
    for k in keys:
        f = left.schema.field(k.name)
        if f.dtype.is_media():
            return Aggregate(left, keys, first)  # (the constructor reports it)
        fields.append(Field(k.name, f.dtype))
    aggs = node.schema.fields[len(node.keys):]
    fields += [Field(a.output_name(), f.dtype) for a, f in zip(first, aggs)]
    return Aggregate.of_checked_fields(Schema(fields), input=left, keys=keys, aggs=first)
