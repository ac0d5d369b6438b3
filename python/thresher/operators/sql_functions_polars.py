"""Polars lowerings of the SQL-only functions in ``expressions/sql_functions.py``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from thresher._lazy import lazy_module
from thresher.errors import ThresherExecutionError
from thresher.operators.expr_to_polars import polars_dtype, register_lowering

if TYPE_CHECKING:
    import polars as pl

    from thresher.datatypes import DataType
    from thresher.expressions.expr import Call
else:
    pl = lazy_module("polars")

register_lowering("range_list", lambda a, e, t: pl.int_ranges(0, a[0], dtype=pl.Int64))


def _single_row_value(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    def check(s: Sequence[pl.Series], **_: object) -> pl.Series:  # (Polars passes return_dtype=)
        if (s[1] > 1).any():
            raise ThresherExecutionError(
                f"a scalar subquery returned {s[1].max()!r} rows: one used as a value must return at most one "
                f"row (aggregate it, e.g. max(...), or add LIMIT 1)")
        return s[0].cast(dtype)  # (Polars' own type of an expression can be narrower than ours)

    dtype = polars_dtype(t[0])
    # elementwise: each row's value needs only its own count, so Polars' streaming engine keeps it
    return pl.map_batches([a[0], a[1]], check, return_dtype=dtype, is_elementwise=True)


register_lowering("single_row_value", _single_row_value)
