"""A neutral pushdown predicate: a conjunction of simple column comparisons.

The planner turns the pushable conjuncts of a filter into this form; each source translates it
into its own language (pyarrow.dataset expressions, Polars, a Lance SQL filter, a pyiceberg
expression) and uses it for pruning (row-group statistics, partitions, file stats) and filtering.
io/ never sees the planner's Expr tree, which keeps the layering one-way.
"""

from __future__ import annotations

import datetime
import decimal
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from thresher._lazy import lazy_module

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:
    pc = lazy_module("pyarrow.compute")  # ~9 MiB: a job that computes nothing with it never loads it

Op = Literal["==", "!=", "<", "<=", ">", ">=", "is_in", "is_null", "is_not_null"]
OPS: tuple[str, ...] = ("==", "!=", "<", "<=", ">", ">=", "is_in", "is_null", "is_not_null")


@dataclass(frozen=True)
class Comparison:
    """``column <op> value``; ``value`` is a Python scalar (a tuple for ``is_in``)."""

    column: str
    op: Op
    value: Any = None
    # a float column: NaN is greater than every number (Polars, DuckDB), so ``>``/``>=`` keep it
    nan_greatest: bool = False

    def __str__(self) -> str:
        if self.op in ("is_null", "is_not_null"):
            return f"{self.column} {self.op.replace('_', ' ')}"
        return f"{self.column} {self.op} {self.value!r}"


@dataclass(frozen=True)
class Predicate:
    """A conjunction (AND) of :class:`Comparison` terms."""

    terms: tuple[Comparison, ...]

    def __str__(self) -> str:
        return " AND ".join(str(t) for t in self.terms)

    def columns(self) -> set[str]:
        return {t.column for t in self.terms}

    def and_(self, other: Predicate | None) -> Predicate:
        if other is None:
            return self
        return Predicate(self.terms + tuple(t for t in other.terms if t not in self.terms))

    def to_pyarrow(self) -> pc.Expression:
        expr: pc.Expression | None = None
        for t in self.terms:
            e = _term_to_pyarrow(t)
            expr = e if expr is None else (expr & e)
        assert expr is not None
        return expr

    def to_sql(self) -> str:
        """A SQL filter string (Lance / DataFusion dialect)."""
        return " AND ".join(_term_to_sql(t) for t in self.terms)

    def might_match(self, stats: dict[str, tuple[Any, Any, int | None]]) -> bool:
        """Whether a chunk with per-column ``(min, max, null_count)`` stats may hold a match."""
        for t in self.terms:
            if t.column not in stats:
                continue
            lo, hi, nulls = stats[t.column]
            if t.op == "is_null":
                if nulls == 0:
                    return False
                continue
            if lo is None or hi is None or (t.nan_greatest and t.op in (">", ">=")):
                continue  # (statistics leave NaN out)
            try:
                v = t.value
                if t.op == "==" and (v < lo or v > hi):
                    return False
                if t.op == "<" and not lo < v:
                    return False
                if t.op == "<=" and not lo <= v:
                    return False
                if t.op == ">" and not hi > v:
                    return False
                if t.op == ">=" and not hi >= v:
                    return False
                if t.op == "is_in" and all(x < lo or x > hi for x in v if x is not None):
                    return False
            except TypeError:
                continue  # incomparable stats (e.g. decimal vs float): cannot prune
        return True


def _term_to_pyarrow(t: Comparison) -> pc.Expression:
    f = pc.field(t.column)
    if t.op == "is_null":
        return f.is_null()
    if t.op == "is_not_null":
        return f.is_valid()
    if t.op == "is_in":
        return f.isin(pa.array(list(t.value)))
    v = pc.scalar(t.value)
    if t.nan_greatest and t.op in (">", ">="):
        # pyarrow's comparisons with NaN are all false
        return (f > v if t.op == ">" else f >= v) | f.is_nan()
    if t.nan_greatest and t.op == "!=":
        # (NaN != v holds, but a Parquet row group whose statistics (NaN left out) say min = max = v
        # was skipped by pyarrow: x != inf dropped the NaN rows of such a group)
        return (f != v) | f.is_nan()
    return {
        "==": lambda: f == v,
        "!=": lambda: f != v,
        "<": lambda: f < v,
        "<=": lambda: f <= v,
        ">": lambda: f > v,
        ">=": lambda: f >= v,
    }[t.op]()


