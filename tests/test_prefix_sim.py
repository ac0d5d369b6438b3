"""The independent prefix-cache simulator (benchmarks/prefix_sim.py): hand-computed cases, its own
invariants, the bound, and the scheduler never below the sorted baseline on a small sweep.

Every number here is a deterministic simulated count (no wall time).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from benchmarks.prefix_sim import (
    POLICIES,
    Prompt,
    Replica,
    Shape,
    make_prompts,
    simulate,
    summarize,
    sweep_points,
)

SMALL = Shape(prompts=600, prefixes=24, replicas=3, prefix_tokens=96, suffix_tokens=48, new_tokens=8,
              arrival_s=2.0, cache_blocks=100, max_running=8)

# one replica, two slots, two prompts of one 32-token prefix and a 16-token suffix each, new_tokens=2
TINY = Shape(prompts=2, prefixes=1, replicas=1, prefix_tokens=32, suffix_tokens=16, new_tokens=2, arrival_s=0.0,
             cache_blocks=100, max_running=2, step_s=1.0, prefill_s=0.01, decode_s=0.1)


def test_a_tiny_case_computed_by_hand() -> None:
    prompts = [Prompt(0, 0, 1, 0.0), Prompt(1, 0, 1, 0.0)]
    # step 1 admits both: the first computes its 2 prefix blocks and its suffix (48 tokens); the
    # second finds the prefix pinned by the first (a hit) and computes its suffix only (16):
    # 1 + 0.01 * 64 + 0.1 * 2 = 1.84 s; step 2 decodes both: 1 + 0.1 * 2 = 1.2 s; both leave.
    r = simulate(TINY, "naive", prompts)
    assert r["completed"] == 2 and r["makespan_s"] == pytest.approx(3.04)
    assert r["throughput"] == pytest.approx(2 / 3.04)
    assert r["hit_rate"] == pytest.approx(32 / 96)
    # the bound: ceil(2 prompts * 2 steps / 2 slots) = 2 steps, 4 prompt-steps of decode, 64 uncached
    # tokens (both suffixes, the prefix once) -> the same 3.04 s: this schedule is optimal
    b = simulate(TINY, "bound", prompts)
    assert b["makespan_s"] == pytest.approx(3.04)
    # one slot: the second prompt waits 2 steps, then hits the cached prefix
    one = replace(TINY, max_running=1)
    r1 = simulate(one, "naive", prompts)
    assert r1["makespan_s"] == pytest.approx((1 + 0.48 + 0.1) + 1.1 + (1 + 0.16 + 0.1) + 1.1)
    assert r1["hit_rate"] == pytest.approx(32 / 96)


def test_a_small_cache_evicts_least_recently_used_prefix_blocks() -> None:
    # 5 blocks: a prompt needs 2 prefix + 1 suffix + 1 output block; two prefixes do not both stay
    s = replace(TINY, cache_blocks=5, max_running=1, prefixes=2)
    prompts = [Prompt(0, 0, 1, 0.0), Prompt(1, 1, 1, 0.0), Prompt(2, 0, 1, 0.0)]
    r = simulate(s, "naive", prompts)
    # prefix 1 needs one of prefix 0's two cached blocks: the tail one goes (vLLM frees a finished
    # prompt's blocks last first, so a prefix is evicted from its end), and the third prompt still
    # hits prefix 0's first block: 16 of the 3 x 48 prompt tokens
    assert r["hit_rate"] == pytest.approx(16 / 144)
    s9 = replace(s, cache_blocks=9)
    assert simulate(s9, "naive", prompts)["hit_rate"] == pytest.approx(32 / 144)


@pytest.mark.parametrize("policy", POLICIES)
def test_every_prompt_runs_once(policy: str) -> None:
    r = simulate(SMALL, policy)
    assert r["completed"] == SMALL.prompts
    if policy != "bound":
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


@pytest.mark.parametrize("arrival", ["random", "sorted", "bursty"])
def test_arrival_orders_keep_the_workload(arrival: str) -> None:
    base = make_prompts(SMALL)
    ps = make_prompts(replace(SMALL, arrival=arrival))
    assert [p.pid for p in ps] == list(range(SMALL.prompts))
    assert all(a.arrive <= b.arrive for a, b in zip(ps, ps[1:]))
    assert sorted(p.prefix for p in ps) == sorted(p.prefix for p in base)
    if arrival == "sorted":
        assert [p.prefix for p in ps] == sorted(p.prefix for p in ps)


def test_grouping_by_prefix_beats_arrival_order_when_the_cache_is_small() -> None:
    prompts = make_prompts(SMALL)
    naive = simulate(SMALL, "naive", prompts)
    for policy in ("sorted", "simple_router", "thresher_router", "schedule_prompts"):
        assert simulate(SMALL, policy, prompts)["hit_rate"] > naive["hit_rate"] + 0.2, policy
    # with a cache big enough for every prefix, order barely matters
    big = replace(SMALL, cache_blocks=5000)
    assert 0 <= simulate(big, "sorted")["hit_rate"] - simulate(big, "naive")["hit_rate"] < 0.08


@pytest.mark.slow
def test_the_scheduler_is_never_below_sorted_and_the_bound_holds_on_a_small_sweep() -> None:
    rows = {}
    for name, s in sweep_points(SMALL).items():
        prompts = make_prompts(s)
        rows[name] = {p: simulate(s, p, prompts)["throughput"] for p in POLICIES}
    summary = summarize(rows)
    for p in ("thresher_router", "schedule_prompts"):
        assert summary[f"{p} / bound"]["best"] <= 1.0 + 1e-9  # nothing beats the bound, Zipf skew included
        vs_sorted = {k: v[p] / v["sorted"] for k, v in rows.items()}
        assert all(x >= _floor(k) for k, x in vs_sorted.items()), vs_sorted
        assert summary[f"{p} / naive"]["median"] > 1.0
        # against the simple router (bucket by prefix + least-loaded replica, written in the
        # simulator): about as good at the median, within 2.5% at its worst point. This small
        # shape is step-bound (8 slots, 8 output tokens), where filling every slot matters more
        # than evening out the replicas' work, which the router (never told that the input
        # ended) does all along -- and which wins at the talk's shape (+3.4% over the simple
        # router there). Measured: router median 1.001, worst 0.991; schedule_prompts 0.999, 0.977.
        vs_simple = {k: v[p] / v["simple_router"] for k, v in rows.items()}
        assert summary[f"{p} / simple_router"]["median"] >= 0.995 and min(vs_simple.values()) >= 0.975, vs_simple
    assert all(r[p] <= r["bound"] * (1 + 1e-9) for r in rows.values() for p in POLICIES)


def test_the_scheduler_is_never_below_sorted_on_skew_and_arrival_points() -> None:
    pts = sweep_points(SMALL)
    for name in ("base", "zipf=1.2", "arrival=bursty", "arrival_s=0", "replicas=2"):
        s = pts[name]
        prompts = make_prompts(s)
        res = {p: simulate(s, p, prompts)["throughput"] for p in ("sorted", "thresher_router", "bound")}
        assert res["sorted"] * _floor(name) <= res["thresher_router"] <= res["bound"] * (1 + 1e-9), (name, res)


def _quick() -> Shape:
    """The benchmark's quick shape (``python -m benchmarks prefix_cache --quick``)."""
    from benchmarks.prefix_cache_bench import BENCH, _base

    s: Shape = _base(BENCH.quick)
    return s


