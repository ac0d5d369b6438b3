"""All 22 TPC-H queries written with Thresher's DataFrame API (validation parameters).

Q1, Q3, Q5, Q6 and Q10 are the foundation issue's versions (``dataframe_queries``); the rest
follow the spec text the same way: filters first, joins on the key columns, correlated
subqueries written as their decorrelated form (group-by + join, semi/anti joins). Output
columns carry the names and order of the SQL texts in ``sql_queries`` so results compare
column for column.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

import thresher as th
from benchmarks.tpch.dataframe_queries import q1, q3, q5, q6, q10, tables
from thresher import col, lit, when

D = datetime.date
Tables = dict[str, th.DataFrame]


def _between(c: str, lo: D, hi: D) -> th.Expr:
    """``lo <= c < hi`` (the spec's half-open date ranges)."""
    return (col(c) >= lit(lo)) & (col(c) < lit(hi))


def _rev() -> th.Expr:
    return col("l_extendedprice") * (1 - col("l_discount"))


def q2(t: Tables) -> th.DataFrame:
    europe = (t["region"].filter(col("r_name") == "EUROPE")
              .join(t["nation"], left_on="r_regionkey", right_on="n_regionkey")
              .join(t["supplier"], left_on="n_nationkey", right_on="s_nationkey"))
    ps = t["partsupp"].join(europe, left_on="ps_suppkey", right_on="s_suppkey")
    cheapest = ps.group_by("ps_partkey").agg(col("ps_supplycost").min().alias("min_cost"))
    part = t["part"].filter((col("p_size") == 15) & col("p_type").str.ends_with("BRASS"))
    return (
        part.join(ps, left_on="p_partkey", right_on="ps_partkey")
        .join(cheapest, left_on=["p_partkey", "ps_supplycost"], right_on=["ps_partkey", "min_cost"])
        .select("s_acctbal", "s_name", "n_name", "p_partkey", "p_mfgr", "s_address", "s_phone", "s_comment")
        .sort(["s_acctbal", "n_name", "s_name", "p_partkey"], descending=[True, False, False, False])
        .limit(100)
    )


def q4(t: Tables) -> th.DataFrame:
    late = t["lineitem"].filter(col("l_commitdate") < col("l_receiptdate"))
    return (
        t["orders"].filter(_between("o_orderdate", D(1993, 7, 1), D(1993, 10, 1)))
        .join(late, left_on="o_orderkey", right_on="l_orderkey", how="semi")
        .group_by("o_orderpriority")
        .agg(th.count().alias("order_count"))
        .sort("o_orderpriority")
    )


def q7(t: Tables) -> th.DataFrame:
    n1 = t["nation"].select(col("n_nationkey").alias("n1_key"), col("n_name").alias("supp_nation"))
    n2 = t["nation"].select(col("n_nationkey").alias("n2_key"), col("n_name").alias("cust_nation"))
    li = t["lineitem"].filter(col("l_shipdate").is_between(lit(D(1995, 1, 1)), lit(D(1996, 12, 31))))
    pair = (((col("supp_nation") == "FRANCE") & (col("cust_nation") == "GERMANY"))
            | ((col("supp_nation") == "GERMANY") & (col("cust_nation") == "FRANCE")))
    return (
        t["supplier"].join(n1, left_on="s_nationkey", right_on="n1_key")
        .join(li, left_on="s_suppkey", right_on="l_suppkey")
        .join(t["orders"], left_on="l_orderkey", right_on="o_orderkey")
        .join(t["customer"], left_on="o_custkey", right_on="c_custkey")
        .join(n2, left_on="c_nationkey", right_on="n2_key")
        .filter(pair)
        .select("supp_nation", "cust_nation", col("l_shipdate").dt.year().alias("l_year"), _rev().alias("volume"))
        .group_by("supp_nation", "cust_nation", "l_year")
        .agg(col("volume").sum().alias("revenue"))
        .sort(["supp_nation", "cust_nation", "l_year"])
    )


def q8(t: Tables) -> th.DataFrame:
    america = (t["region"].filter(col("r_name") == "AMERICA")
               .join(t["nation"], left_on="r_regionkey", right_on="n_regionkey")
               .select(col("n_nationkey").alias("n1_key")))
    customers = t["customer"].join(america, left_on="c_nationkey", right_on="n1_key")
    orders = t["orders"].filter(col("o_orderdate").is_between(lit(D(1995, 1, 1)), lit(D(1996, 12, 31))))
    n2 = t["nation"].select(col("n_nationkey").alias("n2_key"), col("n_name").alias("nation"))
    return (
        t["part"].filter(col("p_type") == "ECONOMY ANODIZED STEEL")
        .join(t["lineitem"], left_on="p_partkey", right_on="l_partkey")
        .join(orders, left_on="l_orderkey", right_on="o_orderkey")
        .join(customers, left_on="o_custkey", right_on="c_custkey")
        .join(t["supplier"], left_on="l_suppkey", right_on="s_suppkey")
        .join(n2, left_on="s_nationkey", right_on="n2_key")
        .select(col("o_orderdate").dt.year().alias("o_year"), _rev().alias("volume"), "nation")
        .group_by("o_year")
        .agg(when(col("nation") == "BRAZIL").then(col("volume")).otherwise(0).sum().alias("brazil"),
             col("volume").sum().alias("total"))
        .select("o_year", (col("brazil").cast("float64") / col("total").cast("float64")).alias("mkt_share"))
        .sort("o_year")
    )


def q9(t: Tables) -> th.DataFrame:
    amount = _rev() - col("ps_supplycost") * col("l_quantity")
    return (
        t["part"].filter(col("p_name").str.contains("green", literal=True))
        .join(t["lineitem"], left_on="p_partkey", right_on="l_partkey")
        .join(t["partsupp"], left_on=["l_suppkey", "p_partkey"], right_on=["ps_suppkey", "ps_partkey"])
        .join(t["supplier"], left_on="l_suppkey", right_on="s_suppkey")
        .join(t["orders"], left_on="l_orderkey", right_on="o_orderkey")
        .join(t["nation"], left_on="s_nationkey", right_on="n_nationkey")
        .select(col("n_name").alias("nation"), col("o_orderdate").dt.year().alias("o_year"), amount.alias("amount"))
        .group_by("nation", "o_year")
        .agg(col("amount").sum().alias("sum_profit"))
        .sort(["nation", "o_year"], descending=[False, True])
    )


def q11(t: Tables) -> th.DataFrame:
    german = (t["partsupp"]
              .join(t["supplier"], left_on="ps_suppkey", right_on="s_suppkey")
              .join(t["nation"].filter(col("n_name") == "GERMANY"), left_on="s_nationkey", right_on="n_nationkey")
              .with_columns(value=col("ps_supplycost") * col("ps_availqty")))
    threshold = german.agg((col("value").sum().cast("float64") * 0.0001).alias("threshold"))
    return (
        german.group_by("ps_partkey").agg(col("value").sum().alias("value"))
        .join(threshold, how="cross")
        .filter(col("value").cast("float64") > col("threshold"))
        .select("ps_partkey", "value")
        .sort("value", descending=True)
    )


def q12(t: Tables) -> th.DataFrame:
    urgent = col("o_orderpriority").is_in(["1-URGENT", "2-HIGH"])
    li = t["lineitem"].filter(
        col("l_shipmode").is_in(["MAIL", "SHIP"]) & (col("l_commitdate") < col("l_receiptdate"))
        & (col("l_shipdate") < col("l_commitdate")) & _between("l_receiptdate", D(1994, 1, 1), D(1995, 1, 1)))
    return (
        t["orders"].join(li, left_on="o_orderkey", right_on="l_orderkey")
        .group_by("l_shipmode")
        .agg(when(urgent).then(1).otherwise(0).sum().alias("high_line_count"),
             when(~urgent).then(1).otherwise(0).sum().alias("low_line_count"))
        .sort("l_shipmode")
    )


def q13(t: Tables) -> th.DataFrame:
    orders = t["orders"].filter(~col("o_comment").str.like("%special%requests%"))
    return (
        t["customer"].join(orders, left_on="c_custkey", right_on="o_custkey", how="left")
        .group_by("c_custkey").agg(col("o_orderkey").count().alias("c_count"))
        .group_by("c_count").agg(th.count().alias("custdist"))
        .sort(["custdist", "c_count"], descending=True)
    )


def q14(t: Tables) -> th.DataFrame:
    return (
        t["lineitem"].filter(_between("l_shipdate", D(1995, 9, 1), D(1995, 10, 1)))
        .join(t["part"], left_on="l_partkey", right_on="p_partkey")
        .agg(when(col("p_type").str.starts_with("PROMO")).then(_rev()).otherwise(0).sum().alias("promo"),
             _rev().sum().alias("total"))
        .select((100.0 * col("promo").cast("float64") / col("total").cast("float64")).alias("promo_revenue"))
    )


def _revenue0(t: Tables) -> th.DataFrame:
    return (t["lineitem"].filter(_between("l_shipdate", D(1996, 1, 1), D(1996, 4, 1)))
            .group_by("l_suppkey").agg(_rev().sum().alias("total_revenue"))
            .select(col("l_suppkey").alias("supplier_no"), "total_revenue"))


def q15(t: Tables) -> th.DataFrame:
    rev = _revenue0(t)
    top = rev.agg(col("total_revenue").max().alias("max_revenue"))
    return (
        t["supplier"].join(rev, left_on="s_suppkey", right_on="supplier_no")
        .join(top, left_on="total_revenue", right_on="max_revenue")
        .select("s_suppkey", "s_name", "s_address", "s_phone", "total_revenue")
        .sort("s_suppkey")
    )


def q16(t: Tables) -> th.DataFrame:
    complaints = t["supplier"].filter(col("s_comment").str.like("%Customer%Complaints%")).select("s_suppkey")
    part = t["part"].filter((col("p_brand") != "Brand#45") & ~col("p_type").str.starts_with("MEDIUM POLISHED")
                            & col("p_size").is_in([49, 14, 23, 45, 19, 3, 36, 9]))
    return (
        t["partsupp"].join(complaints, left_on="ps_suppkey", right_on="s_suppkey", how="anti")
        .join(part, left_on="ps_partkey", right_on="p_partkey")
        .group_by("p_brand", "p_type", "p_size")
        .agg(col("ps_suppkey").n_unique().alias("supplier_cnt"))
        .sort(["supplier_cnt", "p_brand", "p_type", "p_size"], descending=[True, False, False, False])
    )


def q17(t: Tables) -> th.DataFrame:
    li = (t["part"].filter((col("p_brand") == "Brand#23") & (col("p_container") == "MED BOX"))
          .select("p_partkey")
          .join(t["lineitem"], left_on="p_partkey", right_on="l_partkey"))
    limit = li.group_by("p_partkey").agg((0.2 * col("l_quantity").mean().cast("float64")).alias("qty_limit"))
    return (
        li.join(limit, on="p_partkey")
        .filter(col("l_quantity").cast("float64") < col("qty_limit"))
        .agg(col("l_extendedprice").sum().alias("total"))
        .select((col("total").cast("float64") / 7.0).alias("avg_yearly"))
    )


def q18(t: Tables) -> th.DataFrame:
    big = (t["lineitem"].group_by("l_orderkey").agg(col("l_quantity").sum().alias("qty"))
           .filter(col("qty") > 300).select("l_orderkey"))
    return (
        t["customer"]
        .join(t["orders"].join(big, left_on="o_orderkey", right_on="l_orderkey", how="semi"),
              left_on="c_custkey", right_on="o_custkey")
        .join(t["lineitem"], left_on="o_orderkey", right_on="l_orderkey")
        .group_by("c_name", "c_custkey", "o_orderkey", "o_orderdate", "o_totalprice")
        .agg(col("l_quantity").sum().alias("total_qty"))
        .sort(["o_totalprice", "o_orderdate"], descending=[True, False])
        .limit(100)
    )


def q19(t: Tables) -> th.DataFrame:
    def branch(brand: str, containers: list[str], lo: int, size: int) -> th.Expr:
        return ((col("p_brand") == brand) & col("p_container").is_in(containers)
                & col("l_quantity").is_between(lo, lo + 10) & col("p_size").is_between(1, size))

    li = t["lineitem"].filter(col("l_shipmode").is_in(["AIR", "AIR REG"])
                              & (col("l_shipinstruct") == "DELIVER IN PERSON"))
    return (
        li.join(t["part"], left_on="l_partkey", right_on="p_partkey")
        .filter(branch("Brand#12", ["SM CASE", "SM BOX", "SM PACK", "SM PKG"], 1, 5)
                | branch("Brand#23", ["MED BAG", "MED BOX", "MED PKG", "MED PACK"], 10, 10)
                | branch("Brand#34", ["LG CASE", "LG BOX", "LG PACK", "LG PKG"], 20, 15))
        .agg(_rev().sum().alias("revenue"))
    )


def q20(t: Tables) -> th.DataFrame:
    forest = t["part"].filter(col("p_name").str.starts_with("forest")).select("p_partkey")
    shipped = (t["lineitem"].filter(_between("l_shipdate", D(1994, 1, 1), D(1995, 1, 1)))
               .group_by("l_partkey", "l_suppkey")
               .agg((0.5 * col("l_quantity").sum().cast("float64")).alias("half_qty")))
    ps = (t["partsupp"].join(forest, left_on="ps_partkey", right_on="p_partkey", how="semi")
          .join(shipped, left_on=["ps_partkey", "ps_suppkey"], right_on=["l_partkey", "l_suppkey"])
          .filter(col("ps_availqty").cast("float64") > col("half_qty")))
    return (
        t["supplier"].join(t["nation"].filter(col("n_name") == "CANADA"), left_on="s_nationkey", right_on="n_nationkey")
        .join(ps, left_on="s_suppkey", right_on="ps_suppkey", how="semi")
        .select("s_name", "s_address")
        .sort("s_name")
    )


def q21(t: Tables) -> th.DataFrame:
    late = t["lineitem"].filter(col("l_receiptdate") > col("l_commitdate"))
    # EXISTS another supplier on the order: the order has more than one supplier
    multi = (t["lineitem"].group_by("l_orderkey").agg(col("l_suppkey").n_unique().alias("n"))
             .filter(col("n") > 1).select("l_orderkey"))
    # NOT EXISTS another late supplier: the late lines of the order all come from one supplier
    only_late = (late.group_by("l_orderkey").agg(col("l_suppkey").n_unique().alias("n"))
                 .filter(col("n") == 1).select("l_orderkey"))
    saudi = t["supplier"].join(t["nation"].filter(col("n_name") == "SAUDI ARABIA"),
                               left_on="s_nationkey", right_on="n_nationkey")
    failed = t["orders"].filter(col("o_orderstatus") == "F").select("o_orderkey")
    return (
        late.join(saudi, left_on="l_suppkey", right_on="s_suppkey")
        .join(failed, left_on="l_orderkey", right_on="o_orderkey", how="semi")
        .join(multi, on="l_orderkey", how="semi")
        .join(only_late, on="l_orderkey", how="semi")
        .group_by("s_name")
        .agg(th.count().alias("numwait"))
        .sort(["numwait", "s_name"], descending=[True, False])
        .limit(100)
    )


def q22(t: Tables) -> th.DataFrame:
    codes = ["13", "31", "23", "29", "30", "18", "17"]
    cust = (t["customer"].with_columns(cntrycode=col("c_phone").str.slice(0, 2))
            .filter(col("cntrycode").is_in(codes)))
    avg = cust.filter(col("c_acctbal") > 0).agg(col("c_acctbal").mean().cast("float64").alias("avg_bal"))
    return (
        cust.join(avg, how="cross")
        .filter(col("c_acctbal").cast("float64") > col("avg_bal"))
        .join(t["orders"], left_on="c_custkey", right_on="o_custkey", how="anti")
        .group_by("cntrycode")
        .agg(th.count().alias("numcust"), col("c_acctbal").sum().alias("totacctbal"))
        .sort("cntrycode")
    )


QUERIES: dict[int, Callable[[Tables], th.DataFrame]] = {
    1: q1, 2: q2, 3: q3, 4: q4, 5: q5, 6: q6, 7: q7, 8: q8, 9: q9, 10: q10, 11: q11,
    12: q12, 13: q13, 14: q14, 15: q15, 16: q16, 17: q17, 18: q18, 19: q19, 20: q20, 21: q21, 22: q22,
}

__all__ = ["QUERIES", "tables"]
