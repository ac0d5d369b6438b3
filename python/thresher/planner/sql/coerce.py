"""Implicit casts SQL applies where Python-typed expressions would refuse, as DuckDB does them.

- A string literal compared with (``=``, ``<>``, ``<``, ``BETWEEN``, ``IN (...)``) a typed value
  takes that value's type: ``d_date BETWEEN '2000-01-27' AND '2000-04-26'`` compares dates,
  ``i_price > '10'`` numbers. A literal that does not convert is an error naming it (DuckDB:
  "Could not convert string ... to DATE"), never a string comparison.
- ``DATE +/- integer`` adds days (``d_date + 5``).

The translator builds expressions bottom-up, sometimes before the schema they run against is
known (WHERE terms are collected before the joins are planned), so this is a rewrite of a whole
expression against a schema, applied where a plan node is made.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

from thresher.datatypes import DataType, Schema
from thresher.errors import ThresherError, ThresherTypeError
from thresher.expressions.expr import Call, Expr, Literal, lit

_COMPARISONS = {"eq", "neq", "gt", "ge", "lt", "le"}


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


def _dtype(e: Expr, schema: Schema) -> DataType | None:
    try:
        return e.resolve(schema).dtype
    except (ThresherTypeError, KeyError):
        return None


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
    if not isinstance(e, Call):
        return e
    if e.name in _COMPARISONS and len(e.args) == 2:
        a, b = e.args
        if isinstance(b, Literal) and not isinstance(a, Literal):
            t = _dtype(a, schema)
            if t is not None:
                nb = _typed_literal(b, t)
                if nb is not b:
                    return Call(e.name, (a, nb), e.options)
        elif isinstance(a, Literal) and not isinstance(b, Literal):
            t = _dtype(b, schema)
            if t is not None:
                na = _typed_literal(a, t)
                if na is not a:
                    return Call(e.name, (na, b), e.options)
        return e
    if e.name == "is_in":
        values = e.option("values", ())
        if any(isinstance(v, str) for v in values):
            t = _dtype(e.args[0], schema)
            if t is not None and not (t.is_string() or t.is_null()):
                converted = tuple(literal_as(v, t) if isinstance(v, str) else v for v in values)
                return Call("is_in", e.args, tuple((k, converted if k == "values" else v) for k, v in e.options))
        return e
    if e.name in ("add", "sub") and len(e.args) == 2:
        a, b = e.args
        ta, tb = _dtype(a, schema), _dtype(b, schema)
        if ta is not None and tb is not None:
            if ta.kind == "date" and tb.is_integer():
                return _add_days(a, b, e.name == "sub")
            if tb.kind == "date" and ta.is_integer() and e.name == "add":
                return _add_days(b, a, False)
    return e


def _add_days(date: Expr, days: Expr, subtract: bool) -> Expr:
    """``date + days`` (DuckDB's DATE + INTEGER): a literal day count shifts by a fixed offset."""
    if isinstance(days, Literal) and isinstance(days.value, int):
        n = -days.value if subtract else days.value
        if isinstance(date, Literal) and isinstance(date.value, datetime.date):
            return lit(date.value + datetime.timedelta(days=n))
        return Call("dt.offset_by", (date,), (("by", f"{n}d"),))
    raise SQLCastError(f"DATE {'-' if subtract else '+'} a non-constant integer ({days!r}) is not supported")
