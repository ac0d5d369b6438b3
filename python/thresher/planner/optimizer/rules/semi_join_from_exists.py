"""semi_join_from_exists: a left join used only to test for a match becomes a semi or anti join.

Decorrelated ``EXISTS`` / ``IN`` / ``NOT EXISTS`` subqueries (sqlglot's ``unnest_subqueries``, or
a hand-written DataFrame) arrive as a left join against the distinct keys of the subquery plus a
null test on the joined key. Nothing else reads the right side, so the join is a semi join
(``IS NOT NULL``, the right side unique on the keys) or an anti join (``IS NULL``); the group-by
that made the keys distinct is dropped, since a semi/anti join only asks whether a key occurs.

Before::

    Aggregate keys=[col("o_orderpriority")] aggs=[count()]
      Filter col("u.l_orderkey").is_not_null()
        Join left on [col("o_orderkey") = col("u.l_orderkey")]
          Scan orders
          Project [col("__key0").alias("u.l_orderkey")]
            Aggregate keys=[col("l_orderkey").alias("__key0")] aggs=[count()]
              Scan lineitem

After::

    Aggregate keys=[col("o_orderpriority")] aggs=[count()]
      Join semi on [col("o_orderkey") = col("l_orderkey")]
        Scan orders
        Scan lineitem

An inner join one side of which no ancestor reads and which has at most one row (an
uncorrelated scalar subquery compared by equality) keeps each row of the other side at most
once, where its key matches: a semi join of the other side. TPC-DS q6's ``d_month_seq =
(SELECT DISTINCT d_month_seq ...)`` arrives as an inner join of date_dim with the checked one-row
value (first and count of the subquery's rows, see the SQL translator's scalar subquery check)::

    Join inner on [col("d.d_month_seq") = col("_u_0.d_month_seq")]
      Scan date_dim
      Project [col("__agg0").single_row_value(col("__agg1")).alias("_u_0.d_month_seq")]
        Aggregate keys=[] aggs=[col("d_month_seq").first().alias("__agg0"), count().alias("__agg1")]
          ...

becomes ``Join semi`` on the same keys (the check still runs: the value is the key). Polars
estimates a semi join's rows from its left side but has no estimate for a join with an
aggregate, and without one it gives the store_sales scan under the join with these dates no
runtime filter: q6's Polars program read every sale. (A side unique on its keys by a GROUP BY
or DISTINCT would convert the same way, but the semi joins it made in TPC-DS q23 and q64 moved
up and down the join regions pass after pass: q64 planned in 130 ms instead of 72, for no
faster run.)

The rewrites need to know that no ancestor reads a right-side column, so the rule walks the plan
top-down carrying the set of columns the ancestors use (projections and aggregates reset it).
"""

from __future__ import annotations

from thresher.expressions.expr import (
    Call,
    Column,
    Expr,
    column_sources,
    combine_conjunction,
    plain_column_names,
    split_conjunction,
    strip_alias,
)
from thresher.planner.logical import Aggregate, Distinct, Filter, Join, Limit, LogicalPlan, Project, Sort
from thresher.planner.optimizer.rules._util import plan_has, rule_memo

Needed = frozenset[str] | None  # None: every column is needed (the plan's output, or unknown)


def _filtered_left_join(node: LogicalPlan) -> bool:
    """A node :func:`_rewrite` may turn into a semi/anti join."""
    return (isinstance(node, Filter) and isinstance(node.input, Join) and node.input.how == "left"
            and bool(node.input.left_on))


def _grouped_semi_join(node: LogicalPlan) -> bool:
    """A semi/anti join whose right side's grouping :func:`_drop_grouping` drops."""
    return (isinstance(node, Join) and node.how in ("semi", "anti") and bool(node.left_on)
            and _drop_grouping(node.right, node.right_on)[0] is not node.right)


def _one_row_side_join(node: LogicalPlan) -> bool:
    """An inner join one side of which has at most one row (:func:`_inner_as_semi`)."""
    return (isinstance(node, Join) and node.how == "inner" and bool(node.left_on)
            and (_at_most_one_row(node.right) or _at_most_one_row(node.left)))


