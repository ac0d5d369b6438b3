"""Polars lowerings of the SQL-only functions in ``expressions/sql_functions.py``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from thresher._lazy import lazy_module
from thresher.datatypes import DataType
from thresher.errors import ThresherExecutionError
from thresher.expressions.expr import Literal
from thresher.operators.expr_to_polars import (
    Guard,
    check_is_elementwise,
    lowering,
    polars_dtype,
    register_checked_lowering,
    register_lowering,
)

if TYPE_CHECKING:
    import polars as pl

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


# -- SQL's run-time arithmetic errors (DuckDB's) ------------------------------------------------
# Polars wraps an integer that overflows and gives NULL (or inf) for a division by zero, as the
# DataFrame API keeps; SQL raises. A check is one elementwise batch function: its inputs are the
# value Polars computed and the operands; it compares the batch at once (one vectorized
# comparison, a Python call per batch) on the rows its guard selects (see ``to_polars``).

def _is_sql(e: Call) -> bool:
    return e.option("sql") is True


def _guard_mask(guard: Guard, n: int, s: Sequence[pl.Series]) -> pl.Series | None:
    return s[n] if guard is not None and len(s) > n else None


def _rows(v: pl.Series, s: Sequence[pl.Series]) -> pl.Series:
    """``v`` with a row per row of the batch (a constant's is one value; a guard has every row)."""
    n = max(len(x) for x in s)
    return v.new_from_index(0, n) if len(v) == 1 and n > 1 else v


def _masked(bad: pl.Series, mask: pl.Series | None) -> bool:
    """Is ``bad`` true on a row ``mask`` selects (either may be one value, for every row)?"""
    if mask is not None:
        if len(mask) == 1:
            if not mask.fill_null(False)[0]:
                return False
        elif len(bad) == 1:
            return bool(bad.fill_null(False)[0]) and bool(mask.any())
        else:
            bad = bad & mask
    return bool(bad.fill_null(False).any())


_INT64 = DataType.int64()
_SYMBOL = {"add": "+", "sub": "-", "mul": "*"}


def _fits(op: str, operands: Sequence[pl.Series], dtype: pl.DataType) -> bool:
    """Can no row of ``op`` over ``operands`` leave ``dtype``? From the operands' bounds (a
    min and a max each: what almost every batch needs, far cheaper than the exact test)."""
    bounds = []
    for x in operands:
        lo, hi = x.min(), x.max()
        if lo is None or hi is None:
            return True  # all NULL
        bounds.append((int(lo), int(hi)))  # type: ignore[arg-type]
    if op == "neg":
        ends = [-bounds[0][0], -bounds[0][1]]
    else:
        (a0, a1), (b0, b1) = bounds
        ends = ([a0 + b0, a1 + b1] if op == "add" else [a0 - b1, a1 - b0] if op == "sub"
                else [a0 * b0, a0 * b1, a1 * b0, a1 * b1])
    lo, hi = _RANGE.get(str(dtype), (0, -1))  # (an unknown type: the exact test)
    return lo <= min(ends) and max(ends) <= hi


_RANGE = {f"Int{b}": (-(2 ** (b - 1)), 2 ** (b - 1) - 1) for b in (8, 16, 32, 64, 128)} | {
    f"UInt{b}": (0, 2 ** b - 1) for b in (8, 16, 32, 64)}


def _overflow_checked(a: list[pl.Expr], e: Call, t: list[DataType], guard: Guard) -> pl.Expr | None:
    """``a + b``, ``a - b``, ``a * b``, ``-a`` of integers: an error where the result leaves its
    type (Polars' type of it: an integer literal takes the other operand's, as in DuckDB),
    checked by computing the operands in Int128."""
    if not all(x.is_integer() or x.is_null() for x in t) or all(x.is_null() for x in t):
        return None
    a = [pl.lit(x.value, dtype=polars_dtype(x.dtype))  # a typed literal keeps its type (CAST(1000 AS INT))
         if isinstance(x, Literal) and x.dtype.is_integer() and x.dtype != _INT64 and x.value is not None else y
         for x, y in zip(e.args, a)]
    plain = _LOWERED[e.name]([*a], e, t)

    def check(s: Sequence[pl.Series], **_: object) -> pl.Series:
        v = s[0]
        if not v.dtype.is_integer() or _fits(e.name, s[1:1 + len(a)], v.dtype):
            return _rows(v, s)
        ops = [x.cast(pl.Int128) for x in s[1:1 + len(a)]]
        if e.name == "neg":
            exact = ops[0] * pl.Series([-1], dtype=pl.Int128)  # (Polars has no neg of Int128)
        elif e.name == "add":
            exact = ops[0] + ops[1]
        elif e.name == "sub":
            exact = ops[0] - ops[1]
        else:
            exact = ops[0] * ops[1]
        if _masked(v.cast(pl.Int128) != exact, _guard_mask(guard, 1 + len(a), s)):
            what = f"-{e.args[0]!r}" if e.name == "neg" else f"{e.args[0]!r} {_SYMBOL[e.name]} {e.args[1]!r}"
            raise ThresherExecutionError(
                f"integer overflow in {what}: the result does not fit {v.dtype} (SQL raises, as DuckDB does; "
                f"cast an operand to a wider type, e.g. CAST(x AS BIGINT) or DOUBLE)")
        return _rows(v, s)

    inputs = [plain, *a] + ([guard] if guard is not None else [])
    return pl.map_batches(inputs, check, return_dtype=pl.dtype_of(plain), is_elementwise=check_is_elementwise())


def _nonzero(a: list[pl.Expr], e: Call, t: list[DataType], guard: Guard) -> pl.Expr:
    """``__sql_nonzero(value, n, d)``: ``value`` (``n % d``, ``n // d`` computed), or an error
    where ``d`` is 0 and ``n`` is not NULL."""

    def check(s: Sequence[pl.Series], **_: object) -> pl.Series:
        n, d = s[1], s[2]  # (a literal is one value for every row)
        lo, hi = cast(Any, d.min()), cast(Any, d.max())
        if lo is None or hi is None or lo > 0 or hi < 0:  # (no zero: what almost every batch needs)
            return _rows(s[0], s)
        if len(d) == 1:
            if d[0] is None or d[0] != 0:
                return _rows(s[0], s)
            bad = n.is_not_null()
        elif len(n) == 1:
            if n[0] is None:
                return _rows(s[0], s)
            bad = d == 0
        else:
            bad = (d == 0) & n.is_not_null()
        if _masked(bad, _guard_mask(guard, 3, s)):
            raise ThresherExecutionError(
                f"division by zero in {e.args[1]!r} {e.option('op', '%')} {e.args[2]!r} (SQL raises, as DuckDB "
                f"does; guard it, e.g. CASE WHEN d <> 0 THEN ... END or NULLIF(d, 0))")
        return _rows(s[0], s)

    inputs = [a[0], a[1], a[2]] + ([guard] if guard is not None else [])
    return pl.map_batches(inputs, check, return_dtype=pl.dtype_of(a[0]), is_elementwise=check_is_elementwise())


_LOWERED = {name: lowering(name) for name in ("add", "sub", "mul", "neg")}
for _name in ("add", "sub", "mul", "neg"):
    register_checked_lowering(_name, _is_sql, _overflow_checked)
register_lowering("sql_nonzero", lambda a, e, t: a[0])
register_checked_lowering("sql_nonzero", lambda e: True, _nonzero)
