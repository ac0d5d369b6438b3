from __future__ import annotations

import itertools

import numpy as np
import pytest

from thresher.udfs.ai.routing import PromptRouter
from thresher.udfs.ai.scheduling import (
    LRUBlockCache,
    PrefixScheduler,
    PromptRequest,
    ReplicaModel,
    iter_schedule,
    prefix_block_hashes,
    schedule_prompts,
)


def _partitions(n: int = 600, prefixes: int = 12, part: int = 50, seed: int = 1):
    """``n`` prompts of 96 tokens: a 48-token prefix (one of ``prefixes``) and unique tokens, shuffled."""
    rng = np.random.default_rng(seed)
    which = rng.integers(0, prefixes, n)
    prompts = [(i, [int(w) + 1] * 48 + [10_000 + i] * 48) for i, w in enumerate(which)]
    for k in range(0, n, part):
        yield prompts[k : k + part]


def test_block_hashes_name_whole_prefixes():
    a = prefix_block_hashes(list(range(48)))
    b = prefix_block_hashes(list(range(16)) + [0] * 16 + list(range(32, 48)))
    assert len(a) == 3 and a[0] == b[0] and a[1] != b[1] and a[2] != b[2]
    assert prefix_block_hashes([1] * 15) == ()


def test_lru_block_cache_evicts_least_recent():
    c = LRUBlockCache(3)
    assert c.admit([1, 2, 3]) == 0
    assert c.admit([1, 4]) == 1  # 1 refreshed, 2 evicted
    assert 2 not in c and 1 in c and len(c) == 3


@pytest.mark.parametrize("policy", ["naive", "sorted", "bucketed"])
def test_every_id_issued_exactly_once(policy):
    out = schedule_prompts(_partitions(), replicas=4, policy=policy, batch_size=8, max_buffered=128)
    ids = sorted(i for r in out for i in r)
    assert ids == list(range(600))
    assert all(out)  # every replica got work


def test_streaming_never_needs_all_input():
    pulled = 0

    def endless():
        nonlocal pulled
        for k in itertools.count():
            pulled += 1
            yield [(k * 10 + j, [k % 7] * 32 + [j] * 16) for j in range(10)]

    batches = list(itertools.islice(iter_schedule(endless(), replicas=3, batch_size=4, max_buffered=40), 50))
    assert len(batches) == 50
    assert pulled <= 40 // 10 + 50  # bounded buffer: pulls track issues, never the whole (infinite) input


@pytest.mark.parametrize("growth", [1, 8])
def test_buffer_is_bounded(growth: int) -> None:
    seen = []
    sched_pending = []

    def parts():
        for p in _partitions(n=400, part=20):
            seen.append(len(p))
            yield p

    for _ in iter_schedule(parts(), replicas=2, batch_size=4, max_buffered=60, max_buffer_growth=growth):
        sched_pending.append(sum(seen))
    # at the first issue only the buffer limit (+ one partition) prompts had been read: 60 without
    # growth; with growth, 16 prompts per shared bucket (12 prefixes -> 192), capped at 8 x 60
    assert sched_pending[0] <= (60 if growth == 1 else 16 * 12) + 20
    if growth > 1:
        assert sched_pending[0] > 60 + 20


def test_buffer_grows_only_for_shared_prefixes() -> None:
    s = PrefixScheduler(num_replicas=2, cache_blocks=1024)
    s.add(PromptRequest.make(i, [10_000 + i] * 32) for i in range(100))  # nothing shared
    assert s.buffer_limit(50) == 50
    s.add(PromptRequest.make(100 + i, [i % 40] * 32 + [i] * 16) for i in range(80))  # 40 shared buckets
    assert s.buffer_limit(50) == min(50 * 8, 16 * 40)
    s.close()
    while s.next_batch(0, 7) or s.next_batch(1, 7):
        pass
    assert s.pending == 0 and s.buffer_limit(50) == 50


