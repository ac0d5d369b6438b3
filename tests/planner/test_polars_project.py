"""A projection in a relational stage's Polars program: computed columns added with
``with_columns``, passed-through ones selected, so Polars' plan statistics keep following the
columns (its hash joins size their runtime bloom filters from them).

The results are compared with DuckDB running the same SQL, over names a computed column takes
from an input column (swapped, reused, shadowed) and NULLs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from planner_helpers import rounded_rows

import thresher as th

duckdb = pytest.importorskip("duckdb")

T = pa.table({"a": pa.array([1, 2, None, 4, 5], pa.int64()),
              "b": pa.array([10, None, 30, 40, 50], pa.int64()),
              "s": ["13-x", "31-y", None, "29-z", "17-w"]})
U = pa.table({"k": pa.array([1, 1, 4, None, 7], pa.int64()), "v": [0.5, 1.5, 2.5, 3.5, 4.5]})

#: the same projection over ``t`` joined with ``u``, in Thresher and in Polars (the reference):
#: computed columns under the names of input columns that other outputs pass through or rename
CASES = {  # name: (join key, projection)
    "shadow": ("b", lambda c, lit: [c("a").alias("b"), (c("a") + 1).alias("a"), c("b").alias("c")]),
    "swap": ("b", lambda c, lit: [c("b").alias("a"), c("a").alias("b"), (c("a") * c("b")).alias("ab")]),
    "reuse": ("a", lambda c, lit: [c("a"), (c("b") * 2).alias("b"), c("s").str.slice(0, 2).alias("s"), c("s").alias("s2")]),
    "shadow_key": ("b", lambda c, lit: [c("b").alias("a"), (c("a") + lit(1)).alias("b")]),
}


def _rows(table: pa.Table) -> list[tuple]:
    return rounded_rows(table, 9)


@pytest.mark.parametrize("how", ["inner", "anti", "semi", "left"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_rows_as_polars(name: str, how: str) -> None:
    import polars as pl

    key, project = CASES[name]
    ref = pl.from_arrow(T).select(project(pl.col, pl.lit)).join(pl.from_arrow(U), left_on=key, right_on="k", how=how)
    got = th.from_arrow(T).select(*project(th.col, th.lit)).join(th.from_arrow(U), left_on=key, right_on="k", how=how)
    out = got.to_arrow()
    assert out.column_names == ref.columns
    assert _rows(out) == _rows(ref.to_arrow())


SQL = {
    # under a join and an anti join (the shapes the runtime filters serve)
    "join": """select x.a, x.cc, u.v from (select a, substr(s, 1, 2) as cc from t) x
               join u on x.a = u.k where x.cc in ('13', '29', '17')""",
    "anti": """select x.a, x.cc from (select a, b, substr(s, 1, 2) as cc from t) x
               where x.cc <> '31' and not exists (select 1 from u where u.k = x.a)""",
}


@pytest.mark.parametrize("name", sorted(SQL))
def test_same_rows_as_duckdb(name: str) -> None:
    q = SQL[name]
    con = duckdb.connect()
    con.register("t", T)
    con.register("u", U)
    expected = con.sql(q).to_arrow_table()
    got = th.sql(q, t=T, u=U).to_arrow()
    assert got.column_names == expected.column_names
    assert _rows(got) == _rows(expected)


def _runtime_filter_lines(lf, capfd: pytest.CaptureFixture[str]) -> list[str]:
    import polars as pl

    capfd.readouterr()
    pl.Config.set_verbose(True)
    try:
        lf.collect()
    finally:
        pl.Config.set_verbose(False)
    err = capfd.readouterr().err
    return [line for line in err.splitlines() if line.startswith("runtime filter on")]


def test_anti_join_build_side_with_a_computed_column_gets_a_bloom_filter(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    # TPC-H Q22's anti join: customers with a computed country code, filtered on it, against all
    # orders. With the code computed in a select, Polars lost the customer key's distinct count
    # and gave the orders scan only a key range (no bloom filter: every order row decoded).
    n = 20_000
    cust = pa.table({"ck": pa.array(range(n), pa.int64()),
                     "phone": [f"{10 + i % 25}-{i}" for i in range(n)],
                     "bal": pa.array([float(i % 997) for i in range(n)])})
    orders = pa.table({"ok": pa.array([(i * 7) % (3 * n) for i in range(10 * n)], pa.int64())})
    pq.write_table(cust, tmp_path / "cust.parquet", row_group_size=4096)
    pq.write_table(orders, tmp_path / "orders.parquet", row_group_size=16_384)
    c = th.read_parquet(str(tmp_path / "cust.parquet"))
    o = th.read_parquet(str(tmp_path / "orders.parquet"))
    col = th.col
    q = (c.with_columns(cc=col("phone").str.slice(0, 2)).filter(col("cc").is_in(["13", "31", "23"]))
         .join(o, left_on="ck", right_on="ok", how="anti").select("ck", "cc", "bal"))
    con = duckdb.connect()
    con.register("cust", cust)
    con.register("orders", orders)
    expected = con.sql("""select ck, substr(phone, 1, 2) as cc, bal from cust
                          where substr(phone, 1, 2) in ('13', '31', '23')
                          and not exists (select 1 from orders where ok = ck)""").to_arrow_table()
    assert _rows(q.to_arrow()) == _rows(expected)

    from thresher.planner.physical import compile as compile_plan

    physical = compile_plan(q.plan)
    assert physical.root.kind == "relational" and not physical.root.inputs
    lines = _runtime_filter_lines(physical.root.spec.program([]), capfd)
    if not lines:
        pytest.skip("this Polars reports no runtime filter decisions (POLARS_VERBOSE)")
    assert all("bloom: true" in line for line in lines), lines


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([os.path.abspath(__file__), "-q"]))


def test_is_in_value_lists_per_type() -> None:
    # the Polars list an is_in tests against is built once per value list and type: the same
    # values over columns of other types (1 / 1.0 / True) each get their own, as Polars gives
    import polars as pl

    data = {"i": pa.array([1, 2, None, 3], pa.int64()), "f": pa.array([1.0, 2.5, None, 3.0]),
            "b": pa.array([True, False, None, True]), "s": ["1", "2", None, "x"]}
    table = pa.table(data)
    cases = [("i", [1, 3]), ("f", [1.0, 3.0]), ("b", [True]), ("i", [1]), ("s", ["1", "x"]), ("i", [1, 3]),
             ("f", [2.5]), ("s", ["2"])]
    for name, values in cases:
        # a column (not a filter, which a scan would take as its predicate)
        got = th.from_arrow(table).with_columns(hit=th.col(name).is_in(values)).join(
            th.from_arrow(table).select(th.col("i").alias("k")), left_on="i", right_on="k", how="semi")
        ref = pl.from_arrow(table).with_columns(hit=pl.col(name).is_in(values)).join(
            pl.from_arrow(table).select(pl.col("i").alias("k")), left_on="i", right_on="k", how="semi")
        assert _rows(got.to_arrow()) == _rows(ref.to_arrow()), (name, values)
