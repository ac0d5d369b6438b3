"""Polars' top-level aggregation shortcuts: ``th.sum("a", "b")`` is ``th.col("a", "b").sum()``,
and so for ``mean``, ``median``, ``min``, ``max``, ``std``, ``var``, ``first``, ``last``,
``n_unique``, ``quantile``; ``th.exclude("a")`` is every column but ``a``.

>>> import thresher as th
>>> df = th.from_pydict({"a": [1, 2, None], "b": [0.5, 1.5, 2.5]})
>>> df.select(th.sum("a", "b"), th.max("a").alias("m")).rows()
[(3, 4.5, 2)]
>>> df.select(th.exclude("a")).columns
['b']
"""

from __future__ import annotations

from typing import Any

from thresher.expressions.expr import Column, Expr, _selector, col


def _columns(names: tuple[Any, ...], fn: str) -> Expr:
    if not names:
        raise TypeError(f"{fn}() needs at least one column name")
    return col(*names)


def sum(*names: str) -> Expr:  # noqa: A001 - Polars' name (pl.sum), reached as th.sum
    """The sum of each named column (Polars' ``pl.sum``; see :meth:`Expr.sum`)."""
    return _columns(names, "sum").sum()


def mean(*names: str) -> Expr:
    """The mean of each named column (Polars' ``pl.mean``)."""
    return _columns(names, "mean").mean()


def median(*names: str) -> Expr:
    """The median of each named column (Polars' ``pl.median``)."""
    return _columns(names, "median").median()


def min(*names: str) -> Expr:  # noqa: A001 - Polars' name (pl.min)
    """The minimum of each named column (Polars' ``pl.min``)."""
    return _columns(names, "min").min()


def max(*names: str) -> Expr:  # noqa: A001 - Polars' name (pl.max)
    """The maximum of each named column (Polars' ``pl.max``)."""
    return _columns(names, "max").max()


def std(name: str, ddof: int = 1) -> Expr:
    """The standard deviation of a column (Polars' ``pl.std``)."""
    return col(name).std(ddof)


def var(name: str, ddof: int = 1) -> Expr:
    """The variance of a column (Polars' ``pl.var``)."""
    return col(name).var(ddof)


def first(*names: str) -> Expr:
    """The first value of each named column (Polars' ``pl.first("a")``; without a name Polars
    means the first column, which Thresher does not take: name it)."""
    return _columns(names, "first").first()


def last(*names: str) -> Expr:
    """The last value of each named column (Polars' ``pl.last("a")``)."""
    return _columns(names, "last").last()


def n_unique(*names: str) -> Expr:
    """The number of distinct values of each named column, NULL counted (Polars' ``pl.n_unique``)."""
    return _columns(names, "n_unique").n_unique()


def quantile(name: str, quantile: float, interpolation: str = "nearest") -> Expr:
    """The ``quantile`` of a column (Polars' ``pl.quantile``)."""
    return col(name).quantile(quantile, interpolation)


def exclude(*names: Any) -> Expr:
    """Every column but ``names`` (Polars' ``pl.exclude``), in the frame's order.

    >>> import thresher as th
    >>> th.from_pydict({"a": [1], "b": [2], "c": [3]}).select(th.exclude("b") * 10).rows()
    [(10, 30)]
    """
    items = tuple(n for x in names for n in (x if isinstance(x, (list, tuple)) else [x]))
    if not items or not all(isinstance(n, str) for n in items):
        raise TypeError(f"exclude() takes column names, got {names!r}")
    return Column(_selector("exclude", items))
