"""A DECIMAL meeting an integer in COALESCE, CASE, UNION, a comparison or a join takes DuckDB's
common type: the integer as the decimal of its digits (BIGINT: DECIMAL(19, 0)), so DECIMAL(10, 2)
with a BIGINT is DECIMAL(21, 2). It was the decimal alone, and a BIGINT value over 8 digits failed
at run time ("Decimal value does not fit in precision 10")."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest

import thresher as th

D = Decimal
TABLE = pa.table({
    "d": pa.array([None, D("1.50"), D("99999999.99")], pa.decimal128(10, 2)),
    "b": pa.array([12345678901234, 3, -5], pa.int64()),
    "i": pa.array([1, 2, 2000000000], pa.int32()),
    "s": pa.array([1, None, -3], pa.int16()),
    "u": pa.array([1, 2**64 - 1, None], pa.uint64()),
    "e": pa.array([D("1.5"), None, D("-2.25")], pa.decimal128(4, 2)),
})

QUERIES = [
    "SELECT COALESCE(d, b) AS x FROM t",
    "SELECT CASE WHEN d IS NULL THEN b ELSE d END AS x FROM t",
    "SELECT COALESCE(e, s) AS x FROM t",
    "SELECT COALESCE(e, i) AS x FROM t",
    "SELECT COALESCE(d, u) AS x FROM t",
    "SELECT d < b AS x FROM t",
    "SELECT e = i AS x FROM t",
    "SELECT greatest(d, b) AS x FROM t",
    "SELECT d AS x FROM t UNION ALL SELECT b FROM t",
    "SELECT e AS x FROM t UNION SELECT s FROM t",
    "SELECT e AS x FROM t EXCEPT SELECT i FROM t",
    "SELECT d IN (b, 3) AS x FROM t",
    "SELECT x FROM (SELECT d AS x FROM t) JOIN (SELECT b AS y FROM t) ON x = y",
    "SELECT NULLIF(d, b) AS x FROM t",
    "SELECT CASE WHEN i > 1 THEN e ELSE s END AS x FROM t",
]


@pytest.mark.parametrize("query", QUERIES)
def test_decimal_with_an_integer_as_duckdb(query: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import thresher.sql_frontend as sf

    monkeypatch.setattr(sf, "_CATALOG", dict(sf._CATALOG))
    th.register("t", th.from_arrow(TABLE))
    con = duckdb.connect()
    con.register("t", TABLE)
    want = con.sql(query).to_arrow_table()
    got = th.sql(query).to_arrow()
    assert got.schema.field("x").type == want.schema.field("x").type
    key = lambda v: (v is None, v)  # noqa: E731
    assert sorted(got.column("x").to_pylist(), key=key) == sorted(want.column("x").to_pylist(), key=key)
