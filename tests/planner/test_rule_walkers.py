"""The rule walkers' memo tables (planner/memo.py) and their ``only`` pruning (plan_kinds): within
one optimize() scope, a subtree another rule changed is walked again, with a fresh scope's answer."""

from __future__ import annotations

from planner_helpers import replaced

import thresher as th
from thresher import col
from thresher.planner.logical import Filter, Join, Limit, LogicalPlan, Project
from thresher.planner.memo import memo_scope
from thresher.planner.optimizer.rules import limit_pushdown, merge_filters
from thresher.planner.optimizer.rules._util import kinds_mask, plan_kinds, rewrite_bottom_up


def _plan() -> LogicalPlan:
    a = th.from_pydict({"k": [1, 2, 3], "x": [4, 5, 6]})
    b = th.from_pydict({"k": [1, 2], "y": [7, 8]})
    return a.filter(col("x") > 4).join(b, on="k").select("k", "x", "y").plan


def test_plan_kinds_says_which_node_classes_a_subtree_has():
    plan = _plan()
    with memo_scope():
        kinds = plan_kinds(plan)
        assert kinds & kinds_mask((Join,)) and kinds & kinds_mask((Filter,)) and kinds & kinds_mask((Project,))
        assert not kinds & kinds_mask((Limit,))
        join = next(n for n in plan.walk() if isinstance(n, Join))
        assert not plan_kinds(join.right) & kinds_mask((Join, Filter))


def test_a_limit_another_rule_puts_below_a_join_is_found_in_the_same_scope():
    # limit_pushdown walks only subtrees holding a Limit (only=(Limit,)): a plan without one
    # is left at once; a Limit put in later (new nodes) is walked to and pushed into its scan,
    # as a fresh scope does
    plan = _plan()
    join = next(n for n in plan.walk() if isinstance(n, Join))
    changed = replaced(plan, join.right, Limit(Project(join.right, (col("k"), col("y"))), 1))
    with memo_scope():
        assert limit_pushdown.apply(plan) is None
        in_scope = limit_pushdown.apply(changed)
    fresh = limit_pushdown.apply(changed)
    assert fresh is not None and in_scope == fresh


def test_a_bottom_up_rewrite_in_the_same_scope_sees_a_changed_subtree():
    # merge_filters (only=(Filter,)) leaves a plan with one filter alone; a second filter put
    # over it by another rule is merged in the same scope, as in a fresh one
    plan = _plan()
    flt = next(n for n in plan.walk() if isinstance(n, Filter))
    changed = replaced(plan, flt, Filter(flt, col("x") < 6))
    with memo_scope():
        assert merge_filters.apply(plan) is None
        in_scope = merge_filters.apply(changed)
    fresh = merge_filters.apply(changed)
    assert fresh is not None and in_scope == fresh


def test_only_skips_subtrees_without_those_classes():
    seen: list[type] = []

    def visit(node: LogicalPlan) -> LogicalPlan | None:
        seen.append(type(node))
        return None

    plan = _plan()
    with memo_scope():
        assert rewrite_bottom_up(plan, visit, only=(Filter,)) is None
    # fn sees only the filter (the class ``only`` names: at any other node it returns None and
    # is not called); the walk reaches it through the nodes above it, not the join's right input
    assert seen == [Filter]
    assert len(seen) < len(plan.walk())
    seen.clear()
    with memo_scope():
        assert rewrite_bottom_up(plan, visit) is None
    assert len(seen) == len(plan.walk())
