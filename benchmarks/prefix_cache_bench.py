"""Prefix-cache hit rate and simulated throughput: naive vs sorted vs dynamic prefix bucketing.

Replays the talk's workload shape (20,000 prompts x 512 tokens, 512 shared prefixes of 288
tokens, 8 replicas) through :mod:`thresher.udfs.ai.simulator` with the real schedulers; the
per-replica cache is calibrated (by the driver, once) so the naive policy hits ~26%; prompts
arrive over ``arrival_s`` simulated seconds. ``ideal`` is the clairvoyant bound (the whole input
at once, each prefix computed once on one replica, LPT-balanced). These are counts from a
deterministic simulator, not wall times: the primary value is simulated prompts/s (higher is
better) and the ratio is policy / naive. The check: every policy completes every prompt.

Caveat: this simulator ships with the scheduler it judges; an independent block-level simulator
is the right yardstick (see issue 19), and the sweep over cache size, replicas, skew and arrival
order is still to be added here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness import Bench, Engine

POLICIES = ("naive", "sorted", "bucketed", "ideal")


def _workload(p: dict[str, Any]) -> Any:
    from thresher.udfs.ai.simulator import Workload

    return Workload(num_prompts=p["prompts"], num_prefixes=p["prefixes"], arrival_s=p["arrival_s"])


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    from thresher.udfs.ai.simulator import SimConfig, calibrate_cache_blocks

    blocks = calibrate_cache_blocks(_workload(p), SimConfig(replicas=p["replicas"]), p["target_naive_hit"],
                                    lo=256, hi=1 << 17)
    return {"cache_blocks": blocks}


def _start(p: dict[str, Any]) -> dict[str, Any]:
    from thresher.udfs.ai.simulator import SimConfig

    return {"wl": _workload(p), "cfg": SimConfig(replicas=p["replicas"], cache_blocks=p["cache_blocks"])}


def _policy(name: str) -> Any:
    def run(state: dict[str, Any], case: str) -> Any:
        from thresher.udfs.ai.simulator import compare

        return compare(state["wl"], state["cfg"], (name,))[name]

    return run


def _check(state: dict[str, Any], case: str, r: Any) -> dict[str, Any]:
    return {"completed": r.completed}


def _metrics(state: dict[str, Any], case: str, r: Any) -> dict[str, Any]:
    return {"sim_prompts_per_s": r.throughput, "hit_rate": r.hit_rate, "max_pending": r.max_pending}


BENCH = Bench(
    name="prefix_cache",
    title="Prompt scheduling on the prefix-cache simulator (simulated prompts/s)",
    engines=tuple(Engine(p, _start, _policy(p), _check, metrics=_metrics, requires=("thresher",))
                  for p in POLICIES),
    reference="naive",
    baseline="naive",
    units="prompts",
    quick={"prompts": 4000, "prefixes": 128, "replicas": 8, "arrival_s": 0.5, "target_naive_hit": 0.26,
           "rounds": 1, "warmup": 0},
    full={"prompts": 20000, "prefixes": 512, "replicas": 8, "arrival_s": 2.5, "target_naive_hit": 0.26,
          "rounds": 1, "warmup": 0},
    prepare=prepare,
    count=lambda p: p["prompts"],
    primary="sim_prompts_per_s",
    higher_is_better=True,
    notes="Deterministic simulation: one round; ratio = policy / naive simulated throughput.",
)
