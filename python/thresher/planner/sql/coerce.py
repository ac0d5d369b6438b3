"""Implicit casts SQL applies where Python-typed expressions would refuse, as DuckDB does them.

- A string literal compared with (``=``, ``<>``, ``<``, ``BETWEEN``, ``IN (...)``) a typed value
  takes that value's type: ``d_date BETWEEN '2000-01-27' AND '2000-04-26'`` compares dates,
  ``i_price > '10'`` numbers. A literal that does not convert is an error naming it (DuckDB:
  "Could not convert string ... to DATE"), never a string comparison.
- ``DATE +/- integer`` adds days (``d_date + 5``); ``DATE - DATE`` is the number of days between.
- ``CAST`` rounds where Polars' cast truncates, and ``//`` truncates toward zero where Polars'
  floors (:class:`SQLCast`, :data:`SQL_TRUNCATED`): both depend on the operands' types.
- ``%`` and ``//`` by zero are an error (DuckDB's "Division by zero"), where Polars gives NULL or
  inf: ``__sql_nonzero`` checks at run time, on the rows SQL evaluates the division on.

The translator builds expressions bottom-up, sometimes before the schema they run against is
known (WHERE terms are collected before the joins are planned), so this is a rewrite of a whole
expression against a schema, applied where a plan node is made.
"""

from __future__ import annotations

import datetime
import decimal
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from thresher.datatypes import HUGEINT, DataType, Schema, integer_digits
from thresher.errors import ThresherError, ThresherTypeError
from thresher.expressions.expr import Alias, Call, Cast, Column, Expr, Literal, When, lit, when

_COMPARISONS = {"eq", "neq", "gt", "ge", "lt", "le"}

#: the option of a ``mod`` or ``floordiv`` written as SQL's ``%`` or ``//`` (see :func:`_sql_truncated`)
SQL_TRUNCATED = (("sql", True),)
#: the option of an ``add``, ``sub``, ``mul`` or ``neg`` written in SQL: integer overflow is an error
#: at run time (DuckDB's "Overflow in multiplication of INT16"), where Polars (the DataFrame API) wraps;
#: of a ``truediv``: a division by a constant is IEEE's, where Polars multiplies by the reciprocal
SQL_CHECKED = (("sql", True),)
#: the option of a ``dt.offset_by`` written in SQL (``x + INTERVAL 1 DAY``): a DATE shifted by an
#: interval is a TIMESTAMP in DuckDB (``DATE '2020-01-31' + INTERVAL 1 MONTH`` is 2020-02-29 00:00:00),
#: where Polars keeps a date; the DATE is cast once its type is known (DATE + integer stays a DATE)
SQL_DATE_SHIFT = (("sql", True),)
#: the option of a ``sum`` written in SQL whose argument may hold BIGINT values: a sum that leaves
#: BIGINT is an error at run time (DuckDB sums integers into a HUGEINT and answers exactly; Polars,
#: as the DataFrame API, wraps). A sum of INTEGER (or narrower) values fits BIGINT below 2^32 rows.
#: An ``avg`` of such values sums them exactly too (Polars sums doubles: avg(2^63 - 1, -2^63) 0.0).
SQL_EXACT_SUM = (("exact", True),)
#: the option of a ``max`` of REAL or DOUBLE values written in SQL: NaN is greater than every number
#: (DuckDB's ``max`` of 1.0 and NaN is NaN), where Polars' ``max`` (the DataFrame API's) skips NaN
#: unless every value is NaN. (``min`` agrees: NaN is the least value only where every value is NaN.)
SQL_NAN_MAX = (("nan", "greatest"),)
#: the option of a ``mean`` of DATEs written in SQL (``avg(d)``, grouped or over a window): DuckDB's
#: TIMESTAMP_NS, the days' sum times a day in nanoseconds over the count, rounded to the nearest
#: nanosecond in integers (Polars' mean of dates, the DataFrame API's, is a datetime in
#: microseconds from a float: 1 us or more off DuckDB's value, where it has a fraction of a us)
SQL_DATE_MEAN = (("date_ns", True),)
#: the option of a ``std`` or ``var`` written in SQL: exactly 0 over equal values, as DuckDB's
#: (Welford's updates leave its mean exactly the value, its sum of squares 0); Polars' two passes
#: (the DataFrame API's) give ~1e-34 for three 0.1s, 4e-12 for seven 1e10 + 0.3s
SQL_VARIANCE = (("sql", True),)


def may_leave_int32(e: Expr, schema: Schema | None) -> bool:
    """May ``e`` hold an integer outside INTEGER's range (so its SUM can leave BIGINT)? False
    where its type is an integer of at most 32 bits, or it is a literal, CASE or COALESCE of
    such values (``sum(CASE WHEN ... THEN 1 ELSE 0 END)``: Thresher types the literals BIGINT)."""
    if isinstance(e, Literal):
        return isinstance(e.value, int) and not -2 ** 31 <= e.value < 2 ** 32
    if isinstance(e, Alias):
        return may_leave_int32(e.child, schema)
    if schema is not None:
        try:
            t = e.resolve(schema).dtype
        except ThresherError:
            return True
        if not (t.is_integer() or t.is_null()):
            return False  # (decimal, double: not this check's)
        if t.is_null() or str(t.arrow) in _NARROW_INTS:
            return False
    if isinstance(e, When):
        return any(may_leave_int32(v, schema) for _, v in e.branches) or may_leave_int32(e.otherwise_, schema)
    if isinstance(e, Call) and e.name == "coalesce":
        return any(may_leave_int32(a, schema) for a in e.args)
    return True


_NARROW_INTS = frozenset({"int8", "int16", "int32", "uint8", "uint16", "uint32"})


@dataclass(frozen=True, eq=False, repr=False)
class SQLCast(Cast):
    """A SQL ``CAST`` whose rounding waits for its input's type (see :func:`_sql_cast`); until
    then (and where the type stays unknown) it is Polars' cast."""

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return SQLCast(children[0], self.dtype, self.strict)