def test_schedule_prompts_is_not_below_sorted_where_the_kv_cache_limits_the_batch() -> None:
    """Long prompts (the quick shape's ``suffix=896`` point): about 100 of the 256 slots fit in a
    replica's KV cache and they start and finish together. ``schedule_prompts`` used to model its
    replicas with all 256 slots running, so it misjudged how fast each would drain, handed three
    of them two full modelled batches (512 prompts vs 467) and left them finishing 6% late:
    0.989x sorted. Its replica model now admits only what the KV cache holds (as vLLM does) and
    asks the router only for that: 1.048x sorted."""
    s = sweep_points(_quick())["suffix=896"]
    prompts = make_prompts(s)
    res = {p: simulate(s, p, prompts) for p in ("sorted", "schedule_prompts")}
    assert res["schedule_prompts"]["throughput"] >= res["sorted"]["throughput"], res
    done = res["schedule_prompts"]["per_replica"]
    assert max(done) - min(done) <= 0.02 * s.prompts / s.replicas, done


@pytest.mark.slow
def test_the_scheduler_is_never_below_sorted_on_the_quick_sweep() -> None:
    """Every point of the benchmark's quick sweep (4,000 prompts; the talk's shape scaled down)."""
    for name, s in sweep_points(_quick()).items():
        prompts = make_prompts(s)
        res = {p: simulate(s, p, prompts)["throughput"] for p in ("sorted", "thresher_router", "schedule_prompts")}
        assert res["thresher_router"] >= res["sorted"] and res["schedule_prompts"] >= res["sorted"], (name, res)


