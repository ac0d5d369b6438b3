"""Polars' functions across columns: ``th.sum_horizontal``, ``min_horizontal``,
``max_horizontal``, ``mean_horizontal``, ``all_horizontal``, ``any_horizontal``,
``th.concat_str`` and ``th.struct``. A string argument names a column, as in Polars; the result
is named as the first argument; its type is the one Polars gives those argument types (asked of
Polars when the plan is built, so a wrong type is refused then).

Examples
--------
>>> import thresher as th
>>> df = th.from_pydict({"a": [1, None], "b": [2.5, None], "s": ["x", None]})
>>> df.select(th.sum_horizontal("a", "b"), th.max_horizontal("a", "b").alias("mx")).rows()
[(3.5, 2.5), (0.0, None)]
>>> df.select(th.concat_str([th.col("s"), th.lit("!")], separator="-")).to_pydict()
{'s': ['x-!', None]}
>>> df.select(th.struct("a", s2="s")).unnest("a").rows()
[(1, 'x'), (None, None)]
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from thresher.datatypes import DataType, Field
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import Call, Expr, col, user_lit
from thresher.expressions.registry import function

#: Polars' horizontal functions Thresher passes through
HORIZONTAL = ("sum_horizontal", "min_horizontal", "max_horizontal", "mean_horizontal", "all_horizontal",
              "any_horizontal")


def _exprs(fn: str, items: Iterable[Any]) -> tuple[Expr, ...]:
    out: list[Expr] = []
    for x in items:
        if isinstance(x, (list, tuple)):
            out.extend(_exprs(fn, x))
        else:
            # (a Python number a dynamic literal: typed next to the other arguments, as Polars)
            out.append(col(x) if isinstance(x, str) else x if isinstance(x, Expr) else user_lit(x))
    if not out:
        raise ThresherTypeError(f"{fn}() needs at least one expression")
    return tuple(out)


@functools.lru_cache(maxsize=512)
def _polars_type(fn: str, types: tuple[pa.DataType, ...]) -> pa.DataType:
    import polars as pl

    empty = pl.from_arrow(pa.table({f"c{i}": pa.array([], t) for i, t in enumerate(types)}))
    assert isinstance(empty, pl.DataFrame)
    try:
        out = empty.select(getattr(pl, fn)(*(pl.col(f"c{i}") for i in range(len(types))))).to_series()
    except Exception as exc:  # noqa: BLE001  (Polars refuses the types)
        raise ThresherTypeError(f"{fn}: not supported for types {[str(t) for t in types]}: "
                                f"{str(exc).splitlines()[0]}") from None
    return out.to_arrow().type


def _horizontal_rule(fn: str) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        for a in args:
            if a.dtype.is_media() or a.dtype.is_list() or a.dtype.is_struct():
                raise ThresherTypeError(f"{fn}: column {a.name!r} has type {a.dtype}, which {fn} does not take")
        return DataType.from_arrow(_polars_type(fn, tuple(a.dtype.storage for a in args)))

    return rule


for _fn in HORIZONTAL:
    function(_fn)(_horizontal_rule(_fn))


def _horizontal(fn: str, exprs: tuple[Any, ...]) -> Expr:
    return Call(fn, _exprs(fn, exprs))


def sum_horizontal(*exprs: Any) -> Expr:
    """The sum across the arguments per row, NULLs skipped (all NULL: 0), as Polars."""
    return _horizontal("sum_horizontal", exprs)


def min_horizontal(*exprs: Any) -> Expr:
    """The smallest argument per row, NULLs skipped (all NULL: NULL), as Polars."""
    return _horizontal("min_horizontal", exprs)


def max_horizontal(*exprs: Any) -> Expr:
    """The largest argument per row, NULLs skipped (all NULL: NULL), as Polars."""
    return _horizontal("max_horizontal", exprs)


def mean_horizontal(*exprs: Any) -> Expr:
    """The mean of the arguments per row, NULLs skipped (all NULL: NULL), as Polars."""
    return _horizontal("mean_horizontal", exprs)


def all_horizontal(*exprs: Any) -> Expr:
    """True where every argument is (Kleene logic with NULLs, as Polars)."""
    return _horizontal("all_horizontal", exprs)


def any_horizontal(*exprs: Any) -> Expr:
    """True where any argument is (Kleene logic with NULLs, as Polars)."""
    return _horizontal("any_horizontal", exprs)


def concat_str(exprs: Any, *more_exprs: Any, separator: str = "", ignore_nulls: bool = False) -> Expr:
    """The arguments as text, joined with ``separator``, per row; NULL if any is NULL unless
    ``ignore_nulls`` (then the NULLs are left out), as Polars."""
    if not isinstance(separator, str):
        raise ThresherTypeError(f"concat_str: separator must be a string, got {separator!r}")
    # (each part as text: Polars casts the others to String the same way)
    args = tuple(a.cast(DataType.string()) for a in _exprs("concat_str", (exprs, *more_exprs)))
    return Call("str.concat", args, (("separator", separator), ("ignore_nulls", bool(ignore_nulls))))


def struct(*exprs: Any, **named_exprs: Any) -> Expr:
    """A struct column of the arguments per row, each field named as its argument (keywords
    name theirs), as Polars' ``pl.struct``."""
    fields = list(_exprs("struct", exprs)) if exprs else []
    fields += [(col(v) if isinstance(v, str) else v if isinstance(v, Expr) else user_lit(v)).alias(k)
               for k, v in named_exprs.items()]
    if not fields:
        raise ThresherTypeError("struct() needs at least one expression")
    names = tuple(f.output_name() for f in fields)
    if len(set(names)) != len(names):
        raise ThresherTypeError(f"struct: the field names {list(names)} repeat; name them with alias()")
    return Call("struct.pack", tuple(fields), (("names", names),))