def test_buckets_stay_on_replica_and_group_prefixes():
    s = PrefixScheduler(num_replicas=2, cache_blocks=1024, min_slack_tokens=10**9)
    prompts = [PromptRequest.make(i, [i % 2] * 32 + [1000 + i] * 16) for i in range(20)]
    s.add(prompts)
    assert sorted(len(b) for b in s.buckets()) == [10, 10]
    first = s.next_batch(0, 4)
    assert len({p.id % 2 for p in first}) == 1
    rest = s.next_batch(0, 100)
    assert {p.id % 2 for p in rest} == {first[0].id % 2}  # drains its bucket, leaves the other one alone
    other = s.next_batch(1, 100)
    assert len(other) == 10 and {p.id % 2 for p in other} != {first[0].id % 2}


def test_late_partner_moves_singleton_to_deeper_bucket():
    s = PrefixScheduler(num_replicas=1)
    s.add([PromptRequest.make(0, [5] * 64 + [1] * 16)])
    s.add([PromptRequest.make(1, [9] * 64)])
    s.add([PromptRequest.make(2, [5] * 64 + [2] * 16)])
    assert sorted(map(sorted, s.buckets())) == [[0, 2], [1]]


def test_prefix_routing_follows_cache_and_respects_load():
    s = PrefixScheduler(num_replicas=2, cache_blocks=1024, min_slack_tokens=100, load_slack=0.0)
    s.add([PromptRequest.make(0, [3] * 64)])
    assert s.next_batch(1, 1) == []  # routed to replica 0; replica 1 may not take it (no backlog gap)
    assert [p.id for p in s.next_batch(0, 1)] == [0]  # replica 0 now caches prefix [3]*64 (64 tokens running)
    s.add([PromptRequest.make(1, [3] * 64 + [4] * 16)])
    assert s.buckets(0) == [[1]]  # routed to the replica holding the prefix: load gap 64 <= slack 100
    s.add([PromptRequest.make(2, [3] * 64 + [5] * 16)])
    assert sorted(map(sorted, s.buckets(0))) == [[1, 2]]
    s.add([PromptRequest.make(3, [3] * 48 + [6] * 32)])  # replica 0 now 224 tokens ahead: over the slack
    assert s.buckets(1) == [[3]]




def test_no_steal_from_a_replica_that_will_take_its_prompts_itself() -> None:
    s = PrefixScheduler(num_replicas=2, cache_blocks=1024, min_slack_tokens=10**9)
    s.add(PromptRequest.make(i, [7] * 64 + [i] * 16) for i in range(3))  # -> replica 0
    assert [p.id for p in s.next_batch(0, 8)] == [0, 1, 2]  # replica 0 has 8 slots: no backlog
    s.add(PromptRequest.make(10 + i, [8] * 64 + [i] * 16) for i in range(3))  # -> replica 1 (less loaded)
    assert [p.id for p in s.next_batch(1, 8)] == [10, 11, 12]  # both replicas now run 3 prompts
    s.add([PromptRequest.make(3, [7] * 64 + [3] * 16)])  # affinity: back to replica 0 (it caches [7]*64)
    assert s.buckets(0) == [[3]]
    assert s.next_batch(1, 8) == []  # replica 0 still has 5 free slots: nothing to steal
    s.park(0)  # replica 0's worker left: even the bucket it was draining moves
    assert [p.id for p in s.next_batch(1, 8)] == [3] and s.steals == 1


def test_a_thief_prefers_the_bucket_whose_prefix_it_caches() -> None:
    s = PrefixScheduler(num_replicas=2, cache_blocks=1024, min_slack_tokens=0, load_slack=0.0)
    s.add([PromptRequest.make(0, [5] * 64 + [0] * 16)])
    assert [p.id for p in s.next_batch(0, 1)] == [0]  # replica 0 now caches [5] * 64
    s.complete(0, [0])
    s.add([PromptRequest.make(1, [3] * 64 + [1] * 4000)])
    assert [p.id for p in s.next_batch(0, 1)] == [1]  # replica 0 busy with a long prompt
    assert s.next_batch(1, 0) == []  # replica 1 has no free slot
    s.add(PromptRequest.make(10 + i, [2] * 64 + [i] * 16) for i in range(5))  # -> least loaded: replica 1
    s.add(PromptRequest.make(20 + i, [5] * 64 + [i + 1] * 16) for i in range(2))  # cached on 0, but 0 is overloaded
    assert sorted(map(sorted, s.buckets(1))) == [[10, 11, 12, 13, 14], [20, 21]] and not s.buckets(0)
    # replica 0 frees slots with nothing of its own: of replica 1's backlog it takes the bucket whose
    # prefix it caches (no prefill lost), not the larger one
    assert [p.id for p in s.next_batch(0, 2)] == [20, 21] and s.steals == 1


