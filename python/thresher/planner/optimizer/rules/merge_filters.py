"""merge_filters: two stacked filters become one conjunction, unless the lower one is cheaper.

Before::

    Filter (col("a") > 1)
      Filter (col("b") < 2)

After::

    Filter ((col("b") < 2) & (col("a") > 1))

Merging first lets predicate pushdown split the conjunction and move each term as far down as it
can go on its own (the split half of "filter merge/split"). A filter stacked on a *cheaper* one
(as ``cheap_predicate_first`` leaves a decode predicate over a scalar one) stays separate, so the
expensive predicate keeps seeing only the rows the cheap one let through.
"""

from __future__ import annotations

from thresher.expressions.cost import cost_class, cost_rank
from thresher.expressions.expr import combine_conjunction, split_conjunction
from thresher.planner.logical import Filter, LogicalPlan
from thresher.planner.optimizer.rules._util import rewrite_bottom_up

#: a plan projection_pushdown narrowed from one this rule left unchanged stays unchanged (the runner
#: skips it there; ``optimize(validate=True)`` runs it and checks):
QUIET_AFTER_NARROWING = "it merges a filter over a filter: narrowing moves, adds and removes no filter"
#: the rules after whose changes a plan this rule left unchanged stays unchanged (the runner does not
#: rerun it there; ``optimize(validate=True)`` runs it and checks)
QUIET_AFTER = {
    "semi_join_pushdown": "it decides on a filter directly over a filter, by their predicates; that rule "
                          "moves joins past joins (a join's place is taken by a join), making, moving and "
                          "removing no filter and changing no predicate",
}


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    def visit(node: LogicalPlan) -> LogicalPlan | None:
        if isinstance(node, Filter) and isinstance(node.input, Filter):
            inner = node.input
            if cost_rank(cost_class(node.predicate)) > cost_rank(cost_class(inner.predicate)):
                return None
            terms = split_conjunction(inner.predicate)
            keys = {t.key() for t in terms}
            terms += [t for t in split_conjunction(node.predicate) if t.key() not in keys]
            # both predicates type-checked (bool, no aggregate) over the same input's columns
            return Filter.of_checked_terms(inner.input, combine_conjunction(terms))
        return None

    return rewrite_bottom_up(plan, visit, only=(Filter,))
