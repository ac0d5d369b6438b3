"""``x = a OR x = b`` of one column and constants lowered as Polars' ``is_in``: the same answer as
the ORs (NULL where x is NULL, as a value and as a filter), against DuckDB and Polars."""

from __future__ import annotations

import datetime

import polars as pl
import pyarrow as pa
import pytest

import thresher as th
from thresher import col
from thresher.expressions.expr import Call
from thresher.operators.expr_to_polars import _or_as_is_in

duckdb = pytest.importorskip("duckdb")

D = datetime.date


def _table() -> pa.Table:
    return pa.table({
        "s": pa.array(["FR", "DE", None, "IT", "FR"]),
        "i": pa.array([1, 2, None, 3, 1], pa.int32()),
        "d": pa.array([D(2000, 1, 1), None, D(2000, 1, 2), D(2000, 1, 3), D(2000, 1, 1)]),
        "f": pa.array([1.0, 2.0, None, float("nan"), 1.0]),
    })


@pytest.mark.parametrize("cond", [
    "s = 'FR' OR s = 'DE'",
    "s = 'FR' OR 'DE' = s OR s = 'FR'",
    "i = 1 OR i = 3",
    "d = DATE '2000-01-01' OR d = DATE '2000-01-03'",
    "f = 1.0 OR f = 2.0",          # floats stay ORs (NaN)
    "s = 'FR' OR i = 3",           # two columns stay ORs
])
def test_or_of_equalities_matches_duckdb(cond: str) -> None:
    t = _table()
    q = f"select s, i, d, ({cond}) as v from t where {cond} or i is null order by s nulls last, i nulls last"
    got = th.sql(q, t=t).to_arrow().to_pylist()
    want = duckdb.sql(q).to_arrow_table().to_pylist()
    assert got == want


def test_or_of_equalities_matches_polars_in_the_dataframe_api() -> None:
    t = _table()
    e = (col("s") == "FR") | (col("s") == "DE")
    got = th.from_arrow(t).with_columns(v=e).filter(e | col("s").is_null()).to_arrow()
    pe = (pl.col("s") == "FR") | (pl.col("s") == "DE")
    want = pl.from_arrow(t).with_columns(v=pe).filter(pe | pl.col("s").is_null()).to_arrow()
    assert got.column("v").to_pylist() == want.column("v").to_pylist()
    assert got.column("s").to_pylist() == want.column("s").to_pylist()


def test_only_an_or_of_one_columns_equalities_with_constants_becomes_a_list() -> None:
    schema = th.from_arrow(_table()).schema
    listed = _or_as_is_in(((col("s") == "FR") | (col("s") == "DE") | (col("s") == "FR")), schema)
    assert isinstance(listed, Call) and listed.name == "is_in" and listed.option("values") == ("FR", "DE")
    assert _or_as_is_in(((col("s") == "FR") | (col("i") == 1)), schema) is None
    assert _or_as_is_in(((col("f") == 1.0) | (col("f") == 2.0)), schema) is None
    assert _or_as_is_in(((col("s") == "FR") | (col("s") > "DE")), schema) is None
