"""Polars lowerings of the SQL-only functions in ``expressions/sql_functions.py``."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from thresher._lazy import lazy_module
from thresher.datatypes import DataType, Field
from thresher.errors import ThresherExecutionError
from thresher.expressions.expr import Literal
from thresher.expressions.sql_functions import (
    DATE_TEXT,
    SQL_STRING_FUNCTIONS,
    SQL_STRING_INT_ARGS,
    TIMESTAMP_TEXT,
    bits_type,
    extreme_type,
    signed_integer,
)
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
    import pyarrow.compute as pc

    from thresher.expressions.expr import Call
else:
    pl = lazy_module("polars")
    pc = lazy_module("pyarrow.compute")

register_lowering("range_list", lambda a, e, t: pl.int_ranges(0, a[0], dtype=pl.Int64))


def _raise_where_null_of_known(value: pl.Expr, source: pl.Expr, dtype: Any,
                               message: Callable[[object], str]) -> pl.Expr:
    """``value``, raising ``message(first source value)`` where ``source`` is known and ``value`` is NULL.

    Polars' conversions give NULL for input they cannot convert; DuckDB raises for it instead.
    """
    def check(s: Sequence[pl.Series], **_: object) -> pl.Series:  # (Polars passes return_dtype=)
        bad = s[1].is_not_null() & s[0].is_null()
        if bad.any():
            raise ThresherExecutionError(message(s[1].filter(bad)[0]))
        return s[0]

    return pl.map_batches([value, source], check, return_dtype=dtype, is_elementwise=True)


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
        elif len(mask) != len(bad):  # (Polars' bug of _compare's docstring, or another: no Rust panic)
            raise ThresherExecutionError(f"internal error: a checked operation's guard has {len(mask)} rows for "
                                         f"{len(bad)} values (please report the query)")
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
    if op in ("neg", "abs"):
        ends = [-bounds[0][0], -bounds[0][1]] if op == "neg" else [abs(bounds[0][0]), abs(bounds[0][1])]
    else:
        (a0, a1), (b0, b1) = bounds
        ends = ([a0 + b0, a1 + b1] if op == "add" else [a0 - b1, a1 - b0] if op == "sub"
                else [a0 * b0, a0 * b1, a1 * b0, a1 * b1])
    lo, hi = _RANGE.get(str(dtype), (0, -1))  # (an unknown type: the exact test)
    return lo <= min(ends) and max(ends) <= hi


_RANGE = {f"Int{b}": (-(2 ** (b - 1)), 2 ** (b - 1) - 1) for b in (8, 16, 32, 64, 128)} | {
    f"UInt{b}": (0, 2 ** b - 1) for b in (8, 16, 32, 64)}


def _exact_op(name: str, ops: list[Any], zero: Any) -> Any:
    """``name`` (add, sub, mul, neg, abs) over ``ops``, Polars expressions or Series already in a
    type that holds the exact result; ``zero`` of that type (Polars has no negation of Int128)."""
    if name == "neg":
        return zero - ops[0]
    if name == "abs":
        return ops[0].abs()
    if name == "add":
        return ops[0] + ops[1]
    return ops[0] - ops[1] if name == "sub" else ops[0] * ops[1]


def _overflow_checked(a: list[pl.Expr], e: Call, t: list[DataType], guard: Guard) -> pl.Expr | None:
    """``a + b``, ``a - b``, ``a * b``, ``-a``, ``abs(a)`` of integers: an error where the result leaves its
    type (Polars' type of it: an integer literal takes the other operand's, as in DuckDB),
    checked by computing the operands in Int128."""
    if not all(x.is_integer() or x.is_null() for x in t) or all(x.is_null() for x in t):
        return None
    a = [pl.lit(x.value, dtype=polars_dtype(x.dtype))  # a typed literal keeps its type (CAST(1000 AS INT))
         if isinstance(x, Literal) and x.dtype.is_integer() and x.dtype != _INT64 and x.value is not None else y
         for x, y in zip(e.args, a)]
    if len(a) == 2:
        # an untyped integer literal that does not fit the other operand's type is an INTEGER (a
        # BIGINT if it needs one), as in DuckDB (2024 * CAST(i AS TINYINT) is an INTEGER); Polars
        # would widen it to Int16 while reporting Int8 as the type of the product
        for k in (0, 1):
            x, other = e.args[k], t[1 - k]
            if isinstance(x, Literal) and x.dtype == _INT64 and isinstance(x.value, int) and other.is_integer():
                lo, hi = _RANGE.get(str(polars_dtype(other)), (0, -1))
                if not lo <= x.value <= hi:
                    a[k] = pl.lit(x.value, dtype=pl.Int32 if -2**31 <= x.value < 2**31 else pl.Int64)
    plain = _LOWERED[e.name]([*a], e, t)
    wide = _exact_type(e, t)
    if check_is_elementwise() and wide is not None:
        return _overflow_in_polars(plain, a, e, guard, wide)

    def check(s: Sequence[pl.Series], **_: object) -> pl.Series:
        v = s[0]
        if not v.dtype.is_integer() or _fits(e.name, s[1:1 + len(a)], v.dtype):
            return _rows(v, s)
        exact = _exact_op(e.name, [x.cast(pl.Int128) for x in s[1:1 + len(a)]], pl.Series([0], dtype=pl.Int128))
        if _masked(v.cast(pl.Int128) != exact, _guard_mask(guard, 1 + len(a), s)):
            what = (f"-{e.args[0]!r}" if e.name == "neg" else f"abs({e.args[0]!r})" if e.name == "abs"
                    else f"{e.args[0]!r} {_SYMBOL[e.name]} {e.args[1]!r}")
            raise ThresherExecutionError(
                f"integer overflow in {what}: the result does not fit {v.dtype} (SQL raises, as DuckDB does; "
                f"cast an operand to a wider type, e.g. CAST(x AS BIGINT) or DOUBLE)")
        return _rows(v, s)

    inputs = [plain, *a] + ([guard] if guard is not None else [])
    return pl.map_batches(inputs, check, return_dtype=pl.dtype_of(plain), is_elementwise=check_is_elementwise())


#: operand types whose sum, difference and product Int64 holds exactly (True), whose sum and
#: difference only (False)
_EXACT_IN_INT64 = {"Null": True, "Int8": True, "Int16": True, "Int32": True, "UInt8": True, "UInt16": True,
                   "UInt32": False}


def _exact_type(e: Call, t: list[DataType]) -> pl.DataType | type[pl.DataType] | None:
    """The type ``_overflow_in_polars`` computes ``op`` over operands of types ``t`` in: Int64
    where it holds the exact result, else None (the batch-function check). Int128 would do for
    BIGINT operands too, but Polars' Int128 arithmetic over every row cost more than the batch
    function's bound test (TPC-DS q78: 877 -> 890 ms CPU, medians of 9 alternating rounds)."""
    fits = [_EXACT_IN_INT64.get("Int32" if isinstance(x, Literal) and isinstance(x.value, int)
                                and -2 ** 31 <= x.value < 2 ** 31 else str(polars_dtype(y)))  # (x * 2)
            for x, y in zip(e.args, t)]
    if any(f is None for f in fits) or (e.name == "mul" and not all(fits)):
        return None
    return pl.Int64


