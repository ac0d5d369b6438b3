"""TPC-H Q1, Q3, Q5, Q6 and Q10 written with Thresher's DataFrame API, plus the DuckDB SQL texts
they are checked against (same files, same parameters as the TPC-H spec's validation run)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import thresher as th
from thresher import col, lit


def tables(root: str | Path) -> dict[str, th.DataFrame]:
    root = Path(root)
    return {t: th.read_parquet(str(root / t)) for t in
            ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")}


def q1(t: dict[str, th.DataFrame]) -> th.DataFrame:
    li = t["lineitem"]
    disc = col("l_extendedprice") * (1 - col("l_discount"))
    return (
        li.filter(col("l_shipdate") <= lit(datetime.date(1998, 9, 2)))
        .group_by("l_returnflag", "l_linestatus")
        .agg(
            col("l_quantity").sum().alias("sum_qty"),
            col("l_extendedprice").sum().alias("sum_base_price"),
            disc.sum().alias("sum_disc_price"),
            (disc * (1 + col("l_tax"))).sum().alias("sum_charge"),
            col("l_quantity").mean().alias("avg_qty"),
            col("l_extendedprice").mean().alias("avg_price"),
            col("l_discount").mean().alias("avg_disc"),
            th.count().alias("count_order"),
        )
        .sort(["l_returnflag", "l_linestatus"])
    )


def q3(t: dict[str, th.DataFrame]) -> th.DataFrame:
    c = t["customer"].filter(col("c_mktsegment") == "BUILDING")
    o = t["orders"].filter(col("o_orderdate") < lit(datetime.date(1995, 3, 15)))
    li = t["lineitem"].filter(col("l_shipdate") > lit(datetime.date(1995, 3, 15)))
    return (
        c.join(o, left_on="c_custkey", right_on="o_custkey")
        .join(li, left_on="o_orderkey", right_on="l_orderkey")
        .group_by("o_orderkey", "o_orderdate", "o_shippriority")
        .agg((col("l_extendedprice") * (1 - col("l_discount"))).sum().alias("revenue"))
        .select(col("o_orderkey").alias("l_orderkey"), "revenue", "o_orderdate", "o_shippriority")
        .sort(["revenue", "o_orderdate"], descending=[True, False])
        .limit(10)
    )


def q5(t: dict[str, th.DataFrame]) -> th.DataFrame:
    r = t["region"].filter(col("r_name") == "ASIA")
    o = t["orders"].filter((col("o_orderdate") >= lit(datetime.date(1994, 1, 1)))
                           & (col("o_orderdate") < lit(datetime.date(1995, 1, 1))))
    return (
        r.join(t["nation"], left_on="r_regionkey", right_on="n_regionkey")
        .join(t["customer"], left_on="n_nationkey", right_on="c_nationkey")
        .join(o, left_on="c_custkey", right_on="o_custkey")
        .join(t["lineitem"], left_on="o_orderkey", right_on="l_orderkey")
        .join(t["supplier"], left_on=["l_suppkey", "n_nationkey"], right_on=["s_suppkey", "s_nationkey"])
        .group_by("n_name")
        .agg((col("l_extendedprice") * (1 - col("l_discount"))).sum().alias("revenue"))
        .sort("revenue", descending=True)
    )


def q6(t: dict[str, th.DataFrame]) -> th.DataFrame:
    li = t["lineitem"]
    return (
        li.filter(
            (col("l_shipdate") >= lit(datetime.date(1994, 1, 1)))
            & (col("l_shipdate") < lit(datetime.date(1995, 1, 1)))
            & col("l_discount").is_between(0.05, 0.07)
            & (col("l_quantity") < 24)
        )
        .agg((col("l_extendedprice") * col("l_discount")).sum().alias("revenue"))
    )


def q10(t: dict[str, th.DataFrame]) -> th.DataFrame:
    o = t["orders"].filter((col("o_orderdate") >= lit(datetime.date(1993, 10, 1)))
                           & (col("o_orderdate") < lit(datetime.date(1994, 1, 1))))
    li = t["lineitem"].filter(col("l_returnflag") == "R")
    return (
        t["customer"].join(o, left_on="c_custkey", right_on="o_custkey")
        .join(li, left_on="o_orderkey", right_on="l_orderkey")
        .join(t["nation"], left_on="c_nationkey", right_on="n_nationkey")
        .group_by("c_custkey", "c_name", "c_acctbal", "c_phone", "n_name", "c_address", "c_comment")
        .agg((col("l_extendedprice") * (1 - col("l_discount"))).sum().alias("revenue"))
        .select("c_custkey", "c_name", "revenue", "c_acctbal", "n_name", "c_address", "c_phone", "c_comment")
        .sort("revenue", descending=True)
        .limit(20)
    )


QUERIES: dict[str, Callable[[dict[str, th.DataFrame]], th.DataFrame]] = {
    "q1": q1, "q3": q3, "q5": q5, "q6": q6, "q10": q10,
}

SQL: dict[str, str] = {
    "q1": """SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, sum(l_extendedprice) AS sum_base_price,
        sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
        sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge, avg(l_quantity) AS avg_qty,
        avg(l_extendedprice) AS avg_price, avg(l_discount) AS avg_disc, count(*) AS count_order
        FROM lineitem WHERE l_shipdate <= DATE '1998-09-02'
        GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus""",
    "q3": """SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate, o_shippriority
        FROM customer, orders, lineitem
        WHERE c_mktsegment = 'BUILDING' AND c_custkey = o_custkey AND l_orderkey = o_orderkey
          AND o_orderdate < DATE '1995-03-15' AND l_shipdate > DATE '1995-03-15'
        GROUP BY l_orderkey, o_orderdate, o_shippriority ORDER BY revenue DESC, o_orderdate LIMIT 10""",
    "q5": """SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue
        FROM customer, orders, lineitem, supplier, nation, region
        WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey
          AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey
          AND r_name = 'ASIA' AND o_orderdate >= DATE '1994-01-01' AND o_orderdate < DATE '1995-01-01'
        GROUP BY n_name ORDER BY revenue DESC""",
    "q6": """SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem
        WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01'
          AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24""",
    "q10": """SELECT c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) AS revenue, c_acctbal, n_name,
        c_address, c_phone, c_comment
        FROM customer, orders, lineitem, nation
        WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND o_orderdate >= DATE '1993-10-01'
          AND o_orderdate < DATE '1994-01-01' AND l_returnflag = 'R' AND c_nationkey = n_nationkey
        GROUP BY c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment
        ORDER BY revenue DESC LIMIT 20""",
}


def duckdb_connection(root: str | Path):  # type: ignore[no-untyped-def]
    import duckdb

    con = duckdb.connect()
    for t in ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"):
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{Path(root) / t}/*.parquet')")
    return con
