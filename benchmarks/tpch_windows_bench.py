"""SQL window functions over TPC-H ``orders``: ``th.sql`` vs DuckDB (the same SQL) and Polars
lazy (the same windows in Polars' spelling) on the same Parquet file.

Each query computes one window per row of ``orders`` (1.5M rows at scale 1) and the result is
compared with DuckDB's before a time counts (rows as a multiset, numbers within 1e-6 relative).
Tie-sensitive functions (row_number, lag, ROWS frames) order by a unique key last, so every
engine computes the same answer. ``--set queries=range_sum,lag`` runs only those queries.

Polars' spelling: mixed ASC/DESC keys sort the frame first and number the rows of each partition
(``over`` keeps that order); ``range_sum``'s ``RANGE BETWEEN 7 PRECEDING AND CURRENT ROW`` over a
DATE is ``rolling_sum_by(o_orderdate, "8d")`` (the window ``(d - 8 days, d]``) on the price as a
double (Polars' rolling sums take no decimals).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness import Bench, Engine
from benchmarks.tpch.canon import canonical, generate, same_result

QUERIES = {
    "row_number": "select o_orderkey, row_number() over (partition by o_custkey order by o_orderdate desc, "
                  "o_totalprice, o_orderkey) as rn from orders",
    "running_sum": "select o_orderkey, sum(o_totalprice) over (partition by o_custkey order by o_orderdate, o_orderkey "
                   "rows between unbounded preceding and current row) as s from orders",
    "rank": "select o_orderkey, rank() over (partition by o_orderpriority order by o_totalprice desc) as r from orders",
    "partition_avg": "select o_orderkey, avg(o_totalprice) over (partition by o_custkey) as a from orders",
    "lag": "select o_orderkey, lag(o_totalprice) over (partition by o_custkey order by o_orderdate, o_orderkey) as p "
           "from orders",
    "range_sum": "select o_orderkey, sum(o_totalprice) over (partition by o_orderpriority order by o_orderdate "
                 "range between 7 preceding and current row) as s from orders",
}


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    return {"_root": str(generate(p["scale"]))}


def cases(p: dict[str, Any]) -> list[str]:
    only = p.get("queries")
    if not only:
        return list(QUERIES)
    names = [q.strip() for q in str(only).split(",") if q.strip()]
    unknown = [q for q in names if q not in QUERIES]
    if unknown:
        raise ValueError(f"unknown queries {unknown}; known: {list(QUERIES)}")
    return names


def _start_thresher(p: dict[str, Any]) -> dict[str, Any]:
    import thresher as th

    orders = th.read_parquet(str(Path(p["_root"]) / "orders"))
    return {"run": lambda q: th.sql(q, orders=orders).to_arrow()}


def _start_duckdb(p: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE VIEW orders AS SELECT * FROM read_parquet('{Path(p['_root']) / 'orders'}/*.parquet')")
    return {"run": lambda q: con.sql(q).to_arrow_table()}


def polars_queries(root: Path) -> dict[str, Any]:
    """Each query of :data:`QUERIES` as a Polars lazy query (a function giving an Arrow table)."""
    import polars as pl

    def orders() -> pl.LazyFrame:
        return pl.scan_parquet(str(root / "orders" / "*.parquet"))

    price = pl.col("o_totalprice")
    qs = {
        "row_number": lambda: orders().sort(["o_orderdate", "o_totalprice", "o_orderkey"], descending=[True, False, False])
        .select("o_orderkey", pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("o_custkey").alias("rn")),
        "running_sum": lambda: orders().select(
            "o_orderkey", price.cum_sum().over("o_custkey", order_by=["o_orderdate", "o_orderkey"]).alias("s")),
        "rank": lambda: orders().select(
            "o_orderkey", price.rank("min", descending=True).over("o_orderpriority").alias("r")),
        "partition_avg": lambda: orders().select("o_orderkey", price.mean().over("o_custkey").alias("a")),
        "lag": lambda: orders().select(
            "o_orderkey", price.shift(1).over("o_custkey", order_by=["o_orderdate", "o_orderkey"]).alias("p")),
        "range_sum": lambda: orders().select(
            "o_orderkey", price.cast(pl.Float64).rolling_sum_by("o_orderdate", "8d").over("o_orderpriority")
            .alias("s")),
    }
    return {name: (lambda f=f: f().collect().to_arrow()) for name, f in qs.items()}


def _start_polars(p: dict[str, Any]) -> dict[str, Any]:
    qs = polars_queries(Path(p["_root"]))
    return {"run": lambda q: qs[next(k for k, v in QUERIES.items() if v == q)]()}


def _run(state: dict[str, Any], case: str) -> Any:
    return state["run"](QUERIES[case])


def _check(state: dict[str, Any], case: str, out: Any) -> dict[str, Any]:
    return canonical(out)


BENCH = Bench(
    name="tpch_windows",
    title="SQL windows over TPC-H orders: th.sql vs DuckDB and Polars lazy",
    engines=(
        Engine("thresher", _start_thresher, _run, _check, requires=("thresher",)),
        Engine("duckdb", _start_duckdb, _run, _check, requires=("duckdb",)),
        Engine("polars", _start_polars, _run, _check, requires=("polars",)),
    ),
    reference="duckdb",
    baseline="duckdb",
    units="queries",
    quick={"scale": 0.1, "rounds": 2},
    full={"scale": 1.0, "rounds": 3},
    prepare=prepare,
    cases=cases,
    compare=same_result,
    timeout_s=300.0,
    notes="Ratio = DuckDB median / engine median per query (> 1: faster than DuckDB); cpu_s: process CPU "
          "seconds of the round (threads included).",
)
