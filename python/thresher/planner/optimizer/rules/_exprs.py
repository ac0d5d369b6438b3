"""Expression-level helpers shared by rules: rewriting every expression of every node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from thresher.expressions.expr import Expr
from thresher.planner.logical import Aggregate, Filter, Join, LogicalPlan, Project, Sort, Window
from thresher.planner.optimizer.rules._util import expr_rewriter, rewrite_bottom_up


def map_node_exprs(node: LogicalPlan, fn: Callable[[Expr], Expr]) -> LogicalPlan | None:
    """``node`` with ``fn`` applied to each of its expressions (None if none changed).

    Output names are kept: a rewritten expression whose name changed is aliased back.
    """

    def f(e: Expr) -> Expr:
        new = fn(e)
        if new is not e and new.output_name() != e.output_name():
            new = new.alias(e.output_name())
        return new

    def same(a: tuple[Expr, ...], b: tuple[Expr, ...]) -> bool:
        return all(x is y or x.key() == y.key() for x, y in zip(a, b))

    if isinstance(node, Project):
        exprs = tuple(f(e) for e in node.exprs)
        return None if same(exprs, node.exprs) else Project(node.input, exprs)
    if isinstance(node, Filter):
        p = fn(node.predicate)
        return None if p is node.predicate or p.key() == node.predicate.key() else Filter(node.input, p)
    if isinstance(node, Aggregate):
        keys, aggs = tuple(f(e) for e in node.keys), tuple(f(e) for e in node.aggs)
        return None if same(keys, node.keys) and same(aggs, node.aggs) else Aggregate(node.input, keys, aggs)
    if isinstance(node, Sort):
        by = tuple(f(e) for e in node.by)
        return None if same(by, node.by) else Sort(node.input, by, node.descending, node.nulls_last)
    if isinstance(node, Window):
        exprs = tuple(f(e) for e in node.exprs)
        return None if same(exprs, node.exprs) else replace(node, exprs=exprs)
    if isinstance(node, Join):
        return None
    return None


def rewrite_exprs(plan: LogicalPlan, fn: Callable[[Expr], Expr | None]) -> LogicalPlan | None:
    """Apply the bottom-up expression rewrite ``fn`` to every expression in the plan."""

    rewrite = expr_rewriter(fn)

    def visit(node: LogicalPlan) -> LogicalPlan | None:
        return map_node_exprs(node, rewrite)

    return rewrite_bottom_up(plan, visit)