def sql_literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float, decimal.Decimal)):
        return repr(v) if not isinstance(v, decimal.Decimal) else str(v)
    if isinstance(v, datetime.datetime):
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
    if isinstance(v, datetime.date):
        return f"DATE '{v.isoformat()}'"
    s = str(v).replace("'", "''")
    return f"'{s}'"


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _term_to_sql(t: Comparison) -> str:
    c = _quote(t.column)
    if t.op == "is_null":
        return f"{c} IS NULL"
    if t.op == "is_not_null":
        return f"{c} IS NOT NULL"
    if t.op == "is_in":
        return f"{c} IN ({', '.join(sql_literal(x) for x in t.value)})"
    op = "=" if t.op == "==" else t.op
    return f"{c} {op} {sql_literal(t.value)}"


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


#: Python types whose ``repr`` tells their values apart as Polars' literals do (a ``Decimal``'s
#: scale, a float's sign of zero, a datetime's zone: values ``==`` calls equal)
_REPR_EXACT = frozenset({int, bool, str, float, decimal.Decimal, datetime.date, datetime.datetime, datetime.time,
                         datetime.timedelta, bytes, type(None)})
#: typed key of a predicate's terms -> its Polars expression (see :func:`predicate_to_polars`)
_POLARS_PREDICATES: dict[tuple[Any, ...], Any] = {}
_POLARS_PREDICATES_MAX = 512


def clear_caches() -> None:
    """Forget the scan predicates' Polars expressions (see
    ``thresher.operators.expr_to_polars.clear_caches``, which calls this)."""
    _POLARS_PREDICATES.clear()


def _value_key(v: Any) -> Any:
    """``v`` as a key that is equal only for values Polars makes the same literal of (None where
    the type is not known to have such a ``repr``)."""
    if type(v) is tuple:
        keys = tuple(_value_key(x) for x in v)
        return None if None in keys else keys
    return (type(v), repr(v)) if type(v) in _REPR_EXACT else None


def predicate_to_polars(pred: Predicate) -> Any:
    """The predicate as a Polars expression (for sources that scan with Polars). Built once per
    predicate value: a Polars expression is an immutable value, and building one costs Polars'
    argument parsing and literal type inference each time (a value list is a Series: ~17 µs; a
    TPC-H query's scan predicates cost ~30 µs of its lowering, all 22 queries 0.8 ms)."""
    key: tuple[Any, ...] | None = tuple((t.column, t.op, _value_key(t.value)) for t in pred.terms)
    if any(k[2] is None for k in key):  # type: ignore[union-attr]
        key = None
    else:
        hit = _POLARS_PREDICATES.get(key)  # type: ignore[arg-type]
        if hit is not None:
            return hit
    out = _predicate_to_polars(pred)
    if key is not None:
        if len(_POLARS_PREDICATES) >= _POLARS_PREDICATES_MAX:
            _POLARS_PREDICATES.clear()
        _POLARS_PREDICATES[key] = out
    return out


def _predicate_to_polars(pred: Predicate) -> Any:
    from thresher._polars import col, lit

    out = None
    for t in pred.terms:
        c = col(t.column)  # (built once per name: see thresher._polars.col)
        if t.op == "is_null":
            e = c.is_null()
        elif t.op == "is_not_null":
            e = c.is_not_null()
        elif t.op == "is_in":
            e = c.is_in(list(t.value))
        else:
            # only the comparison asked for (building all six cost five Polars expressions a term)
            e = _COMPARE[t.op](c, lit(t.value))  # (pl.lit: see thresher._polars.lit)
        out = e if out is None else out & e
    return out
