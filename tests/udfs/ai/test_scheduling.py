"""The prefix-aware scheduler (a pure component) and the prefix-cache simulator."""

from __future__ import annotations

import random
from dataclasses import replace

from thresher.udfs.ai.scheduling import schedule_prompts
from thresher.udfs.ai.simulator import SimConfig, Workload, calibrate_cache_blocks, compare


def _partitions(n_parts: int, per_part: int, n_prefixes: int, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    prefixes = [[rng.randrange(1000) for _ in range(64)] for _ in range(n_prefixes)]
    pid = 0
    for _ in range(n_parts):
        part = []
        for _ in range(per_part):
            part.append((pid, prefixes[rng.randrange(n_prefixes)] + [rng.randrange(1000) for _ in range(32)]))
            pid += 1
        yield part


def test_every_prompt_is_issued_exactly_once() -> None:
    out = schedule_prompts(_partitions(10, 50, 8), replicas=3)
    ids = [i for r in out for i in r]
    assert sorted(ids) == list(range(500)) and len(out) == 3


def test_scheduler_streams_without_waiting_for_all_input() -> None:
    consumed = []

    def parts():  # type: ignore[no-untyped-def]
        for i, p in enumerate(_partitions(20, 40, 4)):
            consumed.append(i)
            yield p

    out = schedule_prompts(parts(), replicas=2)
    assert sum(len(r) for r in out) == 800
    assert consumed == list(range(20))  # consumed lazily, in arrival order


def test_same_prefix_prompts_stay_together_on_a_replica() -> None:
    parts = list(_partitions(4, 100, 4))
    prefix_of = {pid: tuple(toks[:64]) for part in parts for pid, toks in part}
    out = schedule_prompts(iter(parts), replicas=4)
    switches = sum(prefix_of[a] != prefix_of[b] for r in out for a, b in zip(r, r[1:]))
    pairs = sum(max(0, len(r) - 1) for r in out)
    # in arrival order, 3 of 4 neighbours would differ; bucketing keeps runs of one prefix
    assert switches < 0.2 * pairs


def test_bucketing_beats_naive_and_matches_sorted_hit_rate_while_streaming() -> None:
    wl = Workload(num_prompts=3000, num_prefixes=128, arrival_s=1.0)
    cfg = SimConfig(replicas=4)
    cfg = replace(cfg, cache_blocks=calibrate_cache_blocks(wl, cfg, 0.26, lo=64, hi=1 << 15))
    res = compare(wl, cfg)
    naive, srt, buck = res["naive"], res["sorted"], res["bucketed"]
    assert abs(naive.hit_rate - 0.26) < 0.05
    assert buck.hit_rate >= srt.hit_rate - 0.01
    assert buck.throughput > 1.3 * naive.throughput
    assert buck.max_pending < srt.max_pending  # sorted must buffer everything; bucketing streams
