"""Estimated vs real rows per node of a benchmark query's optimized plan.

usage: python -m benchmarks.estimates ds 4 [--min-rows N] [--no-run]
       python -m benchmarks.estimates h 9          (TPC-H SQL)

Each node of the optimized logical plan is printed with ``planner.stats.estimate``'s rows,
``refined_estimate``'s (column statistics and key containment) and,
unless ``--no-run``, the rows it really produces (the subplan run on its own, unoptimized so
it is the node as printed), and their ratio. For finding where the estimator is off by orders of
magnitude; it runs every subplan, so it is slow on big plans.
"""

from __future__ import annotations

import argparse
import sys

import thresher as th
from thresher.dataframe import DataFrame
from thresher.planner.logical import LogicalPlan
from thresher.planner.memo import memo_scope
from thresher.planner.physical import CompileSettings, compile
from thresher.planner.stats import estimate, refined_estimate


def _label(node: LogicalPlan) -> str:
    return node.pretty().splitlines()[0][:110]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("suite", choices=["ds", "h"])
    ap.add_argument("query", type=int)
    ap.add_argument("--no-run", action="store_true")
    ap.add_argument("--min-rows", type=float, default=0.0, help="print only nodes estimated or real >= this")
    a = ap.parse_args(argv)
    if a.suite == "ds":
        from benchmarks import tpcds

        for tb, df in tpcds.tables(".data/tpcds-sf1").items():
            th.register(tb, df)
        q = tpcds.query(a.query)
    else:
        from benchmarks.tpch.canon import TABLES
        from benchmarks.tpch.sql_queries import QUERIES

        for tb in TABLES:
            th.register(tb, th.read_parquet(f".data/tpch-sf1/{tb}/*.parquet"))
        q = QUERIES[a.query]
    plan = th.sql(q)._plan
    opt = compile(plan, CompileSettings()).optimized
    assert opt is not None
    seen: dict[int, int] = {}

    def walk(node: LogicalPlan, depth: int) -> None:
        with memo_scope():
            est = estimate(node).rows
            ref = refined_estimate(node).rows
        real: int | None = None
        if not a.no_run:
            if id(node) not in seen:
                seen[id(node)] = DataFrame(node).collect(optimize=False).count_rows()
            real = seen[id(node)]
        big = max(est or 0, ref or 0, real or 0) >= a.min_rows
        if big:
            e = "?" if est is None else f"{est:,.0f}"
            f = "?" if ref is None else f"{ref:,.0f}"
            r = "" if real is None else f"{real:,}"
            ratio = "" if ref is None or not real else f"{ref / real:8.2g}x"
            print(f"{e:>12} {f:>12} {r:>12} {ratio:>9}  {'  ' * depth}{_label(node)}")
        for c in node.children():
            walk(c, depth + 1)

    print(f"{'estimate':>12} {'refined':>12} {'real':>12} {'ref/real':>9}  node")
    walk(opt, 0)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