def _at_most_one_row(plan: LogicalPlan) -> bool:
    """An aggregate without keys (or LIMIT 1) under row-wise nodes."""
    while isinstance(plan, (Project, Filter, Sort, Limit)):
        if isinstance(plan, Limit) and plan.n <= 1:
            return True
        plan = plan.children()[0]
    return isinstance(plan, Aggregate) and not plan.keys


def _rewritable(node: LogicalPlan) -> bool:
    """A node of one of the three shapes the rule rewrites."""
    if isinstance(node, Filter):
        return _filtered_left_join(node)
    return _grouped_semi_join(node) or _one_row_side_join(node)


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    # what it rewrites: a filtered left join, a semi/anti join on a group-by's keys, an inner join
    # with a one-row side; a plan with none (most semi/anti joins are over plain inputs:
    # TPC-H q4, q16, q22) is not walked with the columns each node's ancestors read
    # (one walk asks all three: three walks each visited the plan's joins)
    if not plan_has(plan, _rewritable, only=(Filter, Join)):
        return None
    return _visit(rule_memo("semi_join_from_exists"), plan, None)


#: (id of a node, the columns needed of it) -> (the node, kept alive so its id is not reused; the
#: rewritten node or None): a subplan shared by several parents is visited once per distinct need
#: (and once per optimize() call: see rule_memo)
_Memo = dict[tuple[int, Needed], tuple[LogicalPlan, LogicalPlan | None]]


def _cols(exprs: tuple[Expr, ...] | list[Expr]) -> frozenset[str]:
    out: set[str] = set()
    for e in exprs:
        out |= e.columns()
    return frozenset(out)


def _child_needs(node: LogicalPlan, needed: Needed) -> list[Needed]:
    if isinstance(node, Project):
        return [_cols(node.exprs)]
    if isinstance(node, Aggregate):
        return [_cols([*node.keys, *node.aggs])]
    if needed is None:
        return [None] * len(node.children())
    if isinstance(node, Filter):
        return [needed | node.predicate.columns()]
    if isinstance(node, Sort):
        return [needed | _cols(node.by)]
    if isinstance(node, Limit):
        return [needed]
    if isinstance(node, Join) and node.how != "cross":
        ln, rn = set(node.left.schema.names), set(node.right.schema.names)
        if node.how in ("semi", "anti"):
            return [needed | _cols(node.left_on), _cols(node.right_on)]
        if ln & rn:  # suffixed names: keep it simple
            return [None, None]
        return [frozenset(needed & ln) | _cols(node.left_on), frozenset(needed & rn) | _cols(node.right_on)]
    return [None] * len(node.children())


def _visit(memo: _Memo, node: LogicalPlan, needed: Needed) -> LogicalPlan | None:
    hit = memo.get((id(node), needed))
    if hit is not None:
        return hit[1]
    out = _visit_node(memo, node, needed)
    memo[(id(node), needed)] = (node, out)
    return out


def _visit_node(memo: _Memo, node: LogicalPlan, needed: Needed) -> LogicalPlan | None:
    changed = False
    if isinstance(node, Filter) and needed is not None and isinstance(node.input, Join):
        new = _rewrite(node, needed)
        if new is not None:
            node, changed = new, True
    if isinstance(node, Join) and node.how == "inner" and node.left_on and needed is not None:
        new = _inner_as_semi(node, needed)
        if new is not None:
            node, changed = new, True
    if isinstance(node, Join) and node.how in ("semi", "anti") and node.left_on:
        right, right_on = _drop_grouping(node.right, node.right_on)
        if right is not node.right:
            # (a group-by has a NULL group where its input has a NULL key: a key set either way)
            node, changed = Join(node.left, right, node.left_on, right_on, node.how, node.suffix, node.strategy,
                                 node.nulls_equal), True
    kids = node.children()
    new_kids: list[LogicalPlan] = []
    kid_changed = False
    for k, nd in zip(kids, _child_needs(node, needed)):
        nk = _visit(memo, k, nd)
        kid_changed |= nk is not None
        new_kids.append(nk if nk is not None else k)
    if kid_changed:
        node, changed = node.with_children(new_kids), True
    return node if changed else None


