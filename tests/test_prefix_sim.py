"""The independent prefix-cache simulator (benchmarks/prefix_sim.py) keeps its own invariants."""

from __future__ import annotations

from dataclasses import replace

import pytest
from benchmarks.prefix_sim import POLICIES, Replica, Shape, make_prompts, simulate

SMALL = Shape(prompts=600, prefixes=24, replicas=3, prefix_tokens=96, suffix_tokens=48, new_tokens=8,
              arrival_s=0.2, cache_blocks=100, max_running=8)


@pytest.mark.parametrize("policy", POLICIES)
def test_every_prompt_runs_once(policy: str) -> None:
    r = simulate(SMALL, policy)
    assert sum(r["per_replica"]) == SMALL.prompts
    assert 0.0 <= r["hit_rate"] < 1.0 and r["throughput"] > 0


def test_the_cache_never_holds_more_than_its_blocks() -> None:
    s = SMALL
    rep = Replica(s)
    for p in make_prompts(s)[:200]:
        if rep.try_admit(p) is None:
            rep.step(0)
        assert rep.used() <= s.cache_blocks
    assert rep.hit_tokens > 0


def test_grouping_by_prefix_beats_arrival_order_when_the_cache_is_small() -> None:
    prompts = make_prompts(SMALL)
    naive = simulate(SMALL, "naive", prompts)
    bound = simulate(SMALL, "bound", prompts)
    router = simulate(SMALL, "router", prompts)
    assert bound["hit_rate"] > naive["hit_rate"] + 0.2
    assert router["hit_rate"] > naive["hit_rate"] + 0.2
    # with a cache big enough for every prefix, order barely matters: naive only misses each
    # replica's first sight of a prefix (3 replicas x 24 prefixes of 600 prompts)
    big = replace(SMALL, cache_blocks=5000)
    assert 0 <= simulate(big, "bound")["hit_rate"] - simulate(big, "naive")["hit_rate"] < 0.08