def _sql_cast(e: SQLCast, src: DataType) -> Expr:
    """DuckDB's CAST rounds where Polars' cast (the DataFrame API's) truncates: a DECIMAL cast to
    an integer or to a DECIMAL of a smaller scale, and a DOUBLE cast to a DECIMAL, round half away
    from zero (``CAST(2.5 AS INTEGER)`` is 3, ``CAST(0.5::DOUBLE AS DECIMAL(9, 0))`` is 1); a
    DOUBLE cast to an integer rounds half to even (``CAST(0.5::DOUBLE AS INTEGER)`` is 0,
    ``CAST(-1.5::DOUBLE AS INTEGER)`` is -2). Text cast to a number, DATE, TIMESTAMP or BOOLEAN
    is read as DuckDB reads it (``CAST(' 12 ' AS INTEGER)`` is 12, ``'1.5'`` is 2, ``'yes'`` is
    true), where Polars' cast refuses or gives NULL: ``sql_text_cast``."""
    to, x = e.dtype, e.child
    if src.is_string() and (to.is_numeric() or to.is_bool() or to.kind in ("date", "timestamp")):
        import thresher.expressions.sql_functions  # noqa: F401  (registers sql_text_cast)

        return Call("sql_text_cast", (x,), (("to", to), ("strict", e.strict)))
    if to.is_string() and (src.is_float() or src.kind == "timestamp"):
        import thresher.expressions.sql_functions  # noqa: F401  (registers sql_to_text)

        return Call("sql_to_text", (x,))
    if to.kind == "decimal" and src.is_bool():  # (Polars has no Boolean -> Decimal cast: 1 and 0 through Int8)
        return Cast(Cast(x, DataType.int8(), e.strict), to, e.strict)
    if (to.is_integer() or to.kind == "decimal") and (src.is_float() or src.kind == "decimal"):
        digits = to.arrow.scale if to.kind == "decimal" else 0
        if src.is_float() or digits < src.arrow.scale:
            # (a HUGEINT, DECIMAL(38, 0) here, is an integer: a float rounds half to even to it)
            mode = "half_to_even" if src.is_float() and (to.is_integer() or to == HUGEINT) else "half_away_from_zero"
            x = Call("round", (x,), (("decimals", digits), ("mode", mode)))
    if to.kind == "decimal" and not e.strict and (src.is_numeric()):
        # TRY_CAST to a DECIMAL too narrow for the value is NULL (Polars' non-strict cast raises:
        # "decimal precision 9 can't fit values with 11 digits")
        bound = lit(10.0 ** (to.arrow.precision - to.arrow.scale))
        fits = Call("lt", (Call("abs", (Cast(x, DataType.float64(), False),)), bound))
        x = when(fits).then(x).otherwise(Literal(None, DataType.null()))
    return Cast(x, to, e.strict)


def _sql_truncated(name: str, a: Expr, b: Expr, ta: DataType, tb: DataType, schema: Schema | None = None) -> Expr:
    """DuckDB's ``a % b`` and ``a // b`` truncate toward zero where Polars' (the DataFrame
    API's) floor. The remainder has the sign of ``a`` (``-7 % 3`` is -1): ``sign(a) * (|a| % |b|)``
    for a DOUBLE or DECIMAL operand; integers step Polars' floored ones toward zero (``-7 // 2`` is
    -3; no ``|a|``, which wraps at the type's minimum), and ``//`` with a DOUBLE or DECIMAL operand
    divides (``7.5 // 2`` is 3.75), as DuckDB does.
    A NULL operand gives NULL either way."""
    if ta.is_null() or tb.is_null():  # (Polars has no abs or // of the null type)
        other = tb if ta.is_null() else ta
        if name == "floordiv" and (other.kind == "decimal" or other.is_float()):
            other = DataType.float64()  # (DuckDB: a // with a DECIMAL divides, a DOUBLE: NULL // 1.5 is one)
        elif name == "mod" and other.kind == "decimal":
            other = DataType.null()  # (DuckDB: NULL % 1.5 is of the NULL type)
        elif _plain_int_literal(b if ta.is_null() else a):
            other = _natural_type([(b if ta.is_null() else a).value])  # type: ignore[attr-defined]
        return Literal(None, DataType.null()) if other.is_null() else Literal(None, DataType.null()).cast(other)
    ints = ta.is_integer() and tb.is_integer()
    # a UBIGINT with a signed integer, or a HUGEINT (u - i) with an integer: DuckDB's HUGEINT,
    # DECIMAL(38, 0) here, divided as integers are (not as DECIMALs, in DOUBLE)
    hugeint = duckdb_integer_type(ta, tb) is None if ints else (
        all(t.is_integer() or _is_hugeint(x, schema) for x, t in ((a, ta), (b, tb)))
        and (_is_hugeint(a, schema) or _is_hugeint(b, schema)))
    if name == "floordiv" and not (ints or hugeint):
        return _nonzero(Call("truediv", (a, b), SQL_CHECKED), a, b, "//")
    if ints or hugeint:
        # (an operand with a NULL in it, NULL - b, is Polars' null type, which has no % or //: typed)
        a, b = (Cast(x, t) if any(isinstance(n, Literal) and n.value is None for n in x.walk()) else x
                for x, t in ((a, ta), (b, tb)))
        unsigned = any(pa.types.is_unsigned_integer(x.arrow) for x in (ta, tb))
        if hugeint:
            a, b = (x if t == HUGEINT else _as_hugeint(x) for x, t in ((a, ta), (b, tb)))
            ta, tb = HUGEINT, HUGEINT
        # from Polars' flooring ones, stepping toward zero where the signs differ and b does not
        # divide a: no |a|, which leaves the type at its minimum (|-32768| wraps: -32768 % 3 was -1,
        # DuckDB -2; -2^63 // 2 was 2^62)
        floor_mod = Call("mod", (a, b))
        step = Call("and", (Call("neq", (floor_mod, lit(0))),
                            Call("neq", (Call("lt", (a, lit(0))), Call("lt", (b, lit(0)))))))
        if name == "mod":
            out = when(step).then(Call("sub", (floor_mod, b))).otherwise(floor_mod)
        else:
            # (x // -1 is -x, checked: the type's minimum has no negation, an overflow in DuckDB;
            # Polars' division wraps there)
            floor: Expr = Call("floordiv", (a, b))
            if hugeint:  # (Polars' // of DECIMALs is one, floored: typed as it is, not a DOUBLE)
                floor = Cast(floor, HUGEINT)
            if not unsigned:
                # (an unsigned operand: b is never -1, or the quotient's type is a wider signed one
                # where -a fits; Polars has no negation of an unsigned a: 128 // u failed)
                floor = when(Call("eq", (b, lit(-1)))).then(Call("neg", (a,), SQL_CHECKED)).otherwise(floor)
            # (a 1 of the quotient's type: an Int64 one made every quotient a BIGINT)
            one = Literal(decimal.Decimal(1), HUGEINT) if hugeint else Literal(1, _supertype_or(ta, tb))
            out = when(step).then(Call("add", (floor, one))).otherwise(floor)
        checked_int = _nonzero(out, a, b, "%" if name == "mod" else "//")
        # (a HUGEINT's quotient or remainder is one: (i // h) // 2 divides as integers too)
        return _as_hugeint(checked_int) if hugeint else checked_int
    width: tuple[int, int] | None = None
    if name == "mod" and (ta.kind == "decimal" or tb.kind == "decimal") and not (ta.is_float() or tb.is_float()):
        wa, wb = duckdb_decimal_width(a, schema), duckdb_decimal_width(b, schema)
        if wa is not None and wb is not None:
            width = max(wa[0] - wa[1], wb[0] - wb[1]) + max(wa[1], wb[1]), max(wa[1], wb[1])
        if width is not None and width[0] > 38:
            # DuckDB: a remainder of DECIMALs that needs more than 38 digits is a DOUBLE's
            a, b, ta, tb = Cast(a, DataType.float64()), Cast(b, DataType.float64()), DataType.float64(), DataType.float64()
    if name == "mod" and (ta.is_float() or tb.is_float()):  # (C's fmod, exact, as DuckDB's)
        import thresher.expressions.sql_functions  # noqa: F401  (registers sql_fmod)

        return Call("sql_fmod", (a, b))
    divisor = b
    if ta.kind == "decimal" or tb.kind == "decimal":  # (Polars raises on every row: NULL, checked below)
        divisor = when(Call("eq", (b, lit(0)))).then(Literal(None, DataType.null())).otherwise(b)
    r = Call(name, (Call("abs", (a,)), Call("abs", (divisor,))))
    negative = Call("lt", (a, lit(0)))
    if name == "floordiv":
        negative = Call("neq", (negative, Call("lt", (b, lit(0)))))
    out = when(negative).then(Call("neg", (r,))).otherwise(r)
    if ta.is_float() or tb.is_float():  # DuckDB: a DOUBLE % 0 is NaN
        return out
    checked = _nonzero(out, a, b, "%" if name == "mod" else "//")
    if width is not None:
        # DuckDB's type: DECIMAL(max(p - s) + max(s), max(s)) of its operands' widths, which
        # holds the remainder (|r| < |b| and |r| <= |a|); Thresher's DECIMAL(38, s) otherwise
        checked = Cast(checked, DataType.decimal(*width))
    return checked