def _overflow_in_polars(
        plain: pl.Expr, a: list[pl.Expr], e: Call, guard: Guard, wide: pl.DataType | type[pl.DataType]) -> pl.Expr:
    """The check of ``_overflow_checked`` in Polars itself, no Python call: the exact result
    (Int128) cast back to the result's type strictly, on the rows ``guard`` selects (the others
    take the plain result, which fits). Polars' conversion error is reported as an overflow (see
    ``expr_to_polars.polars_error_message``). Polars computes an expression repeated in a node once
    (``CASE WHEN x - y <= 30 ... END`` in five aggregates: TPC-DS q50, q62, q99), where a batch
    function ran per occurrence and per morsel (``wide``: see ``_exact_type``). Not in a filter:
    see ``filter_to_polars``."""
    exact = _exact_op(e.name, [x.cast(wide) for x in a], pl.lit(0, dtype=wide))
    if guard is not None:
        exact = pl.when(guard).then(exact).otherwise(plain.cast(wide))
    return exact.cast(pl.dtype_of(plain), strict=True)


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


_LOWERED = {name: lowering(name) for name in ("add", "sub", "mul", "neg", "abs")}
for _name in ("add", "sub", "mul", "neg", "abs"):
    register_checked_lowering(_name, _is_sql, _overflow_checked)
register_lowering("sql_nonzero", lambda a, e, t: a[0])
register_checked_lowering("sql_nonzero", lambda e: True, _nonzero)


def _sql_fmod(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    """``__sql_fmod(a, b)``: numpy's ``fmod`` (C's: exact), NULL where an operand is NULL."""
    import numpy as np

    both32 = all(x == DataType.float32() or x.is_null() for x in t)
    dtype = pl.Float32 if both32 else pl.Float64

    def fmod(s: Sequence[pl.Series], **_: object) -> pl.Series:
        x, y = (v.cast(dtype) for v in s)
        n = max(len(x), len(y))
        x, y = (v.new_from_index(0, n) if len(v) == 1 and n > 1 else v for v in (x, y))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = pl.Series(np.fmod(x.to_numpy(), y.to_numpy()), dtype=dtype)
        missing = x.is_null() | y.is_null()
        return r if not missing.any() else r.zip_with(~missing, pl.Series([None] * n, dtype=dtype))

    return pl.map_batches([a[0], a[1]], fmod, return_dtype=dtype, is_elementwise=True)


register_lowering("sql_fmod", _sql_fmod)
register_lowering("sql_evaluated", lambda a, e, t: a[0])


_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


def _parse_text(x: pl.Expr, to: DataType) -> pl.Expr:
    """The text in ``x`` read as DuckDB reads it for ``to`` where it is one of the common forms
    (null where it is not, or does not convert)."""
    s = x.str.strip_chars()
    if to.is_bool():  # DuckDB does not strip here: ' true ' is not a boolean
        low = x.str.to_lowercase()
        return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False).otherwise(None)
    if to.is_integer():
        # '12', '+4', and '1.5' / '1e2' (rounded half away from zero, as DuckDB does)
        as_float = s.cast(pl.Float64, strict=False).round(0, mode="half_away_from_zero")
        whole = pl.coalesce(s.cast(pl.Int64, strict=False),
                            pl.when(as_float.abs() < 2.0**63).then(as_float).cast(pl.Int64, strict=False))
        return whole.cast(polars_dtype(to), strict=False)
    if to.is_float():
        return s.cast(pl.Float64, strict=False).cast(polars_dtype(to), strict=False)
    if to.kind == "decimal":
        scale = to.arrow.scale
        wide = s.cast(pl.Decimal(38, max(scale + 6, 12)), strict=False)
        return wide.round(scale, mode="half_away_from_zero").cast(polars_dtype(to), strict=False)
    if to.kind == "date":  # 'YYYY-M-D' (DuckDB reads more: '2024/02/29', a time after it, ...)
        return pl.when(s.str.contains(DATE_TEXT)).then(s).str.to_date("%Y-%m-%d", strict=False)
    if to.kind == "timestamp":  # 'YYYY-MM-DD[ HH:MM:SS[.ffffff]]', not stripped (DuckDB refuses a trailing blank)
        unit = to.arrow.unit
        ok = pl.when(x.str.contains(TIMESTAMP_TEXT)).then(x)
        return pl.coalesce(ok.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit=unit),
                           ok.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit=unit),
                           ok.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime(unit)))
    raise ThresherExecutionError(f"no SQL cast from text to {to}")


def _sql_type_name(t: DataType) -> str:
    if t.kind == "decimal":
        return f"DECIMAL({t.arrow.precision}, {t.arrow.scale})"
    names = {"int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT", "uint8": "UTINYINT",
             "uint16": "USMALLINT", "uint32": "UINTEGER", "uint64": "UBIGINT", "float": "FLOAT", "double": "DOUBLE",
             "bool": "BOOLEAN"}
    return names.get(str(t.arrow), t.kind.upper())


