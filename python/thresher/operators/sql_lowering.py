"""Polars lowerings of the SQL-only functions in ``expressions/sql_functions.py``."""

from __future__ import annotations

from thresher.operators.polars_lowering import register_lowering

register_lowering("shift", lambda a, e, t: a[0].shift(int(e.option("n", 1))))