#: DuckDB's DECIMAL width of each integer type
def duckdb_decimal_width(e: Expr, schema: Schema | None) -> tuple[int, int] | None:
    """The (precision, scale) DuckDB gives ``e`` as a DECIMAL operand, where Thresher can tell
    (``None`` where not): Thresher's DECIMAL arithmetic is ``DECIMAL(38, s)`` whatever the
    operands (the same values), DuckDB's narrower, which decides whether a ``%`` of DECIMALs is a
    DECIMAL or (past 38 digits) a DOUBLE. A literal ``1.125`` is ``DECIMAL(4, 3)`` (``0.5``:
    ``(2, 1)``), an integer one an INTEGER's (10 digits) or a BIGINT's (19); ``+ -`` add a digit,
    ``*`` adds the widths (two of at most 18 digits stay at 18), each capped at 38."""
    if isinstance(e, Alias):
        return duckdb_decimal_width(e.child, schema)
    if isinstance(e, Literal):
        if isinstance(e.value, bool) or e.value is None:
            return None
        if isinstance(e.value, int):
            return (10, 0) if -2 ** 31 <= e.value < 2 ** 31 else (19, 0) if -2 ** 63 <= e.value < 2 ** 63 else (38, 0)
        if isinstance(e.value, decimal.Decimal):
            digits = e.value.as_tuple()
            scale = max(0, -int(digits.exponent))
            return max(len(digits.digits), scale + 1), scale
        return None
    if isinstance(e, Call) and len(e.args) == 2 and e.name in ("add", "sub", "mul", "mod"):
        wa, wb = duckdb_decimal_width(e.args[0], schema), duckdb_decimal_width(e.args[1], schema)
        if wa is None or wb is None:
            return None
        if e.name == "mul":
            scale, width = wa[1] + wb[1], wa[0] + wb[0]
            if width > 18 and max(wa[0], wb[0]) <= 18 and scale < 18:
                width = 18
        else:
            scale = max(wa[1], wb[1])
            width = max(wa[0] - wa[1], wb[0] - wb[1]) + scale + (e.name != "mod")
        return min(width, 38), scale
    if isinstance(e, Call) and len(e.args) == 1 and e.name in ("neg", "abs"):
        return duckdb_decimal_width(e.args[0], schema)
    if isinstance(e, Cast):
        t: DataType | None = e.dtype
    elif isinstance(e, Column) and schema is not None:
        t = _dtype(e, schema)
        if t is not None and t.kind == "decimal" and t.arrow.precision == 38:
            return None  # (Thresher's arithmetic result, read from a derived table: DuckDB's is narrower)
    else:  # (a CASE, a COALESCE, a function: not worked out; a DECIMAL % stays a DECIMAL)
        return None
    if t is not None:
        if t.kind == "decimal":
            return t.arrow.precision, t.arrow.scale
        int_digits = integer_digits(t.arrow)
        return (int_digits, 0) if int_digits is not None else None
    return None


def _supertype_or(ta: DataType, tb: DataType) -> DataType:
    from thresher.datatypes import supertype

    return supertype(ta, tb) or _INT64


