"""Where a TPC-DS query's time goes in ``th.sql(...).to_arrow()``, phase by phase, translated
from scratch every round (as ``tpcds``' rounds: the plan cache and the lowering's caches are
cleared first):

* ``parse``: sqlglot's parser (``parse_sql``);
* ``sqlglot``: the sqlglot passes and our AST rewrites (``_sqlglot_passes``: qualify,
  decorrelation, simplify, ...);
* ``xlate``: the rest of ``translate`` (our Translator building the logical plan);
* ``sql``: all of ``th.sql`` (the three above, the table functions, the plan cache's key);
* ``optimize``: the optimizer; ``physplan``: the physical planner;
* ``program``: building the Polars LazyFrame (``polars_plan.build_lazy``: the lowering, and the
  small sides a key-range filter computes first);
* ``collect``: Polars' collect and the conversion to Arrow (``collect_lazy``);
* ``e2e``: everything, ``th.sql`` to the Arrow table.

Process CPU milliseconds (threads included; ``--wall``: wall), the median over ``--rounds``
after one warm-up round. ``--plan`` stops after compile (no program, no collect).

    python -m benchmarks.tpcds_phases [--root .data/tpcds-sf1] [--rounds 9] [--queries 21,41] [--plan] [--wall]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from benchmarks.tpch_df_phases import _timed

PHASES = ("parse", "sqlglot", "xlate", "sql", "optimize", "physplan", "program", "collect", "e2e")


def measure(root: str, queries: list[int], rounds: int, plan_only: bool = False,
            wall: bool = False) -> dict[int, dict[str, float]]:
    """Per query, each phase's median milliseconds over ``rounds`` (after a warm-up round). The
    wrapped functions are put back when it returns."""
    import thresher as th
    import thresher.engine.stages as stages
    import thresher.planner.optimizer.runner  # noqa: F401  (the module, not the package's optimize)
    import thresher.planner.physical as physical
    import thresher.planner.polars_plan as polars_plan
    import thresher.planner.sql.translate  # noqa: F401
    import thresher.sql_frontend as frontend
    from benchmarks import tpcds
    from thresher.operators.expr_to_polars import clear_caches

    tr = sys.modules["thresher.planner.sql.translate"]
    runner = sys.modules["thresher.planner.optimizer.runner"]
    clock = time.perf_counter if wall else time.process_time
    acc: dict[str, float] = {}
    wrapped = [(tr, "parse_sql", "parse"), (tr, "_sqlglot_passes", "sqlglot"), (frontend, "translate", "translate"), (runner, "optimize", "optimize"),
               (physical, "plan_physical", "physplan"), (polars_plan, "build_lazy", "program"),
               (stages, "collect_lazy", "collect")]
    kept = [(mod, name, getattr(mod, name)) for mod, name, _ in wrapped]
    for mod, name, key in wrapped:
        setattr(mod, name, _timed(acc, key, getattr(mod, name), clock))
    try:
        frames = tpcds.tables(root)
        got: dict[int, dict[str, list[float]]] = {}
        for r in range(rounds + 1):
            for q in queries:
                frontend.clear_plan_cache()
                clear_caches()
                acc.clear()
                c = clock()
                frame = th.sql(tpcds.query(q), **frames)
                sql = clock() - c
                if plan_only:
                    physical.compile(frame.plan)
                else:
                    frame.to_arrow()
                row = dict(acc)
                row.update(sql=sql, e2e=clock() - c)
                row["xlate"] = row.get("translate", 0.0) - row.get("sqlglot", 0.0)
                if r:
                    for k in PHASES:
                        got.setdefault(q, {}).setdefault(k, []).append(row.get(k, 0.0) * 1e3)
        return {q: {k: statistics.median(v) for k, v in m.items()} for q, m in got.items()}
    finally:
        for mod, name, fn in kept:
            setattr(mod, name, fn)


def table(result: dict[int, dict[str, float]]) -> str:
    lines = ["| query | " + " | ".join(PHASES) + " |", "|" + "---|" * (len(PHASES) + 1)]
    for q, m in result.items():
        lines.append(f"| q{q:02d} | " + " | ".join(f"{m[k]:.2f}" for k in PHASES) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--root", default=".data/tpcds-sf1")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--queries", default="")
    ap.add_argument("--plan", action="store_true", help="stop after compile (no program, no collect)")
    ap.add_argument("--wall", action="store_true", help="wall milliseconds instead of process CPU")
    args = ap.parse_args(argv)
    from benchmarks import tpcds

    queries = [int(x) for x in args.queries.split(",") if x] or tpcds.query_numbers()
    result = measure(args.root, queries, args.rounds, args.plan, args.wall)
    print(f"{'wall' if args.wall else 'CPU'} ms, median of {args.rounds} rounds, translated from scratch each round")
    print(table(result))


if __name__ == "__main__":
    main()
