"""semi_join_pushdown: a semi or anti join moves below the joins under it, to the side its keys use
(below an inner join only where that is estimated to be no more work; above one where it is less).

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

Below an inner join only where that is not estimated to be more work: the semi join then tests
every row of the side (``S`` rows) instead of the join's output (``J``), and saves the inner join
the rows it removes (half, as ``planner.stats`` guesses), so it moves when ``S / 2 <= J``. Rows
come from ``join_order.estimated_rows`` (key joins as join_order estimates them). TPC-H Q21's
three semi joins on the order key stay above the join of the late lineitems with the one nation's
suppliers (a 25th of them); below it they probed all 3.8M late lines (SF1, the Polars program's
CPU time, same process, alternating, median of 5: 1,453 -> 1,166 ms; Polars' own plan of the
query 1,166). The other way round, a semi/anti join written directly on an input of an inner join
whose output is estimated smaller than ``S / 2`` moves up, above it (TPC-H Q16 written with the
DataFrame API: ``partsupp.join(complaints, how="anti").join(parts)`` tests the 120,000 rows of
the join, not all 800,000 of partsupp, as Polars' own plan does: 75 -> 61 ms CPU, Polars 59).
Where either estimate is unknown a semi join moves down and never up.

It does not move below a filter over a cross join with one row (a scalar subquery compared with
every row: TPC-H Q22's ``c_acctbal > (select avg(c_acctbal) ...) and not exists (...)``): the
cross join keeps every row and the filter removes rows, so the semi/anti join above tests fewer of
them, and the Polars program's hash join then builds from the filtered rows and gives the scan
under its probe side a tighter runtime filter (Q22 SF1 DataFrame API, same process, alternating,
median of 11: 55.2 -> 45.2 ms wall, 82.5 -> 74.0 ms CPU, Polars lazy 36.6/63.7; the SQL text
70.3 -> 62.2 ms). It moved there while the one-row join was lowered to a join on a constant key,
which hid the row count from Polars' runtime filters.
"""

from __future__ import annotations

from thresher.planner.logical import Join, LogicalPlan
from thresher.planner.optimizer.rules._util import plan_has, rewrite_top_down
from thresher.planner.optimizer.rules.join_order import estimated_rows
from thresher.planner.optimizer.rules.semi_join_reduction import grouped_on
from thresher.planner.stats import SEMI_JOIN_KEEPS


def _semi_join(node: LogicalPlan) -> bool:
    return isinstance(node, Join) and node.how in ("semi", "anti")

#: a plan projection_pushdown narrowed from one this rule left unchanged stays unchanged (the runner
#: skips it there; ``optimize(validate=True)`` runs it and checks):
QUIET_AFTER_NARROWING = ("it decides on join kinds and keys (kept), the names two join sides share "
                         "(kept) and row estimates (which no column count changes)")


#: its output is its own fixpoint: ``apply`` walks what it made again until no join moves (each
#: walk after the first visits only the nodes the one before made: see rewrite_top_down's memo),
#: so the runner does not rerun it on its own output, nor after a rule that only narrows the plan
#: (QUIET_AFTER_NARROWING) or sets join strategies (TPC-H q16: no second pass of it)
IDEMPOTENT = True

#: walks of one ``apply`` at most
_MAX_WALKS = 64


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    if not plan_has(plan, _semi_join, only=(Join,)):
        return None
    out = rewrite_top_down(plan, _place, only=(Join,))
    if out is None:
        return None
    for _ in range(_MAX_WALKS):
        again = rewrite_top_down(out, _place, only=(Join,))
        if again is None:
            break
        out = again
    return out


def _place(node: LogicalPlan) -> LogicalPlan | None:
    if not isinstance(node, Join):
        return None
    if node.how == "inner":
        return _lift(node)
    return _push(node)


def _on(semi: Join, left: LogicalPlan) -> Join:
    """The semi/anti join ``semi`` over ``left``: ``dataclasses.replace(semi, left=left)`` without
    its look-up of the dataclass's fields."""
    return Join(left, semi.right, semi.left_on, semi.right_on, semi.how, semi.suffix, semi.strategy,
                semi.nulls_equal)


def _cheaper_below(side: LogicalPlan, join: Join) -> bool:
    """Whether a semi/anti join is estimated no more work on ``side`` (an input of the inner join
    ``join``) than on ``join``'s output (unknown estimates: yes). On the left input of a join with
    a group-by on its keys (a decorrelated subquery) always: there it also filters the keys the
    group-by computes (see ``semi_join_reduction``; the Polars program semi-joins the group-by's
    input with the filtered left side). Lifting TPC-H Q20's semi join with the forest parts above
    partsupp's join with its lineitem sums lost that: 84 -> 157 ms."""
    if side is join.left and grouped_on(join.right, join.right_on) is not None:
        return True
    s, j = estimated_rows(side), estimated_rows(join)
    return s is None or j is None or s * SEMI_JOIN_KEEPS <= j


def _lift(node: Join) -> LogicalPlan | None:
    """``inner(semi(X, R), Y)`` -> ``semi(inner(X, Y), R)`` where the join is estimated to give
    fewer rows than the semi join would test on ``X`` (see the module docstring); the keys must
    reach the join's output under their own names."""
    if not node.left_on:
        return None
    names_l, names_r = set(node.left.schema.names_view), set(node.right.schema.names_view)
    coalesced = node.coalesced_right_keys()
    if names_l & (names_r - coalesced):
        return None  # suffixed names
    for is_left in (True, False):
        semi = node.left if is_left else node.right
        if not (isinstance(semi, Join) and semi.how in ("semi", "anti") and semi.left_on):
            continue
        keys: set[str] = set()
        for e in semi.left_on:
            keys |= e.columns()
        if not is_left and keys & coalesced:
            continue
        # (a semi/anti join's schema is its left input's, the same object: the join rebuilt on
        # that input keeps its own schema, not derived again; see LogicalPlan._with_inputs)
        without = node.with_children((semi.left, node.right) if is_left else (node.left, semi.left))
        assert isinstance(without, Join)
        if _cheaper_below(semi.left, without):
            continue
        return _on(semi, without)
    return None


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
        if below.how == "inner" and not _cheaper_below(below.left, below):
            return None
        return below.with_children((_on(node, below.left), below.right))
    if below.how == "inner" and keys <= right_names and not keys & below.coalesced_right_keys():
        if not _cheaper_below(below.right, below):
            return None
        return below.with_children((below.left, _on(node, below.right)))
    return None