def _nonzero(value: Expr, a: Expr, b: Expr, op: str) -> Expr:
    """``value`` (``a % b``, ``a // b``), an error at run time where ``b`` is 0 and ``a`` is not NULL
    (DuckDB: "Division by zero"); only on the rows SQL evaluates it (a CASE branch's, ...)."""
    if isinstance(b, Literal) and b.value is not None and not isinstance(b.value, bool) and b.value != 0:
        return value  # (a divisor that is a constant other than 0: nothing to check; the check of a
        # constant's remainder beside a column's rows failed in Polars: 'zip node received non-equal
        # length inputs', seed 321)
    import thresher.expressions.sql_functions  # noqa: F401  (registers sql_nonzero)

    return Call("sql_nonzero", (value, a, b), (("op", op),))


class SQLCastError(ThresherError):
    """A string literal that cannot take the type of what it is compared with."""


def literal_as(value: str, dtype: DataType) -> Any:
    """``value`` (a SQL string literal) converted to ``dtype``, or ``value`` itself where SQL
    compares as strings; raises :class:`SQLCastError` when it does not convert."""
    text = value.strip()
    kind = dtype.kind
    try:
        if kind == "date":
            return datetime.date.fromisoformat(text)
        if kind == "timestamp":
            return datetime.datetime.fromisoformat(text)
        if dtype.is_integer():
            return int(text)
        if kind == "decimal":
            return decimal.Decimal(text)
        if dtype.is_float():
            return float(text)
        if dtype.is_bool():
            low = text.lower()
            if low in ("true", "t", "1", "yes", "y"):
                return True
            if low in ("false", "f", "0", "no", "n"):
                return False
            raise ValueError(value)
    except (ValueError, decimal.InvalidOperation):
        raise SQLCastError(f"could not convert string {value!r} to {dtype} (compared with a {dtype} value)") from None
    return value


def _typed_literal(e: Expr, dtype: DataType) -> Expr:
    if isinstance(e, Literal) and isinstance(e.value, str) and not (dtype.is_string() or dtype.is_null()):
        converted = literal_as(e.value, dtype)
        return lit(converted) if converted is not e.value else e
    return e


def _text_beside_typed(text: Literal, other: Literal) -> bool:
    """Is ``text`` a string literal and ``other`` a literal of another type (not NULL)?"""
    return isinstance(text.value, str) and other.value is not None and not isinstance(other.value, str)


def _dtype(e: Expr, schema: Schema) -> DataType | None:
    try:
        return e.resolve(schema).dtype
    except (ThresherTypeError, KeyError):
        return None


def as_condition(e: Expr, schema: Schema) -> Expr:
    """``e``, a condition (WHERE, HAVING, QUALIFY, ON, a CASE's WHEN, an operand of AND / OR / NOT),
    cast to BOOLEAN where it is of the NULL type (a column of no type, all NULL): DuckDB reads it as
    the unknown truth value; Polars refused it while running (a condition must be a Boolean)."""
    if isinstance(e, Literal) and e.value is None and e.dtype.is_null():
        return Literal(None, DataType.bool())
    t = _dtype(e, schema)
    return Cast(e, DataType.bool()) if t is not None and t.is_null() else e


