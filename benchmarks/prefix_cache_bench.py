"""Prompt scheduling on the independent prefix-cache simulator: a sweep, simulated prompts/s.

Runs ``benchmarks/prefix_sim.py`` (a block-level LRU cache per replica with pinning, continuous
batching, an arrival process; it uses only Thresher's public scheduling API) for every policy on
every point of the sweep: the talk's shape (20,000 prompts of 288 shared + ~224 own tokens, 512
prefixes, 8 replicas, arrivals over 38 s; an 8B model on an L4 per replica, every cost-model
parameter and its source in the simulator's docstring) and one change at a time of cache size, replica count,
prefix count, Zipf skew, arrival order and window, and prompt lengths. Engines are the policies:
``naive``, ``sorted`` (a barrier, then contiguous prefix-sorted runs), ``simple_router`` (the
baseline "bucket by prefix + least-loaded replica", written in the simulator), Thresher's online
router (``thresher_router``; ``thresher_router_batchwise`` as the ``vllm`` provider calls it, a
whole batch at a time) and its offline ``schedule_prompts`` replayed strictly against
arrivals, and ``bound`` (perfect hit rate, balance and batching: no schedule can exceed it).

These are counts from a deterministic simulator, not wall times (one round; the "median s"
column is only how long the simulation took). The check: every policy completes every prompt.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.harness import Bench, Engine

POLICIES = ("naive", "sorted", "simple_router", "thresher_router", "thresher_router_batchwise", "schedule_prompts",
            "bound")
_SHAPE_KEYS = ("prompts", "prefixes", "replicas", "cache_blocks", "arrival_s")


def _base(p: dict[str, Any]) -> Any:
    from benchmarks.prefix_sim import Shape

    return Shape(**{k: p[k] for k in _SHAPE_KEYS if k in p})


def cases(p: dict[str, Any]) -> list[str]:
    from benchmarks.prefix_sim import sweep_points

    names = list(sweep_points(_base(p)))
    only = p.get("points")
    return [n for n in names if not only or n in only]


def _start(p: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.prefix_sim import sweep_points

    return {"points": sweep_points(_base(p))}


def _policy(name: str) -> Any:
    def run(state: dict[str, Any], case: str) -> Any:
        from benchmarks.prefix_sim import simulate

        return simulate(state["points"][case], name)

    return run


def _check(state: dict[str, Any], case: str, r: dict[str, Any]) -> dict[str, Any]:
    return {"completed": r["completed"]}


def _metrics(state: dict[str, Any], case: str, r: dict[str, Any]) -> dict[str, Any]:
    return {"sim_prompts_per_s": r["throughput"], "hit_rate": r["hit_rate"], "batch_fill": r["batch_fill"]}


def summary(result: dict[str, Any]) -> str:
    """Worst / median ratio of Thresher's two policies vs each reference over the sweep points."""
    tput: dict[str, dict[str, float]] = {}
    for row in result["rows"]:
        v = row.get("value")
        if row["status"] == "ok" and v:
            tput.setdefault(row["case"], {})[row["engine"]] = v
    lines = ["Throughput ratios over the sweep points (each point changes one thing of `base`, the talk's shape):",
             "", "| policy / reference | base | worst | median | best | worst point |", "|---|---|---|---|---|---|"]
    for p in ("thresher_router", "thresher_router_batchwise", "schedule_prompts"):
        for ref in ("naive", "sorted", "simple_router", "bound"):
            xs = {c: t[p] / t[ref] for c, t in tput.items() if t.get(p) and t.get(ref)}
            if not xs:
                continue
            worst = min(xs, key=xs.__getitem__)
            base = f"{xs['base']:.3f}" if "base" in xs else "-"
            lines.append(f"| {p} / {ref} | {base} | {xs[worst]:.3f} | {statistics.median(xs.values()):.3f} | "
                         f"{max(xs.values()):.3f} | {worst} |")
    above = [(c, e) for c, t in tput.items() for e, v in t.items() if t.get("bound") and v > t["bound"] * (1 + 1e-9)]
    lines += ["", "No policy exceeds the bound at any point." if not above
              else f"**Bound violated** at {above} (the bound or the simulator is wrong)."]
    return "\n".join(lines)


BENCH = Bench(
    name="prefix_cache",
    title="Prompt scheduling on the prefix-cache simulator (simulated prompts/s)",
    engines=tuple(Engine(p, _start, _policy(p), _check, metrics=_metrics, requires=("thresher",))
                  for p in POLICIES),
    reference="naive",
    baseline="naive",
    units="prompts",
    # quick: a fifth of the prompts and a quarter of the prefixes (cache: a full batch plus ~40% of them)
    quick={"prompts": 4000, "prefixes": 128, "cache_blocks": 6600, "arrival_s": 7.6, "rounds": 1, "warmup": 0},
    full={"prompts": 20000, "prefixes": 512, "cache_blocks": 9500, "arrival_s": 38.0, "rounds": 1, "warmup": 0},
    cases=cases,
    count=lambda p: p["prompts"],
    primary="sim_prompts_per_s",
    higher_is_better=True,
    summary=summary,
    timeout_s=1800.0,
    notes=f"Deterministic simulation ({Path(__file__).with_name('prefix_sim.py').name}): one round; "
    "ratio = policy / naive simulated throughput; hit_rate = prompt tokens served from the prefix cache; "
    "batch_fill = mean running prompts per step / max_running.",
)
