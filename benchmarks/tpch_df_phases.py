"""Where a TPC-H DataFrame query's time goes besides Polars' collect, next to the same query
written with Polars' lazy API (``tpch_df``'s two sides, in one process).

Each round runs every query end to end (``QUERIES[n](tables).to_arrow()``, as ``tpch_df``
does) and then the hand-written Polars version (``.collect().to_arrow()``), with the phases of
the Thresher run timed inside that run:

* ``build``: the query function building its frames (type checks, schemas);
* ``compile``: the optimizer and the lowering to stages (``physical._compile``);
* ``program``: building the relational stage's Polars LazyFrame (``polars_plan.build_lazy``);
* ``collect``: Polars' collect and the conversion of its result to Arrow (``collect_lazy``);
* ``rest``: everything else of ``to_arrow()`` (the executor, the result table);

all in process CPU milliseconds (threads included), the median over the rounds. ``--cold``
makes each run like one of the benchmark harness's rounds, where the worker process waits
while the other engines run: before each timed run 64 MB are touched and the process sleeps
30 ms, so the run starts with cold caches (Python's planning code runs about twice as slowly
then, its small steps several times). ``over`` is ``e2e`` minus ``collect``; ``ratio`` is
``e2e / polars``.

    python -m benchmarks.tpch_df_phases [--rounds 7] [--queries 16,22] [--cold] [--root .data/tpch-sf1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

_PHASES = ("build", "compile", "program", "collect", "rest", "e2e", "polars")


def _timed(acc: dict[str, float], key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*a: Any, **k: Any) -> Any:
        c = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            acc[key] = acc.get(key, 0.0) + time.process_time() - c

    return run


def measure(root: str, queries: list[int], rounds: int, cold: bool) -> dict[int, dict[str, float]]:
    """Per query, each phase's median CPU milliseconds (the first round is a warm-up)."""
    import numpy as np

    import thresher.engine.stages as stages
    import thresher.planner.physical as physical
    import thresher.planner.polars_plan as polars_plan
    from benchmarks.tpch.queries_df import QUERIES, tables
    from benchmarks.tpch.queries_polars import QUERIES as POLARS_QUERIES
    from benchmarks.tpch.queries_polars import tables as polars_tables

    acc: dict[str, float] = {}
    for mod, name, key in ((stages, "collect_lazy", "collect"), (physical, "_compile", "compile"),
                           (polars_plan, "build_lazy", "program")):
        setattr(mod, name, _timed(acc, key, getattr(mod, name)))
    t, tp = tables(root), polars_tables(root)
    junk = np.ones(8 << 20)

    def settle() -> None:
        if cold:
            junk[::8] += 1.0
            time.sleep(0.03)

    got: dict[tuple[int, str], list[float]] = {}
    for r in range(rounds + 1):
        for q in queries:
            settle()
            acc.clear()
            c = time.process_time()
            frame = QUERIES[q](t)
            built = time.process_time() - c
            out = frame.to_arrow()
            e2e = time.process_time() - c
            del out
            row = {"build": built, "e2e": e2e, **acc}
            row["rest"] = e2e - built - sum(acc.values())
            settle()
            c = time.process_time()
            out = POLARS_QUERIES[q](tp).collect().to_arrow()
            row["polars"] = time.process_time() - c
            del out
            if r:
                for k, v in row.items():
                    got.setdefault((q, k), []).append(v * 1e3)
    return {q: {k: statistics.median(got.get((q, k), [0.0])) for k in _PHASES} for q in queries}


def table(result: dict[int, dict[str, float]]) -> str:
    head = "| query | " + " | ".join(_PHASES) + " | over | ratio |"
    lines = [head, "|" + "---|" * (len(_PHASES) + 3)]
    total = dict.fromkeys(_PHASES, 0.0)
    for q, m in result.items():
        for k in _PHASES:
            total[k] += m[k]
        cells = " | ".join(f"{m[k]:.2f}" for k in _PHASES)
        lines.append(f"| q{q} | {cells} | {m['e2e'] - m['collect']:.2f} | {m['e2e'] / m['polars']:.3f} |")
    cells = " | ".join(f"{total[k]:.1f}" for k in _PHASES)
    lines.append(f"| sum | {cells} | {total['e2e'] - total['collect']:.1f} | {total['e2e'] / total['polars']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--root", default=".data/tpch-sf1")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--queries", default="")
    ap.add_argument("--cold", action="store_true")
    args = ap.parse_args(argv)
    queries = [int(x) for x in args.queries.split(",") if x] or list(range(1, 23))
    result = measure(args.root, queries, args.rounds, args.cold)
    print(f"CPU ms, median of {args.rounds} rounds ({'cold' if args.cold else 'warm'})")
    print(table(result))


if __name__ == "__main__":
    main()