def coerce_literals(e: Expr, schema: Schema, done: dict[int, tuple[Expr, Schema]] | None = None) -> Expr:
    """``e`` with SQL's implicit literal casts applied against ``schema`` (see the module doc).

    ``done`` maps ``id(x)`` to ``(x, schema)`` for expressions already coerced against that
    schema: they are returned as they are (coercing is idempotent: a cast literal is no longer a
    string, a shifted date no longer an addition), so a translator that coerces each
    subexpression as it builds it does not walk every subtree again at each level above."""
    if done is not None:
        hit = done.get(id(e))
        if hit is not None and hit[0] is e and hit[1] is schema:
            return e
    kids = e.children()
    if kids:
        new = [coerce_literals(k, schema, done) for k in kids]
        if any(a is not b for a, b in zip(new, kids)):
            e = e.with_children(new)
    if isinstance(e, SQLCast):
        src = _dtype(e.child, schema)
        return _sql_cast(e, src) if src is not None else e
    if isinstance(e, When):
        conds = [as_condition(c, schema) for c, _ in e.branches]
        if any(a is not b for a, (b, _) in zip(conds, e.branches)):
            e = When(tuple((c, v) for c, (_, v) in zip(conds, e.branches)), e.otherwise_)
        values = [v for _, v in e.branches] + [e.otherwise_]

        def rebuild(xs: list[Expr]) -> Expr:
            return When(tuple((c, x) for (c, _), x in zip(e.branches, xs)), xs[-1])

        # (DuckDB types a CASE from its ELSE, then each THEN in turn)
        e = _typed_int_literals(e, values, schema, rebuild, [len(values) - 1, *range(len(values) - 1)])
        if isinstance(e, When):
            floats = float32_values([v for _, v in e.branches] + [e.otherwise_], schema)
            if floats is not None:
                e = When(tuple((c, x) for (c, _), x in zip(e.branches, floats)), floats[-1])
        if isinstance(e, When):
            return _hugeint_values(e, [v for _, v in e.branches] + [e.otherwise_], schema, rebuild)
        return e
    if not isinstance(e, Call):
        return e
    if e.name in ("and", "or", "not"):
        args = tuple(as_condition(a, schema) for a in e.args)
        return Call(e.name, args, e.options) if any(a is not b for a, b in zip(args, e.args)) else e
    if e.name == "sql_round_double" and e.option("late") is True and isinstance(e.args[0], Cast):
        # ROUND translated before its input's type was known (a WHERE term): typed now, as in a
        # SELECT list (a FLOAT's is a FLOAT, a DECIMAL's a DECIMAL rounded as one)
        if _dtype(e.args[0].child, schema) is None:
            return e
        from thresher.planner.sql.translate import sql_round

        return sql_round(e.args[0].child, int(e.option("digits")), schema)
    if e.name == "sqrt" and len(e.args) == 1 and _dtype(e.args[0], schema) == _FLOAT32:
        return Call("sqrt", (Cast(e.args[0], DataType.float64()),), e.options)  # (DuckDB's SQRT is a DOUBLE)
    if e.name in ("sql_floor", "sql_ceil") and len(e.args) == 1 and _is_hugeint(e.args[0], schema):
        return Call(e.name, (Cast(e.args[0], DataType.float64()),), e.options)  # (DuckDB's of a HUGEINT: a DOUBLE)
    if e.name == "dt.offset_by" and e.option("sql") is True:
        t = _dtype(e.args[0], schema)
        if t is None:
            return e
        base = DateShiftCast(e.args[0], DataType.timestamp("us")) if t.kind == "date" else e.args[0]
        return Call(e.name, (base,), (("by", e.option("by")),))
    if e.name in ("abs", "neg") and e.options == SQL_CHECKED and len(e.args) == 1:
        t = _dtype(e.args[0], schema)
        if t is not None and t.is_null():
            return Literal(None, _INT64)  # (DuckDB's -NULL and abs(NULL) are BIGINTs)
        if e.name == "neg":
            if t is not None and pa.types.is_unsigned_integer(t.arrow):
                # (Polars has no negation of an unsigned integer: 0 - x, checked, is DuckDB's
                # answer, 0, or its overflow error)
                return Call("sub", (Literal(0, t), e.args[0]), SQL_CHECKED)
            return e
        if t is not None and not pa.types.is_signed_integer(t.arrow):  # (only a signed integer's abs can overflow)
            return Call("abs", e.args)
        return e
    if e.options == SQL_CHECKED and e.name in _INT_ARITHMETIC | {"truediv"} and len(e.args) == 2:
        ta, tb = _dtype(e.args[0], schema), _dtype(e.args[1], schema)
        if ta is not None and tb is not None and ta.is_null() and tb.is_null():
            # NULL + NULL is a BIGINT in DuckDB (NULL / NULL a DOUBLE), not NULL's type
            return Literal(None, DataType.float64() if e.name == "truediv" else _INT64)
        if e.name in ("add", "sub", "mul") and ta is not None and tb is not None and (
                ta.is_null() and tb.kind == "decimal" or tb.is_null() and ta.kind == "decimal"):
            return Literal(None, DataType.null())  # (DuckDB: NULL + 1.5 is of the NULL type, not a DECIMAL)
    if (e.options == SQL_CHECKED and e.name in _INT_ARITHMETIC or e.name == "sql_bits") and len(e.args) == 2:
        e = _duckdb_integer_operands(e, schema)  # (a & 1 of a SMALLINT a: a SMALLINT)
    if e.name in _INT_ARITHMETIC | {"truediv"} and len(e.args) == 2:
        e = _float_operands(e, schema)
    if e.options == SQL_TRUNCATED and e.name in ("mod", "floordiv"):
        ta, tb = _dtype(e.args[0], schema), _dtype(e.args[1], schema)
        return _sql_truncated(e.name, e.args[0], e.args[1], ta, tb, schema) if ta is not None and tb is not None else e
    if e.name in _COMPARISONS and len(e.args) == 2:
        shifted = _date_shifts_compared(e, schema)
        if shifted is not e:
            return shifted
        a, b = e.args
        # (a text literal compared with another literal takes its type too: DATE '2024-01-01' <
        # '2024-02-01', what simplify leaves of DATE '2024-02-29' + INTERVAL 1 DAY < '2024-03-01')
        if isinstance(b, Literal) and (not isinstance(a, Literal) or _text_beside_typed(b, a)):
            t = _dtype(a, schema)
            if t is not None:
                nb = _typed_literal(b, t)
                if nb is not b:
                    return Call(e.name, (a, nb), e.options)
        elif isinstance(a, Literal) and (not isinstance(b, Literal) or _text_beside_typed(a, b)):
            t = _dtype(b, schema)
            if t is not None:
                na = _typed_literal(a, t)
                if na is not a:
                    return Call(e.name, (na, b), e.options)
        # a FLOAT compared with an integer or a DECIMAL is compared in FLOAT, as DuckDB does (a FLOAT
        # column holding 1.1 equals 1.1; in DOUBLE it was 1.100000023841858, unequal)
        floats = float32_values(e.args, schema)
        return e if floats is None else Call(e.name, tuple(floats), e.options)
    if e.name in _VALUE_LISTS:
        name, options = e.name, e.options
        e = _typed_int_literals(e, e.args, schema, lambda xs: Call(name, tuple(xs), options))
        floats = float32_values(e.args, schema) if isinstance(e, Call) else None
        if floats is not None:
            e = Call(name, tuple(floats), options)
        if isinstance(e, Call):
            return _hugeint_values(e, e.args, schema, lambda xs: Call(name, tuple(xs), options))
        return e
    if e.name == "is_in":
        values = e.option("values", ())
        if any(isinstance(v, str) for v in values):
            t = _dtype(e.args[0], schema)
            if t is not None and not (t.is_string() or t.is_null()):
                converted = tuple(literal_as(v, t) if isinstance(v, str) else v for v in values)
                return Call("is_in", e.args, tuple((k, converted if k == "values" else v) for k, v in e.options))
        return _float32_is_in(e, values, schema)
    if e.name in ("list.contains_expr", "list.any_ne") and len(e.args) == 2:
        return _list_test_in_common_type(e, schema)
    if e.name == "str.concat":  # 1 || 'a' is '1a': SQL casts each part to VARCHAR
        parts = tuple(_as_text(a, schema) for a in e.args)
        return Call(e.name, parts, e.options) if any(a is not b for a, b in zip(parts, e.args)) else e
    if e.name in ("add", "sub") and len(e.args) == 2:
        a, b = e.args
        ta, tb = _dtype(a, schema), _dtype(b, schema)
        if ta is not None and tb is not None:
            if ta.kind == "date" and tb.is_integer():
                return _add_days(a, b, e.name == "sub")
            if tb.kind == "date" and ta.is_integer() and e.name == "add":
                return _add_days(b, a, False)
            if ta.kind == "date" and tb.kind == "date" and e.name == "sub":  # DuckDB: the days between, a BIGINT
                return Call("sub", (a.cast(DataType.int64()), b.cast(DataType.int64())))
    return e


_INT_ARITHMETIC = frozenset({"add", "sub", "mul", "mod", "floordiv"})
_INT64 = DataType.int64()


def _signed(t: DataType) -> bool:
    return pa.types.is_signed_integer(t.arrow)


def _int_range(t: DataType) -> tuple[int, int]:
    bits = t.arrow.bit_width
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if _signed(t) else (0, 2 ** bits - 1)