def _sql_text_cast(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    to: DataType = e.option("to")
    strict = bool(e.option("strict", True))
    dtype = polars_dtype(to)
    name = _sql_type_name(to)

    def check(s: Sequence[pl.Series], **_: object) -> pl.Series:  # (Polars passes return_dtype=)
        text, value = s[0], s[1]
        bad = text.is_not_null() & value.is_null()
        if strict and bad.any():
            raise ThresherExecutionError(f"could not convert string {text.filter(bad)[0]!r} to {name}")
        if not strict and not to.is_bool():  # (DuckDB's booleans are the few words above)
            # DuckDB reads more forms than the common ones parsed here ('0x10', '1_000', 'inf' as
            # a date, ...): where text that failed could be one, refuse rather than guess NULL
            unsure = bad & (text.str.contains(r"\d") | text.str.strip_chars().str.to_lowercase().is_in(
                ["inf", "-inf", "+inf", "infinity", "-infinity", "+infinity", "epoch", "nan"]))
            if unsure.any():
                raise ThresherExecutionError(
                    f"TRY_CAST({text.filter(unsure)[0]!r} AS {name}) is not supported: Thresher reads only the "
                    f"common forms of text as {name}, and cannot tell whether DuckDB would read this one")
        return value.cast(dtype)

    text = a[0].cast(pl.String)
    return pl.map_batches([text, _parse_text(text, to)], check, return_dtype=dtype, is_elementwise=True)


register_lowering("sql_text_cast", _sql_text_cast)


def _sql_to_text(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    x, src = a[0], t[0]
    if src.kind == "timestamp":
        # always six digits of fraction, then none of its trailing zeros (nor the point of ".000000")
        return x.dt.strftime("%Y-%m-%d %H:%M:%S%.6f").str.replace(r"\.?0+$", "")
    text = x.cast(pl.String)
    text = text.str.replace(r"^(-?)0\.0000([1-9])$", "${1}${2}e-05")
    text = text.str.replace(r"^(-?)0\.0000([1-9])(\d+)$", "${1}${2}.${3}e-05")
    text = text.str.replace(r"e([+-]?)(\d)$", "e${1}0${2}")
    return text.str.replace("NaN", "nan", literal=True)


register_lowering("sql_to_text", _sql_to_text)


# The characters whose DuckDB UPPER/LOWER differs from Polars' to_uppercase/to_lowercase ("code:code.code",
# hex), found by comparing the two over every code point (DuckDB 2.0, Polars 2.1); Σ added for Polars'
# final sigma, which depends on the characters around it.
_DUCKDB_UPPER = (
    "DF:1E9E 149:149 19B:19B 1F0:1F0 264:264 390:390 3B0:3B0 587:587 1C8A:1C8A 1E96:1E96 1E97:1E97 1E98:1E98 "
    "1E99:1E99 1E9A:1E9A 1F50:1F50 1F52:1F52 1F54:1F54 1F56:1F56 1F80:1F88 1F81:1F89 1F82:1F8A 1F83:1F8B "
    "1F84:1F8C 1F85:1F8D 1F86:1F8E 1F87:1F8F 1F88:1F88 1F89:1F89 1F8A:1F8A 1F8B:1F8B 1F8C:1F8C 1F8D:1F8D "
    "1F8E:1F8E 1F8F:1F8F 1F90:1F98 1F91:1F99 1F92:1F9A 1F93:1F9B 1F94:1F9C 1F95:1F9D 1F96:1F9E 1F97:1F9F "
    "1F98:1F98 1F99:1F99 1F9A:1F9A 1F9B:1F9B 1F9C:1F9C 1F9D:1F9D 1F9E:1F9E 1F9F:1F9F 1FA0:1FA8 1FA1:1FA9 "
    "1FA2:1FAA 1FA3:1FAB 1FA4:1FAC 1FA5:1FAD 1FA6:1FAE 1FA7:1FAF 1FA8:1FA8 1FA9:1FA9 1FAA:1FAA 1FAB:1FAB "
    "1FAC:1FAC 1FAD:1FAD 1FAE:1FAE 1FAF:1FAF 1FB2:1FB2 1FB3:1FBC 1FB4:1FB4 1FB6:1FB6 1FB7:1FB7 1FBC:1FBC "
    "1FC2:1FC2 1FC3:1FCC 1FC4:1FC4 1FC6:1FC6 1FC7:1FC7 1FCC:1FCC 1FD2:1FD2 1FD3:1FD3 1FD6:1FD6 1FD7:1FD7 "
    "1FE2:1FE2 1FE3:1FE3 1FE4:1FE4 1FE6:1FE6 1FE7:1FE7 1FF2:1FF2 1FF3:1FFC 1FF4:1FF4 1FF6:1FF6 1FF7:1FF7 "
    "1FFC:1FFC A7CD:A7CD A7CF:A7CF A7D3:A7D3 A7D5:A7D5 A7DB:A7DB FB00:FB00 FB01:FB01 FB02:FB02 FB03:FB03 "
    "FB04:FB04 FB05:FB05 FB06:FB06 FB13:FB13 FB14:FB14 FB15:FB15 FB16:FB16 FB17:FB17 10D70:10D70 10D71:10D71 "
    "10D72:10D72 10D73:10D73 10D74:10D74 10D75:10D75 10D76:10D76 10D77:10D77 10D78:10D78 10D79:10D79 "
    "10D7A:10D7A 10D7B:10D7B 10D7C:10D7C 10D7D:10D7D 10D7E:10D7E 10D7F:10D7F 10D80:10D80 10D81:10D81 "
    "10D82:10D82 10D83:10D83 10D84:10D84 10D85:10D85 16EBB:16EBB 16EBC:16EBC 16EBD:16EBD 16EBE:16EBE "
    "16EBF:16EBF 16EC0:16EC0 16EC1:16EC1 16EC2:16EC2 16EC3:16EC3 16EC4:16EC4 16EC5:16EC5 16EC6:16EC6 "
    "16EC7:16EC7 16EC8:16EC8 16EC9:16EC9 16ECA:16ECA 16ECB:16ECB 16ECC:16ECC 16ECD:16ECD 16ECE:16ECE "
    "16ECF:16ECF 16ED0:16ED0 16ED1:16ED1 16ED2:16ED2 16ED3:16ED3 "
)
_DUCKDB_LOWER = (
    "130:69 3A3:3C3 1C89:1C89 A7CB:A7CB A7CC:A7CC A7CE:A7CE A7D2:A7D2 A7D4:A7D4 A7DA:A7DA A7DC:A7DC "
    "10D50:10D50 10D51:10D51 10D52:10D52 10D53:10D53 10D54:10D54 10D55:10D55 10D56:10D56 10D57:10D57 "
    "10D58:10D58 10D59:10D59 10D5A:10D5A 10D5B:10D5B 10D5C:10D5C 10D5D:10D5D 10D5E:10D5E 10D5F:10D5F "
    "10D60:10D60 10D61:10D61 10D62:10D62 10D63:10D63 10D64:10D64 10D65:10D65 16EA0:16EA0 16EA1:16EA1 "
    "16EA2:16EA2 16EA3:16EA3 16EA4:16EA4 16EA5:16EA5 16EA6:16EA6 16EA7:16EA7 16EA8:16EA8 16EA9:16EA9 "
    "16EAA:16EAA 16EAB:16EAB 16EAC:16EAC 16EAD:16EAD 16EAE:16EAE 16EAF:16EAF 16EB0:16EB0 16EB1:16EB1 "
    "16EB2:16EB2 16EB3:16EB3 16EB4:16EB4 16EB5:16EB5 16EB6:16EB6 16EB7:16EB7 16EB8:16EB8 "
)


def _case_table(packed: str) -> dict[str, str]:
    out = {}
    for item in packed.split():
        key, value = item.split(":")
        out[chr(int(key, 16))] = "".join(chr(int(c, 16)) for c in value.split("."))
    return out


@functools.lru_cache(maxsize=2)
def _case_tables(upper: bool) -> tuple[list[str], list[str]]:
    table = _case_table(_DUCKDB_UPPER if upper else _DUCKDB_LOWER)
    return list(table), list(table.values())


def _sql_case(upper: bool) -> Callable[[list[pl.Expr], Call, list[DataType]], pl.Expr]:
    def lower_it(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
        keys, values = _case_tables(upper)

        def convert(s: pl.Series) -> pl.Series:
            s = s.cast(pl.String)
            fast = s.str.to_uppercase() if upper else s.str.to_lowercase()
            special = s.str.contains_any(keys).fill_null(False)
            if not special.any():
                return fast
            # the few strings holding one of them: character by character
            rows = pl.DataFrame({"row": special.arg_true(), "s": s.filter(special)})
            chars = rows.with_columns(pl.col("s").str.split("")).explode("s")
            c = pl.col("s")
            mapped = chars.with_columns(pl.when(c.is_in(keys)).then(c.replace_strict(keys, values, default=None))
                                        .otherwise(c.str.to_uppercase() if upper else c.str.to_lowercase()))
            joined = mapped.group_by("row", maintain_order=True).agg(c.str.join(""))
            return fast.scatter(joined["row"], joined["s"])

        return a[0].map_batches(convert, return_dtype=pl.String, is_elementwise=True)

    return lower_it


register_lowering("sql_upper", _sql_case(True))
register_lowering("sql_lower", _sql_case(False))


# -- DuckDB's string functions (``__sql_str``) ---------------------------------------------------
# Positions and lengths are code points, as DuckDB's (and Polars') are, except for ``reverse``:
# DuckDB reverses grapheme clusters (reverse('e\u0301x') is 'xe\u0301'), so text holding a character
# that may join a cluster (a combining mark, a format character such as a zero-width joiner, a
# CR, Hangul, a regional indicator, an emoji modifier) is refused rather than reversed otherwise.
_GRAPHEME_JOINERS = r"[\p{M}\p{Cf}\r\p{Hangul}\x{1F1E6}-\x{1F1FF}\x{1F3FB}-\x{1F3FF}\x{0E33}\x{0EB3}]"


def _sql_reverse(x: pl.Expr) -> pl.Expr:
    def check(s: pl.Series) -> pl.Series:
        bad = s.str.contains(_GRAPHEME_JOINERS).fill_null(False)
        if bad.any():
            raise ThresherExecutionError(
                f"reverse({s.filter(bad)[0]!r}) is not supported: DuckDB reverses grapheme clusters (a character "
                f"with its combining marks), Thresher only text whose characters each stand alone")
        return s.str.reverse()

    return x.map_batches(check, return_dtype=pl.String, is_elementwise=True)


def _sql_str(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:  # noqa: C901  (one case per function)
    op = e.option("op")
    args = [x.cast(pl.Int64) if i in SQL_STRING_INT_ARGS.get(op, ()) else x.cast(pl.String) for i, x in enumerate(a)]
    s = args[0]
    columns = [x for x, y in zip(args[1:], e.args[1:]) if y.columns()]
    if not e.args[0].columns() and columns:
        # a constant text with a column argument: one value per row (Polars' replace_all of a
        # constant by a column's values fails on the lengths, its split adds empty parts)
        s = pl.concat_str([s, columns[0].cast(pl.String).str.head(0)])
    out: pl.Expr
    if op in ("trim", "ltrim", "rtrim"):
        if len(args) == 1:  # DuckDB strips Unicode's space separators (' ', NBSP, U+3000), not tabs or newlines
            out = s
            if op != "rtrim":
                out = out.str.replace(r"^\p{Zs}+", "")
            if op != "ltrim":
                out = out.str.replace(r"\p{Zs}+$", "")
        else:
            out = (s.str.strip_chars(args[1]) if op == "trim" else s.str.strip_chars_start(args[1]) if op == "ltrim"
                   else s.str.strip_chars_end(args[1]))
    elif op == "replace":  # (the pattern is a literal: replace of an empty one leaves the text as it is)
        pattern = e.option("pattern")
        out = s if pattern == "" else s.str.replace_all(pattern, args[1].fill_null(""), literal=True)  # (NULL: masked below)
    elif op == "starts_with":
        out = s.str.starts_with(args[1])
    elif op == "contains":
        out = s.str.contains(args[1], literal=True)
    elif op == "left":  # a negative count: all but that many at the end, as Polars' head
        out = s.str.head(args[1])
    elif op == "right":
        out = s.str.tail(args[1])
    elif op in ("lpad", "rpad"):  # the text cut to n characters, then the fill repeated up to n
        n, fill = int(e.option("n")), str(e.option("fill"))
        cut = s.str.head(max(n, 0))
        if n <= 0:
            out = cut
        elif fill:
            pad = pl.lit(fill * (n // len(fill) + 1)).str.head(pl.lit(max(n, 0)) - cut.str.len_chars().cast(pl.Int64))
            out = pl.concat_str([pad, cut] if op == "lpad" else [cut, pad])
        else:
            def check(x: pl.Series) -> pl.Series:
                if (x.str.len_chars() < n).any():
                    raise ThresherExecutionError(f"Insufficient padding in {op.upper()}: its fill is '' (as DuckDB)")
                return x

            out = cut.map_batches(check, return_dtype=pl.String, is_elementwise=True)
    elif op == "strpos":  # 1-based, in characters; 0 where absent (Polars' find gives a byte offset)
        needle = args[1]
        out = (pl.when(needle == "").then(pl.lit(1, pl.Int64))
               .when(s.str.contains(needle, literal=True))
               .then(s.str.split(needle).list.first().str.len_chars().cast(pl.Int64) + 1)
               .otherwise(pl.lit(0, pl.Int64)))
    elif op == "split_part":  # 1-based, negative from the end; out of range (or 0) is ''
        part = args[2]
        index = pl.when(part > 0).then(part - 1).when(part < 0).then(part)
        size = s.str.len_chars().cast(pl.Int64)
        # an empty delimiter splits the characters (by hand: Polars splits a constant text by a
        # column's '' with an empty part at each end)
        char = pl.when((part != 0) & (part.abs() <= size)).then(s.str.slice(index, 1)).otherwise(pl.lit(""))
        out = pl.when(args[1] == "").then(char).otherwise(
            s.str.split(args[1]).list.get(index, null_on_oob=True).fill_null(""))
    elif op == "reverse":
        out = _sql_reverse(s)
    elif op == "ends_with":
        out = s.str.ends_with(args[1])
    elif op == "repeat":  # 0 or fewer times is ''
        out = s.repeat_by(args[1].clip(lower_bound=0)).list.join("")
    elif op == "strlen":  # bytes of its UTF-8
        out = s.str.len_bytes()
    elif op == "bit_length":
        out = s.str.len_bytes().cast(pl.Int64) * 8
    elif op == "ascii":
        out = _sql_ascii(s)
    elif op == "chr":
        out = _sql_chr(args[0])
    elif op == "translate":
        source, target = e.option("source"), e.option("target")
        seen: dict[str, str] = {}
        for i, ch in enumerate(source):  # the first mapping of a character wins; those past the target's end go
            seen.setdefault(ch, target[i] if i < len(target) else "")
        out = s.str.replace_many(list(seen), list(seen.values())) if seen else s
    elif op in ("regexp_matches", "regexp_full_match"):  # (the full match's pattern is anchored)
        out = s.str.contains(e.option("pattern"))
    elif op == "regexp_replace":  # the first match, or every one with 'g'
        pattern, value = e.option("pattern"), e.option("replacement")
        out = (s.str.replace_all(pattern, value) if e.option("all") else s.str.replace(pattern, value, n=1))
    elif op == "regexp_extract":  # '' where it does not match (or the group took no part)
        out = s.str.extract(e.option("pattern"), e.option("group")).fill_null("")
    else:
        raise ThresherExecutionError(f"no SQL string function {op!r}")
    dtype = polars_dtype(SQL_STRING_FUNCTIONS[op])
    null = functools.reduce(lambda p, q: p | q, [x.is_null() for x in args])
    return pl.when(null).then(pl.lit(None, dtype)).otherwise(out.cast(dtype))


register_lowering("sql_str", _sql_str)

#: ``_HEX[b]``: the byte ``b`` as two hex digits
_HEX = [f"{b:02x}" for b in range(256)]


def _sql_ascii(s: pl.Expr) -> pl.Expr:
    """The code point of the first character (0 of ''), from its UTF-8 bytes (Polars has no ord)."""
    first = s.str.head(1)
    raw = first.cast(pl.Binary)
    b = [raw.bin.get(i, null_on_oob=True).cast(pl.Int32) for i in range(4)]
    n = first.str.len_bytes()
    return (pl.when(n == 0).then(pl.lit(0, pl.Int32)).when(n == 1).then(b[0])
            .when(n == 2).then((b[0] - 0xC0) * 64 + (b[1] - 0x80))
            .when(n == 3).then((b[0] - 0xE0) * 4096 + (b[1] - 0x80) * 64 + (b[2] - 0x80))
            .otherwise((b[0] - 0xF0) * 262144 + (b[1] - 0x80) * 4096 + (b[2] - 0x80) * 64 + (b[3] - 0x80)))


def _sql_chr(cp: pl.Expr) -> pl.Expr:
    """The character of a code point: its UTF-8 bytes as hex, decoded (Polars has no chr); an
    error for a number that is no code point (negative, a surrogate, past U+10FFFF), as DuckDB."""
    ok = (cp >= 0) & (cp <= 0x10FFFF) & ((cp < 0xD800) | (cp > 0xDFFF))
    c = pl.when(ok).then(cp)

    def byte(x: pl.Expr) -> pl.Expr:
        return x.cast(pl.Int64).replace_strict(list(range(256)), _HEX, default="", return_dtype=pl.String)

    cont = [byte(0x80 + (c // (64 ** k)) % 64) for k in (2, 1, 0)]
    hexed = (pl.when(c < 0x80).then(byte(c))
             .when(c < 0x800).then(pl.concat_str([byte(0xC0 + c // 64), cont[2]]))
             .when(c < 0x10000).then(pl.concat_str([byte(0xE0 + c // 4096), cont[1], cont[2]]))
             .otherwise(pl.concat_str([byte(0xF0 + c // 262144), *cont])))
    text = pl.when(ok).then(hexed.str.decode("hex").cast(pl.String))

    return _raise_where_null_of_known(
        text, cp, pl.String, lambda v: f"chr({v}): not a Unicode code point (DuckDB raises: Invalid UTF8 Codepoint)")

# -- DuckDB's numeric and date functions ------------------------------------------------------

def _sql_rounding(up: bool) -> Callable[[list[pl.Expr], Call, list[DataType]], pl.Expr]:
    def lower_it(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
        x = a[0]
        if t[0].kind == "decimal":  # exact, then DECIMAL(p, 0)
            out = (x.ceil() if up else x.floor()).cast(pl.Decimal(t[0].arrow.precision, 0))
            return out
        if str(t[0]) != "float":
            x = x.cast(pl.Float64)
        return x.ceil() if up else x.floor()

    return lower_it


register_lowering("sql_floor", _sql_rounding(False))
register_lowering("sql_ceil", _sql_rounding(True))


#: Veltkamp's splitting constant for doubles (2^27 + 1): ``c - (c - v)`` with ``c = K * v`` is the
#: upper 26 bits of ``v``
_SPLIT = 134217729.0


def _split(v: float) -> tuple[float, float]:
    """Veltkamp's split of a double into two halves of 26 bits (``hi + lo == v`` exactly)."""
    c = _SPLIT * v
    hi = c - (c - v)
    return hi, v - hi


def _sql_round_double(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    """DuckDB's ``ROUND(x, d)`` of a DOUBLE: ``std::round(x * 10^d) / 10^d`` (half away from zero on
    the scaled binary value: ``round(0.125, 2)`` is 0.13 because 12.5 is exact, ``round(0.285, 2)``
    is 0.28 because 0.285 * 100 is 28.499999999999996), ``std::round(x / 10^-d) * 10^-d`` for a
    negative ``d``; a result that is not finite gives ``x`` back.

    DuckDB 2 breaks a tie of ``y = x * 10^d`` (rounded to a double) on the exact product: 70.55 * 10
    is 705.4999999999999716 but rounds to the double 705.5, and DuckDB gives 70.5. The product's
    rounding error is Dekker's two-product ``x * 10^d - y`` (exact, from halves of 26 bits); where
    ``y`` is a tie and the error points toward zero, the result (rounded away) steps back by one.

    The scale is a column (``x * 0 + 10^|d|``), not a literal: Polars divides by a scalar through
    its reciprocal (2739 / 10 gives 273.90000000000003), DuckDB divides exactly (273.9); a
    non-finite ``x`` makes it NaN, and the result is then ``x``.

    Every step is a field of one struct (``struct.with_fields``), computed once: written as one
    expression tree each intermediate value (``x``, its product, the rounded product, the error)
    was repeated in every place that reads it, ~700 nodes per ROUND of a quotient, which Polars
    had to optimize and evaluate (TPC-DS q02's seven ROUNDs: ~30 ms of lowering, ~40 ms of
    collect); on 4M rows this runs in a quarter of the time of the tree, with the same results.
    """
    digits = int(e.option("digits", 0))
    scale = float(10 ** abs(digits))
    f = pl.field
    s = pl.struct(a[0].alias("x"))
    s = s.struct.with_fields((f("x") * 0.0 + scale).alias("m"))
    if digits < 0:
        s = s.struct.with_fields(((f("x") / f("m")).round(0, mode="half_away_from_zero") * f("m")).alias("o"))
    else:
        s = s.struct.with_fields((f("x") * f("m")).alias("y"))
        s = s.struct.with_fields(f("y").round(0, mode="half_away_from_zero").alias("r"))
        if digits > 0:
            sh, sl = _split(scale)
            s = s.struct.with_fields((f("x") * _SPLIT).alias("c"))
            s = s.struct.with_fields((f("c") - (f("c") - f("x"))).alias("xh"))
            s = s.struct.with_fields((f("x") - f("xh")).alias("xl"))
            s = s.struct.with_fields(
                ((((f("xh") * sh - f("y")) + f("xh") * sl) + f("xl") * sh) + f("xl") * sl).alias("err"))
            tie = (f("y") - f("r")).abs() == 0.5
            s = s.struct.with_fields(
                pl.when(tie & (f("y") > 0.0) & (f("err") < 0.0)).then(f("r") - 1.0)
                .when(tie & (f("y") < 0.0) & (f("err") > 0.0)).then(f("r") + 1.0)
                .otherwise(f("r")).alias("r"))
        s = s.struct.with_fields((f("r") / f("m")).alias("o"))
    s = s.struct.with_fields(pl.when(f("o").abs() < float("inf")).then(f("o")).otherwise(f("x")).alias("o"))
    return s.struct.field("o")


register_lowering("sql_round_double", _sql_round_double)


def _sql_sign(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    x = a[0]
    if t[0].is_null():
        return pl.lit(None, dtype=pl.Int8)
    if t[0].is_float():  # sign(NaN) is 0 in DuckDB (Polars orders NaN above every number)
        x = pl.when(x.is_nan()).then(pl.lit(0.0, polars_dtype(t[0]))).otherwise(x)
    return (pl.when(x > 0).then(pl.lit(1, pl.Int8)).when(x < 0).then(pl.lit(-1, pl.Int8))
            .when(x.is_not_null()).then(pl.lit(0, pl.Int8)).otherwise(pl.lit(None, pl.Int8)))


register_lowering("sql_sign", _sql_sign)


def _sql_extreme(greatest: bool) -> Callable[[list[pl.Expr], Call, list[DataType]], pl.Expr]:
    def lower_it(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
        dtype = polars_dtype(extreme_type("greatest" if greatest else "least", [Field(f"a{i}", x) for i, x in enumerate(t)]))
        # left to right, NULLs skipped, the first of equal values kept (greatest(-0.0, 0) is -0.0
        # in DuckDB; Polars' max_horizontal gives 0.0)
        out = a[0].cast(dtype)
        for y in a[1:]:
            x = y.cast(dtype)
            better = (x > out) if greatest else (x < out)
            out = pl.when(out.is_null() | better).then(x).otherwise(out)
        return out

    return lower_it


def _sql_list_value(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    inner = polars_dtype(extreme_type("list_value", [Field(f"a{i}", x) for i, x in enumerate(t)]))
    return pl.concat_list([x.cast(inner) for x in a])


register_lowering("sql_list_value", _sql_list_value)


def _sql_list_ordinals(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    if t[0].is_null():
        return pl.lit(None, dtype=pl.List(pl.Int64))
    return pl.when(a[0].is_not_null()).then(pl.int_ranges(1, a[0].list.len() + 1, dtype=pl.Int64))


register_lowering("sql_list_ordinals", _sql_list_ordinals)
register_lowering("sql_greatest", _sql_extreme(True))
register_lowering("sql_least", _sql_extreme(False))


def _sql_date_part(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    x, part = a[0], e.option("part")
    if t[0].is_null():
        return pl.lit(None, dtype=pl.Int64)
    if part == "dow":  # Sunday 0
        out = x.dt.weekday() % 7
    elif part == "isodow":
        out = x.dt.weekday()
    elif part == "doy":
        out = x.dt.ordinal_day()
    elif part == "week":  # ISO week
        out = x.dt.week()
    elif part in ("hour", "minute", "second") and t[0].kind == "date":  # midnight's, as DuckDB
        return pl.when(x.is_not_null()).then(pl.lit(0, pl.Int64))
    else:
        out = getattr(x.dt, part)()
    return out.cast(pl.Int64)


register_lowering("sql_date_part", _sql_date_part)


def _c_function(name: str, *xs: pl.Expr) -> pl.Expr:
    """C's ``log10``, ``log2``, ``pow`` or DuckDB's ``log(b, x)`` (``log10(x) / log10(b)``) of each
    row, as DuckDB computes them: Polars' ``log10`` and ``log(2)`` are ``ln(x) / ln(b)``, its ``pow``
    of a whole exponent multiplies, and numpy's vectorized ones differ from C's in places, each an
    ulp or so off (log10(1000) was 2.9999999999999996, 0.3 ** 3 0.027 where C's is
    0.026999999999999996). Arrow's compute kernels call C's functions over whole arrays (0 gives
    -inf, a negative NaN, as C's), and its division is IEEE's (Polars divides by a constant through
    its reciprocal)."""

    def run(s: Sequence[pl.Series], **_: object) -> pl.Series:
        n = max(len(v) for v in s)
        cols = [(v.new_from_index(0, n) if len(v) == 1 and n > 1 else v).cast(pl.Float64).to_arrow() for v in s]
        if name == "pow":
            out = pc.power(cols[0], cols[1])
        elif name == "log":
            out = pc.divide(pc.log10(cols[1]), pc.log10(cols[0]))
        else:
            out = (pc.log10 if name == "log10" else pc.log2)(cols[0])
        return cast(pl.Series, pl.from_arrow(out)).alias(s[0].name).cast(pl.Float64)

    return pl.map_batches(list(xs), run, return_dtype=pl.Float64, is_elementwise=True)


def _sql_math(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    op = e.option("op")
    x = [(pl.lit(None, dtype=pl.Float64) if tt.is_null() else y.cast(pl.Float64)) for y, tt in zip(a, t)]
    if op == "exp":
        return x[0].exp()
    if op == "ln":
        return x[0].log()
    if op == "log10":
        # C's log10, as DuckDB's: Polars' is ln(x) / ln(10), an ulp off in places
        # (log10(1000) was 2.9999999999999996, log10(5) 0.6989700043360187)
        return _c_function("log10", x[0])
    if op == "log2":
        return _c_function("log2", x[0])
    if op == "log":  # log(b, x): log10(x) / log10(b), as DuckDB computes it (log(1, 8) is inf)
        return _c_function("log", x[0], x[1])
    if op in ("sin", "cos", "tan"):
        return cast("pl.Expr", getattr(x[0], op)())
    if op == "atan":
        return x[0].arctan()
    if op == "atan2":  # atan2(y, x)
        return pl.arctan2(x[0], x[1])
    if op == "degrees":  # (C's x * 180 / pi, as DuckDB: Polars' degrees rounds otherwise)
        return x[0] * (180.0 / math.pi)
    if op == "radians":
        return x[0] * (math.pi / 180.0)
    return _c_function("pow", x[0], x[1])


register_lowering("sql_math", _sql_math)


def _sql_float_test(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    op, x = e.option("op"), a[0]
    if t[0].is_null():
        return pl.lit(None, dtype=pl.Boolean)
    if not t[0].is_float():  # an integer or a DECIMAL: finite
        return pl.when(x.is_not_null()).then(pl.lit(op == "isfinite"))
    return x.is_nan() if op == "isnan" else x.is_infinite() if op == "isinf" else x.is_finite()


register_lowering("sql_float_test", _sql_float_test)


def _sql_bits(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    op = e.option("op")
    dtype = bits_type(op, [Field(f"arg{i}", tt) for i, tt in enumerate(t)])
    pdt = polars_dtype(dtype)
    if dtype.kind == "decimal":  # (& | xor of a UBIGINT and a signed integer: DuckDB's HUGEINT)
        return _hugeint_bits(op, a, t)
    x = [pl.lit(None, dtype=pdt) if tt.is_null() else y.cast(pdt) for y, tt in zip(a, t)]
    if op == "count":  # (of the value in its own type: bit_count(-1) of an INTEGER is 32)
        return a[0].bitwise_count_ones().cast(pdt) if not t[0].is_null() else pl.lit(None, dtype=pdt)
    if op == "not":
        return ~x[0]
    if op == "and":
        return x[0] & x[1]
    if op == "or":
        return x[0] | x[1]
    if op == "xor":
        return x[0] ^ x[1]
    bits = dtype.arrow.bit_width
    signed = signed_integer(dtype)
    v, s = x[0].cast(pl.Int128), (pl.lit(None, dtype=pl.Int64) if t[1].is_null() else a[1].cast(pl.Int64))
    power = pl.lit(2, dtype=pl.Int128).pow(s.clip(0, bits - 1).cast(pl.UInt32))
    if op == "shr":  # (arithmetic: a negative value stays negative; past the width or negative: 0)
        out = pl.when((s < 0) | (s >= bits)).then(v * 0).otherwise(v // power)  # (v * 0: NULL of NULL)
        return out.cast(pdt)
    # <<: DuckDB's checks, in its order; the result is below 2^(bits - 1) (2^bits unsigned)
    limit = pl.lit(2, dtype=pl.Int128).pow((pl.lit(bits - (1 if signed else 0), dtype=pl.Int64) - s)
                                           .clip(0, bits).cast(pl.UInt32))
    bad = (pl.when(v < 0).then(pl.lit("Cannot left-shift negative number"))
           .when(s < 0).then(pl.lit("Cannot left-shift by negative number"))
           .when(s == 0).then(pl.lit(None, dtype=pl.String))
           .when((s >= bits) & (v != 0)).then(pl.lit("Left-shift value out of range" if signed else "Overflow in left shift"))
           .when((s < bits) & (v >= limit)).then(pl.lit("Overflow in left shift")))
    out = pl.when(s >= bits).then(v * 0).otherwise(v * power)

    def check(series: Sequence[pl.Series], **_: object) -> pl.Series:  # (Polars passes return_dtype=)
        problems = series[1].drop_nulls()
        if len(problems):
            raise ThresherExecutionError(f"{problems[0]} ({dtype} << shift; DuckDB raises: Out of Range Error)")
        return series[0]

    return pl.map_batches([out.cast(pdt, strict=False), bad], check, return_dtype=pdt, is_elementwise=True)


register_lowering("sql_bits", _sql_bits)


def _hugeint_bits(op: str, a: list[pl.Expr], t: list[DataType]) -> pl.Expr:
    """``&``, ``|``, ``xor`` of a UBIGINT and a signed integer as DuckDB's HUGEINT: both in 128 bits
    (the signed one sign-extended), the result a DECIMAL(38, 0) as DuckDB's Arrow results hold it."""
    x, y = (v.cast(pl.Int128) for v in a)
    return (x & y if op == "and" else x | y if op == "or" else x ^ y).cast(pl.Decimal(38, 0))


def _sql_trunc(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    x = a[0]
    if t[0].is_null():
        return pl.lit(None, dtype=pl.Float64)
    if t[0].is_integer():
        return x
    out = pl.when(x < 0).then(x.ceil()).otherwise(x.floor())  # (NaN and the infinities stay)
    if t[0].kind == "decimal":
        return out.cast(pl.Decimal(t[0].arrow.precision, 0))
    return out


register_lowering("sql_trunc", _sql_trunc)


def _sql_round_int(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    # |n| + m / 2 in Int128 (no overflow), divided and scaled back; 10^20 is past every BIGINT's
    # half, so any d below -20 rounds to 0 as -20 does
    m = 10 ** min(-int(e.option("digits")), 20)
    y = a[0].cast(pl.Int128)
    r = ((y.abs() + m // 2) // m) * m
    dtype = polars_dtype(t[0])
    out = pl.when(y < 0).then(pl.lit(0, dtype=pl.Int128) - r).otherwise(r).cast(dtype, strict=False)
    return _raise_where_null_of_known(
        out, a[0], dtype, lambda v: f"round({v}, {e.option('digits')}): the result does not fit {t[0]} "
                                    f"(DuckDB raises: Overflow in ROUND of integer)")


register_lowering("sql_round_int", _sql_round_int)

_TRUNC = {"year": "1y", "quarter": "1q", "month": "1mo", "week": "1w", "day": "1d", "hour": "1h", "minute": "1m",
          "second": "1s",
          "millisecond": "1ms", "microsecond": "1us"}


def _sql_date_trunc(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    if t[0].is_null():
        return pl.lit(None, dtype=pl.Datetime("us"))
    x = a[0] if t[0].kind == "timestamp" else a[0].cast(pl.Datetime("us"))
    return x.dt.truncate(_TRUNC[e.option("unit")])  # (Polars' weeks start on Monday, as ISO's)


register_lowering("sql_date_trunc", _sql_date_trunc)


def _sql_date_diff(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    if any(x.is_null() for x in t):
        return pl.lit(None, dtype=pl.Int64)
    unit = e.option("unit")
    if e.option("sub") and unit in ("month", "quarter", "year"):
        return _sql_months_between(a, unit)
    if unit in _MICROS or e.option("sub"):
        us0, us1 = (x.cast(pl.Datetime("us")).dt.epoch("us") for x in a)
        if e.option("sub"):  # DATE_SUB: the whole units between (the microseconds between, truncated)
            return _truncated_div(us1 - us0, _SUB_MICROS[unit])
        # the unit boundaries crossed (rounded down: 23:59:59.5 is in the second 23:59:59, before 1970 too)
        return us1 // _MICROS[unit] - us0 // _MICROS[unit]
    start, end = (x.cast(pl.Date) for x in a)  # (boundaries crossed: a time of day does not count)
    if unit == "week":  # DuckDB: the days between divided by 7, truncated (not the weeks' boundaries)
        return _truncated_div((end - start).dt.total_days().cast(pl.Int64), 7)
    if unit == "day":
        return (end - start).dt.total_days().cast(pl.Int64)
    y0, y1 = start.dt.year().cast(pl.Int64), end.dt.year().cast(pl.Int64)
    if unit == "year":
        return y1 - y0
    if unit == "quarter":
        return (y1 * 4 + end.dt.quarter()) - (y0 * 4 + start.dt.quarter())
    return (y1 * 12 + end.dt.month()) - (y0 * 12 + start.dt.month())


register_lowering("sql_date_diff", _sql_date_diff)

#: microseconds in a unit of DATE_DIFF's by the clock (DATE_SUB's, with its weeks and days)
_MICROS = {"hour": 3_600_000_000, "minute": 60_000_000, "second": 1_000_000, "millisecond": 1_000,
           "microsecond": 1}
_SUB_MICROS = _MICROS | {"week": 7 * 86_400_000_000, "day": 86_400_000_000}


def _sql_months_between(a: list[pl.Expr], unit: str) -> pl.Expr:
    """DuckDB's DATE_SUB by months, quarters or years: the whole months of the age from the
    earlier to the later (negated when the first is later), where an end on the last day of its
    month reaches a start day past it (Jan 31 to Feb 29 is a month)."""
    x, y = (v.cast(pl.Datetime("us")) for v in a)
    neg = x > y
    lo, hi = pl.when(neg).then(y).otherwise(x), pl.when(neg).then(x).otherwise(y)

    def parts(v: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
        time = v.dt.epoch("us") - v.dt.truncate("1d").dt.epoch("us")
        return v.dt.year().cast(pl.Int64), v.dt.month().cast(pl.Int64), v.dt.day().cast(pl.Int64), time

    ly, lm, ld, lt = parts(lo)
    hy, hm, hd, ht = parts(hi)
    end_days = hi.dt.month_end().dt.day().cast(pl.Int64)
    moved = (hd == end_days) & ((ld > end_days) | ((ld == end_days) & (lt < ht)))
    start_day = pl.when(moved).then(end_days).otherwise(ld)
    borrow = ((hd < start_day) | ((hd == start_day) & (ht < lt))).cast(pl.Int64)
    months = (hy - ly) * 12 + (hm - lm) - borrow
    whole = months // {"month": 1, "quarter": 3, "year": 12}[unit]
    return pl.when(neg).then(-whole).otherwise(whole)


def _truncated_div(x: pl.Expr, n: int) -> pl.Expr:
    """``x / n`` rounded toward zero, as C divides (Polars' ``//`` rounds down)."""
    return pl.when(x >= 0).then(x // n).otherwise(-((-x) // n))


def _timestamp_us(x: pl.Expr, t: DataType) -> pl.Expr:
    return x.cast(pl.Datetime("us")) if t.kind == "date" or t.arrow.unit != "us" else x


def _sql_strftime(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    if t[0].is_null():
        return pl.lit(None, dtype=pl.String)
    return _timestamp_us(a[0], t[0]).dt.strftime(e.option("format"))  # (a DATE at midnight, as DuckDB)


register_lowering("sql_strftime", _sql_strftime)


def _sql_strptime(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    if t[0].is_null():
        return pl.lit(None, dtype=pl.Datetime("us"))
    fmt, spelled = e.option("format"), e.option("spelled")
    parsed = a[0].str.to_datetime(fmt, strict=False, time_unit="us")

    return _raise_where_null_of_known(
        parsed, a[0], pl.Datetime("us"),
        lambda v: f"strptime({v!r}, {spelled!r}): the text does not match the format (DuckDB raises too), or it is "
                  f"in a form DuckDB reads and Thresher's parser does not: such text is not supported")


register_lowering("sql_strptime", _sql_strptime)


def _sql_epoch(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    seconds = e.option("unit") == "s"
    if t[0].is_null():
        return pl.lit(None, dtype=pl.Float64 if seconds else pl.Int64)
    us = _timestamp_us(a[0], t[0]).dt.epoch("us")
    if seconds:
        return us.cast(pl.Float64) / 1e6
    # milliseconds rounded half away from zero, as DuckDB (1969-12-31 23:59:59.9995 is -1, .999999 is 0)
    return pl.when(us >= 0).then((us + 500) // 1000).otherwise(-((500 - us) // 1000))


register_lowering("sql_epoch", _sql_epoch)


def _sql_from_epoch(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    if e.option("unit") == "us":  # MAKE_TIMESTAMP(n): microseconds, exact
        return pl.lit(None, dtype=pl.Datetime("us")) if t[0].is_null() else a[0].cast(pl.Int64).cast(pl.Datetime("us"))
    ms = e.option("unit") == "ms"
    if ms and t[0].kind in ("date", "timestamp"):  # EPOCH_MS of a DATE or TIMESTAMP: milliseconds
        return _sql_epoch(a, e, t)
    dtype = pl.Datetime("us") if ms else pl.Datetime("us", "UTC")
    if t[0].is_null():
        return pl.lit(None, dtype=dtype)
    if ms:
        x = a[0].cast(pl.Int64)
        us: pl.Expr = pl.when(x.abs() <= 9_223_372_036_854_775).then(x * 1000)
    else:  # seconds as a DOUBLE, rounded to microseconds half to even (DuckDB's nearbyint)
        f = a[0].cast(pl.Float64) * 1e6
        us = pl.when(f.abs() < 9.2e18).then(f.round(0, mode="half_to_even")).cast(pl.Int64, strict=False)
    out = us.cast(pl.Datetime("us"))
    if not ms:
        out = out.dt.replace_time_zone("UTC")
    name = "epoch_ms" if ms else "to_timestamp"

    return _raise_where_null_of_known(
        out, a[0], dtype, lambda v: f"{name}({v}): out of the range of a TIMESTAMP (DuckDB raises)")


register_lowering("sql_from_epoch", _sql_from_epoch)


def _sql_last_day(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    if t[0].is_null():
        return pl.lit(None, dtype=pl.Date)
    return a[0].cast(pl.Date).dt.month_end()


register_lowering("sql_last_day", _sql_last_day)


def _sql_make_date(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    parts = [pl.lit(None, dtype=pl.Int32) if tt.is_null() else x.cast(pl.Int32, strict=False) for x, tt in zip(a, t)]
    y, m, d = parts
    # the day is checked against its month (Polars would roll 2023-02-29 over or fail the batch)
    ok = (y >= 1) & (y <= 9999) & (m >= 1) & (m <= 12) & (d >= 1)
    first = pl.when(ok).then(pl.date(y, m, pl.lit(1, dtype=pl.Int32)))
    last = first.dt.month_end().dt.day()
    made = pl.when(d <= last).then(first.dt.offset_by(pl.format("{}d", d - 1)))

    def check(s: Sequence[pl.Series], **_: object) -> pl.Series:
        value = s[0]
        known = s[1].is_not_null() & s[2].is_not_null() & s[3].is_not_null()
        bad = value.is_null() & known
        if bad.any():
            raise ThresherExecutionError("make_date: a year, month and day that make no date (DuckDB raises: "
                                         "Date out of range)")
        return value

    return pl.map_batches([made, *parts], check, return_dtype=pl.Date, is_elementwise=True)


register_lowering("sql_make_date", _sql_make_date)


def _sql_make_timestamp(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    """MAKE_TIMESTAMP(y, mo, d, h, m, s) as DuckDB's: the day checked as MAKE_DATE checks it, the
    seconds rounded to microseconds half away from zero (its cast of a DOUBLE to an integer),
    0 <= h <= 24, 0 <= m < 60, 0 <= whole seconds <= 60 (60.5 is the next minute's 0.5 s), hour 24
    only as 24:00:00 (the next day's midnight); an error otherwise (DuckDB: "Time out of range")."""
    if any(tt.is_null() for tt in t):
        return pl.lit(None, dtype=pl.Datetime("us"))
    h, m = a[3].cast(pl.Int64, strict=False), a[4].cast(pl.Int64, strict=False)
    sec = a[5].cast(pl.Float64)
    finite = sec.is_finite() & (sec.abs() < 9.2e12)
    total = pl.when(finite).then((sec * 1e6).round(0, mode="half_away_from_zero")).cast(pl.Int64, strict=False)
    whole = total // 1_000_000
    ok = (finite & (h >= 0) & (h <= 24) & (m >= 0) & (m < 60) & (whole >= 0) & (whole <= 60)
          & ((h < 24) | ((m == 0) & (total == 0))))
    micros = pl.when(ok).then(h * 3_600_000_000 + m * 60_000_000 + total)
    value = _sql_make_date(a[:3], e, t[:3]).cast(pl.Datetime("us")) + pl.duration(microseconds=micros)

    def check(s: Sequence[pl.Series], **_: object) -> pl.Series:
        bad = s[0].is_null() & s[1].is_not_null() & s[2].is_not_null() & s[3].is_not_null()
        if bad.any():
            i = int(bad.arg_max() or 0)
            h, m, sec = (x[i if len(x) > 1 else 0] for x in s[1:])  # (a literal's is one value)
            raise ThresherExecutionError(f"make_timestamp: time out of range: {h}:{m}:{sec} "
                                         f"(DuckDB raises: Time out of range)")
        return s[0]

    return pl.map_batches([value, h, m, sec], check, return_dtype=pl.Datetime("us"), is_elementwise=True)


register_lowering("sql_make_timestamp", _sql_make_timestamp)


def _sql_decimal_raw(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    scale = t[0].arrow.scale
    # exact: the value times 10^scale is a whole DECIMAL, its integer the unscaled value
    return (a[0] * pl.lit(10 ** scale, dtype=pl.Int64)).cast(pl.Int128).cast(pl.Float64)


register_lowering("sql_decimal_raw", _sql_decimal_raw)


def _sql_decimal_from_raw(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    import decimal

    precision, scale = int(e.option("precision")), int(e.option("scale"))
    whole = pl.when(a[0] < 0).then(a[0].ceil()).otherwise(a[0].floor()).cast(pl.Int128)
    unit = pl.lit(decimal.Decimal(1).scaleb(-scale), dtype=pl.Decimal(38, scale))
    return (whole.cast(pl.Decimal(38, 0)) * unit).cast(pl.Decimal(precision, scale))


register_lowering("sql_decimal_from_raw", _sql_decimal_from_raw)