def _rewrite(flt: Filter, needed: frozenset[str]) -> LogicalPlan | None:
    j = flt.input
    assert isinstance(j, Join)
    if j.how != "left" or not j.left_on or j.nulls_equal:
        return None  # (NULL keys that match each other: a matched right key may be NULL)
    right_names = set(j.right.schema.names)
    if right_names & set(j.left.schema.names):
        return None
    keys = [strip_alias(e) for e in j.right_on]
    if not all(isinstance(k, Column) for k in keys):
        return None
    key_names = {k.name for k in keys if isinstance(k, Column)}
    terms = split_conjunction(flt.predicate)
    how, pick = None, -1
    for i, t in enumerate(terms):
        if isinstance(t, Call) and t.name in ("is_not_null", "is_null") and len(t.args) == 1:
            arg = strip_alias(t.args[0])
            if isinstance(arg, Column) and arg.name in key_names:
                how, pick = ("semi" if t.name == "is_not_null" else "anti"), i
                break
    if how is None:
        return None
    rest = [t for i, t in enumerate(terms) if i != pick]
    if (needed | _cols(rest)) & right_names:
        return None
    # a semi join keeps each left row once; the left join kept it once per match
    if how == "semi" and not _unique_on(j.right, {k.name for k in keys if isinstance(k, Column)}):
        return None
    right, right_on = _drop_grouping(j.right, tuple(j.right_on))
    joined = Join(j.left, right, j.left_on, right_on, how, j.suffix, "auto")
    return Filter(joined, combine_conjunction(rest)) if rest else joined


def _inner_as_semi(j: Join, needed: frozenset[str]) -> Join | None:
    """``j`` as a semi join of one side with the other, where no ancestor reads the other side and
    it has at most one row (each row of the kept side then matches at most once, as a semi join
    keeps it; NULL keys match in neither)."""
    ln, rn = set(j.left.schema.names), set(j.right.schema.names)
    if ln & rn:  # suffixed names
        return None
    if not needed & rn and _at_most_one_row(j.right):
        return Join(j.left, j.right, j.left_on, j.right_on, "semi", j.suffix, j.strategy, j.nulls_equal)
    if not needed & ln and _at_most_one_row(j.left):
        return Join(j.right, j.left, tuple(strip_alias(k) for k in j.right_on), j.left_on, "semi", j.suffix, "auto",
                    j.nulls_equal)
    return None


def _unique_on(plan: LogicalPlan, names: set[str]) -> bool:
    """True when no two rows of ``plan`` agree on all of ``names``."""
    if isinstance(plan, Project):
        mapped: set[str] = set()
        for e in plan.exprs:
            if e.output_name() in names:
                src = strip_alias(e)
                if isinstance(src, Column):
                    mapped.add(src.name)
        return _unique_on(plan.input, mapped)
    if isinstance(plan, (Filter, Sort, Limit)):
        return _unique_on(plan.children()[0], names)
    if isinstance(plan, Aggregate):
        return {k.output_name() for k in plan.keys} <= names
    if isinstance(plan, Distinct):
        subset = set(plan.subset) if plan.subset is not None else set(plan.schema.names)
        return subset <= names
    return False


def _drop_grouping(right: LogicalPlan, right_on: tuple[Expr, ...]) -> tuple[LogicalPlan, tuple[Expr, ...]]:
    """``[Project renames]* Aggregate(keys)`` joined on its keys → the aggregate's input, on the key exprs."""
    names = plain_column_names(right_on)
    if names is None:
        return right, right_on
    node = right
    while isinstance(node, Project):
        srcs = column_sources(node.exprs)
        if not all(n in srcs for n in names):
            return right, right_on
        names = [srcs[n] for n in names]
        node = node.input
    if not isinstance(node, Aggregate) or not node.keys:
        return right, right_on
    key_exprs = {k.output_name(): strip_alias(k) for k in node.keys}
    if not all(n in key_exprs for n in names):
        return right, right_on
    return node.input, tuple(key_exprs[n] for n in names)
