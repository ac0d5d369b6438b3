"""Helpers shared by rules: bottom-up tree rewriting and expression substitution."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from thresher.expressions.expr import Alias, Column, Expr
from thresher.planner.logical import LogicalPlan


def rewrite_bottom_up(plan: LogicalPlan, fn: Callable[[LogicalPlan], LogicalPlan | None]) -> LogicalPlan | None:
    """Apply ``fn`` to every node, children first; return the new tree or None if unchanged."""
    kids = plan.children()
    new_kids = []
    changed = False
    for k in kids:
        nk = rewrite_bottom_up(k, fn)
        if nk is not None:
            changed = True
            new_kids.append(nk)
        else:
            new_kids.append(k)
    node = plan.with_children(new_kids) if changed else plan
    out = fn(node)
    if out is not None:
        return out
    return node if changed else None


def rewrite_top_down(plan: LogicalPlan, fn: Callable[[LogicalPlan], LogicalPlan | None]) -> LogicalPlan | None:
    """Apply ``fn`` at a node first (repeatedly while it fires), then to its children."""
    changed = False
    node = plan
    for _ in range(64):
        out = fn(node)
        if out is None:
            break
        node, changed = out, True
    kids = node.children()
    new_kids = []
    kid_changed = False
    for k in kids:
        nk = rewrite_top_down(k, fn)
        kid_changed |= nk is not None
        new_kids.append(nk if nk is not None else k)
    if kid_changed:
        node = node.with_children(new_kids)
        changed = True
    return node if changed else None


def substitute(expr: Expr, mapping: Mapping[str, Expr], keep_name: bool = False) -> Expr:
    """Replace column references by the expressions that produce them (aliases stripped)."""

    def fn(e: Expr) -> Expr | None:
        if isinstance(e, Column) and e.name in mapping:
            target = mapping[e.name]
            while isinstance(target, Alias):
                target = target.child
            return target
        return None

    out = expr.transform(fn)
    # keep the output name stable
    if keep_name and not isinstance(out, Alias) and out.output_name() != expr.output_name():
        out = Alias(out, expr.output_name())
    return out
