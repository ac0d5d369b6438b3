"""TPC-H Q1, Q3, Q5, Q6, Q10 through Thresher's DataFrame API vs Polars lazy, DuckDB and Daft.

Same Parquet files (tpchgen-cli, SF 1 by default), one process run, best of ``--repeat``; prints
times and Thresher/peer ratios (below 1.0: Thresher is faster) and writes JSON.

    python benchmarks/tpch_df_bench.py --scale 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import polars as pl  # noqa: E402

from benchmarks.tpch.dataframe_queries import QUERIES, SQL, duckdb_connection, tables  # noqa: E402


def polars_queries(root: Path) -> dict[str, Callable[[], Any]]:
    def scan(t: str) -> pl.LazyFrame:
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
                .sort(["revenue", "o_orderdate"], descending=[True, False]).head(10).collect())

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
                .sort("revenue", descending=True).head(20).collect())

    return {"q1": q1, "q3": q3, "q5": q5, "q6": q6, "q10": q10}


def plain_string_copy(root: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = root.with_name(root.name + "-plainstrings")
    if (out / ".complete").exists():
        return out
    for f in root.glob("*/*.parquet"):
        t = pq.read_table(f)
        schema = pa.schema([pa.field(x.name, pa.large_string() if pa.types.is_string_view(x.type) else x.type) for x in t.schema])
        (out / f.parent.name).mkdir(parents=True, exist_ok=True)
        pq.write_table(t.cast(schema), out / f.parent.name / f.name)
    (out / ".complete").touch()
    return out


def best(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: file metadata and page cache
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip", default="", help="comma-separated engines to skip (polars,duckdb,daft)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "tpch_df.json"))
    args = ap.parse_args()
    from conftest import generate_tpch  # type: ignore[import-not-found]

    root = generate_tpch(args.scale)
    skip = set(filter(None, args.skip.split(",")))
    engines: dict[str, dict[str, Callable[[], Any]]] = {}
    t = tables(root)
    engines["thresher"] = {q: (lambda q=q: QUERIES[q](t).to_arrow()) for q in QUERIES}
    if "polars" not in skip:
        engines["polars"] = polars_queries(root)
    if "duckdb" not in skip:
        con = duckdb_connection(root)
        engines["duckdb"] = {q: (lambda q=q: con.sql(SQL[q]).to_arrow_table()) for q in QUERIES}
    if "daft" not in skip:
        try:
            import daft

            # Daft 0.7 cannot read tpchgen's string_view columns ("Unsupported Arrow DataType:
            # Utf8View"); it gets a one-time copy with plain strings (same rows, same encoding)
            droot = plain_string_copy(root)
            dtabs = {n: daft.read_parquet(str(droot / n / "*.parquet")) for n in
                     ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")}
            engines["daft"] = {q: (lambda q=q: daft.sql(SQL[q], **dtabs).to_arrow()) for q in QUERIES}
        except Exception as exc:  # noqa: BLE001
            print(f"daft unavailable: {exc}")
    results: dict[str, dict[str, float]] = {e: {} for e in engines}
    for q in QUERIES:
        for e, qs in engines.items():
            try:
                results[e][q] = best(qs[q], args.repeat)
            except Exception as exc:  # noqa: BLE001
                print(f"{e} {q} failed: {exc}")
                results[e][q] = float("nan")
    peers = [e for e in engines if e != "thresher"]
    print(f"\nTPC-H SF {args.scale:g}, best of {args.repeat} (seconds; ratio = thresher / peer, < 1 is faster)")
    print(f"{'query':<6}{'thresher':>10}" + "".join(f"{p:>10}{'ratio':>8}" for p in peers))
    for q in QUERIES:
        row = f"{q:<6}{results['thresher'][q]:>10.3f}"
        for p in peers:
            row += f"{results[p][q]:>10.3f}{results['thresher'][q] / results[p][q]:>8.2f}"
        print(row)
    geo = {}
    for p in peers:
        ratios = [results["thresher"][q] / results[p][q] for q in QUERIES if results[p][q] == results[p][q]]
        geo[p] = math.exp(sum(math.log(r) for r in ratios) / len(ratios)) if ratios else float("nan")
    print("geomean " + "  ".join(f"{p}: {g:.2f}" for p, g in geo.items()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"scale": args.scale, "seconds": results, "geomean_ratio": geo}, indent=2))


if __name__ == "__main__":
    main()
