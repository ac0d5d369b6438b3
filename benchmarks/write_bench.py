"""Write throughput: the same 1M-row frame to Parquet, Iceberg and Lance.

Thresher's sinks (two-phase: write the partition files, then one idempotent commit) against
``pyarrow.parquet.write_table``, Daft's ``write_parquet``/``write_iceberg``/``write_lance`` and Ray
Data's ``write_parquet`` (when installed). Prints rows/s, MB/s and the ratio to the fastest peer on
the same format; writes JSON to ``benchmarks/results/write.json``.

Run: ``python benchmarks/write_bench.py [--rows 1000000] [--partitions 8] [--repeat 3] [--ray]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def make_frame(rows: int, dim: int = 16, seed: int = 0) -> pa.Table:
    """int64 id, int32 year, float64 value, a short string and a float32 embedding (fixed list)."""
    rng = np.random.default_rng(seed)
    vec = rng.standard_normal((rows, dim), dtype=np.float32)
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "year": pa.array((1990 + rng.integers(0, 30, rows)).astype(np.int32)),
            "value": pa.array(rng.standard_normal(rows)),
            "name": pa.array([f"name-{i % 10007}" for i in range(rows)], pa.large_string()),
            "emb": pa.FixedSizeListArray.from_arrays(pa.array(vec.reshape(-1)), dim),
        }
    )


def _dir_bytes(path: str) -> int:
    total = 0
    for dp, _, fn in os.walk(path):
        total += sum(os.path.getsize(os.path.join(dp, f)) for f in fn)
    return total


def _slices(t: pa.Table, parts: int) -> list[pa.Table]:
    step = -(-t.num_rows // parts)
    return [t.slice(i, step) for i in range(0, t.num_rows, step)]


# ---- Thresher -------------------------------------------------------------------------------


def thresher_parquet(t: pa.Table, out: str, parts: int) -> None:
    from thresher.io.files_sink import ParquetSink

    sink = ParquetSink(out)
    sink.commit("bench", [sink.write(f"p{i}", s.to_batches(), t.schema) for i, s in enumerate(_slices(t, parts))])


def thresher_iceberg(t: pa.Table, out: str, parts: int) -> None:
    from thresher.io.iceberg import IcebergSink, default_catalog

    sink = IcebergSink("bench.t", default_catalog(out))
    sink.commit("bench", [sink.write(f"p{i}", s.to_batches(), t.schema) for i, s in enumerate(_slices(t, parts))])


def thresher_lance(t: pa.Table, out: str, parts: int) -> None:
    from thresher.io.lance import LanceSink

    uri = os.path.join(out, "t.lance")
    sink = LanceSink(uri)
    sink.commit("bench", [sink.write(f"p{i}", s.to_batches(), t.schema) for i, s in enumerate(_slices(t, parts))])


# ---- peers ----------------------------------------------------------------------------------


def pyarrow_parquet(t: pa.Table, out: str, parts: int) -> None:
    os.makedirs(out, exist_ok=True)
    pq.write_table(t, os.path.join(out, "data.parquet"))


def pyiceberg_append(t: pa.Table, out: str, parts: int) -> None:
    from thresher.io.iceberg import default_catalog

    cat = default_catalog(out)
    cat.create_namespace_if_not_exists("bench")
    tbl = cat.create_table("bench.t", schema=t.schema)
    tbl.append(t)


def lance_write_dataset(t: pa.Table, out: str, parts: int) -> None:
    import lance

    lance.write_dataset(t, os.path.join(out, "t.lance"))


def daft_parquet(t: pa.Table, out: str, parts: int) -> None:
    import daft

    daft.from_arrow(t).write_parquet(out)


def daft_iceberg(t: pa.Table, out: str, parts: int) -> None:
    import daft

    from thresher.io.iceberg import default_catalog

    cat = default_catalog(out)
    cat.create_namespace_if_not_exists("bench")
    tbl = cat.create_table("bench.t", schema=t.schema)
    daft.from_arrow(t).write_iceberg(tbl)


def daft_lance(t: pa.Table, out: str, parts: int) -> None:
    import daft

    daft.from_arrow(t).write_lance(os.path.join(out, "t.lance"))


def ray_parquet(t: pa.Table, out: str, parts: int) -> None:
    import ray

    ray.data.from_arrow(t).repartition(parts).write_parquet(out)


# ---- runner ---------------------------------------------------------------------------------

CASES: list[tuple[str, str, Callable[[pa.Table, str, int], None]]] = [
    ("parquet", "thresher", thresher_parquet),
    ("parquet", "pyarrow.write_table", pyarrow_parquet),
    ("parquet", "daft", daft_parquet),
    ("iceberg", "thresher", thresher_iceberg),
    ("iceberg", "pyiceberg.append", pyiceberg_append),
    ("iceberg", "daft", daft_iceberg),
    ("lance", "thresher", thresher_lance),
    ("lance", "lance.write_dataset", lance_write_dataset),
    ("lance", "daft", daft_lance),
]


def run_case(fn: Callable[[pa.Table, str, int], None], t: pa.Table, parts: int, repeat: int) -> dict[str, Any]:
    times, size = [], 0
    for _ in range(repeat):
        out = tempfile.mkdtemp(prefix="thresher-wbench-")
        try:
            t0 = time.perf_counter()
            fn(t, out, parts)
            times.append(time.perf_counter() - t0)
            size = _dir_bytes(out)
        finally:
            shutil.rmtree(out, ignore_errors=True)
    best = min(times)
    return {
        "seconds": best,
        "seconds_median": statistics.median(times),
        "rows_per_s": t.num_rows / best,
        "in_mb_per_s": t.nbytes / 1e6 / best,
        "out_mb": size / 1e6,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ray", action="store_true", help="include Ray Data (adds ~5 s of start-up)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "write.json"))
    args = ap.parse_args(argv)

    import thresher.datatypes  # noqa: F401  (registers extension types)

    t = make_frame(args.rows)
    cases = list(CASES)
    if args.ray:
        import ray

        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        cases.append(("parquet", "ray.data", ray_parquet))
    results: list[dict[str, Any]] = []
    for fmt, who, fn in cases:
        try:
            fn(t.slice(0, 1000), tempfile.mkdtemp(prefix="thresher-warm-"), 1)  # warm imports
            r = run_case(fn, t, args.partitions, args.repeat)
            r.update(format=fmt, writer=who)
        except Exception as e:  # a peer that is missing or fails is reported, not fatal
            r = {"format": fmt, "writer": who, "error": f"{type(e).__name__}: {e}"[:200]}
        results.append(r)
        print(f"  {fmt:8s} {who:22s} {r.get('seconds', float('nan')):.3f}s {r.get('error', '')}", flush=True)

    print(f"\nWrite throughput, {args.rows:,} rows ({t.nbytes / 1e6:.0f} MB in memory), {args.partitions} partitions")
    print(f"{'format':8s} {'writer':22s} {'s':>7s} {'Mrows/s':>8s} {'MB/s':>7s} {'out MB':>7s} {'thresher/x':>10s}")
    for fmt in ("parquet", "iceberg", "lance"):
        ours = next((r for r in results if r["format"] == fmt and r["writer"] == "thresher" and "seconds" in r), None)
        for r in results:
            if r["format"] != fmt:
                continue
            if "error" in r:
                print(f"{fmt:8s} {r['writer']:22s} failed: {r['error']}")
                continue
            ratio = r["seconds"] / ours["seconds"] if ours else float("nan")
            r["thresher_speedup"] = ratio
            print(
                f"{fmt:8s} {r['writer']:22s} {r['seconds']:7.3f} {r['rows_per_s'] / 1e6:8.2f} "
                f"{r['in_mb_per_s']:7.0f} {r['out_mb']:7.1f} {ratio:10.2f}"
            )
    print("(thresher/x > 1: Thresher's sink is that many times faster than writer x)")
    report = {
        "benchmark": "write",
        "rows": args.rows,
        "in_memory_mb": t.nbytes / 1e6,
        "partitions": args.partitions,
        "repeat": args.repeat,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "pyarrow": pa.__version__},
        "results": results,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    return report


if __name__ == "__main__":
    main()
