"""TPC-H through Thresher's DataFrame API vs Polars lazy and DuckDB (SQL), same Parquet files.

The 22 queries written with Thresher's DataFrame API (``benchmarks/tpch/queries_df.py``) against
DuckDB running the TPC-H SQL texts (the reference) and, for Q1, Q3, Q5, Q6 and Q10, the same
queries written with Polars' lazy API (``n/a`` elsewhere). Each engine is its own process;
every run's result is compared with DuckDB's (positionally, rows as a multiset, numbers within
1e-6 relative) and a mismatching query is left out of the ratio and the geometric mean. Daft is
measured in ``tpch_sql`` (its DataFrame version here was SQL text anyway).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import Bench, Engine
from benchmarks.tpch.canon import canonical, duckdb_connection, generate, same_result


def polars_queries(root: Path) -> dict[str, Callable[[], Any]]:
    import polars as pl

    def scan(t: str) -> Any:
        return pl.scan_parquet(str(root / t / "*.parquet"))

    def q1() -> Any:
        disc = pl.col("l_extendedprice") * (1 - pl.col("l_discount"))
        return (scan("lineitem").filter(pl.col("l_shipdate") <= dt.date(1998, 9, 2))
                .group_by("l_returnflag", "l_linestatus")
                .agg(pl.col("l_quantity").sum().alias("sum_qty"), pl.col("l_extendedprice").sum().alias("sum_base_price"),
                     disc.sum().alias("sum_disc_price"), (disc * (1 + pl.col("l_tax"))).sum().alias("sum_charge"),
                     pl.col("l_quantity").mean().alias("avg_qty"), pl.col("l_extendedprice").mean().alias("avg_price"),
                     pl.col("l_discount").mean().alias("avg_disc"), pl.len().alias("count_order"))
                .sort("l_returnflag", "l_linestatus").collect())

    def q3() -> Any:
        c = scan("customer").filter(pl.col("c_mktsegment") == "BUILDING")
        o = scan("orders").filter(pl.col("o_orderdate") < dt.date(1995, 3, 15))
        li = scan("lineitem").filter(pl.col("l_shipdate") > dt.date(1995, 3, 15))
        return (c.join(o, left_on="c_custkey", right_on="o_custkey").join(li, left_on="o_orderkey", right_on="l_orderkey")
                .group_by("o_orderkey", "o_orderdate", "o_shippriority")
                .agg((pl.col("l_extendedprice") * (1 - pl.col("l_discount"))).sum().alias("revenue"))
                .sort(["revenue", "o_orderdate"], descending=[True, False]).head(10)
                .select("o_orderkey", "revenue", "o_orderdate", "o_shippriority").collect())

    def q5() -> Any:
        r = scan("region").filter(pl.col("r_name") == "ASIA")
        o = scan("orders").filter((pl.col("o_orderdate") >= dt.date(1994, 1, 1)) & (pl.col("o_orderdate") < dt.date(1995, 1, 1)))
        return (r.join(scan("nation"), left_on="r_regionkey", right_on="n_regionkey")
                .join(scan("customer"), left_on="n_nationkey", right_on="c_nationkey")
                .join(o, left_on="c_custkey", right_on="o_custkey")
                .join(scan("lineitem"), left_on="o_orderkey", right_on="l_orderkey")
                .join(scan("supplier"), left_on=["l_suppkey", "n_nationkey"], right_on=["s_suppkey", "s_nationkey"])
                .group_by("n_name").agg((pl.col("l_extendedprice") * (1 - pl.col("l_discount"))).sum().alias("revenue"))
                .sort("revenue", descending=True).collect())

    def q6() -> Any:
        return (scan("lineitem").filter((pl.col("l_shipdate") >= dt.date(1994, 1, 1)) & (pl.col("l_shipdate") < dt.date(1995, 1, 1))
                                        & pl.col("l_discount").is_between(0.05, 0.07) & (pl.col("l_quantity") < 24))
                .select((pl.col("l_extendedprice") * pl.col("l_discount")).sum().alias("revenue")).collect())

    def q10() -> Any:
        o = scan("orders").filter((pl.col("o_orderdate") >= dt.date(1993, 10, 1)) & (pl.col("o_orderdate") < dt.date(1994, 1, 1)))
        li = scan("lineitem").filter(pl.col("l_returnflag") == "R")
        return (scan("customer").join(o, left_on="c_custkey", right_on="o_custkey")
                .join(li, left_on="o_orderkey", right_on="l_orderkey")
                .join(scan("nation"), left_on="c_nationkey", right_on="n_nationkey")
                .group_by("c_custkey", "c_name", "c_acctbal", "c_phone", "n_name", "c_address", "c_comment")
                .agg((pl.col("l_extendedprice") * (1 - pl.col("l_discount"))).sum().alias("revenue"))
                .sort("revenue", descending=True).head(20)
                .select("c_custkey", "c_name", "revenue", "c_acctbal", "n_name", "c_address", "c_phone", "c_comment")
                .collect())

    return {"q1": q1, "q3": q3, "q5": q5, "q6": q6, "q10": q10}


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    return {"_root": str(generate(p["scale"]))}


def cases(p: dict[str, Any]) -> list[str]:
    q = p.get("queries")
    qs = ([q] if isinstance(q, int) else [int(x) for x in (q if isinstance(q, list | tuple) else str(q).split(",")) if x]
          if q else list(range(1, 23)))
    return [f"q{q}" for q in qs]


def _start_thresher(p: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.tpch.queries_df import QUERIES, tables

    t = tables(p["_root"])
    return {"run": lambda case: QUERIES[int(case[1:])](t).to_arrow()}


def _start_duckdb(p: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.tpch.sql_queries import QUERIES

    con = duckdb_connection(p["_root"])
    return {"run": lambda case: con.sql(QUERIES[int(case[1:])]).to_arrow_table()}


def _start_polars(p: dict[str, Any]) -> dict[str, Any]:
    qs = polars_queries(Path(p["_root"]))
    return {"run": lambda case: qs[case]().to_arrow()}


def _run(state: dict[str, Any], case: str) -> Any:
    return state["run"](case)


def _check(state: dict[str, Any], case: str, out: Any) -> dict[str, Any]:
    return canonical(out)


BENCH = Bench(
    name="tpch_df",
    title="TPC-H through the DataFrame API: Thresher vs Polars lazy vs DuckDB",
    engines=(
        Engine("thresher", _start_thresher, _run, _check, requires=("thresher",)),
        Engine("duckdb", _start_duckdb, _run, _check, requires=("duckdb",), note="the TPC-H SQL texts"),
        Engine("polars", _start_polars, _run, _check, requires=("polars",),
               supports=lambda case: case in ("q1", "q3", "q5", "q6", "q10")),
    ),
    reference="duckdb",
    baseline="duckdb",
    units="queries",
    quick={"scale": 0.1, "queries": "1,3,5,6,10", "rounds": 2},
    full={"scale": 1.0, "queries": "", "rounds": 3},
    prepare=prepare,
    cases=cases,
    compare=same_result,
    timeout_s=180.0,
    notes="Ratio = DuckDB median / engine median per query (> 1: faster than DuckDB).",
)
