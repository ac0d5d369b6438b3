"""Functions SQL needs that the DataFrame namespaces do not spell (window functions: ``window.py``).

Their Polars lowerings live in ``operators/sql_functions_polars.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thresher.datatypes import DataType, Field
from thresher.expressions.registry import function


@function("range_list", sql_names=("__range_list",))
def _range_list(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``[0, 1, ..., n-1]`` for an integer ``n`` (INTERSECT ALL / EXCEPT ALL repeat a row n times)."""
    return DataType.list(DataType.int64())


@function("grouping", sql_names=("__grouping",))
def _grouping(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """SQL ``GROUPING(a, b, ...)``: a bit per argument, set where the row's grouping set leaves it
    out. Only a placeholder: the SQL translator replaces it with the grouping columns of the
    aggregate it belongs to (it has no kernel)."""
    return DataType.int64()


@function("single_row_value", sql_names=("__single_row_value",))
def _single_row_value(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``__single_row_value(value, n_rows)``: ``value``, or an error when ``n_rows`` exceeds 1 (a
    scalar subquery that returned more than one row; the SQL translator adds it, see
    ``planner/sql/translate.py``'s ``_guard_scalar_subqueries``)."""
    return args[0].dtype


@function("sql_nonzero", sql_names=("__sql_nonzero",))
def _sql_nonzero(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``__sql_nonzero(value, n, d)``: ``value`` (``n % d`` or ``n // d``, computed), or an error
    where ``d`` is 0 and ``n`` is not NULL: SQL's division by zero (the SQL translator adds it,
    see ``planner/sql/coerce.py``; a CASE branch or a WHERE term checks only its own rows)."""
    return args[0].dtype
