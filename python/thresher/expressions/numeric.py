"""Polars' element-wise numeric methods of the DataFrame API: ``clip``, ``fill_nan``, ``is_nan``,
``is_not_nan``, ``is_finite``, ``is_infinite``, ``floor``, ``ceil`` (evaluated by Polars; each
output type is the one Polars gives, asked of Polars on an empty column). SQL does not see them
(its ``floor``/``ceil``/``isnan`` follow DuckDB: ``sql_functions.py``).

>>> from thresher import col
>>> col("x").clip(0, 5)
col("x").clip(0, 5)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from thresher.datatypes import DataType, Field, supertype
from thresher.errors import ThresherTypeError
from thresher.expressions.registry import expect, function

#: the unary methods and what Polars takes them on
UNARY: dict[str, Callable[[DataType], bool]] = {
    "is_nan": lambda t: t.is_numeric() or t.is_null(),
    "is_not_nan": lambda t: t.is_numeric() or t.is_null(),
    "is_finite": lambda t: t.is_numeric() or t.is_null(),
    "is_infinite": lambda t: t.is_numeric() or t.is_null(),
    "floor": lambda t: t.is_numeric() or t.kind == "decimal" or t.is_null(),
    "ceil": lambda t: t.is_numeric() or t.kind == "decimal" or t.is_null(),
}


@functools.lru_cache(maxsize=512)
def polars_unary_type(name: str, storage: pa.DataType, opts: tuple[tuple[str, Any], ...] = ()) -> pa.DataType:
    """The Arrow type Polars gives ``pl.col(x).<name>(**opts)`` of a column of type ``storage``."""
    import polars as pl

    s = pl.from_arrow(pa.array([], type=storage))
    assert isinstance(s, pl.Series)
    try:
        out = s.to_frame("x").select(getattr(pl.col("x"), name)(**dict(opts))).to_series()
    except Exception as exc:  # noqa: BLE001  (Polars refuses the type)
        raise ThresherTypeError(f"{name}: not supported for type {storage}: {str(exc).splitlines()[0]}") from None
    return out.to_arrow().type


def _unary_rule(name: str) -> Callable[[Sequence[Field], dict[str, Any]], DataType]:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        f = args[0]
        expect(f, UNARY[name](f.dtype), "a numeric type", name)
        if f.dtype.is_null():
            return DataType.bool() if name.startswith("is_") else f.dtype
        return DataType.from_arrow(polars_unary_type(name, f.dtype.storage))

    return rule


for _name in UNARY:
    function(_name, sql_names=(f"__{_name}",))(_unary_rule(_name))


@function("clip", sql_names=("__clip",))
def _clip(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``x.clip(lower, upper)``: the bounds (columns or numbers) are cast to ``x``'s type, as in Polars."""
    f = args[0]
    expect(f, f.dtype.is_numeric() or f.dtype.kind == "decimal" or f.dtype.is_null(), "a numeric type", "clip")
    for b in args[1:]:
        expect(b, b.dtype.is_numeric() or b.dtype.kind == "decimal" or b.dtype.is_null(), "a numeric bound", "clip")
    return f.dtype


@function("fill_nan", sql_names=("__fill_nan",))
def _fill_nan(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``x.fill_nan(value)``: NaN replaced (a float column keeps its type, as in Polars)."""
    f = args[0]
    expect(f, f.dtype.is_numeric() or f.dtype.is_null(), "a numeric type", "fill_nan")
    v = args[1]
    expect(v, v.dtype.is_numeric() or v.dtype.is_null(), "a numeric value", "fill_nan")
    # the common type (a Python number next to it already has its type: ``Call.resolve``); an
    # integer column filled with a float becomes float, as in Polars
    return supertype(f.dtype, v.dtype) or f.dtype
