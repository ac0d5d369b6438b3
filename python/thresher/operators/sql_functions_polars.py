"""Polars lowerings of the SQL-only functions in ``expressions/sql_functions.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from thresher._lazy import lazy_module
from thresher.operators.expr_to_polars import register_lowering

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")

register_lowering("range_list", lambda a, e, t: pl.int_ranges(0, a[0], dtype=pl.Int64))
