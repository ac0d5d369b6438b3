"""Planning time of the 99 TPC-DS queries: ``th.sql`` plus ``compile`` (the optimizer and the
lowering to stages), nothing executed.

* ``cold``: the first query planned in a fresh process (imports, registries, sqlglot's caches),
  measured in a subprocess, once;
* ``first``: each query's first planning in a warm process (translated from scratch);
* ``warm``: the median of ``--rounds`` re-plannings of the same text over the same frames (the
  translation is reused, see ``sql_frontend``; the optimizer and the lowering run every time);
* ``uncached``: the median of ``--rounds`` plannings with the translation cache cleared.

CPU time of this process (``time.process_time``) is reported next to wall time: on a shared
machine wall time mostly measures the neighbours.

    python -m benchmarks.tpcds_planning [--scale 0.01] [--rounds 5] [--queries 3,14] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import tpcds

_COLD = """
import sys, time
t0 = time.perf_counter(); c0 = time.process_time()
import thresher as th
from benchmarks import tpcds
from thresher.planner.physical import compile
frames = tpcds.tables(sys.argv[1])
t1 = time.perf_counter(); c1 = time.process_time()
compile(th.sql(tpcds.query(int(sys.argv[2])), **frames).plan)
t2 = time.perf_counter(); c2 = time.process_time()
print(t1 - t0, t2 - t1, c2 - c1)
"""


def cold(root: Path, query: int) -> dict[str, float]:
    """Import + catalog seconds, and the first query's planning (wall, CPU) in a fresh process."""
    out = subprocess.run([sys.executable, "-c", _COLD, str(root), str(query)], capture_output=True, text=True,
                         check=True, cwd=str(Path(__file__).resolve().parents[1]))
    imp, wall, cpu = (float(x) for x in out.stdout.split()[-3:])
    return {"query": query, "import_and_catalog_s": imp, "cold_wall_ms": wall * 1000, "cold_cpu_ms": cpu * 1000}


def per_query(root: Path, queries: list[int], rounds: int) -> list[dict[str, Any]]:
    import thresher as th
    import thresher.sql_frontend as frontend
    from thresher.planner.physical import compile  # noqa: A004

    frames = tpcds.tables(root)

    def plan(sql: str) -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        compile(th.sql(sql, **frames).plan)
        return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000

    rows = []
    for q in queries:
        sql = tpcds.query(q)
        first = plan(sql)
        warm = [plan(sql) for _ in range(rounds)]
        uncached = []
        for _ in range(rounds):
            frontend.clear_plan_cache()
            uncached.append(plan(sql))
        rows.append({
            "query": q,
            "first_wall_ms": first[0], "first_cpu_ms": first[1],
            "warm_wall_ms": statistics.median(w for w, _ in warm), "warm_cpu_ms": statistics.median(c for _, c in warm),
            "uncached_wall_ms": statistics.median(w for w, _ in uncached),
            "uncached_cpu_ms": statistics.median(c for _, c in uncached),
        })
        r = rows[-1]
        print(f"q{q:02d}  first {r['first_wall_ms']:8.1f} ms  warm {r['warm_wall_ms']:7.1f} ms "
              f"(cpu {r['warm_cpu_ms']:6.1f})  uncached {r['uncached_wall_ms']:8.1f} ms (cpu {r['uncached_cpu_ms']:7.1f})",
              flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--queries", default="")
    ap.add_argument("--cold-query", type=int, default=1)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    from benchmarks.tpcds_bench import generate

    root = generate(args.scale)
    queries = [int(x) for x in args.queries.split(",") if x] or tpcds.query_numbers()
    c = cold(root, args.cold_query)
    print(f"cold: import + catalog {c['import_and_catalog_s']:.2f} s, first query (q{args.cold_query:02d}) "
          f"{c['cold_wall_ms']:.0f} ms wall / {c['cold_cpu_ms']:.0f} ms cpu")
    rows = per_query(root, queries, args.rounds)
    for key in ("first_wall_ms", "warm_wall_ms", "warm_cpu_ms", "uncached_wall_ms", "uncached_cpu_ms"):
        vals = sorted(r[key] for r in rows)
        print(f"{key:18s} median {statistics.median(vals):8.1f}  p90 {vals[int(0.9 * (len(vals) - 1))]:8.1f}  "
              f"max {vals[-1]:8.1f}  "
              f"<= 50 ms: {sum(v <= 50 for v in vals)}/{len(vals)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"cold": c, "queries": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
