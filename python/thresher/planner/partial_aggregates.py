"""Aggregates computed in two steps: partial aggregates over the input, then aggregates of those.

A ROLLUP aggregates its input once on all its keys and each grouping set aggregates that result
(``sql/translate.py``); ``eager_aggregation`` groups a join's big side on its join keys before
the join. Both need every aggregate split into the partial one and its combination.
"""

from __future__ import annotations

from thresher.datatypes import DataType, Schema
from thresher.errors import ThresherError
from thresher.expressions.expr import AggCall, Alias, Call, Cast, Column, CountStar, Expr, Literal, lit, when

#: SQL's sum that raises where it leaves BIGINT (``sql/coerce.SQL_EXACT_SUM``)
_EXACT = (("exact", True),)
_NAN_MAX = (("nan", "greatest"),)  # (SQL's max of floats: planner/sql/coerce.SQL_NAN_MAX)


def partial_aggregates(aggs: tuple[Expr, ...], schema: Schema | None = None
                       ) -> tuple[tuple[Expr, ...], tuple[Expr, ...], tuple[Expr, ...]] | None:
    """``aggs`` (``<agg>.alias(name)``) split for aggregating in two steps: the partial
    aggregates over the input, the aggregates of those partials per grouping set, and the
    expressions over the latter that give each ``name``. None when an aggregate cannot be
    combined from partial ones (count distinct, median, ...).

    A sum, count and count(*) add up their partials, min and max take the min and max of theirs,
    a mean divides the summed sums by the summed counts (NULL where that count is 0). A mean of
    64-bit integers (its input's type read from ``schema``) sums them as DECIMAL(38, 0): summed
    as they are, the partial sums wrapped past BIGINT (``avg(b)`` of three 2^62 under a ROLLUP
    was negative; Polars and DuckDB average them exactly)."""
    first: list[Expr] = []
    second: list[Expr] = []
    final: list[Expr] = []
    for a in aggs:
        name = a.output_name()
        inner = a.child if isinstance(a, Alias) else a
        if isinstance(inner, CountStar) or (isinstance(inner, AggCall) and inner.name in ("sum", "count")
                                            and inner.options in ((), _EXACT)):
            first.append(inner.alias(f"{name}.p"))
            # (SQL's exact sum: the sum of the partial sums must not wrap either)
            second.append(AggCall("sum", Column(f"{name}.p"), inner.options if isinstance(inner, AggCall) else ()
                                  ).alias(name))
            final.append(Column(name))
        elif isinstance(inner, AggCall) and inner.name in ("min", "max") and inner.options in ((), _NAN_MAX):
            first.append(inner.alias(f"{name}.p"))
            # (SQL's max of floats: NaN the greatest among the partials too)
            second.append(AggCall(inner.name, Column(f"{name}.p"), inner.options).alias(name))
            final.append(Column(name))
        elif isinstance(inner, AggCall) and inner.name == "mean" and inner.options in ((), _EXACT):
            t = _input_type(inner.child, schema)
            if t is not None and t.is_temporal():
                return None  # (a mean of dates is a datetime, not a sum over a count)
            first += [_mean_sum(inner.child, schema).alias(f"{name}.s"),
                      AggCall("count", inner.child).alias(f"{name}.c")]
            second += [AggCall("sum", Column(f"{name}.s")).alias(f"{name}.s"),
                       AggCall("sum", Column(f"{name}.c")).alias(f"{name}.c")]
            f64 = DataType.float64()
            n = Column(f"{name}.c")
            mean: Expr = (when(Call("gt", (n, lit(0))))
                          .then(Call("truediv", (Column(f"{name}.s").cast(f64), n.cast(f64))))
                          .otherwise(Literal(None, f64)))
            if _input_type(inner.child, schema) == DataType.float32():
                mean = mean.cast(DataType.float32())  # (a float32 column's mean is float32, as in Polars)
            final.append(mean.alias(name))
        else:
            return None
    return tuple(first), tuple(second), tuple(final)


def _mean_sum(x: Expr, schema: Schema | None) -> AggCall:
    """The partial sum of a mean of ``x``: of ``x`` as DECIMAL(38, 0) where it is a 64-bit integer,
    so the partial sums cannot wrap; where its type is unknown (no schema, or it does not
    resolve), a sum that raises rather than wraps (the exact sum's check)."""
    t = _input_type(x, schema)
    if t is None:
        return AggCall("sum", x, _EXACT)
    if str(t.arrow) in ("int64", "uint64"):
        return AggCall("sum", Cast(x, DataType.decimal(38, 0)))
    if t == DataType.float32():  # (summed as Polars averages float32: in float64)
        return AggCall("sum", Cast(x, DataType.float64()))
    return AggCall("sum", x)


def _input_type(x: Expr, schema: Schema | None) -> DataType | None:
    try:
        return x.resolve(schema).dtype if schema is not None else None
    except ThresherError:
        return None
