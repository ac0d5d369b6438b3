"""TPC-DS (DuckDB's 99 query texts) via SQL: ``th.sql`` vs DuckDB on the same tpcgen-cli Parquet.

Each engine is its own process; the Thresher time includes parsing and planning. Every result is
compared with DuckDB's (rows as a multiset, numbers within 1e-6 relative) before its time counts.
Queries Thresher refuses show as errors. ``python -m benchmarks.tpcds_bench plan`` prints the
planning time (``th.sql`` + optimize, no execution) of a query, cold (first in a fresh process)
and warm.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import tpcds
from benchmarks.harness import Bench, Engine
from benchmarks.tpch.canon import canonical, same_result


def generate(scale: float) -> Path:
    """TPC-DS at ``scale`` (generated once under .data/, by the tests' own generator)."""
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from conftest import generate_tpcds  # type: ignore[import-not-found]

    return generate_tpcds(scale)  # type: ignore[no-any-return]


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    return {"_root": str(generate(p["scale"]))}


def cases(p: dict[str, Any]) -> list[str]:
    q = p.get("queries")
    qs = ([q] if isinstance(q, int) else [int(x) for x in (q if isinstance(q, list | tuple) else str(q).split(",")) if x]
          if q else tpcds.query_numbers())
    return [f"q{n:02d}" for n in qs]


def _start_thresher(p: dict[str, Any]) -> dict[str, Any]:
    import thresher as th

    frames = tpcds.tables(p["_root"])
    return {"run": lambda q: th.sql(q, **frames).to_arrow()}


def _reset_thresher(state: dict[str, Any]) -> None:
    """Harness rule 4: every round translates its SQL again (th.sql remembers the translation of
    the same text over the same frames; the other engines parse and plan every round too) and
    lowers its Polars program from scratch (no expression kept from the previous round)."""
    from thresher.operators.expr_to_polars import clear_caches
    from thresher.sql_frontend import clear_plan_cache

    clear_plan_cache()
    clear_caches()


def _start_duckdb(p: dict[str, Any]) -> dict[str, Any]:
    con = tpcds.duckdb_connection(p["_root"])
    return {"run": lambda q: con.sql(q).to_arrow_table()}


def _run(state: dict[str, Any], case: str) -> Any:
    return state["run"](tpcds.query(int(case[1:])))


def _check(state: dict[str, Any], case: str, out: Any) -> dict[str, Any]:
    return canonical(out)


BENCH = Bench(
    name="tpcds",
    title="TPC-DS via SQL (99 queries): th.sql vs DuckDB",
    engines=(
        Engine("thresher", _start_thresher, _run, _check, reset=_reset_thresher, requires=("thresher",)),
        Engine("duckdb", _start_duckdb, _run, _check, requires=("duckdb",)),
    ),
    reference="duckdb",
    baseline="duckdb",
    units="queries",
    quick={"scale": 0.1, "queries": "", "rounds": 1},
    full={"scale": 1.0, "queries": "", "rounds": 3},
    prepare=prepare,
    cases=cases,
    compare=same_result,
    warmup=0,
    timeout_s=300.0,
    notes="Ratio = DuckDB median / Thresher median per query (> 1: faster than DuckDB).",
)


def planning_times(scale: float = 0.01, query: int = 14, repeats: int = 20) -> dict[str, float]:
    """Seconds to plan TPC-DS ``query`` (``th.sql`` + the optimizer, nothing executed): the first
    call in this process (cold: imports, sqlglot and registry warm-up) and the median warm one."""
    t0 = time.perf_counter()
    import thresher as th
    from thresher.planner.optimizer import optimize

    frames = tpcds.tables(generate(scale))
    sql = tpcds.query(query)

    def plan() -> None:
        optimize(th.sql(sql, **frames).plan)

    t1 = time.perf_counter()
    plan()
    cold = time.perf_counter() - t1
    warm = []
    for _ in range(repeats):
        t = time.perf_counter()
        plan()
        warm.append(time.perf_counter() - t)
    warm.sort()
    return {"query": query, "import_and_catalog_s": t1 - t0, "cold_s": cold, "warm_median_s": warm[len(warm) // 2]}


if __name__ == "__main__":
    if sys.argv[1:2] == ["plan"]:
        for q in [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "3,14,64").split(",")]:
            print(planning_times(query=q))
    else:
        print("run the timing with: python -m benchmarks tpcds [--full]; planning: python -m benchmarks.tpcds_bench plan")
