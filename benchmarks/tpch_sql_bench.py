"""The 22 TPC-H queries as SQL: ``th.sql`` vs DuckDB, Polars SQL (``pl.SQLContext``) and Daft SQL.

Same Parquet files (tpchgen-cli, SF 1 by default) and the same query texts for every engine. Each
engine runs in its own worker process (so a query that hangs or crashes is cut off at
``--timeout`` and the rest still run): one warm-up, then ``--repeat`` timed runs, best kept. The
Thresher time includes parsing and planning. Prints times, Thresher/peer ratios (below 1.0:
Thresher is faster) and geometric means over the queries both engines ran; checks each peer's row
count against DuckDB's; writes JSON.

    python benchmarks/tpch_sql_bench.py --scale 1
    python benchmarks/tpch_sql_bench.py --queries 1,3,9 --engines thresher,duckdb
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")
ENGINES = ("thresher", "duckdb", "polars", "daft")


def _runner(engine: str, root: Path) -> Callable[[str], int]:
    """A function that runs one SQL text on ``engine`` to completion and returns the row count."""
    if engine == "thresher":
        import thresher as th

        frames = {t: th.read_parquet(str(root / t)) for t in TABLES}
        return lambda q: th.sql(q, **frames).to_arrow().num_rows
    if engine == "duckdb":
        from benchmarks.tpch.dataframe_queries import duckdb_connection

        con = duckdb_connection(root)
        return lambda q: con.sql(q).to_arrow_table().num_rows
    if engine == "polars":
        import polars as pl

        ctx = pl.SQLContext({t: pl.scan_parquet(str(root / t / "*.parquet")) for t in TABLES})
        return lambda q: ctx.execute(q, eager=True).height
    if engine == "daft":
        import daft

        from benchmarks.tpch_df_bench import plain_string_copy

        # Daft 0.7 cannot read tpchgen's string_view columns; it reads a plain-string copy
        droot = plain_string_copy(root)
        dtabs = {t: daft.read_parquet(str(droot / t / "*.parquet")) for t in TABLES}
        return lambda q: daft.sql(q, **dtabs).to_arrow().num_rows
    raise ValueError(f"unknown engine {engine!r}; choose from {ENGINES}")


def _worker(engine: str, root: str, repeat: int, warmup: int, conn: Any) -> None:
    from benchmarks.tpch.sql_queries import QUERIES

    run = _runner(engine, Path(root))
    while True:
        q = conn.recv()
        if q is None:
            return
        try:
            for _ in range(warmup):
                run(QUERIES[q])
            best, rows = math.inf, -1
            for _ in range(repeat):
                t0 = time.perf_counter()
                rows = run(QUERIES[q])
                best = min(best, time.perf_counter() - t0)
            conn.send((best, rows, None))
        except Exception as exc:  # noqa: BLE001
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            conn.send((math.nan, -1, tb.replace(str(ROOT), ".")[:300]))  # no machine paths in results


class _Engine:
    """One engine's worker process; restarted after a timeout."""

    def __init__(self, name: str, root: Path, args: argparse.Namespace) -> None:
        self.name, self.root, self.args = name, root, args
        self.proc: Any = None

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(self.name, str(self.root), self.args.repeat,
                                                      self.args.warmup, child), daemon=True)
        self.proc.start()

    def run(self, q: int) -> tuple[float, int, str | None]:
        if self.proc is None or not self.proc.is_alive():
            self._start()
        self.conn.send(q)
        # the first query of a fresh worker also pays for imports and opening the files
        if self.conn.poll(self.args.timeout * (1 + self.args.warmup + self.args.repeat) + 60):
            try:
                return self.conn.recv()  # type: ignore[no-any-return]
            except EOFError:
                self.proc = None
                return math.nan, -1, "worker crashed"
        self.proc.kill()
        self.proc = None
        return math.nan, -1, f"timed out after {self.args.timeout:g}s"

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(10)


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else math.nan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per query (best kept)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs per query first")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per run before a query is cut off")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--skip", default="", help="comma-separated engines to leave out (duckdb,polars,daft)")
    ap.add_argument("--queries", default="", help="comma-separated query numbers (default: all 22)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "tpch_sql.json"))
    args = ap.parse_args()
    from conftest import generate_tpch  # type: ignore[import-not-found]

    root = generate_tpch(args.scale)
    queries = [int(q) for q in args.queries.split(",") if q] or list(range(1, 23))
    skip = set(filter(None, args.skip.split(",")))
    names = [e for e in args.engines.split(",") if e and e not in skip]
    if "thresher" not in names:
        names.insert(0, "thresher")
    engines = [_Engine(n, root, args) for n in names]
    secs: dict[str, dict[str, float]] = {n: {} for n in names}
    rows: dict[str, dict[str, int]] = {n: {} for n in names}
    errors: dict[str, dict[str, str]] = {n: {} for n in names}
    try:
        for q in queries:
            for e in engines:
                s, r, err = e.run(q)
                secs[e.name][f"q{q}"], rows[e.name][f"q{q}"] = s, r
                if err:
                    errors[e.name][f"q{q}"] = err
                    print(f"  {e.name} q{q}: {err}", flush=True)
            print(f"q{q}: " + "  ".join(f"{n} {secs[n][f'q{q}']:.3f}s" for n in names), flush=True)
    finally:
        for e in engines:
            e.close()
    if "duckdb" in names:  # a peer that returns a different row count than DuckDB is flagged
        for n in names:
            for q, r in rows[n].items():
                ref = rows["duckdb"].get(q, -1)
                if r >= 0 and ref >= 0 and r != ref:
                    errors[n][q] = f"{r} rows, DuckDB has {ref}"

    peers = [n for n in names if n != "thresher"]
    print(f"\nTPC-H SF {args.scale:g} via SQL, best of {args.repeat} after {args.warmup} warm-up "
          "(seconds; ratio = thresher / peer, < 1 is faster; '-' = failed)")
    print(f"{'query':<6}{'thresher':>10}" + "".join(f"{p:>10}{'ratio':>8}" for p in peers))
    for q in queries:
        k = f"q{q}"
        row = f"{k:<6}{secs['thresher'][k]:>10.3f}"
        for p in peers:
            s, t = secs[p][k], secs["thresher"][k]
            row += f"{s:>10.3f}{t / s:>8.2f}" if s == s and t == t else f"{s:>10.3f}{'-':>8}"
        print(row)
    geo: dict[str, float] = {}
    geo_n: dict[str, int] = {}
    for p in peers:
        both = [k for k in secs[p] if secs[p][k] == secs[p][k] and secs["thresher"][k] == secs["thresher"][k]]
        geo[p], geo_n[p] = geomean([secs["thresher"][k] / secs[p][k] for k in both]), len(both)
    abs_geo = {n: geomean([s for s in secs[n].values() if s == s]) for n in names}
    print("geomean ratio (thresher / peer, over queries both ran): "
          + "  ".join(f"{p}: {geo[p]:.2f} ({geo_n[p]} q)" for p in peers))
    print("geomean seconds (over the queries each engine ran): "
          + "  ".join(f"{n}: {abs_geo[n]:.3f} ({sum(1 for s in secs[n].values() if s == s)} q)" for n in names))
    for n in names:
        if errors[n]:
            print(f"{n} failures: " + "; ".join(f"{q}: {m}" for q, m in errors[n].items()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "scale": args.scale, "repeat": args.repeat, "warmup": args.warmup, "seconds": secs,
        "rows": rows, "errors": errors, "geomean_ratio": geo, "geomean_queries": geo_n,
        "geomean_seconds": abs_geo,
    }, indent=2, default=lambda x: None))


if __name__ == "__main__":
    main()
