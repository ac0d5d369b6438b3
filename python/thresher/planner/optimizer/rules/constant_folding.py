"""constant_folding: evaluate expressions whose inputs are all literals once, at plan time.

Before::

    Filter (col("x") > (1 + 2)) & True
      Scan t

After::

    Filter (col("x") > 3)
      Scan t

A filter whose predicate folds to ``True`` disappears.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from thresher._lazy import lazy_module
from thresher.datatypes import Schema
from thresher.expressions.expr import Call, Cast, Expr, Literal, combine_conjunction, split_conjunction
from thresher.operators.expr_to_polars import is_lowerable, to_polars
from thresher.planner.logical import Filter, LogicalPlan, Project
from thresher.planner.optimizer.rules._util import expr_rewriter, rewrite_bottom_up

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")

_EMPTY = Schema()


def _is_true(e: Expr) -> bool:
    return isinstance(e, Literal) and e.value is True


def _fold_node(e: Expr) -> Expr | None:
    if isinstance(e, Call) and e.name == "and":
        a, b = e.args
        if _is_true(a):
            return b
        if _is_true(b):
            return a
    if isinstance(e, Call) and e.name == "or":
        a, b = e.args
        if _is_true(a) or _is_true(b):
            return Literal(True, e.resolve(_EMPTY).dtype) if _is_true(a) and _is_true(b) else None
    if isinstance(e, (Call, Cast)) and e.children() and all(isinstance(c, Literal) for c in e.children()):
        if not is_lowerable(e):
            return None
        try:
            dtype = e.resolve(_EMPTY).dtype
            value: Any = pl.select(to_polars(e, _EMPTY).alias("v")).to_series().to_list()
        except Exception:  # noqa: BLE001 - leave it to run time, where the error names the row
            return None
        if len(value) != 1:
            return None
        return Literal(value[0], dtype)
    return None


def fold(expr: Expr) -> Expr:
    return expr.transform(_fold_node)


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    fold_expr = expr_rewriter(_fold_node)  # each expression folded once per optimize() call

    def visit(node: LogicalPlan) -> LogicalPlan | None:
        if isinstance(node, Filter):
            terms = [fold_expr(t) for t in split_conjunction(node.predicate)]
            kept = [t for t in terms if not _is_true(t)]
            if not kept:
                return node.input
            new = combine_conjunction(kept)
            return Filter(node.input, new) if new.key() != node.predicate.key() else None
        if isinstance(node, Project):
            exprs = tuple(fold_expr(e) for e in node.exprs)
            exprs = tuple(
                (n if n.output_name() == o.output_name() else n.alias(o.output_name())) for n, o in zip(exprs, node.exprs)
            )
            if any(a is not b and a.key() != b.key() for a, b in zip(exprs, node.exprs)):
                return Project(node.input, exprs)
        return None

    return rewrite_bottom_up(plan, visit)