def _plain_int_literal(e: Expr) -> bool:
    """An integer constant written in the query (typed BIGINT by the translator until here)."""
    return isinstance(e, Literal) and type(e.value) is int and e.dtype == _INT64 and not e.dynamic


def _literal_type_next_to(value: int, other: DataType) -> DataType | None:
    """DuckDB's type of an integer literal next to an integer of type ``other``: ``other`` where
    the value fits it (``s * 10`` is a SMALLINT), else INTEGER or BIGINT, the smallest that holds
    it (``s * 100000`` is an INTEGER); None where BIGINT does not (a HUGEINT in DuckDB)."""
    lo, hi = _int_range(other)
    if lo <= value <= hi:
        return other
    if -2 ** 31 <= value < 2 ** 31:
        return DataType.int32()
    return _INT64 if -2 ** 63 <= value < 2 ** 63 else None


def duckdb_integer_type(a: DataType, b: DataType) -> DataType | None:
    """The type DuckDB computes ``+ - * % //`` of two integers in: the wider of two of the same
    signedness; of a signed and an unsigned one, the signed one where it is wider, else BIGINT
    (TINYINT and UTINYINT: BIGINT, where Polars' supertype is Int16); None for a HUGEINT
    (UBIGINT with a signed integer)."""
    ta, tb = a.arrow, b.arrow
    if _signed(a) == _signed(b):
        return a if ta.bit_width >= tb.bit_width else b
    signed, unsigned = (a, b) if _signed(a) else (b, a)
    if signed.arrow.bit_width > unsigned.arrow.bit_width:
        return signed
    return None if unsigned.arrow.bit_width == 64 else _INT64


def _duckdb_integer_operands(e: Call, schema: Schema) -> Call:
    """``a + b``, ``a - b``, ``a * b``, ``a % b``, ``a // b`` of integers with DuckDB's operand
    types: an integer literal takes the other operand's type where it fits (``s * 10`` of a
    SMALLINT ``s`` is a SMALLINT, computed and checked for overflow in SMALLINT), and a signed
    and an unsigned operand are cast to DuckDB's common type (see :func:`duckdb_integer_type`).
    Other operands are left as they are."""
    a, b = e.args
    ta, tb = _dtype(a, schema), _dtype(b, schema)
    if ta is None or tb is None:
        return e
    if _plain_int_literal(a) and _plain_int_literal(b):
        return e  # (constants alone: folded by the parser's simplifier)
    na, nb, wider = a, b, False
    if _plain_int_literal(a) and tb.is_integer():
        t = _literal_type_next_to(a.value, tb)  # type: ignore[attr-defined]
        if t is None:
            return e
        na, ta, wider = (a if t == _INT64 else Literal(a.value, t)), t, t != tb  # type: ignore[attr-defined]
    elif _plain_int_literal(b) and ta.is_integer():
        t = _literal_type_next_to(b.value, ta)  # type: ignore[attr-defined]
        if t is None:
            return e
        nb, tb, wider = (b if t == _INT64 else Literal(b.value, t)), t, t != ta  # type: ignore[attr-defined]
    if not (ta.is_integer() and tb.is_integer()):
        return e
    common = duckdb_integer_type(ta, tb)
    if common is None:
        # a UBIGINT with a signed integer: DuckDB computes it in HUGEINT, held as DECIMAL(38, 0)
        # (Polars' Int128 failed while running: Arrow lacks it); % and // there too, through
        # :func:`_sql_truncated`
        if e.name in ("add", "sub", "mul"):
            return Call(e.name, (_as_hugeint(na), _as_hugeint(nb)), e.options)
        return e if na is a and nb is b else Call(e.name, (na, nb), e.options)
    if _signed(ta) == _signed(tb) and not wider:  # (Polars computes it in the wider one itself)
        return e if na is a and nb is b else Call(e.name, (na, nb), e.options)
    # (a literal wider than the other operand, or a signed and an unsigned one: both cast, as
    # Polars would widen an untyped literal to a type of its own choosing)
    if common != ta:
        na = Literal(na.value, common) if isinstance(na, Literal) else Cast(na, common)
    if common != tb:
        nb = Literal(nb.value, common) if isinstance(nb, Literal) else Cast(nb, common)
    if na is a and nb is b:
        return e
    return Call(e.name, (na, nb), e.options)


@dataclass(frozen=True, eq=False, repr=False)
class DateShiftCast(Cast):
    """A DATE shifted by an interval, cast to the TIMESTAMP DuckDB makes of it (see
    :data:`SQL_DATE_SHIFT`); marked, so that a comparison with a DATE compares dates
    (:func:`_date_shifts_compared`)."""

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return DateShiftCast(children[0], self.dtype, self.strict)


def _date_shifts_compared(e: Call, schema: Schema) -> Expr:
    """``d1 < d2 + INTERVAL 5 DAY`` of DATEs compares dates: a shifted DATE is a TIMESTAMP at
    midnight, which compares with a DATE as that date does; the shift kept a date (as it was
    before DATE + INTERVAL was a TIMESTAMP), so such filters plan as they did."""
    def unshifted(x: Expr) -> Expr | None:
        if isinstance(x, Call) and x.name == "dt.offset_by" and isinstance(x.args[0], DateShiftCast):
            return Call(x.name, (x.args[0].child,), x.options)
        return None

    a, b = e.args
    ua, ub = unshifted(a), unshifted(b)
    if ua is None and ub is None:
        return e
    ta = _dtype(a, schema) if ua is None else DataType.date()
    tb = _dtype(b, schema) if ub is None else DataType.date()
    if ta is None or tb is None or ta.kind != "date" or tb.kind != "date":
        return e
    return Call(e.name, (a if ua is None else ua, b if ub is None else ub), e.options)


@dataclass(frozen=True, eq=False, repr=False)
class HugeintCast(Cast):
    """An integer cast to DuckDB's HUGEINT (:data:`~thresher.datatypes.HUGEINT`, a DECIMAL(38, 0)):
    marked, so that a ``%`` or ``//`` of it divides as integers do (:func:`_is_hugeint`)."""

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return HugeintCast(children[0], self.dtype, self.strict)


