"""cheap_predicate_first: filter terms run cheapest first, each cost class in its own filter.

Before::

    Filter (is_cat(col("img")) & (col("bytes").image.width() > 256)) & (col("label") == "cat")
      Scan t

After::

    Filter is_cat(col("img"))                      # model: sees what both cheaper filters kept
      Filter (col("bytes").image.width() > 256)    # io: a header read per row
        Filter (col("label") == "cat")             # scalar: vectorized
          Scan t

A conjunction is split and its terms grouped by cost class (``scalar`` < ``io`` < ``decode`` <
``model``; from ``FunctionSpec.cost`` of each function called and the ``cost`` hint of each UDF),
cheapest group lowest. Within a group terms are ordered by their estimated cost per row
(``expressions.cost.expr_cost``). Separate filter nodes matter: a filter evaluates its whole predicate
on every input row, so an expensive term only saves work once the cheap ones have already dropped
rows. Filters commute, so the result is unchanged. ``merge_filters`` leaves a filter over a
cheaper one alone, and ``predicate_pushdown`` moves terms past a cheaper filter, so the split
survives the fixpoint.
"""

from __future__ import annotations

from itertools import groupby

from thresher.expressions.cost import cost_class, cost_rank, expr_cost
from thresher.expressions.expr import Expr, combine_conjunction, memo, split_conjunction
from thresher.planner.logical import Filter, LogicalPlan
from thresher.planner.optimizer.rules._util import rewrite_bottom_up


def order_terms(terms: list[Expr]) -> list[list[Expr]]:
    """Terms grouped by cost class, cheapest group first, each group cheapest term first."""
    # (each term's cost once per term object: a filter's terms are ordered again in every pass)
    ranked = sorted(enumerate(terms), key=lambda it: (cost_rank(cost_class(it[1])),
                                                      memo(it[1], "_memo_expr_cost", expr_cost), it[0]))
    return [[t for _, t in grp] for _, grp in groupby(ranked, key=lambda it: cost_rank(cost_class(it[1])))]


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    def visit(node: LogicalPlan) -> LogicalPlan | None:
        if not isinstance(node, Filter):
            return None
        terms = split_conjunction(node.predicate)
        if len(terms) == 1:
            return None  # one term: one group, as it is
        groups = order_terms(terms)
        flat = [t for g in groups for t in g]
        if len(groups) == 1 and all(a is b for a, b in zip(flat, terms)):
            return None
        out: LogicalPlan = node.input
        for g in groups:
            out = Filter(out, combine_conjunction(g))
        return out

    return rewrite_bottom_up(plan, visit, only=(Filter,))