def _floor(point: str) -> float:
    """Never below sorted -- except one known gap: with every prompt present at t=0 (``arrival_s=0``)
    sorted pays no barrier and splits the prompts exactly equally, while the router, never told
    that the input ended (the engine cannot tell it), evens the replicas out as prompts arrive and
    splits a bucket only to move four prompts or more -- 2% of a replica's 200 prompts here
    (0.995x; 1.002x at the talk's shape, where four prompts are 0.2%). Kept visible rather than
    hidden: it may not widen."""
    return 0.99 if point == "arrival_s=0" else 1.0


def test_the_router_is_driven_only_as_the_engine_drives_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine never tells its PromptRouter that the input ended, so the simulated router must
    not be told either (an end-of-input rebalance would be credited to Thresher for free)."""
    from thresher.udfs.ai.scheduling import PrefixScheduler

    def told(self: PrefixScheduler) -> None:
        raise AssertionError("the simulated router was told the input ended")

    monkeypatch.setattr(PrefixScheduler, "close", told)
    r = simulate(SMALL, "thresher_router")
    assert r["completed"] == SMALL.prompts


@pytest.mark.parametrize("policy", ["thresher_router", "thresher_router_batchwise"])
def test_the_batchwise_router_is_asked_only_by_a_replica_whose_batch_finished(
    policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``thresher_router_batchwise`` drives the router the way the ``vllm`` provider does (one
    ``LLM.generate`` per batch): a replica asks again only once every prompt it was issued has
    finished; ``thresher_router`` asks whenever a slot is free."""
    from thresher.udfs.ai.scheduling import PrefixScheduler

    outstanding: dict[int, int] = {}
    asked_busy = []
    next_batch, complete = PrefixScheduler.next_batch, PrefixScheduler.complete

    def ask(self: PrefixScheduler, replica: int, max_prompts: int) -> list:
        asked_busy.append(outstanding.get(replica, 0) > 0)
        out = next_batch(self, replica, max_prompts)
        outstanding[replica] = outstanding.get(replica, 0) + len(out)
        return out

    def done(self: PrefixScheduler, replica: int, ids) -> None:  # type: ignore[no-untyped-def]
        ids = list(ids)
        outstanding[replica] = outstanding.get(replica, 0) - len(ids)
        complete(self, replica, ids)

    monkeypatch.setattr(PrefixScheduler, "next_batch", ask)
    monkeypatch.setattr(PrefixScheduler, "complete", done)
    assert simulate(SMALL, policy)["completed"] == SMALL.prompts
    assert any(asked_busy) == (policy == "thresher_router")
