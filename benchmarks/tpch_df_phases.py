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
* ``polars``: the hand-written Polars version end to end, ``p_collect`` its ``.collect().to_arrow()``;

all in process CPU milliseconds (threads included), the median over the rounds; ``--wall``
times them in wall milliseconds instead (a gap between the wall and the CPU ratio is then the
serial Python phases' share: Polars' collect runs on every core, our planning on one). ``--cold``
makes each run like one of the benchmark harness's rounds, where the worker process waits
while the other engines run: before each timed run 64 MB are touched and the process sleeps
30 ms, so the run starts with cold caches (Python's planning code runs about twice as slowly
then, its small steps several times). ``over`` is ``e2e`` minus ``collect``, ``p_over``
``polars`` minus ``p_collect`` (building the LazyFrame: what Polars' own side does besides the
same collect); ``ratio`` is ``e2e / polars``.

``replay`` is Thresher's own Polars program of that round (the LazyFrame ``collect`` got) collected
again on its own as the Polars side is (``.collect().to_arrow()``, after the same settling):
``collect`` above ``replay`` is the run's context (what ran before the collect in the process),
``replay`` above ``p_collect`` the program. The three runs of a query take turns going first
(a fixed order gave one side the same position every round).

    python -m benchmarks.tpch_df_phases [--rounds 7] [--queries 16,22] [--cold] [--wall] [--root .data/tpch-sf1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

_PHASES = ("build", "compile", "program", "collect", "rest", "e2e", "polars", "p_collect", "replay")


_SIDES = ("thresher", "polars", "replay")


def _order(r: int) -> tuple[str, ...]:
    """Round ``r``'s order of a query's three runs: each goes first in one round of three (the
    warm-up round 0 starts with Thresher's run, whose program the replay needs)."""
    k = r % len(_SIDES)
    return _SIDES[k:] + _SIDES[:k]


def _timed(acc: dict[str, float], key: str, fn: Callable[..., Any],
           clock: Callable[[], float] = time.process_time) -> Callable[..., Any]:
    def run(*a: Any, **k: Any) -> Any:
        c = clock()
        try:
            return fn(*a, **k)
        finally:
            acc[key] = acc.get(key, 0.0) + clock() - c

    return run


def measure(root: str, queries: list[int], rounds: int, cold: bool,
            wall: bool = False) -> dict[int, dict[str, float]]:
    """Per query, each phase's median CPU (``wall``: wall) milliseconds (the first round is a warm-up)."""
    import numpy as np

    import thresher.engine.stages as stages
    import thresher.planner.physical as physical
    import thresher.planner.polars_plan as polars_plan
    from benchmarks.tpch.queries_df import QUERIES, tables
    from benchmarks.tpch.queries_polars import QUERIES as POLARS_QUERIES
    from benchmarks.tpch.queries_polars import tables as polars_tables
    from thresher.operators.expr_to_polars import clear_caches

    clock = time.perf_counter if wall else time.process_time
    acc: dict[str, float] = {}
    for mod, name, key in ((stages, "collect_lazy", "collect"), (physical, "_compile", "compile"),
                           (polars_plan, "build_lazy", "program")):
        setattr(mod, name, _timed(acc, key, getattr(mod, name), clock))
    t, tp = tables(root), polars_tables(root)
    junk = np.ones(8 << 20)

    def settle() -> None:
        if cold:
            junk[::8] += 1.0
            time.sleep(0.03)

    programs: dict[int, Any] = {}  # query -> its latest Polars program
    current = [0]
    keep = stages.collect_lazy

    def kept(lf: Any, *a: Any, **k: Any) -> Any:
        programs[current[0]] = lf
        return keep(lf, *a, **k)

    stages.collect_lazy = kept

    def thresher(q: int) -> dict[str, float]:
        clear_caches()  # as tpch_df's reset: the program is lowered from scratch every round
        acc.clear()
        current[0] = q
        c = clock()
        frame = QUERIES[q](t)
        built = clock() - c
        out = frame.to_arrow()
        e2e = clock() - c
        del out
        row = {"build": built, "e2e": e2e, **acc}
        row["rest"] = e2e - built - sum(acc.values())
        return row

    def polars(q: int) -> dict[str, float]:
        c = clock()
        lf = POLARS_QUERIES[q](tp)
        p = clock()
        out = lf.collect().to_arrow()
        done = clock()
        del out, lf
        return {"polars": done - c, "p_collect": done - p}

    def replay(q: int) -> dict[str, float]:
        lf = programs[q]  # this round's, or the last round's when the Thresher run goes after
        c = clock()
        out = lf.collect().to_arrow()
        done = clock()
        del out
        return {"replay": done - c}

    sides = {"thresher": thresher, "polars": polars, "replay": replay}
    got: dict[tuple[int, str], list[float]] = {}
    for r in range(rounds + 1):
        for q in queries:
            row: dict[str, float] = {}
            for side in _order(r):
                settle()
                row.update(sides[side](q))
            if r:
                for k, v in row.items():
                    got.setdefault((q, k), []).append(v * 1e3)
    stages.collect_lazy = keep
    return {q: {k: statistics.median(got.get((q, k), [0.0])) for k in _PHASES} for q in queries}


def table(result: dict[int, dict[str, float]]) -> str:
    head = "| query | " + " | ".join(_PHASES) + " | over | p_over | ratio |"
    lines = [head, "|" + "---|" * (len(_PHASES) + 4)]
    total = dict.fromkeys(_PHASES, 0.0)
    for q, m in result.items():
        for k in _PHASES:
            total[k] += m[k]
        cells = " | ".join(f"{m[k]:.2f}" for k in _PHASES)
        lines.append(f"| q{q} | {cells} | {m['e2e'] - m['collect']:.2f} | {m['polars'] - m['p_collect']:.2f} "
                     f"| {m['e2e'] / m['polars']:.3f} |")
    cells = " | ".join(f"{total[k]:.1f}" for k in _PHASES)
    lines.append(f"| sum | {cells} | {total['e2e'] - total['collect']:.1f} | {total['polars'] - total['p_collect']:.1f} "
                 f"| {total['e2e'] / total['polars']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--root", default=".data/tpch-sf1")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--queries", default="")
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--wall", action="store_true", help="wall milliseconds instead of process CPU")
    args = ap.parse_args(argv)
    queries = [int(x) for x in args.queries.split(",") if x] or list(range(1, 23))
    result = measure(args.root, queries, args.rounds, args.cold, args.wall)
    print(f"{'wall' if args.wall else 'CPU'} ms, median of {args.rounds} rounds ({'cold' if args.cold else 'warm'})")
    print(table(result))


if __name__ == "__main__":
    main()
