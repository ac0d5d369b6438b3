"""All 22 TPC-H queries through th.sql vs DuckDB, Polars SQL and Daft SQL on the same files.

    python benchmarks/tpch_sql_bench.py --scale 1
"""

from __future__ import annotations

import argparse
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

import thresher as th  # noqa: E402
from benchmarks.tpch.dataframe_queries import duckdb_connection, tables  # noqa: E402
from benchmarks.tpch.sql_queries import QUERIES  # noqa: E402
from benchmarks.tpch_df_bench import plain_string_copy  # noqa: E402

NAMES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")


def timed(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip", default="")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "tpch_sql.json"))
    args = ap.parse_args()
    from conftest import generate_tpch  # type: ignore[import-not-found]

    root = generate_tpch(args.scale)
    skip = set(filter(None, args.skip.split(",")))
    t = tables(root)
    engines: dict[str, Callable[[int], Any]] = {"thresher": lambda q: th.sql(QUERIES[q], **t).to_arrow()}
    if "duckdb" not in skip:
        con = duckdb_connection(root)
        engines["duckdb"] = lambda q: con.sql(QUERIES[q]).to_arrow_table()
    if "polars" not in skip:
        ctx = pl.SQLContext({n: pl.scan_parquet(str(root / n / "*.parquet")) for n in NAMES})
        engines["polars"] = lambda q: ctx.execute(QUERIES[q]).collect()
    if "daft" not in skip:
        try:
            import daft

            droot = plain_string_copy(root)  # Daft cannot read string_view columns
            dt = {n: daft.read_parquet(str(droot / n / "*.parquet")) for n in NAMES}
            engines["daft"] = lambda q: daft.sql(QUERIES[q], **dt).to_arrow()
        except Exception as exc:  # noqa: BLE001
            print(f"daft unavailable: {exc}")
    res: dict[str, dict[int, float]] = {e: {} for e in engines}
    for q in sorted(QUERIES):
        for e, run in engines.items():
            try:
                res[e][q] = timed(lambda run=run, q=q: run(q), args.repeat)
            except Exception as exc:  # noqa: BLE001
                res[e][q] = float("nan")
                print(f"{e} q{q} failed: {str(exc).splitlines()[0][:100]}")
    peers = [e for e in engines if e != "thresher"]
    print(f"\nTPC-H SF {args.scale:g} via SQL, best of {args.repeat} (s; ratio = thresher/peer, < 1 is faster)")
    print(f"{'q':<4}{'thresher':>10}" + "".join(f"{p:>10}{'ratio':>8}" for p in peers))
    for q in sorted(QUERIES):
        line = f"q{q:<3}{res['thresher'][q]:>10.3f}"
        for p in peers:
            line += f"{res[p][q]:>10.3f}{res['thresher'][q] / res[p][q]:>8.2f}"
        print(line)
    geo = {}
    for p in peers:
        rs = [res["thresher"][q] / res[p][q] for q in QUERIES if res[p][q] == res[p][q] and res["thresher"][q] == res["thresher"][q]]
        geo[p] = math.exp(sum(map(math.log, rs)) / len(rs)) if rs else float("nan")
        print(f"geomean vs {p}: {geo[p]:.2f} over {len(rs)} queries")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"scale": args.scale, "seconds": {e: {str(k): v for k, v in d.items()} for e, d in res.items()},
                                          "geomean_ratio": geo}, indent=2))


if __name__ == "__main__":
    main()
