"""All 22 TPC-H queries written with Polars' lazy API (validation parameters), the peer of
``queries_df`` in ``tpch_df_bench``.

Written as a Polars user writes them (``scan_parquet`` per table, filters, joins on the key
columns, ``group_by().agg()``, ``sort().head()``) and doing the same logical work as the Thresher
DataFrame versions: the same filters and joins, correlated subqueries in the same decorrelated form
(group-by + join, semi/anti joins), no hand optimization on either side. Output columns carry
the names and order of the SQL texts in ``sql_queries``. Each function returns a ``LazyFrame``;
the caller collects it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import polars as pl

D = datetime.date
Tables = dict[str, pl.LazyFrame]

TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")


def tables(root: str | Path) -> Tables:
    """One ``pl.scan_parquet`` per TPC-H table folder under ``root``."""
    return {t: pl.scan_parquet(str(Path(root) / t / "*.parquet")) for t in TABLES}


def _rev() -> pl.Expr:
    return pl.col("l_extendedprice") * (1 - pl.col("l_discount"))


def _in_range(c: str, lo: D, hi: D) -> pl.Expr:
    """``lo <= c < hi`` (the spec's half-open date ranges)."""
    return pl.col(c).is_between(lo, hi, closed="left")


def q1(t: Tables) -> pl.LazyFrame:
    disc = _rev()
    return (
        t["lineitem"].filter(pl.col("l_shipdate") <= D(1998, 9, 2))
        .group_by("l_returnflag", "l_linestatus")
        .agg(
            pl.col("l_quantity").sum().alias("sum_qty"),
            pl.col("l_extendedprice").sum().alias("sum_base_price"),
            disc.sum().alias("sum_disc_price"),
            (disc * (1 + pl.col("l_tax"))).sum().alias("sum_charge"),
            pl.col("l_quantity").mean().alias("avg_qty"),
            pl.col("l_extendedprice").mean().alias("avg_price"),
            pl.col("l_discount").mean().alias("avg_disc"),
            pl.len().alias("count_order"),
        )
        .sort("l_returnflag", "l_linestatus")
    )


def q2(t: Tables) -> pl.LazyFrame:
    europe = (
        t["region"].filter(pl.col("r_name") == "EUROPE")
        .join(t["nation"], left_on="r_regionkey", right_on="n_regionkey")
        .join(t["supplier"], left_on="n_nationkey", right_on="s_nationkey")
    )
    ps = t["partsupp"].join(europe, left_on="ps_suppkey", right_on="s_suppkey")
    cheapest = ps.group_by("ps_partkey").agg(pl.col("ps_supplycost").min().alias("min_cost"))
    return (
        t["part"].filter((pl.col("p_size") == 15) & pl.col("p_type").str.ends_with("BRASS"))
        .join(ps, left_on="p_partkey", right_on="ps_partkey")
        .join(cheapest, left_on=["p_partkey", "ps_supplycost"], right_on=["ps_partkey", "min_cost"])
        .select("s_acctbal", "s_name", "n_name", "p_partkey", "p_mfgr", "s_address", "s_phone", "s_comment")
        .sort(["s_acctbal", "n_name", "s_name", "p_partkey"], descending=[True, False, False, False])
        .head(100)
    )


def q3(t: Tables) -> pl.LazyFrame:
    customer = t["customer"].filter(pl.col("c_mktsegment") == "BUILDING")
    orders = t["orders"].filter(pl.col("o_orderdate") < D(1995, 3, 15))
    lineitem = t["lineitem"].filter(pl.col("l_shipdate") > D(1995, 3, 15))
    return (
        customer.join(orders, left_on="c_custkey", right_on="o_custkey")
        .join(lineitem, left_on="o_orderkey", right_on="l_orderkey")
        .group_by("o_orderkey", "o_orderdate", "o_shippriority")
        .agg(_rev().sum().alias("revenue"))
        .select(pl.col("o_orderkey").alias("l_orderkey"), "revenue", "o_orderdate", "o_shippriority")
        .sort(["revenue", "o_orderdate"], descending=[True, False])
        .head(10)
    )


def q4(t: Tables) -> pl.LazyFrame:
    late = t["lineitem"].filter(pl.col("l_commitdate") < pl.col("l_receiptdate"))
    return (
        t["orders"].filter(_in_range("o_orderdate", D(1993, 7, 1), D(1993, 10, 1)))
        .join(late, left_on="o_orderkey", right_on="l_orderkey", how="semi")
        .group_by("o_orderpriority")
        .agg(pl.len().alias("order_count"))
        .sort("o_orderpriority")
    )


def q5(t: Tables) -> pl.LazyFrame:
    orders = t["orders"].filter(_in_range("o_orderdate", D(1994, 1, 1), D(1995, 1, 1)))
    return (
        t["region"].filter(pl.col("r_name") == "ASIA")
        .join(t["nation"], left_on="r_regionkey", right_on="n_regionkey")
        .join(t["customer"], left_on="n_nationkey", right_on="c_nationkey")
        .join(orders, left_on="c_custkey", right_on="o_custkey")
        .join(t["lineitem"], left_on="o_orderkey", right_on="l_orderkey")
        .join(t["supplier"], left_on=["l_suppkey", "n_nationkey"], right_on=["s_suppkey", "s_nationkey"])
        .group_by("n_name")
        .agg(_rev().sum().alias("revenue"))
        .sort("revenue", descending=True)
    )


def q6(t: Tables) -> pl.LazyFrame:
    return (
        t["lineitem"].filter(
            _in_range("l_shipdate", D(1994, 1, 1), D(1995, 1, 1))
            & pl.col("l_discount").is_between(0.05, 0.07)
            & (pl.col("l_quantity") < 24)
        )
        .select((pl.col("l_extendedprice") * pl.col("l_discount")).sum().alias("revenue"))
    )


def q7(t: Tables) -> pl.LazyFrame:
    n1 = t["nation"].select(pl.col("n_nationkey").alias("n1_key"), pl.col("n_name").alias("supp_nation"))
    n2 = t["nation"].select(pl.col("n_nationkey").alias("n2_key"), pl.col("n_name").alias("cust_nation"))
    lineitem = t["lineitem"].filter(pl.col("l_shipdate").is_between(D(1995, 1, 1), D(1996, 12, 31)))
    pair = (((pl.col("supp_nation") == "FRANCE") & (pl.col("cust_nation") == "GERMANY"))
            | ((pl.col("supp_nation") == "GERMANY") & (pl.col("cust_nation") == "FRANCE")))
    return (
        t["supplier"].join(n1, left_on="s_nationkey", right_on="n1_key")
        .join(lineitem, left_on="s_suppkey", right_on="l_suppkey")
        .join(t["orders"], left_on="l_orderkey", right_on="o_orderkey")
        .join(t["customer"], left_on="o_custkey", right_on="c_custkey")
        .join(n2, left_on="c_nationkey", right_on="n2_key")
        .filter(pair)
        .select("supp_nation", "cust_nation", pl.col("l_shipdate").dt.year().alias("l_year"),
                _rev().alias("volume"))
        .group_by("supp_nation", "cust_nation", "l_year")
        .agg(pl.col("volume").sum().alias("revenue"))
        .sort("supp_nation", "cust_nation", "l_year")
    )


def q8(t: Tables) -> pl.LazyFrame:
    america = (
        t["region"].filter(pl.col("r_name") == "AMERICA")
        .join(t["nation"], left_on="r_regionkey", right_on="n_regionkey")
        .select(pl.col("n_nationkey").alias("n1_key"))
    )
    customers = t["customer"].join(america, left_on="c_nationkey", right_on="n1_key")
    orders = t["orders"].filter(pl.col("o_orderdate").is_between(D(1995, 1, 1), D(1996, 12, 31)))
    n2 = t["nation"].select(pl.col("n_nationkey").alias("n2_key"), pl.col("n_name").alias("nation"))
    return (
        t["part"].filter(pl.col("p_type") == "ECONOMY ANODIZED STEEL")
        .join(t["lineitem"], left_on="p_partkey", right_on="l_partkey")
        .join(orders, left_on="l_orderkey", right_on="o_orderkey")
        .join(customers, left_on="o_custkey", right_on="c_custkey")
        .join(t["supplier"], left_on="l_suppkey", right_on="s_suppkey")
        .join(n2, left_on="s_nationkey", right_on="n2_key")
        .select(pl.col("o_orderdate").dt.year().alias("o_year"), _rev().alias("volume"), "nation")
        .group_by("o_year")
        .agg(pl.when(pl.col("nation") == "BRAZIL").then(pl.col("volume")).otherwise(0).sum().alias("brazil"),
             pl.col("volume").sum().alias("total"))
        .select("o_year", (pl.col("brazil").cast(pl.Float64) / pl.col("total").cast(pl.Float64)).alias("mkt_share"))
        .sort("o_year")
    )


def q9(t: Tables) -> pl.LazyFrame:
    amount = _rev() - pl.col("ps_supplycost") * pl.col("l_quantity")
    return (
        t["part"].filter(pl.col("p_name").str.contains("green", literal=True))
        .join(t["lineitem"], left_on="p_partkey", right_on="l_partkey")
        .join(t["partsupp"], left_on=["l_suppkey", "p_partkey"], right_on=["ps_suppkey", "ps_partkey"])
        .join(t["supplier"], left_on="l_suppkey", right_on="s_suppkey")
        .join(t["orders"], left_on="l_orderkey", right_on="o_orderkey")
        .join(t["nation"], left_on="s_nationkey", right_on="n_nationkey")
        .select(pl.col("n_name").alias("nation"), pl.col("o_orderdate").dt.year().alias("o_year"),
                amount.alias("amount"))
        .group_by("nation", "o_year")
        .agg(pl.col("amount").sum().alias("sum_profit"))
        .sort(["nation", "o_year"], descending=[False, True])
    )


def q10(t: Tables) -> pl.LazyFrame:
    orders = t["orders"].filter(_in_range("o_orderdate", D(1993, 10, 1), D(1994, 1, 1)))
    lineitem = t["lineitem"].filter(pl.col("l_returnflag") == "R")
    return (
        t["customer"].join(orders, left_on="c_custkey", right_on="o_custkey")
        .join(lineitem, left_on="o_orderkey", right_on="l_orderkey")
        .join(t["nation"], left_on="c_nationkey", right_on="n_nationkey")
        .group_by("c_custkey", "c_name", "c_acctbal", "c_phone", "n_name", "c_address", "c_comment")
        .agg(_rev().sum().alias("revenue"))
        .select("c_custkey", "c_name", "revenue", "c_acctbal", "n_name", "c_address", "c_phone", "c_comment")
        .sort("revenue", descending=True)
        .head(20)
    )


def q11(t: Tables) -> pl.LazyFrame:
    german = (
        t["partsupp"].join(t["supplier"], left_on="ps_suppkey", right_on="s_suppkey")
        .join(t["nation"].filter(pl.col("n_name") == "GERMANY"), left_on="s_nationkey", right_on="n_nationkey")
        .with_columns((pl.col("ps_supplycost") * pl.col("ps_availqty")).alias("value"))
    )
    threshold = german.select((pl.col("value").sum().cast(pl.Float64) * 0.0001).alias("threshold"))
    return (
        german.group_by("ps_partkey").agg(pl.col("value").sum())
        .join(threshold, how="cross")
        .filter(pl.col("value").cast(pl.Float64) > pl.col("threshold"))
        .select("ps_partkey", "value")
        .sort("value", descending=True)
    )


def q12(t: Tables) -> pl.LazyFrame:
    urgent = pl.col("o_orderpriority").is_in(["1-URGENT", "2-HIGH"])
    lineitem = t["lineitem"].filter(
        pl.col("l_shipmode").is_in(["MAIL", "SHIP"])
        & (pl.col("l_commitdate") < pl.col("l_receiptdate"))
        & (pl.col("l_shipdate") < pl.col("l_commitdate"))
        & _in_range("l_receiptdate", D(1994, 1, 1), D(1995, 1, 1))
    )
    return (
        t["orders"].join(lineitem, left_on="o_orderkey", right_on="l_orderkey")
        .group_by("l_shipmode")
        .agg(pl.when(urgent).then(1).otherwise(0).sum().alias("high_line_count"),
             pl.when(~urgent).then(1).otherwise(0).sum().alias("low_line_count"))
        .sort("l_shipmode")
    )


def q13(t: Tables) -> pl.LazyFrame:
    orders = t["orders"].filter(~pl.col("o_comment").str.contains("special.*requests"))
    return (
        t["customer"].join(orders, left_on="c_custkey", right_on="o_custkey", how="left")
        .group_by("c_custkey")
        .agg(pl.col("o_orderkey").count().alias("c_count"))
        .group_by("c_count")
        .agg(pl.len().alias("custdist"))
        .sort(["custdist", "c_count"], descending=True)
    )


def q14(t: Tables) -> pl.LazyFrame:
    promo = pl.when(pl.col("p_type").str.starts_with("PROMO")).then(_rev()).otherwise(0).sum()
    return (
        t["lineitem"].filter(_in_range("l_shipdate", D(1995, 9, 1), D(1995, 10, 1)))
        .join(t["part"], left_on="l_partkey", right_on="p_partkey")
        .select((100.0 * promo.cast(pl.Float64) / _rev().sum().cast(pl.Float64)).alias("promo_revenue"))
    )


def q15(t: Tables) -> pl.LazyFrame:
    revenue = (
        t["lineitem"].filter(_in_range("l_shipdate", D(1996, 1, 1), D(1996, 4, 1)))
        .group_by("l_suppkey")
        .agg(_rev().sum().alias("total_revenue"))
        .select(pl.col("l_suppkey").alias("supplier_no"), "total_revenue")
    )
    top = revenue.select(pl.col("total_revenue").max().alias("max_revenue"))
    return (
        t["supplier"].join(revenue, left_on="s_suppkey", right_on="supplier_no")
        .join(top, left_on="total_revenue", right_on="max_revenue")
        .select("s_suppkey", "s_name", "s_address", "s_phone", "total_revenue")
        .sort("s_suppkey")
    )


def q16(t: Tables) -> pl.LazyFrame:
    complaints = t["supplier"].filter(pl.col("s_comment").str.contains("Customer.*Complaints")).select("s_suppkey")
    part = t["part"].filter(
        (pl.col("p_brand") != "Brand#45")
        & ~pl.col("p_type").str.starts_with("MEDIUM POLISHED")
        & pl.col("p_size").is_in([49, 14, 23, 45, 19, 3, 36, 9])
    )
    return (
        t["partsupp"].join(complaints, left_on="ps_suppkey", right_on="s_suppkey", how="anti")
        .join(part, left_on="ps_partkey", right_on="p_partkey")
        .group_by("p_brand", "p_type", "p_size")
        .agg(pl.col("ps_suppkey").n_unique().alias("supplier_cnt"))
        .sort(["supplier_cnt", "p_brand", "p_type", "p_size"], descending=[True, False, False, False])
    )


def q17(t: Tables) -> pl.LazyFrame:
    lineitem = (
        t["part"].filter((pl.col("p_brand") == "Brand#23") & (pl.col("p_container") == "MED BOX"))
        .select("p_partkey")
        .join(t["lineitem"], left_on="p_partkey", right_on="l_partkey")
    )
    limit = lineitem.group_by("p_partkey").agg(
        (0.2 * pl.col("l_quantity").mean().cast(pl.Float64)).alias("qty_limit"))
    return (
        lineitem.join(limit, on="p_partkey")
        .filter(pl.col("l_quantity").cast(pl.Float64) < pl.col("qty_limit"))
        .select((pl.col("l_extendedprice").sum().cast(pl.Float64) / 7.0).alias("avg_yearly"))
    )


def q18(t: Tables) -> pl.LazyFrame:
    big = (
        t["lineitem"].group_by("l_orderkey")
        .agg(pl.col("l_quantity").sum().alias("qty"))
        .filter(pl.col("qty") > 300)
        .select("l_orderkey")
    )
    return (
        t["customer"]
        .join(t["orders"].join(big, left_on="o_orderkey", right_on="l_orderkey", how="semi"),
              left_on="c_custkey", right_on="o_custkey")
        .join(t["lineitem"], left_on="o_orderkey", right_on="l_orderkey")
        .group_by("c_name", "c_custkey", "o_orderkey", "o_orderdate", "o_totalprice")
        .agg(pl.col("l_quantity").sum().alias("total_qty"))
        .sort(["o_totalprice", "o_orderdate"], descending=[True, False])
        .head(100)
    )


def q19(t: Tables) -> pl.LazyFrame:

    def branch(brand: str, containers: list[str], lo: int, size: int) -> pl.Expr:
        return ((pl.col("p_brand") == brand) & pl.col("p_container").is_in(containers)
                & pl.col("l_quantity").is_between(lo, lo + 10) & pl.col("p_size").is_between(1, size))

    lineitem = t["lineitem"].filter(pl.col("l_shipmode").is_in(["AIR", "AIR REG"])
                                    & (pl.col("l_shipinstruct") == "DELIVER IN PERSON"))
    return (
        lineitem.join(t["part"], left_on="l_partkey", right_on="p_partkey")
        .filter(branch("Brand#12", ["SM CASE", "SM BOX", "SM PACK", "SM PKG"], 1, 5)
                | branch("Brand#23", ["MED BAG", "MED BOX", "MED PKG", "MED PACK"], 10, 10)
                | branch("Brand#34", ["LG CASE", "LG BOX", "LG PACK", "LG PKG"], 20, 15))
        .select(_rev().sum().alias("revenue"))
    )


def q20(t: Tables) -> pl.LazyFrame:
    forest = t["part"].filter(pl.col("p_name").str.starts_with("forest")).select("p_partkey")
    shipped = (
        t["lineitem"].filter(_in_range("l_shipdate", D(1994, 1, 1), D(1995, 1, 1)))
        .group_by("l_partkey", "l_suppkey")
        .agg((0.5 * pl.col("l_quantity").sum().cast(pl.Float64)).alias("half_qty"))
    )
    partsupp = (
        t["partsupp"].join(forest, left_on="ps_partkey", right_on="p_partkey", how="semi")
        .join(shipped, left_on=["ps_partkey", "ps_suppkey"], right_on=["l_partkey", "l_suppkey"])
        .filter(pl.col("ps_availqty").cast(pl.Float64) > pl.col("half_qty"))
    )
    return (
        t["supplier"]
        .join(t["nation"].filter(pl.col("n_name") == "CANADA"), left_on="s_nationkey", right_on="n_nationkey")
        .join(partsupp, left_on="s_suppkey", right_on="ps_suppkey", how="semi")
        .select("s_name", "s_address")
        .sort("s_name")
    )


def q21(t: Tables) -> pl.LazyFrame:
    late = t["lineitem"].filter(pl.col("l_receiptdate") > pl.col("l_commitdate"))
    # EXISTS another supplier on the order: the order has more than one supplier
    multi = (
        t["lineitem"].group_by("l_orderkey")
        .agg(pl.col("l_suppkey").n_unique().alias("n"))
        .filter(pl.col("n") > 1)
        .select("l_orderkey")
    )
    # NOT EXISTS another late supplier: the late lines of the order all come from one supplier
    only_late = (
        late.group_by("l_orderkey")
        .agg(pl.col("l_suppkey").n_unique().alias("n"))
        .filter(pl.col("n") == 1)
        .select("l_orderkey")
    )
    saudi = t["supplier"].join(t["nation"].filter(pl.col("n_name") == "SAUDI ARABIA"),
                               left_on="s_nationkey", right_on="n_nationkey")
    failed = t["orders"].filter(pl.col("o_orderstatus") == "F").select("o_orderkey")
    return (
        late.join(saudi, left_on="l_suppkey", right_on="s_suppkey")
        .join(failed, left_on="l_orderkey", right_on="o_orderkey", how="semi")
        .join(multi, on="l_orderkey", how="semi")
        .join(only_late, on="l_orderkey", how="semi")
        .group_by("s_name")
        .agg(pl.len().alias("numwait"))
        .sort(["numwait", "s_name"], descending=[True, False])
        .head(100)
    )


def q22(t: Tables) -> pl.LazyFrame:
    customer = (
        t["customer"].with_columns(pl.col("c_phone").str.slice(0, 2).alias("cntrycode"))
        .filter(pl.col("cntrycode").is_in(["13", "31", "23", "29", "30", "18", "17"]))
    )
    avg = customer.filter(pl.col("c_acctbal") > 0).select(
        pl.col("c_acctbal").mean().cast(pl.Float64).alias("avg_bal"))
    return (
        customer.join(avg, how="cross")
        .filter(pl.col("c_acctbal").cast(pl.Float64) > pl.col("avg_bal"))
        .join(t["orders"], left_on="c_custkey", right_on="o_custkey", how="anti")
        .group_by("cntrycode")
        .agg(pl.len().alias("numcust"), pl.col("c_acctbal").sum().alias("totacctbal"))
        .sort("cntrycode")
    )


QUERIES: dict[int, Callable[[Tables], pl.LazyFrame]] = {
    1: q1, 2: q2, 3: q3, 4: q4, 5: q5, 6: q6, 7: q7, 8: q8, 9: q9, 10: q10, 11: q11,
    12: q12, 13: q13, 14: q14, 15: q15, 16: q16, 17: q17, 18: q18, 19: q19, 20: q20, 21: q21, 22: q22,
}

__all__ = ["QUERIES", "tables"]
