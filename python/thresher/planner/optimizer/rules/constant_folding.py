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

import operator
from typing import TYPE_CHECKING, Any

from thresher._lazy import lazy_module
from thresher.datatypes import Schema
from thresher.expressions.expr import Call, Cast, Expr, Literal, combine_conjunction, memo, split_conjunction
from thresher.operators.expr_to_polars import is_lowerable, to_polars
from thresher.planner.logical import Filter, LogicalPlan, Project
from thresher.planner.optimizer.rules._util import rewrite_bottom_up

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")

_EMPTY = Schema()


def _is_true(e: Expr) -> bool:
    return isinstance(e, Literal) and e.value is True


def _fold_node(e: Expr) -> Expr | None:
    if not isinstance(e, (Call, Cast)):  # (asked of every node of every filter and projection)
        return None
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
        compared = _compare_literals(e)
        if compared is not None:
            return compared
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


_COMPARE = {"eq": operator.eq, "neq": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
            "ge": operator.ge}


def _compare_literals(e: Expr) -> Expr | None:
    """A comparison of two non-null strings or two integers of one type, in Python (what Polars answers:
    UTF-8 orders strings as their code points do), without starting a Polars query: a filter
    pushed into each branch of a union compares the branch's constant with the wanted one
    (TPC-DS q04: ``sale_type = 's'`` over the store, catalog and web branches)."""
    if not (isinstance(e, Call) and e.name in _COMPARE and len(e.args) == 2 and not e.options):
        return None
    a, b = e.args
    assert isinstance(a, Literal) and isinstance(b, Literal)
    va, vb = a.value, b.value
    if a.dtype != b.dtype or not ((type(va) is str and type(vb) is str and a.dtype.is_string())
                                  or (type(va) is int and type(vb) is int and a.dtype.is_integer())):
        return None
    return Literal(bool(_COMPARE[e.name](va, vb)), e.resolve(_EMPTY).dtype)


def _conjunction_of(e: Expr, terms: list[Expr]) -> bool:
    """Is ``e`` ``combine_conjunction(terms)`` made of these very term objects?"""
    for t in reversed(terms[1:]):
        if not (isinstance(e, Call) and e.name == "and" and not e.options and e.args[1] is t):
            return False
        e = e.args[0]
    return e is terms[0]


def fold(expr: Expr) -> Expr:
    return expr.transform(_fold_node)


#: what an expression's memo holds when folding left it as it is (the expression itself there
#: would be a reference cycle)
_UNCHANGED: Any = object()


def _folded(e: Expr) -> Any:
    out = fold(e)
    return _UNCHANGED if out is e else out


def _fold_expr(e: Expr) -> Expr:
    """``fold(e)``, kept on the expression (a pure function of it: later passes and later
    optimize() calls over the same expression objects fold nothing again)."""
    out = memo(e, "_memo_constant_folding", _folded)
    return e if out is _UNCHANGED else out  # type: ignore[no-any-return]

#: a plan projection_pushdown narrowed from one this rule left unchanged stays unchanged (the runner
#: skips it there; ``optimize(validate=True)`` runs it and checks):
QUIET_AFTER_NARROWING = "it folds literals in filter and projection expressions: narrowing drops expressions, adds none"
#: the rules after whose changes a plan this rule left unchanged stays unchanged: it decides at
#: each filter and projection on that node's own expressions alone (the runner does not rerun it
#: there; ``optimize(validate=True)`` runs it and checks)
QUIET_AFTER = {
    "merge_filters": "the merged filter's predicate is the two filters' terms, each as it was, joined as "
                     "combine_conjunction joins them (the shape this rule leaves)",
    "predicate_pushdown": "a term moves as it is, renamed column for column (join keys, group keys), or as "
                          "an OR of parts of itself (one-sided CNF clauses, which have columns); a projection's "
                          "expressions put in for its columns are folded and split there "
                          "(predicate_pushdown._substituted); each filter it builds is combine_conjunction of its terms",
    "semi_join_pushdown": "it moves semi/anti and inner joins past each other: every filter and projection "
                          "keeps its expressions, and no filter or projection is made",
}


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    fold_expr = _fold_expr  # (each expression folded once)

    def visit(node: LogicalPlan) -> LogicalPlan | None:
        if isinstance(node, Filter):
            terms = [fold_expr(t) for t in split_conjunction(node.predicate)]
            kept = [t for t in terms if not _is_true(t)]
            if not kept:
                return node.input
            if _conjunction_of(node.predicate, kept):
                return None  # nothing folded and already in combine_conjunction's shape
            new = combine_conjunction(kept)
            return Filter(node.input, new) if new.key() != node.predicate.key() else None
        if isinstance(node, Project):
            changed = False
            exprs = []
            for o in node.exprs:
                n = fold_expr(o)
                if n is not o:  # (an expression with nothing to fold comes back as itself)
                    if n.output_name() != o.output_name():
                        n = n.alias(o.output_name())
                    changed = changed or n.key() != o.key()
                exprs.append(n)
            if changed:
                return Project(node.input, tuple(exprs))
        return None

    return rewrite_bottom_up(plan, visit, only=(Filter, Project))
