"""The SQL window's sort order (packed integer codes) against Polars' own multi-key sort.

``sort_index`` must order rows exactly as ``DataFrame.sort`` does for every key type, direction
and NULL placement (ties may come in any order, so rows are compared by their keys only).
"""

from __future__ import annotations

import datetime
import decimal
import random

import polars as pl
import pytest

from thresher.operators.window import sort_index

_RNG = random.Random(7)


def _column(kind: str, n: int) -> pl.Series:
    pick = _RNG.choice
    if kind == "int":
        return pl.Series([pick([None, *range(-3, 4)]) for _ in range(n)], dtype=pl.Int64)
    if kind == "huge":  # a range too wide to pack: the multi-key fallback
        return pl.Series([pick([None, -(2**62), 2**62, 0, 5]) for _ in range(n)], dtype=pl.Int64)
    if kind == "float":
        return pl.Series([pick([None, -0.5, 0.0, 1.5, float("nan"), float("inf")]) for _ in range(n)], dtype=pl.Float64)
    if kind == "str":
        return pl.Series([pick([None, "a", "b", "", "ab"]) for _ in range(n)], dtype=pl.String)
    if kind == "date":
        return pl.Series([pick([None, datetime.date(2020, 1, 1), datetime.date(1970, 1, 2)]) for _ in range(n)],
                         dtype=pl.Date)
    if kind == "dec":
        return pl.Series([pick([None, decimal.Decimal("1.25"), decimal.Decimal("-3.50"), decimal.Decimal("0.01")])
                          for _ in range(n)], dtype=pl.Decimal(15, 2))
    return pl.Series([pick([None, True, False]) for _ in range(n)], dtype=pl.Boolean)


@pytest.mark.parametrize("trial", range(40))
def test_sort_index_orders_like_polars(trial: int) -> None:
    n = _RNG.randint(0, 80)
    kinds = [_RNG.choice(["int", "huge", "float", "str", "date", "dec", "bool"]) for _ in range(_RNG.randint(1, 4))]
    df = pl.DataFrame({f"k{i}": _column(k, n) for i, k in enumerate(kinds)})
    keys = df.columns
    desc = [_RNG.random() < 0.5 for _ in keys]
    nulls_last = [_RNG.random() < 0.5 for _ in keys]
    got = df[sort_index(df, keys, desc, nulls_last).to_numpy()] if n else df
    assert got.equals(df.sort(keys, descending=desc, nulls_last=nulls_last)), (kinds, desc, nulls_last)


@pytest.mark.parametrize(("dtype", "values"), [
    (pl.Decimal(38, 2), [decimal.Decimal("1e30"), decimal.Decimal("1e30") + 1, None, decimal.Decimal("1e30") - 5]),
    (pl.Int8, [-128, 127, None, 0]),
    (pl.UInt64, [2**64 - 1, 2**64 - 5, None, 2**64 - 3]),
    (pl.Datetime("us"), [datetime.datetime(2020, 1, 1), None, datetime.datetime(1900, 1, 1),
                         datetime.datetime(2020, 1, 1)]),
])
def test_sort_index_extreme_values(dtype: pl.DataType, values: list[object]) -> None:
    df = pl.DataFrame({"a": pl.Series(values, dtype=dtype), "b": [1, 2, 3, 4]})
    for desc in (False, True):
        for nulls_last in (False, True):
            got = df[sort_index(df, ["a", "b"], [desc, False], [nulls_last, True]).to_numpy()]
            assert got.equals(df.sort(["a", "b"], descending=[desc, False], nulls_last=[nulls_last, True]))