def _as_hugeint(e: Expr) -> Expr:
    """An integer operand as DuckDB's HUGEINT (:data:`~thresher.datatypes.HUGEINT`)."""
    return HugeintCast(e, HUGEINT)


def _is_hugeint(e: Expr, schema: Schema | None) -> bool:
    """Is ``e`` a HUGEINT in DuckDB: an integer cast to one here, or ``+ - *`` of such values
    and integers (``u - i``, ``(u - i) * 2``)? (A DECIMAL(38, 0) column need not be one.)"""
    if isinstance(e, Alias):
        return _is_hugeint(e.child, schema)
    if isinstance(e, HugeintCast):
        return True
    if isinstance(e, Call) and e.name in ("neg", "abs") and len(e.args) == 1:
        return _is_hugeint(e.args[0], schema)
    if isinstance(e, Call) and e.name in ("add", "sub", "mul") and len(e.args) == 2 and schema is not None:
        marked = [_is_hugeint(x, schema) for x in e.args]
        if not any(marked):
            return False
        types = [_dtype(x, schema) for x, m in zip(e.args, marked) if not m]
        return all(t is not None and t.is_integer() for t in types)
    return False


def _hugeint_values(e: Expr, values: Sequence[Expr], schema: Schema, rebuild: Any) -> Expr:
    """A CASE's values or COALESCE's (GREATEST's, LEAST's) arguments where a UBIGINT meets a
    signed integer: each integer one as a HUGEINT, DuckDB's common type (Polars' Int128 failed
    while running: Arrow lacks it)."""
    types = [_dtype(v, schema) for v in values]
    if any(t is None for t in types) or not _is_hugeint_mix(types):  # type: ignore[arg-type]
        return e
    return rebuild([_as_hugeint(v) if t is not None and t.is_integer() else v for v, t in zip(values, types)])


def _is_hugeint_mix(types: Sequence[DataType]) -> bool:
    """A UBIGINT and a signed integer among ``types``: their common type is a HUGEINT."""
    return any(t.arrow == pa.uint64() for t in types) and any(_signed(t) for t in types if t.is_integer())


#: the calls whose result is one of their arguments (COALESCE, IFNULL, GREATEST, LEAST)
_VALUE_LISTS = frozenset({"coalesce", "sql_greatest", "sql_least", "sql_list_value"})


def _typed_int_literals(e: Expr, values: Sequence[Expr], schema: Schema, rebuild: Any,
                        order: Sequence[int] | None = None) -> Expr:
    """A CASE's values or COALESCE's (GREATEST's, LEAST's) arguments with DuckDB's types for its
    integer literals. DuckDB folds the values' types in ``order`` (COALESCE's arguments in turn, a
    CASE's ELSE first, then each THEN): an integer literal next to an integer type takes it where
    it fits (``coalesce(s, 0)`` and ``CASE WHEN ... THEN 0 ELSE s END`` of a SMALLINT ``s`` are
    SMALLINTs; they were BIGINTs), else is an INTEGER or BIGINT (``least(s, 100000)`` an
    INTEGER), as it is next to a NULL or another literal (``coalesce(NULL, 1, s)``, ``CASE WHEN
    ... THEN 1 WHEN ... THEN s END``: INTEGERs)."""
    if not any(_plain_int_literal(v) for v in values):
        return e
    state: DataType | None | str = "start"  # (None: NULL so far; "lit": integer literals so far)
    lits: list[int] = []
    for k in order if order is not None else range(len(values)):
        v = values[k]
        if _plain_int_literal(v):
            lits.append(v.value)  # type: ignore[attr-defined]
            if state == "start":
                state = "lit"
            elif state is None or state == "lit":
                state = _natural_type(lits)
            else:
                state = _absorb(state, lits)  # type: ignore[arg-type]
            if state is _NO_TYPE:
                return e
            continue
        t = _dtype(v, schema)
        if t is None:
            return e
        if t.is_null():
            if state == "lit":
                state = _natural_type(lits)
            elif state == "start":
                state = None
            continue
        if state == "lit":
            state = _absorb(t, lits)
        elif state in ("start", None):
            state = t
        else:
            assert isinstance(state, DataType)
            state = duckdb_integer_type(state, t) if state.is_integer() and t.is_integer() else None
            if state is None:
                return e
        if state is _NO_TYPE:
            return e
    if not isinstance(state, DataType) or not state.is_integer():
        return e
    out = []
    for v in values:
        if _plain_int_literal(v) and state != _INT64:
            lo, hi = _int_range(state)
            if not lo <= v.value <= hi:  # type: ignore[attr-defined]
                return e
            v = Literal(v.value, state)  # type: ignore[attr-defined]
        out.append(v)
    return rebuild(out)


_NO_TYPE = DataType.null()


def _natural_type(values: Sequence[int]) -> DataType:
    """INTEGER where every value fits it, else BIGINT (a HUGEINT's: :data:`_NO_TYPE`)."""
    if all(-2 ** 31 <= x < 2 ** 31 for x in values):
        return DataType.int32()
    return _INT64 if all(-2 ** 63 <= x < 2 ** 63 for x in values) else _NO_TYPE


def _absorb(t: DataType, values: Sequence[int]) -> DataType:
    """An integer type ``t`` met by integer literals: ``t`` where they fit, else the common type
    with theirs (:data:`_NO_TYPE` where there is none, or ``t`` is no integer)."""
    if not t.is_integer():
        return _NO_TYPE
    lo, hi = _int_range(t)
    if all(lo <= x <= hi for x in values):
        return t
    n = _natural_type(values)
    return _NO_TYPE if n is _NO_TYPE else (duckdb_integer_type(t, n) or _NO_TYPE)


_FLOAT32 = DataType.float32()