def test_a_drained_prefix_returns_to_the_replica_that_caches_it() -> None:
    s = PrefixScheduler(num_replicas=2, cache_blocks=1024)
    s.add(PromptRequest.make(i, [4] * 64 + [i] * 16) for i in range(3))
    s.add(PromptRequest.make(10 + i, [6] * 64 + [i] * 16) for i in range(3))
    homes = {}
    for r in (0, 1):
        for p in s.next_batch(r, 8):
            homes[p.token_ids[0]] = r
    assert homes[4] != homes[6]
    s.complete(0, range(100))
    s.complete(1, range(100))
    s.add([PromptRequest.make(50, [6] * 64 + [50] * 16), PromptRequest.make(51, [4] * 64 + [51] * 16)])
    assert s.buckets(homes[6]) == [[50]] and s.buckets(homes[4]) == [[51]]


@pytest.mark.parametrize("arrivals", [None, "spread"])
def test_schedule_prompts_is_the_engine_routers_decisions_on_the_same_arrival_trace(arrivals) -> None:
    """Replaying the recorded calls through :class:`PromptRouter` (the engine's router) gives the
    same replica for every prompt, in the same order, as :func:`schedule_prompts`."""
    parts = list(_partitions(n=400, prefixes=10, part=20, seed=3))
    times = [0.002 * k for k in range(len(parts))] if arrivals else None
    trace: list = []
    model = ReplicaModel(new_tokens=8, cache_blocks=512)
    offline = schedule_prompts(iter(parts), replicas=3, batch_size=6, arrivals=times, model=model,
                               max_buffered=100, trace=trace, cache_blocks=512)
    router = PromptRouter(cache_blocks=512, stale_after=1e9)
    for _ in range(3):
        router.register()
    rid: dict[int, int] = {}  # router's prompt id -> the partition's prompt id
    online: list[list[int]] = [[], [], []]
    for ev in trace:
        if ev[0] == "add":
            part = parts[ev[1]]
            router.submit(f"p{ev[1]}", [toks for _, toks in part])
            rid.update(zip(range(len(rid), len(rid) + len(part)), (pid for pid, _ in part)))
        elif ev[0] == "close":
            router.close_input()
        else:
            _, r, finished, free, issued = ev
            back = {v: k for k, v in rid.items()}
            work = router.issue(r, [(back[pid], "answer") for pid in finished], free)
            assert [rid[pid] for pid, _ in work] == issued
            online[r].extend(rid[pid] for pid, _ in work)
    assert online == offline
    assert sorted(i for r in offline for i in r) == list(range(400))


def test_schedule_prompts_respects_arrivals_and_keeps_prefixes_together() -> None:
    parts = list(_partitions(n=600, prefixes=12, part=1, seed=5))  # one prompt per partition
    times = [0.001 * k for k in range(600)]
    trace: list = []
    out = schedule_prompts(iter(parts), replicas=4, batch_size=8, arrivals=times, trace=trace,
                           model=ReplicaModel(new_tokens=16, cache_blocks=256), cache_blocks=256)
    assert sorted(i for r in out for i in r) == list(range(600))
    added: set[int] = set()
    for ev in trace:  # a prompt is never issued before it arrived
        if ev[0] == "add":
            added.add(ev[1])
        elif ev[0] == "issue":
            assert set(ev[4]) <= added
    prefix = {pid: toks[0] for p in parts for pid, toks in p}
    # affinity: a prefix runs on one or two replicas (a second one when its bucket moved to even the
    # replicas out, or was stolen to keep slots full); in arrival order (naive) on all four
    homes = {k: {r for r, ids in enumerate(out) for i in ids if prefix[i] == k} for k in set(prefix.values())}
    naive = schedule_prompts(iter(parts), replicas=4, batch_size=8, arrivals=times, policy="naive",
                             model=ReplicaModel(new_tokens=16, cache_blocks=256))
    naive_homes = {k: {r for r, ids in enumerate(naive) for i in ids if prefix[i] == k} for k in homes}
    assert sum(len(v) for v in homes.values()) <= 12 * 2 < sum(len(v) for v in naive_homes.values())


