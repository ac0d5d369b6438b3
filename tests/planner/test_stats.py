from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

import thresher as th
from thresher import col
from thresher.expressions.cost import cost_class, expr_cost
from thresher.planner.stats import estimate


def test_rows_from_parquet_footers_and_selectivity(tmp_path):
    pq.write_table(pa.table({"a": list(range(1000)), "b": ["x"] * 1000}), tmp_path / "t.parquet")
    df = th.read_parquet(str(tmp_path / "t.parquet"))
    assert estimate(df.plan).rows == 1000
    assert estimate(df.filter(col("a") == 3).plan).rows == 100
    assert estimate(df.limit(7).plan).rows == 7
    assert estimate(df.group_by("b").agg(col("a").sum()).plan).rows == 100
    assert estimate(df.union(df).plan).rows == 2000
    assert estimate(df.select("a").plan).bytes < estimate(df.plan).bytes


def test_costs_order_classes():
    e_scalar, e_io = col("a") > 1, col("b").image.width() > 1
    e_dec = col("b").image.decode().image.phash() > 1
    assert expr_cost(e_scalar) < expr_cost(e_io) < expr_cost(e_dec)
    assert [cost_class(e) for e in (e_scalar, e_io, e_dec)] == ["scalar", "io", "decode"]