def _float_operands(e: Call, schema: Schema) -> Call:
    """Arithmetic of a FLOAT (float32) with an integer or a DECIMAL is a FLOAT in DuckDB, computed
    in float32, where Polars widens it to Float64 (of an Int32 or Int64, or a DECIMAL): the
    other operand cast to FLOAT. With a DOUBLE (``1e3``, a DOUBLE column) it is a DOUBLE, computed
    in float64: the FLOAT cast to DOUBLE (Polars computes a float literal next to a Float32 in
    Float32)."""
    ta, tb = _dtype(e.args[0], schema), _dtype(e.args[1], schema)
    if ta is None or tb is None or (ta == _FLOAT32) == (tb == _FLOAT32):
        return e
    k = 1 if ta == _FLOAT32 else 0
    other, t = e.args[k], (tb if k else ta)
    args = list(e.args)
    if isinstance(other, Literal) and other.dynamic:
        return e  # (a Python number next to a Float32 takes its type already)
    if t.is_integer() or t.kind == "decimal" or t.is_null():  # (NULL / r is a FLOAT too)
        args[k] = Cast(other, _FLOAT32)
    elif t.is_float():  # (a DOUBLE: the FLOAT widened, where Polars computes a literal's in Float32)
        args[1 - k] = Cast(args[1 - k], t)
    else:
        return e
    return Call(e.name, tuple(args), e.options)


def float32_values(values: Sequence[Expr], schema: Schema) -> list[Expr] | None:
    """The values of a CASE, a COALESCE (GREATEST, LEAST) or a set operation's column with the
    integers and DECIMALs among them cast to FLOAT where a FLOAT meets no DOUBLE: DuckDB's common
    type of a FLOAT and an integer or a DECIMAL is a FLOAT (Polars' a Float64 for an Int32, Int64
    or Decimal: ``coalesce(r, m)`` of a DECIMAL 99.995 was the DOUBLE 99.995, DuckDB's FLOAT
    99.99500274658203). ``None`` where nothing changes."""
    types = [_dtype(v, schema) for v in values]
    if not float32_common(types):
        return None
    return [Cast(v, _FLOAT32) if t is not None and (t.is_integer() or t.kind == "decimal") else v
            for v, t in zip(values, types)]


def _float32_is_in(e: Call, values: Sequence[Any], schema: Schema) -> Expr:
    """``x IN (...)`` of a FLOAT ``x`` compared as DuckDB compares it: in FLOAT against integer and
    DECIMAL constants (each rounded to a FLOAT first: a FLOAT column holding 1.1 is IN (1.1)), in
    DOUBLE where a DOUBLE constant is among them (``1.1e0``; the column widened, not the list
    narrowed, which a scan's pushed-down test would otherwise do)."""
    if not values or _dtype(e.args[0], schema) != _FLOAT32:
        return e
    if any(isinstance(v, float) for v in values):
        return Call("is_in", (Cast(e.args[0], DataType.float64()), *e.args[1:]), e.options)
    if not all(v is None or isinstance(v, int | decimal.Decimal) and not isinstance(v, bool) for v in values):
        return e
    try:
        rounded = tuple(None if v is None else struct.unpack("f", struct.pack("f", float(v)))[0] for v in values)
    except OverflowError:  # beyond FLOAT's range: equal to no FLOAT, compared as they are
        return e
    return Call("is_in", e.args, tuple((k, rounded if k == "values" else v) for k, v in e.options))


def _list_test_in_common_type(e: Call, schema: Schema) -> Expr:
    """A correlated ``x IN (subquery)`` or ``x <> ANY`` as decorrelation tests it (``x`` against
    the list of the subquery's values, ``list.contains_expr`` / ``list.any_ne``), compared in
    DuckDB's common type where a float meets another number: a FLOAT and an integer or DECIMAL in
    FLOAT, otherwise in DOUBLE; a DATE and a TIMESTAMP as TIMESTAMPs (Polars compares neither a
    float with an integer or a DECIMAL list nor a date with a timestamp list: it failed while
    running, 'list.contains cannot check for Float32 values in List(Decimal(38, 10))';
    ``subquery_key_types`` casts the numbers whose types it knows before decorrelation)."""
    lt, vt = _dtype(e.args[0], schema), _dtype(e.args[1], schema)
    if lt is None or vt is None or not lt.is_list():
        return e
    et = lt.inner()
    if et == vt:
        return e
    if {et.kind, vt.kind} == {"date", "timestamp"}:  # (a DATE meets a TIMESTAMP as a TIMESTAMP, its midnight)
        to = et if et.kind == "timestamp" else vt
    elif et.is_numeric() and vt.is_numeric() and (et.is_float() or vt.is_float()):
        to = _FLOAT32 if float32_common([et, vt]) else DataType.float64()
    else:
        return e
    values = e.args[0] if et == to else Cast(e.args[0], DataType.list(to))
    return Call(e.name, (values, e.args[1] if vt == to else Cast(e.args[1], to)), e.options)


def float32_common(types: Sequence[DataType | None]) -> bool:
    """Is DuckDB's common type of ``types`` a FLOAT where Polars' is not: a FLOAT, no DOUBLE, and
    an integer or a DECIMAL? (False where a type is unknown)"""
    if _FLOAT32 not in types or any(t is None or t.is_float() and t != _FLOAT32 for t in types):
        return False
    return any(t is not None and (t.is_integer() or t.kind == "decimal") for t in types)


def _as_text(e: Expr, schema: Schema) -> Expr:
    """A part of ``||`` or CONCAT as VARCHAR, as SQL casts it (CONCAT's ``coalesce(part, '')``
    too, whose cast goes inside)."""
    if isinstance(e, Call) and e.name == "coalesce" and len(e.args) == 2 and isinstance(e.args[1], Literal) \
            and e.args[1].value == "":
        inner = _as_text(e.args[0], schema)
        return e if inner is e.args[0] else Call("coalesce", (inner, e.args[1]), e.options)
    t = _dtype(e, schema)
    if t is None or t.is_string() or t.is_null():
        return e
    return _sql_cast(SQLCast(e, DataType.string()), t)


def _add_days(date: Expr, days: Expr, subtract: bool) -> Expr:
    """``date + days`` (DuckDB's DATE + INTEGER): a literal day count shifts by a fixed offset."""
    if isinstance(days, Literal) and isinstance(days.value, int):
        n = -days.value if subtract else days.value
        if isinstance(date, Literal) and isinstance(date.value, datetime.date):
            return lit(date.value + datetime.timedelta(days=n))
        return Call("dt.offset_by", (date,), (("by", f"{n}d"),))
    raise SQLCastError(f"DATE {'-' if subtract else '+'} a non-constant integer ({days!r}) is not supported")
