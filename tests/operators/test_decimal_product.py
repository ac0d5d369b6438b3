"""Decimal products lowered to Polars' exact SQL multiply, against DuckDB on the same table."""

from __future__ import annotations

import decimal

import pyarrow as pa
import pytest

import thresher as th

duckdb = pytest.importorskip("duckdb")


@pytest.mark.parametrize(("p1", "s1", "p2", "s2"), [(15, 2, 15, 2), (10, 0, 12, 4), (18, 6, 9, 3), (38, 10, 20, 8)])
def test_decimal_product_matches_duckdb(p1: int, s1: int, p2: int, s2: int) -> None:
    a = [decimal.Decimal(v).scaleb(-s1) for v in (125, -9999, 1, 0)] + [None]
    b = [decimal.Decimal(v).scaleb(-s2) for v in (5, 7, -123456, 3)] + [decimal.Decimal(1)]
    t = pa.table({"a": pa.array(a, pa.decimal128(p1, s1)), "b": pa.array(b, pa.decimal128(p2, s2))})
    q = "select a * b as x, a * (1 - b) * (1 + b) as y, sum(a * b) over () as z from t"
    got = th.sql(q, t=t).to_arrow()
    want = duckdb.sql(q).to_arrow_table()  # duckdb reads the local `t`
    for name in ("x", "y", "z"):
        assert [None if v is None else decimal.Decimal(v) for v in got[name].to_pylist()] == \
            [None if v is None else decimal.Decimal(v) for v in want[name].to_pylist()], name
    assert got.schema.field("x").type == pa.decimal128(38, s1 + s2)
