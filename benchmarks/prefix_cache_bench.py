"""Prefix-cache hit rate and simulated throughput: naive vs sorted vs dynamic prefix bucketing.

Replays the workload shape (20,000 prompts x 512 tokens, 512 shared prefixes of 288 tokens,
8 replicas) through :mod:`thresher.udfs.ai.simulator` with the real schedulers. The per-replica
cache is calibrated so the naive policy hits ~26%; prompts arrive over ``--arrival-s`` simulated
seconds (the global sort is a barrier and must wait for the last one). Also sweeps the number of
prefixes (64 ... 4,096) to check the gain is stable. Prints a table and writes
``benchmarks/results/prefix_cache.json``.

    python benchmarks/prefix_cache_bench.py            # full size, ~1 min
    python benchmarks/prefix_cache_bench.py --prompts 4000 --prefixes 128
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

from thresher.udfs.ai.simulator import SimConfig, Workload, calibrate_cache_blocks, compare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=20_000)
    ap.add_argument("--prefixes", type=int, default=512)
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--arrival-s", type=float, default=2.5)
    ap.add_argument("--target-naive-hit", type=float, default=0.26)
    ap.add_argument(
        "--sweep", default="64,256,512,1024,4096", help="prefix counts for the stability sweep ('' to skip)"
    )
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "prefix_cache.json"))
    args = ap.parse_args()

    wl = Workload(num_prompts=args.prompts, num_prefixes=args.prefixes, arrival_s=args.arrival_s)
    cfg = SimConfig(replicas=args.replicas)
    t0 = time.perf_counter()
    blocks = calibrate_cache_blocks(wl, cfg, args.target_naive_hit, lo=256, hi=1 << 17)
    cfg = replace(cfg, cache_blocks=blocks)
    print(f"calibrated cache: {blocks} blocks/replica ({blocks * 16} tokens) in {time.perf_counter() - t0:.1f}s")

    res = compare(wl, cfg)
    n, s, b = res["naive"], res["sorted"], res["bucketed"]
    print(f"\n{'policy':<10}{'hit rate':>10}{'makespan s':>12}{'prompts/s':>11}{'max buffered':>14}")
    for r in (n, s, b):
        print(f"{r.policy:<10}{r.hit_rate:>10.3f}{r.makespan_s:>12.2f}{r.throughput:>11.1f}{r.max_pending:>14}")
    print(
        f"ideal hit rate {wl.ideal_hit_rate():.3f}; bucketed/naive {b.throughput / n.throughput:.3f}x, "
        f"bucketed/sorted {b.throughput / s.throughput:.3f}x"
    )

    sweep = []
    counts = [int(x) for x in args.sweep.split(",") if x]
    if counts:
        print(
            f"\n{'prefixes':>9}{'ideal':>8}{'naive':>8}{'sorted':>8}{'bucketed':>10}{'b/ideal':>9}{'b/n':>7}{'b/s':>7}"
        )
    for k in counts:
        w = replace(wl, num_prefixes=k)
        rk = compare(w, cfg)
        row = {
            "prefixes": k,
            "ideal_hit": w.ideal_hit_rate(),
            **{f"{p}_hit": rk[p].hit_rate for p in rk},
            **{f"{p}_throughput": rk[p].throughput for p in rk},
        }
        row["bucketed_vs_ideal_hit"] = row["bucketed_hit"] / row["ideal_hit"]
        row["bucketed_vs_naive"] = row["bucketed_throughput"] / row["naive_throughput"]
        row["bucketed_vs_sorted"] = row["bucketed_throughput"] / row["sorted_throughput"]
        sweep.append(row)
        print(
            f"{k:>9}{row['ideal_hit']:>8.3f}{row['naive_hit']:>8.3f}{row['sorted_hit']:>8.3f}"
            f"{row['bucketed_hit']:>10.3f}{row['bucketed_vs_ideal_hit']:>9.3f}"
            f"{row['bucketed_vs_naive']:>7.2f}{row['bucketed_vs_sorted']:>7.2f}"
        )

    out = {
        "workload": asdict(wl),
        "config": asdict(cfg),
        "results": {p: r.to_dict() for p, r in res.items()},
        "ratios": {
            "bucketed_vs_naive": b.throughput / n.throughput,
            "bucketed_vs_sorted": b.throughput / s.throughput,
            "bucketed_minus_sorted_hit": b.hit_rate - s.hit_rate,
        },
        "sweep": sweep,
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str))
    print(json.dumps(out["ratios"], indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
