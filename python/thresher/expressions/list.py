"""``expr.list``: list functions (evaluated by Polars). Explode is ``DataFrame.explode``.

Examples
--------
>>> from thresher import col
>>> col("tags").list.len()
col("tags").list.len()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher.datatypes import DataType, Field, Schema
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import Call, Column, Expr, SeqOp
from thresher.expressions.registry import expect, function


def _check_list(f: Field, fn: str) -> None:
    expect(f, f.dtype.is_list() or f.dtype.is_null(), "a list", fn)


@function("list.len")
def _len(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _check_list(args[0], "list.len")
    return DataType.int64()


@function("list.get")
def _get(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _check_list(args[0], "list.get")
    return args[0].dtype.inner()


@function("list.get_expr", sql_names=("__list_get_expr",))
def _get_expr(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _check_list(args[0], "list.get")
    expect(args[1], args[1].dtype.is_integer() or args[1].dtype.is_null(), "an integer index", "list.get")
    return args[0].dtype.inner()


@function("list.join")
def _join(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _check_list(args[0], "list.join")
    expect(args[0], args[0].dtype.inner().is_string(), "a list of strings", "list.join")
    return DataType.string()


def _agg_rule(name: str) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        _check_list(args[0], f"list.{name}")
        inner = args[0].dtype.inner()
        if name == "mean":  # (Float32 stays Float32, as in Polars)
            return DataType.float32() if inner.arrow == pa.float32() else DataType.float64()
        if name == "sum":  # (as a column's sum: integers and booleans in Int64, decimals with 38 digits)
            if inner.kind == "decimal":
                return DataType.decimal(38, inner.arrow.scale)
            if inner.arrow == pa.uint64():
                return inner
            if inner.is_integer() or inner.is_bool():
                return DataType.int64()
        return inner

    return rule


for _n in ("sum", "mean", "min", "max"):
    function(f"list.{_n}")(_agg_rule(_n))


@function("list.contains")
def _contains(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _check_list(args[0], "list.contains")
    return DataType.bool()


#: the name ``th.element()`` reads: each list's elements, inside ``list.eval`` (Polars' ``pl.element()``
#: is ``pl.col("")`` too)
ELEMENT = ""


def element() -> Expr:
    """The elements of each list, in ``expr.list.eval(...)`` (Polars' ``pl.element()``).

    >>> import thresher as th
    >>> df = th.from_pydict({"l": [[3, 1, 2], None]})
    >>> df.select(th.col("l").list.eval(th.element() * 10)).to_pydict()
    {'l': [[30, 10, 20], None]}
    """
    return Column(ELEMENT)


#: the SeqOps list.eval takes (each keeps the element type)
_EVAL_SEQ = frozenset(("unique", "sort", "head", "tail", "slice", "reverse", "drop_nulls", "drop_nans", "top_k",
                       "bottom_k", "gather_every"))


def eval_field(e: Expr, inner: DataType) -> Field:
    """The field of ``e``, an expression of ``element()``, over one list's elements of type
    ``inner``: per-element functions, aggregations, order-dependent functions (over the list) and
    the SeqOps of :data:`_EVAL_SEQ`; an ``over`` or a column other than ``element()`` is refused."""
    from thresher.errors import ColumnNotFoundError
    from thresher.expressions.window import Over

    for x in e.walk():
        if isinstance(x, SeqOp) and x.op not in _EVAL_SEQ:
            raise ThresherTypeError(f"list.eval: {x!r} is not supported inside list.eval")
        if isinstance(x, Over):
            raise ThresherTypeError(f"list.eval: {x!r}: over() is not supported inside list.eval")
    # (a SeqOp keeps the type of its argument: typed as that)
    typed = e.transform(lambda x: x.child if isinstance(x, SeqOp) else None)
    try:
        return typed.resolve(Schema([Field(ELEMENT, inner)]))
    except ColumnNotFoundError as exc:
        raise ThresherTypeError(f"list.eval: {e!r} reads a column; inside list.eval there is only th.element() "
                                f"({exc})") from None


@function("list.eval")
def _eval(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    _check_list(args[0], "list.eval")
    inner = args[0].dtype.inner() if args[0].dtype.is_list() else DataType.null()
    try:
        return DataType.list(eval_field(opts["expr"], inner).dtype)
    except ThresherTypeError as exc:  # (the elements are column '': named by their list column)
        msg = str(exc).replace("column '' has", f"the elements of column {args[0].name!r} have").replace(
            "column ''", f"the elements of column {args[0].name!r}")
        raise ThresherTypeError(msg) from None


class ListNamespace:
    """List functions, reached as ``expr.list``."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    if not TYPE_CHECKING:  # (hidden from mypy: a class __getattr__ would type every misspelling)
        def __getattr__(self, name: str) -> Any:
            from thresher.expressions.expr import namespace_miss

            raise namespace_miss("list", name)

    def _call(self, name: str, **options: Any) -> Expr:
        return Call(f"list.{name}", (self._expr,), tuple(options.items()))

    def len(self) -> Expr:
        return self._call("len")

    def get(self, index: int | Expr) -> Expr:
        """The element at ``index`` (an int or an integer expression, per row; negative counts
        from the end; null when out of range).

        >>> import thresher as th
        >>> df = th.from_pydict({"l": [[1, 2], [3, 4], [5]], "i": [1, -1, 3]})
        >>> df.select(th.col("l").list.get(th.col("i"))).to_pydict()
        {'l': [2, 4, None]}
        """
        if isinstance(index, Expr):
            return Call("list.get_expr", (self._expr, index))
        return self._call("get", index=index)

    def join(self, separator: str) -> Expr:
        return self._call("join", separator=separator)

    def sum(self) -> Expr:
        return self._call("sum")

    def mean(self) -> Expr:
        return self._call("mean")

    def min(self) -> Expr:
        return self._call("min")

    def max(self) -> Expr:
        return self._call("max")

    def eval(self, expr: Expr) -> Expr:
        """``expr`` (of ``th.element()``) run on each list's elements, a list out, as Polars'
        ``list.eval``: per-element functions, aggregations (a list of one value), the
        order-dependent functions (``rank``, ``cum_sum``, ``shift``, ...: over each list) and the
        expressions of their own length (``unique``, ``sort``, ``head``, ``top_k``, ...). An
        ``over`` or a column other than ``th.element()`` inside is refused when the plan is built.

        >>> import thresher as th
        >>> df = th.from_pydict({"l": [[3, None, 1, 3], []]})
        >>> df.select(th.col("l").list.eval(th.element().drop_nulls().unique().sort())).to_pydict()
        {'l': [[1, 3], []]}
        """
        if not isinstance(expr, Expr):
            raise ThresherTypeError(f"list.eval: expected an expression of th.element(), got {expr!r}")
        return Call("list.eval", (self._expr,), (("expr", expr),))

    def contains(self, item: Any) -> Expr:
        return self._call("contains", item=item)

    # Polars' own list methods, passed through (typed by Polars): expressions/numeric.py

    def _polars(self, name: str, **options: Any) -> Expr:
        import thresher.expressions.numeric  # noqa: F401  (registers Polars' pass-through methods)

        return Call(f"list.{name}", (self._expr,), tuple(options.items()))

    def first(self) -> Expr:
        """The first element (null for an empty list), as Polars."""
        return self._polars("first")

    def last(self) -> Expr:
        """The last element (null for an empty list), as Polars."""
        return self._polars("last")

    def head(self, n: int = 5) -> Expr:
        return self._polars("head", n=_int("list.head", n))

    def tail(self, n: int = 5) -> Expr:
        return self._polars("tail", n=_int("list.tail", n))

    def slice(self, offset: int, length: int | None = None) -> Expr:
        return self._polars("slice", offset=_int("list.slice", offset),
                            length=None if length is None else _int("list.slice", length))

    def sort(self, *, descending: bool = False, nulls_last: bool = False) -> Expr:
        return self._polars("sort", descending=bool(descending), nulls_last=bool(nulls_last))

    def reverse(self) -> Expr:
        return self._polars("reverse")

    def unique(self, *, maintain_order: bool = False) -> Expr:
        """The distinct elements (in first-seen order with ``maintain_order``; else in an order
        left open, as in Polars)."""
        return self._polars("unique", maintain_order=bool(maintain_order))

    def n_unique(self) -> Expr:
        return self._polars("n_unique")

    def drop_nulls(self) -> Expr:
        return self._polars("drop_nulls")

    def arg_min(self) -> Expr:
        return self._polars("arg_min")

    def arg_max(self) -> Expr:
        return self._polars("arg_max")

    def any(self) -> Expr:
        """Whether any element of a list of booleans is true, as Polars."""
        return self._polars("any")

    def all(self) -> Expr:
        """Whether every element of a list of booleans is true (an empty list: true), as Polars."""
        return self._polars("all")

    def median(self) -> Expr:
        """The median of each list, as Polars."""
        return self._polars("median")

    def std(self, ddof: int = 1) -> Expr:
        """The standard deviation of each list, as Polars."""
        return self._polars("std", ddof=_int("list.std", ddof))

    def var(self, ddof: int = 1) -> Expr:
        """The variance of each list, as Polars."""
        return self._polars("var", ddof=_int("list.var", ddof))

    def diff(self, n: int = 1, null_behavior: str = "ignore") -> Expr:
        """Each element minus the one ``n`` before it, within each list, as Polars."""
        if null_behavior not in ("ignore", "drop"):
            raise ThresherTypeError(f"list.diff: null_behavior must be 'ignore' or 'drop', got {null_behavior!r}")
        return self._polars("diff", n=_int("list.diff", n), null_behavior=null_behavior)

    def shift(self, n: int = 1) -> Expr:
        """The elements shifted ``n`` places within each list (an int), as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"l": [[1, 2, 3], None]}).select(th.col("l").list.shift()).to_pydict()
        {'l': [[None, 1, 2], None]}
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise ThresherTypeError(f"list.shift: n must be a Python int, got {n!r}")
        return self._polars("shift", n=n)

    def count_matches(self, element: Any) -> Expr:
        """How many elements of each list equal ``element`` (a Python value), as Polars."""
        if isinstance(element, Expr):
            raise ThresherTypeError("list.count_matches: element must be a Python value, not an expression")
        return self._polars("count_matches", element=element)

    def gather_every(self, n: int, offset: int = 0) -> Expr:
        """Every ``n``-th element of each list from ``offset``, as Polars."""
        return self._polars("gather_every", n=_int("list.gather_every", n), offset=_int("list.gather_every", offset))


def _int(fn: str, n: Any) -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise ThresherTypeError(f"{fn}: expected an int, got {n!r}")
    return n


@function("list.contains_expr")
def _contains_expr(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``list`` holds the row's value of the second argument."""
    _check_list(args[0], "list.contains_expr")
    return DataType.bool()


@function("list.any_ne")
def _any_ne(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``list`` holds an element different from the row's value of the second argument."""
    _check_list(args[0], "list.any_ne")
    return DataType.bool()
