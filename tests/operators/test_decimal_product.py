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


def test_sql_multiply_of_each_pair_of_operands_is_its_own() -> None:
    # the Sql.Binary node is cached by its operands' JSON: the same operands give the node the
    # JSON round trip builds, other operands (another column, another literal, another scale)
    # their own, and each computes its own product
    import io
    import json

    import polars as pl

    from thresher.operators.expr_to_polars import _sql_binary

    def built(left: pl.Expr, right: pl.Expr) -> str:
        node = {"Function": {"input": [json.loads(left.meta.serialize(format="json")),
                                       json.loads(right.meta.serialize(format="json"))],
                             "function": {"Sql": {"Binary": "Mul"}}}}
        return str(pl.Expr.deserialize(io.StringIO(json.dumps(node)), format="json"))

    d = pl.Decimal(10, 2)
    pairs = [(pl.col("a"), pl.col("b")), (pl.col("a"), pl.col("c")), (pl.col("b"), pl.col("a")),
             (pl.col("a"), pl.lit(decimal.Decimal("1.5"), dtype=d)), (pl.col("a"), pl.lit(decimal.Decimal("2.5"), dtype=d)),
             (pl.col("a"), pl.lit(decimal.Decimal("1.5"), dtype=pl.Decimal(10, 3)))]
    frame = pl.DataFrame({"a": [decimal.Decimal("1.25"), None], "b": [decimal.Decimal("3.10"), decimal.Decimal("1")],
                          "c": [decimal.Decimal("-2.00"), decimal.Decimal("4.5")]},
                         schema={"a": d, "b": d, "c": d})
    seen = set()
    for _ in range(2):  # the second time from the cache
        for left, right in pairs:
            got = _sql_binary("Mul", left, right)
            assert got is not None and str(got) == built(left, right)
            want = frame.select((left.cast(pl.Decimal(38, 6)) * right).alias("p"))["p"].to_list()
            assert frame.select(got.alias("p"))["p"].to_list() == want
            seen.add(str(got))
    assert len(seen) == len(pairs)
