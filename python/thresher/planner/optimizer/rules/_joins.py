"""Helpers for the join rules: when two inner joins may trade places without renaming columns."""

from __future__ import annotations

from thresher.expressions.expr import Column, Expr
from thresher.planner.logical import Join, LogicalPlan, Project


def plain_inner(j: LogicalPlan) -> bool:
    return isinstance(j, Join) and j.how == "inner" and bool(j.left_on)


def no_suffixes(j: Join) -> bool:
    """No output column of ``j`` was renamed with the suffix (names are all distinct)."""
    dropped = j.coalesced_right_keys()
    left = j.left.schema.names_view
    return not any(f.name in left for f in j.right.schema.fields if f.name not in dropped)


def reorder_to(plan: LogicalPlan, names: list[str]) -> LogicalPlan:
    """``plan`` with its columns in the order ``names`` (a projection when they differ)."""
    if plan.schema.names == names:
        return plan
    exprs: tuple[Expr, ...] = tuple(Column(n) for n in names)
    return Project(plan, exprs)
