"""Functions SQL needs that the DataFrame namespaces do not spell (window functions: ``window.py``).

Their Polars lowerings live in ``operators/sql_functions_polars.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thresher.datatypes import DataType, Field
from thresher.expressions.registry import expect, function


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


#: the text SQL's CAST reads as a DATE ('2024-1-5', stripped) or a TIMESTAMP (not stripped: DuckDB
#: refuses a trailing blank); DuckDB reads more forms, which TRY_CAST refuses rather than guess
DATE_TEXT = r"^\d{4}-\d{1,2}-\d{1,2}$"
TIMESTAMP_TEXT = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)?$"


@function("sql_text_cast", sql_names=("__sql_text_cast",))
def _sql_text_cast(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``CAST(text AS type)`` / ``TRY_CAST`` as DuckDB reads text (``strict``: CAST raises on text
    that does not convert, TRY_CAST gives NULL). Lowered in ``operators/sql_functions_polars.py``;
    the SQL translator uses it for a VARCHAR cast to a number, DATE, TIMESTAMP or BOOLEAN (the
    DataFrame API's ``cast`` keeps Polars' rules)."""
    to = opts["to"]
    assert isinstance(to, DataType)
    return to


@function("sql_to_text", sql_names=("__sql_to_text",))
def _sql_to_text(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``CAST(x AS VARCHAR)`` of a DOUBLE, FLOAT or TIMESTAMP written as DuckDB writes it: a
    double as its shortest round-trip text with Python's exponent form (``1e-05``, ``1e-07``,
    ``nan``), a timestamp without trailing zeros of its fraction (``2024-02-29 23:59:59.5``,
    ``2023-12-31 00:00:00``); Polars writes ``0.00001``, ``1e-7``, ``NaN`` and six digits."""
    return DataType.string()


def _text_rule(name: str) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        expect(args[0], args[0].dtype.is_string() or args[0].dtype.is_null(), "string", name)
        return DataType.string()

    return rule


# SQL's UPPER and LOWER map each character alone, as DuckDB does (upper('ß') is 'ẞ', lower('ΑΣ')
# 'ασ'), where Polars' (the DataFrame API's) apply Unicode's full, context-dependent mappings
# ('SS', 'ας')
function("sql_upper", sql_names=("__sql_upper",))(_text_rule("upper"))
function("sql_lower", sql_names=("__sql_lower",))(_text_rule("lower"))


#: DuckDB's string functions SQL has (``__sql_str(args..., op=...)``): the type of their result;
#: their arguments are text but for the integer ones (``left``, ``right``, ``split_part``'s part)
SQL_STRING_FUNCTIONS: dict[str, DataType] = {
    "trim": DataType.string(), "ltrim": DataType.string(), "rtrim": DataType.string(),
    "replace": DataType.string(), "starts_with": DataType.bool(), "contains": DataType.bool(),
    "left": DataType.string(), "right": DataType.string(), "lpad": DataType.string(), "rpad": DataType.string(),
    "strpos": DataType.int64(), "split_part": DataType.string(), "reverse": DataType.string(),
}
SQL_STRING_INT_ARGS: dict[str, tuple[int, ...]] = {"left": (1,), "right": (1,), "split_part": (2,)}


@function("sql_str", sql_names=("__sql_str",))
def _sql_str(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's ``trim``, ``replace``, ``left``, ``strpos``, ``split_part``, ... (``op``), lowered in
    ``operators/sql_functions_polars.py``: each NULL in, NULL out, positions in code points."""
    op = opts["op"]
    for i, a in enumerate(args):
        if i in SQL_STRING_INT_ARGS.get(op, ()):
            expect(a, a.dtype.is_integer() or a.dtype.is_null(), "integer", op)
        else:
            expect(a, a.dtype.is_string() or a.dtype.is_null(), "string", op)
    return SQL_STRING_FUNCTIONS[op]