@pytest.mark.parametrize("seed", range(6))
def test_random_driving_never_loses_or_duplicates_a_prompt(seed: int) -> None:
    """Any interleaving of arrivals, requests of any size, completions, replicas leaving and
    coming back, and the end of input (with its rebalance and end-game stealing rules): every
    prompt is issued exactly once, and only after it was added."""
    rng = np.random.default_rng(seed)
    n, replicas = 800, 4
    s = PrefixScheduler(replicas, cache_blocks=int(rng.integers(8, 200)))
    prompts = [PromptRequest.make(i, [int(rng.integers(0, 9))] * int(rng.integers(0, 4) * 16)
                                  + [10_000 + i] * int(rng.integers(1, 40))) for i in range(n)]
    added, issued, running = 0, [], [[] for _ in range(replicas)]
    while len(issued) < n:
        op = rng.random()
        if op < 0.3 and added < n:
            k = int(rng.integers(1, 40))
            s.add(prompts[added : added + k])
            added = min(n, added + k)
            if added == n and rng.random() < 0.7:
                s.close()
        elif op < 0.35:
            s.park(int(rng.integers(0, replicas)))
        elif op < 0.5:
            r = int(rng.integers(0, replicas))
            done = running[r][: int(rng.integers(0, len(running[r]) + 1))]
            running[r] = running[r][len(done) :]
            s.complete(r, done)
        else:
            r = int(rng.integers(0, replicas))
            batch = [p.id for p in s.next_batch(r, int(rng.integers(0, 12)))]
            assert all(i < added for i in batch)
            issued += batch
            running[r] += batch
            if added == n and not batch and not s.pending:
                break
        if added == n and not s.pending:
            break
    assert sorted(issued) == list(range(n))
    assert s.pending == 0 and not s.buckets()


def _assigned_counts(s: PrefixScheduler) -> list[int]:
    return [s.issued[r] + sum(len(b) for b in s.buckets(r)) for r in range(s.num_replicas)]


def _stream_with_affinity_to_replica_0(s: PrefixScheduler) -> None:
    """Replica 0 caches prefixes 0-3; 30 arrivals of 6 prompts, one of each of prefixes 0-5 (48 tokens)."""
    for k in range(4):
        s.caches[0].admit(prefix_block_hashes([k] * 32))
    for a in range(30):
        s.add(PromptRequest.make(6 * a + k, [k] * 32 + [6 * a + k] * 16) for k in range(6))


def test_replicas_stay_even_while_prompts_stream_in() -> None:
    """Cache affinity alone would send prefixes 0-3 (4/6 of the prompts) to replica 0, whose cache
    holds them; as prompts arrive, whole pending buckets move to the least assigned replicas
    instead, so the replicas are even whenever the input ends -- without being told it ended."""
    s = PrefixScheduler(3, cache_blocks=4096, load_slack=10.0, min_slack_tokens=10**9)
    _stream_with_affinity_to_replica_0(s)
    counts = _assigned_counts(s)
    assert s.balanced > 0 and not s.closed and sum(counts) == 180
    assert max(counts) - min(counts) <= 2 * 180 / s.num_buckets + 1, counts
    # without the balancing, affinity leaves them far apart
    t = PrefixScheduler(3, cache_blocks=4096, load_slack=10.0, min_slack_tokens=10**9)
    t._balance = lambda: None  # type: ignore[method-assign]
    _stream_with_affinity_to_replica_0(t)
    assert max(_assigned_counts(t)) - min(_assigned_counts(t)) >= 60


def test_work_weighs_prompt_length_and_count() -> None:
    """Many short prompts against a few long ones: a prompt weighs its length plus the mean length
    (prefill and output steps alike), so the replicas end up even in that, uneven in count."""
    s = PrefixScheduler(2, cache_blocks=1 << 16, load_slack=10.0, min_slack_tokens=10**9)
    s.add(PromptRequest.make(i, [1] * 32 + [i] * 16) for i in range(40))  # 40 x 48 tokens
    s.add(PromptRequest.make(100 + i, [2] * 32 + [100 + i] * 448) for i in range(8))  # 8 x 480 tokens
    s.close()
    unit = (40 * 48 + 8 * 480) / 48
    work = [t + unit * n for t, n in zip(s.assigned(), _assigned_counts(s))]
    assert sum(s.assigned()) == 40 * 48 + 8 * 480
    assert abs(work[0] - work[1]) <= 480 + unit, work  # within one long prompt
    counts = _assigned_counts(s)
    assert abs(counts[0] - counts[1]) >= 10  # even in work means uneven in prompts here


