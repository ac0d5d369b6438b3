"""TPC-H through the DataFrame API as one user's session: each engine, alone on the machine,
runs q1..q22 back to back, pass after pass, in its own process (Thresher's ``QUERIES[n](t).to_arrow()``
against the hand-written Polars lazy versions' ``.collect().to_arrow()``, as ``tpch_df``).

``tpch_df`` interleaves the engines round by round, so a worker's idle time before a query is the
other engines' time: Polars' q21 is ~2.4x Thresher's, and an allocator that hands idle memory back
on a timer (Polars' jemalloc) then makes Thresher's next query pay page faults Polars' does not
(measured with ``THRESHER_BENCH_COUNTERS=1``). Here nothing runs between two queries of a session
but the engine itself. Processes take turns (thresher, polars, thresher, ...), one at a time; the
first pass of each process is a warm-up and not timed; every query's result is compared across the
engines (``canon.same_result``) before its times count. Per query: the median wall milliseconds over
all timed passes of all processes, and the ratio thresher / polars.

    python -m benchmarks.tpch_df_session [--root .data/tpch-sf1] [--processes 3] [--passes 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

ENGINES = ("thresher", "polars")


def session(engine: str, root: str, passes: int) -> dict[str, Any]:
    """One process's session: a warm-up pass, then ``passes`` timed passes of q1..q22."""
    from benchmarks.tpch.canon import canonical

    run: Callable[[int], Any]
    if engine == "thresher":
        from benchmarks.tpch import queries_df
        from thresher.operators.expr_to_polars import clear_caches

        frames = queries_df.tables(root)

        def run(q: int) -> Any:
            clear_caches()  # as tpch_df's rounds: every run lowers its program from scratch
            return queries_df.QUERIES[q](frames).to_arrow()
        names = queries_df.QUERIES
    else:
        from benchmarks.tpch import queries_polars

        lazy = queries_polars.tables(root)

        def run(q: int) -> Any:
            return queries_polars.QUERIES[q](lazy).collect().to_arrow()
        names = queries_polars.QUERIES  # type: ignore[assignment]

    ms: dict[int, list[float]] = {q: [] for q in sorted(names)}
    last: dict[int, Any] = {}
    for p in range(passes + 1):
        for q in ms:
            t0 = time.perf_counter()
            out = run(q)
            dt = time.perf_counter() - t0
            if p:
                ms[q].append(dt * 1000)
            last[q] = out
    return {"ms": ms, "results": {q: canonical(r) for q, r in last.items()}}


def measure(root: str, processes: int, passes: int) -> dict[int, dict[str, Any]]:
    from benchmarks.tpch.canon import same_result

    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in ENGINES}
    for i in range(processes):
        for e in (ENGINES if i % 2 == 0 else ENGINES[::-1]):
            proc = subprocess.run([sys.executable, "-m", "benchmarks.tpch_df_session", "--child", e,
                                   "--root", root, "--passes", str(passes)],
                                  capture_output=True, text=True, check=True, env=os.environ.copy())
            runs[e].append(json.loads(proc.stdout))
    queries = sorted(int(q) for q in runs["thresher"][0]["ms"])
    table = {}
    for q in queries:
        ref = runs["polars"][0]["results"][str(q)]
        same = all(same_result(ref, r["results"][str(q)]) for e in ENGINES for r in runs[e])
        med = {e: statistics.median(x for r in runs[e] for x in r["ms"][str(q)]) for e in ENGINES}
        table[q] = {**med, "ratio": med["thresher"] / med["polars"], "same": same}
    return table


def report(table: dict[int, dict[str, Any]]) -> str:
    lines = ["| query | thresher ms | polars ms | thresher/polars |", "|---|---|---|---|"]
    for q, r in table.items():
        ratio = f"{r['ratio']:.3f}" if r["same"] else "results differ: not counted"
        lines.append(f"| q{q} | {r['thresher']:.1f} | {r['polars']:.1f} | {ratio} |")
    ok = [r for r in table.values() if r["same"]]
    tt, tp = sum(r["thresher"] for r in ok), sum(r["polars"] for r in ok)
    over = [f"q{q}" for q, r in table.items() if r["same"] and r["ratio"] > 1.1]
    lines.append(f"| total | {tt:.1f} | {tp:.1f} | {tt / tp:.3f} |")
    lines.append(f"Queries over 1.1x Polars: {', '.join(over) or 'none'}; "
                 f"results differ: {', '.join(f'q{q}' for q, r in table.items() if not r['same']) or 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--root", default=".data/tpch-sf1")
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        json.dump(session(a.child, a.root, a.passes), sys.stdout)
        return
    print(report(measure(a.root, a.processes, a.passes)))


if __name__ == "__main__":
    main()
