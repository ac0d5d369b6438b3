"""Prefix-cache hit rate and simulated throughput: naive vs sorted vs dynamic prefix bucketing.

Replays the workload shape (20,000 prompts x 512 tokens, 512 shared prefixes of 288 tokens,
8 replicas) through :mod:`thresher.udfs.ai.simulator` with the real schedulers. The per-replica
cache is calibrated so the naive policy hits ~26%; prompts arrive over ``--arrival-s`` simulated
seconds (the global sort is a barrier and must wait for the last one). Also sweeps the number of
prefixes (64, 512, 4,096) and compares every policy with the clairvoyant bound ("ideal":
:class:`~thresher.udfs.ai.simulator.OracleScheduler`), which shows how much of the throughput
change is the workload's (fewer prompts per prefix) and how much the policy's. Prints a table and writes
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
    ap.add_argument("--sweep", default="64,512,4096", help="prefix counts for the stability sweep ('' to skip)")
    ap.add_argument(
        "--prompts-per-prefix",
        type=int,
        default=0,
        help="sweep at this many prompts per prefix (prompts and arrival time scale with the prefix count) "
        "instead of a fixed prompt count; 39 matches the default 20,000 prompts / 512 prefixes",
    )
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "prefix_cache.json"))
    args = ap.parse_args()

    wl = Workload(num_prompts=args.prompts, num_prefixes=args.prefixes, arrival_s=args.arrival_s)
    cfg = SimConfig(replicas=args.replicas)
    t0 = time.perf_counter()
    blocks = calibrate_cache_blocks(wl, cfg, args.target_naive_hit, lo=256, hi=1 << 17)
    cfg = replace(cfg, cache_blocks=blocks)
    print(f"calibrated cache: {blocks} blocks/replica ({blocks * 16} tokens) in {time.perf_counter() - t0:.1f}s")

    policies = ("naive", "sorted", "bucketed", "ideal")
    res = compare(wl, cfg, policies)
    n, s, b, o = (res[p] for p in policies)
    print(f"\n{'policy':<10}{'hit rate':>10}{'makespan s':>12}{'prompts/s':>11}{'max buffered':>14}")
    for r in (n, s, b, o):
        print(f"{r.policy:<10}{r.hit_rate:>10.3f}{r.makespan_s:>12.2f}{r.throughput:>11.1f}{r.max_pending:>14}")
    print(
        f"ideal hit rate {wl.ideal_hit_rate():.3f}; bucketed/naive {b.throughput / n.throughput:.3f}x, "
        f"bucketed/sorted {b.throughput / s.throughput:.3f}x, bucketed/ideal {b.throughput / o.throughput:.3f}x"
    )

    # Stability over the number of distinct prefixes. "ideal" is the clairvoyant bound (whole input
    # at once, each prefix computed once on one replica, LPT-balanced): with a fixed number of
    # prompts, more prefixes means fewer prompts share each one, so even the bound loses throughput;
    # the policy is judged by how closely it tracks the bound.
    sweep = []
    counts = [int(x) for x in args.sweep.split(",") if x]
    if counts:
        print(f"\n{'':>9}{'hit rate':^34}{'prompts/s (simulated)':^42}{'bucketed vs':^22}")
        print(
            f"{'prefixes':>9}"
            + "".join(f"{p:>8}" for p in ("naive", "sorted", "bucket", "ideal"))
            + "  "
            + "".join(f"{p:>10}" for p in ("naive", "sorted", "bucketed", "ideal"))
            + f"{'naive':>8}{'sorted':>8}{'ideal':>8}"
        )
    for k in counts:
        w = replace(wl, num_prefixes=k)
        if args.prompts_per_prefix:
            n_k = k * args.prompts_per_prefix
            w = replace(w, num_prompts=n_k, arrival_s=wl.arrival_s * n_k / wl.num_prompts)
        rk = compare(w, cfg, policies)
        row = {
            "prefixes": k,
            "prompts": w.num_prompts,
            "ideal_hit_formula": w.ideal_hit_rate(),
            **{f"{p}_hit": rk[p].hit_rate for p in rk},
            **{f"{p}_throughput": rk[p].throughput for p in rk},
        }
        row["bucketed_vs_naive"] = row["bucketed_throughput"] / row["naive_throughput"]
        row["bucketed_vs_sorted"] = row["bucketed_throughput"] / row["sorted_throughput"]
        row["bucketed_vs_ideal"] = row["bucketed_throughput"] / row["ideal_throughput"]
        sweep.append(row)
        print(
            f"{k:>9}"
            + "".join(f"{row[p + '_hit']:>8.3f}" for p in policies)
            + "  "
            + "".join(f"{row[p + '_throughput']:>10.1f}" for p in policies)
            + f"{row['bucketed_vs_naive']:>8.2f}{row['bucketed_vs_sorted']:>8.2f}{row['bucketed_vs_ideal']:>8.3f}"
        )
    if len(sweep) > 1:
        lo, hi = sweep[0], sweep[-1]
        for p in ("bucketed", "ideal"):
            drop = 1 - hi[f"{p}_throughput"] / lo[f"{p}_throughput"]
            print(f"{p}: throughput {lo['prefixes']} -> {hi['prefixes']} prefixes changes by {-drop:+.1%}")
        track = [r["bucketed_vs_ideal"] for r in sweep]
        print(f"bucketed/ideal throughput over the sweep: {min(track):.3f} .. {max(track):.3f}")

    out = {
        "workload": asdict(wl),
        "config": asdict(cfg),
        "results": {p: r.to_dict() for p, r in res.items()},
        "ratios": {
            "bucketed_vs_naive": b.throughput / n.throughput,
            "bucketed_vs_sorted": b.throughput / s.throughput,
            "bucketed_minus_sorted_hit": b.hit_rate - s.hit_rate,
            "bucketed_vs_ideal": b.throughput / o.throughput,
        },
        "sweep": sweep,
        "sweep_prompts_per_prefix": args.prompts_per_prefix or None,
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str))
    print(json.dumps(out["ratios"], indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