def test_end_of_input_evens_out_what_each_replica_is_assigned() -> None:
    """close() moves pending buckets (splitting one only where no whole bucket fits) so the
    assigned tokens (issued + pending; equal-length prompts here) are equal to within one prompt."""
    s = PrefixScheduler(3, cache_blocks=4096, load_slack=10.0, min_slack_tokens=10**9)
    s._balance = lambda: None  # type: ignore[method-assign]  # as if all arrived in one piece
    # prefix 0 is cached on replica 0, so all 90 of its prompts go there; prefixes 1 and 2 elsewhere
    s.add([PromptRequest.make(1000, [0] * 32 + [1000] * 16)])
    assert [p.id for p in s.next_batch(0, 1)] == [1000]
    s.add(PromptRequest.make(i, [i % 3] * 32 + [i] * 16) for i in range(90))
    s.add(PromptRequest.make(100 + i, [0] * 32 + [100 + i] * 16) for i in range(60))
    before = _assigned_counts(s)
    assert max(before) - min(before) > 30
    s.close()
    after = _assigned_counts(s)
    assert sum(after) == sum(before) and max(after) - min(after) <= 1
    assert s.rebalance_on_close > 0
    # a thief with work takes nothing past the mean from a victim whose backlog its own next
    # batch will start (the victims ask for 40 slots and keep 10 pending)
    s.next_batch(0, 40)
    s.next_batch(2, 40)
    ids = [p.id for p in s.next_batch(1, 200)]
    assert s.issued[1] == after[1] and len(ids) == after[1]


def test_a_thief_taking_a_whole_drained_bucket_leaves_no_empty_bucket() -> None:
    s = PrefixScheduler(2, cache_blocks=1024, min_slack_tokens=10**9)
    s.add(PromptRequest.make(i, [3] * 32 + [i] * 16) for i in range(2))  # -> replica 0
    assert len(s.next_batch(0, 1)) == 1  # replica 0 drains the bucket, one slot: one prompt left behind
    got = s.next_batch(1, 4)  # replica 1 is idle: it takes the last prompt, i.e. the whole bucket
    assert [p.id for p in got] == [1] and s.buckets() == [] and s.pending == 0
    assert s.next_batch(1, 4) == [] and s.next_batch(0, 4) == []


@pytest.mark.parametrize("cache_blocks", [20, 4096])
def test_the_replay_issues_only_what_a_replicas_kv_cache_can_start(cache_blocks: int) -> None:
    """A modelled replica runs only the prompts whose KV blocks fit (as vLLM admits them) and asks
    the router only for those: a prompt handed to a full replica would wait there, out of reach of
    a replica that runs dry. Prompts of one 48-token prefix (3 shared blocks) and 3 own blocks, one
    output block each: 20 blocks hold 3 + 4 x 4, so 4 run at once (8 slots); 4096 blocks hold 8."""
    parts = [[(i, [1] * 48 + [10_000 + i] * 48) for i in range(k, k + 8)] for k in range(0, 160, 8)]
    trace: list = []
    out = schedule_prompts(iter(parts), replicas=2, batch_size=8, arrivals=[0.0] * len(parts), trace=trace,
                           model=ReplicaModel(new_tokens=16, cache_blocks=cache_blocks), cache_blocks=cache_blocks)
    assert sorted(i for r in out for i in r) == list(range(160))
    outstanding, first, peak = [0, 0], [True, True], 0
    for ev in trace:
        if ev[0] != "issue":
            continue
        _, r, finished, free, issued = ev
        outstanding[r] += len(issued) - len(finished)
        if not first[r]:  # the first request knows nothing yet of what a prompt needs
            peak = max(peak, outstanding[r])
        first[r] = False
    assert peak == (4 if cache_blocks == 20 else 8)
