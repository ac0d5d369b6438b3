"""An independent block-level prefix-cache simulator for prompt scheduling (issue 19).

Written apart from the scheduler's internals: it uses
only Thresher's public scheduling API (``make_scheduler`` -> ``add`` / ``next_batch`` /
``complete`` / ``close``, ``PromptRequest.make``, ``schedule_prompts``), so a policy cannot be
tuned to its own yardstick. Model, per replica:

* KV cache of ``cache_blocks`` blocks of 16 tokens, LRU over unpinned blocks; a running prompt
  pins its blocks; a prompt's prefix blocks are shared (hit = already in the cache, a contiguous
  run from the start), its own blocks never are. A prompt is admitted only when its blocks fit.
* continuous batching: at most ``max_running`` prompts run; each step costs
  ``step_s + prefill_s * uncached prompt tokens admitted + decode_s * running prompts``; a prompt
  leaves after ``new_tokens`` steps and its prefix blocks stay cached (unpinned; freed last block
  first, as vLLM frees them, so eviction takes a prefix's tail before its head). Prompts handed to
  a replica wait in its own FIFO queue (like vLLM's waiting queue) until they fit.
* arrivals over ``arrival_s`` seconds: ``random`` (uniform times, prefixes shuffled), ``sorted``
  (the input already grouped by prefix) or ``bursty`` (runs of up to 16 prompts of one prefix
  arrive together, the runs shuffled).

Policies (all see a prompt only after it arrives):

* ``naive``: one FIFO in arrival order; a free slot on any replica takes the next prompt.
* ``sorted``: waits for the last arrival (a barrier), sorts by prefix, deals contiguous runs of
  equal size to the replicas.
* ``simple_router``: the baseline written here, "bucket by prefix + least-loaded replica": the
  first prompt of a prefix assigns the prefix to the replica with the fewest queued prompts; a
  free slot takes the oldest arrived prompt of its own buckets (its last prefix first), else the
  whole largest bucket of the most loaded replica.
* ``thresher_router``: Thresher's online router (``make_scheduler("bucketed")``, the object the
  engine's ``PromptRouter`` drives) called as prompts arrive and slots free -- and only as the
  engine calls it: the engine never tells its router that the input ended (``PromptRouter``'s
  ``close_input`` has no caller), so neither does this policy (it used to call ``close()``, which
  credited the router with an end-of-input rebalance the engine never runs: 1.9% at the talk's shape).
  A replica asks it for work at every step with free slots, for exactly the slots that freed --
  the way the engine's ``vllm`` provider now drives it (``run_routed`` with
  ``VLLMProvider.stepper()``: vLLM's engine-level ``add_request``/``step``, ``max_num_seqs``
  requests kept running, the router asked after every engine step; not yet run on a GPU).
* ``thresher_router_batchwise``: the same router called batch by batch, the way the ``vllm``
  provider called it before (and the path still taken by an engine without vLLM's engine-level
  API): ``run_routed`` takes up to ``step_prompts`` (256) prompts, runs them to the end in one
  ``LLM.generate`` call, and only then reports them and asks again. Every replica's first batch
  is whatever has arrived when it asks, and it holds the replica for ``new_tokens`` steps.
* ``schedule_prompts``: Thresher's offline per-replica orders, computed from the arrival trace and
  the replicas' batch size and step costs (what a user of an offline schedule knows), then
  replayed strictly: a replica runs its list in order and waits when the next prompt has not
  arrived.
* ``bound``: an upper bound no schedule can beat, computed, not simulated: every replica busy until
  the end, every step as full as ``max_running`` and the KV cache allow, every prefix computed once
  in the whole cluster, no prompt finishing before ``arrival + new_tokens`` steps, and none of the
  work of prompts arriving after any time ``T`` done before ``T``.

COST MODEL (the talk's setup; every parameter and where it comes from)

The talk (Daft, Ray Summit 2025): an 8B model on L4 GPUs, prompts of 512 tokens sharing 512
prefixes, 128 output tokens; naive order 26% prefix-cache hits, global sort 54%. A replica is one
L4 running Llama-3.1-8B in bf16 under vLLM. Per step (the additive roofline of one engine step):

==============  ==========  =====================================================================
parameter       value       source
==============  ==========  =====================================================================
prompts         20,000      issue 19 (the talk ran 200k on 128 GPUs; 2,500 per replica here)
prefixes        512         the talk
replicas        8           issue 19
prefix_tokens   288         the talk's sorted hit rate: 54% of 512 tokens ~ 18 blocks of 16
suffix_tokens   224 +-50%   the rest of the 512-token prompt (own tokens, never shared)
new_tokens      128         the talk
BLOCK           16 tokens   vLLM's default block size (the unit of prefix caching)
step_s          53.5 ms     weights read once per step: 16.06 GB (8.03e9 params x 2 B) / 300 GB/s
                            (L4 datasheet memory bandwidth)
prefill_s       0.265 ms    per uncached prompt token: 2 x 8.03e9 FLOP / (121 TFLOP/s bf16 dense,
                            L4 datasheet, x 50% model FLOP utilisation)
decode_s        0.25 ms     per running sequence and step: its KV read, ~576 tokens x 128 KiB
                            (32 layers x 8 KV heads x 128 dims x K,V x 2 B) / 300 GB/s
max_running     256         vLLM's default ``max_num_seqs``; admission also needs free KV blocks
cache_blocks    9,500       per replica, calibrated (the one fitted parameter): naive order then
                            hits 26.1% (the talk: 26%); sorted 54.8% (the talk: 54%). 512 prefixes
                            x 18 blocks = 9,216 blocks, so a replica holds about 40% of all
                            prefixes next to a full batch (256 x ~22 own blocks)
arrival_s       38 s        the input streams in over this window. The talk measured the global
                            sort 12.7% slower than streaming at the same hit rate: its barrier
                            (read and sort everything first) cost 12.7% of the job. 38 s is 12.7%
                            of the ideal makespan here (~300 s). The sweep also runs 0 s and 2.5 s
                            (an input that is there at once: sorted pays no barrier) and slower
                            inputs.
==============  ==========  =====================================================================

An L4 with 24 GB holds only ~2,000 such blocks next to bf16 weights; with that cache a batch of
256 does not fit and naive order hits ~7%, not the talk's 26%, so the cache is calibrated to the
talk's measured naive hit rate rather than derived (fp8 weights or KV would give about this size).
The model is additive (weights read + prefill compute + KV read), so a step that prefills is not
hidden under the weights read: this favours prefix caching slightly (prefill counts in full).

    python -m benchmarks.prefix_sim                # the talk's shape: 20k prompts, 512 prefixes, 8 replicas
    python -m benchmarks.prefix_sim --sweep        # cache size, replicas, prefixes, skew, arrival, lengths
    python -m benchmarks.prefix_sim --cache-blocks 7000   # a smaller cache: naive misses more (docs/guide/ai.md)
"""

from __future__ import annotations

import argparse
import heapq
import json
import statistics
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 16
ARRIVALS = ("random", "sorted", "bursty")


@dataclass(frozen=True)
class Shape:
    prompts: int = 20_000
    prefixes: int = 512
    replicas: int = 8
    prefix_tokens: int = 288
    suffix_tokens: int = 224  # mean; lengths vary +-50%
    new_tokens: int = 128
    zipf: float = 0.0  # 0: uniform prefix choice; s > 0: P(prefix k) ~ k^-s
    arrival: str = "random"  # or "sorted", "bursty"
    arrival_s: float = 38.0  # the input streams in over this window (see COST MODEL)
    cache_blocks: int = 9500  # per replica, calibrated: naive hits 26.1% (the talk: 26%), sorted 54.8% (54%)
    max_running: int = 256  # vLLM's default max_num_seqs; the KV cache may admit fewer
    step_s: float = 0.0535  # per step: read the 16.06 GB of bf16 weights at 300 GB/s
    prefill_s: float = 2.65e-4  # per uncached prompt token: 2 x 8.03e9 FLOP at 121 TFLOP/s x 50% MFU
    decode_s: float = 2.5e-4  # per running sequence per step: read its ~576 tokens x 128 KiB of KV at 300 GB/s
    seed: int = 0

    @property
    def own_blocks(self) -> int:
        """Blocks a prompt's generated tokens take."""
        return -(-self.new_tokens // BLOCK)


@dataclass
class Prompt:
    pid: int
    prefix: int
    suffix_blocks: int
    arrive: float


def make_prompts(s: Shape) -> list[Prompt]:
    """The workload, ids in arrival order."""
    if s.arrival not in ARRIVALS:
        raise ValueError(f"arrival must be one of {ARRIVALS}, got {s.arrival!r}")
    rng = np.random.default_rng(s.seed)
    if s.zipf > 0:
        w = np.arange(1, s.prefixes + 1, dtype=float) ** -s.zipf
        which = rng.choice(s.prefixes, size=s.prompts, p=w / w.sum())
    else:
        which = rng.integers(0, s.prefixes, s.prompts)
    suffix = np.maximum(1, np.round(rng.uniform(0.5, 1.5, s.prompts) * s.suffix_tokens / BLOCK)).astype(int)
    times = np.sort(rng.uniform(0, s.arrival_s, s.prompts)) if s.arrival_s > 0 else np.zeros(s.prompts)
    if s.arrival == "random":
        order = rng.permutation(s.prompts)
    elif s.arrival == "sorted":
        order = np.argsort(which, kind="stable")
    else:  # bursty: runs of <= 16 prompts of one prefix, the runs in random order
        by = np.argsort(which, kind="stable")
        runs: list[np.ndarray] = []
        for grp in np.split(by, np.flatnonzero(np.diff(which[by])) + 1):
            runs += [grp[i : i + 16] for i in range(0, len(grp), 16)]
        order = np.concatenate([runs[i] for i in rng.permutation(len(runs))])
    return [Prompt(i, int(which[j]), int(suffix[j]), float(times[i])) for i, j in enumerate(order)]


def token_ids(s: Shape, p: Prompt) -> list[int]:
    """Tokens of a prompt: its prefix's tokens, then tokens no other prompt has."""
    return [p.prefix * 100_000 + i for i in range(s.prefix_tokens)] + [10**9 + p.pid] * (p.suffix_blocks * BLOCK)


class Replica:
    """One model replica: block cache with pinning, continuous batching, a waiting queue."""

    def __init__(self, s: Shape) -> None:
        self.s = s
        self.nblk = s.prefix_tokens // BLOCK
        self.cache: OrderedDict[tuple[int, int], None] = OrderedDict()  # unpinned prefix blocks, LRU
        self.pinned: dict[tuple[int, int], int] = {}  # prefix block -> running prompts using it
        self.private = 0  # blocks held by running prompts' own tokens
        self.running: list[list[Any]] = []  # [prompt, steps left]
        self.waiting: deque[Prompt] = deque()
        self.clock = 0.0
        self.last_done = 0.0
        self.busy_s = 0.0
        self.steps = 0
        self.seq_steps = 0
        self.hit_tokens = 0
        self.prompt_tokens = 0
        self.done = 0

    def used(self) -> int:
        return len(self.cache) + len(self.pinned) + self.private

    def try_admit(self, p: Prompt) -> int | None:
        """Admit ``p`` if its blocks fit; returns its uncached prompt tokens, or None."""
        s = self.s
        keys = [(p.prefix, i) for i in range(self.nblk)]
        hits = 0
        for k in keys:
            if k in self.cache or k in self.pinned:
                hits += 1
            else:
                break  # a prefix cache hit is a contiguous run from the start
        need = (self.nblk - hits) + p.suffix_blocks + s.own_blocks
        free = s.cache_blocks - self.used()
        reusable = sum(1 for k in keys[:hits] if k in self.cache)  # pinning these frees nothing new
        if need > free + len(self.cache) - reusable:
            return None
        for k in keys[:hits]:
            if k in self.cache:
                del self.cache[k]
            self.pinned[k] = self.pinned.get(k, 0) + 1
        while s.cache_blocks - self.used() < need:
            self.cache.popitem(last=False)
        for k in keys[hits:]:
            self.pinned[k] = self.pinned.get(k, 0) + 1
        self.private += p.suffix_blocks + s.own_blocks
        self.running.append([p, s.new_tokens])
        self.hit_tokens += hits * BLOCK
        total = s.prefix_tokens + p.suffix_blocks * BLOCK
        self.prompt_tokens += total
        return total - hits * BLOCK

    def step(self, prefill_tokens: int) -> list[Prompt]:
        """Run one step; return the prompts that finished."""
        s = self.s
        cost = s.step_s + s.prefill_s * prefill_tokens + s.decode_s * len(self.running)
        self.clock += cost
        self.busy_s += cost
        self.steps += 1
        self.seq_steps += len(self.running)
        still, out = [], []
        for r in self.running:
            r[1] -= 1
            if r[1] > 0:
                still.append(r)
                continue
            p = r[0]
            # released last block first, so the LRU evicts a prefix from its tail and a partly
            # evicted prefix still hits on its head (vLLM frees a request's blocks in reverse order)
            for i in reversed(range(self.nblk)):
                k = (p.prefix, i)
                self.pinned[k] -= 1
                if self.pinned[k] == 0:
                    del self.pinned[k]
                    self.cache[k] = None  # stays cached, most recently used
            self.private -= p.suffix_blocks + s.own_blocks
            out.append(p)
        self.running = still
        if out:
            self.done += len(out)
            self.last_done = self.clock
        return out


def simulate(s: Shape, policy: str, prompts: list[Prompt] | None = None) -> dict[str, Any]:
    """Run ``policy`` on the workload; simulated throughput, hit rate and batch fill."""
    prompts = prompts if prompts is not None else make_prompts(s)
    n = len(prompts)
    if policy == "bound":
        return bound(s, prompts)
    reps = [Replica(s) for _ in range(s.replicas)]
    feed = _feeder(s, policy, prompts)
    heap = [(0.0, r) for r in range(s.replicas)]
    finished = 0
    turns = 0
    while finished < n:
        if not heap:
            raise RuntimeError(f"{policy}: {n - finished} prompts never ran")
        turns += 1
        if turns > 400 * n + 10_000:
            raise RuntimeError(f"{policy}: no progress")
        _, r = heapq.heappop(heap)
        rep = reps[r]
        free = s.max_running - len(rep.running) - len(rep.waiting)
        if free > 0 and not (feed.batchwise and (rep.running or rep.waiting)):
            rep.waiting.extend(feed.request(r, rep.clock, free))
        pre = 0
        while rep.waiting and len(rep.running) < s.max_running:
            got = rep.try_admit(rep.waiting[0])
            if got is None:
                break
            rep.waiting.popleft()
            pre += got
        if rep.running:
            out = rep.step(pre)
            finished += len(out)
            feed.done(r, out)
            heapq.heappush(heap, (rep.clock, r))
            continue
        if rep.waiting:
            raise RuntimeError(f"{policy}: a prompt does not fit an empty replica (cache_blocks too small)")
        # idle: sleep until something may change for this replica
        wake = feed.wake(r, rep.clock)
        busy = [reps[q].clock for _, q in heap if reps[q].running]
        if wake is None or (busy and min(busy) < wake):
            wake = min(busy) if busy else None
        if wake is None:
            continue  # nothing will come to this replica any more
        rep.clock = max(rep.clock, wake) + 1e-9
        heapq.heappush(heap, (rep.clock, r))
    makespan = max(rp.last_done for rp in reps)
    steps = sum(rp.steps for rp in reps)
    return {
        "policy": policy,
        "completed": sum(rp.done for rp in reps),
        "throughput": n / makespan,
        "hit_rate": sum(rp.hit_tokens for rp in reps) / max(1, sum(rp.prompt_tokens for rp in reps)),
        "makespan_s": makespan,
        "batch_fill": sum(rp.seq_steps for rp in reps) / max(1, steps * s.max_running),
        "busy": sum(rp.busy_s for rp in reps) / (makespan * s.replicas),
        "per_replica": [rp.done for rp in reps],
    }


def bound(s: Shape, prompts: list[Prompt]) -> dict[str, Any]:
    """Perfect hit rate, balance and batching: a makespan no schedule can go below.

    Work of a set of prompts, summed over replicas, is at least: ``step_s`` times the steps they
    need -- at least ``new_tokens`` prompt-steps each, at most ``max_running`` per step, and at most
    ``cache_blocks - prefix blocks`` of their own blocks (suffix + output, held for ``new_tokens``
    steps) per step -- plus ``decode_s`` per prompt-step, plus ``prefill_s`` per token no cache can
    hold (every suffix; for the whole input also each distinct prefix once). The makespan is at
    least: that work over the replicas; for every arrival time ``T``, ``T`` plus the work of the
    prompts arriving at or after ``T`` over the replicas (their prefixes may be cached already, so
    not counted); the last arrival plus ``new_tokens`` steps of one prompt.
    """
    n, t = len(prompts), s.new_tokens
    nblk = s.prefix_tokens // BLOCK
    arrive = np.array([p.arrive for p in prompts])
    own_tokens = np.array([s.prefix_tokens - nblk * BLOCK + p.suffix_blocks * BLOCK for p in prompts], dtype=float)
    own_blocks = np.array([p.suffix_blocks + s.own_blocks for p in prompts], dtype=float)
    room = max(1, s.cache_blocks - nblk)

    def work(count: np.ndarray, tokens: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        steps = np.maximum(np.ceil(count * t / s.max_running), np.ceil(blocks * t / room))
        return steps * s.step_s + count * t * s.decode_s + tokens * s.prefill_s

    prefixes = len({p.prefix for p in prompts})
    total = work(np.array([n]), np.array([own_tokens.sum() + prefixes * nblk * BLOCK]), np.array([own_blocks.sum()]))
    # suffix sums over prompts by arrival time: the work left from each arrival on
    order = np.argsort(arrive, kind="stable")[::-1]
    later = work(np.arange(1, n + 1, dtype=float), np.cumsum(own_tokens[order]), np.cumsum(own_blocks[order]))
    tail = float(np.max(arrive[order] + later / s.replicas))
    makespan = max(float(total[0]) / s.replicas, tail, float(arrive.max()) + t * (s.step_s + s.decode_s))
    cached = prefixes * nblk * BLOCK
    all_tokens = sum(s.prefix_tokens + p.suffix_blocks * BLOCK for p in prompts)
    return {"policy": "bound", "completed": n, "throughput": n / makespan,
            "hit_rate": 1 - (own_tokens.sum() + cached) / all_tokens,
            "makespan_s": makespan, "batch_fill": 1.0, "busy": 1.0, "per_replica": []}


class _Feeder:
    """Hands replicas prompts that have arrived: ``request(r, now, n)``, ``done(r, prompts)``, ``wake(r, now)``."""

    batchwise = False  # True: a replica asks for work only once its last batch has finished

    def __init__(self, prompts: list[Prompt]) -> None:
        self.prompts = prompts
        self.i = 0  # prompts[:i] have arrived

    def _arrive(self, now: float) -> list[Prompt]:
        j = self.i
        while j < len(self.prompts) and self.prompts[j].arrive <= now:
            j += 1
        out, self.i = self.prompts[self.i : j], j
        return out

    def done(self, r: int, prompts: list[Prompt]) -> None:
        pass

    def wake(self, r: int, now: float) -> float | None:
        return self.prompts[self.i].arrive if self.i < len(self.prompts) else None


class _Naive(_Feeder):
    def __init__(self, prompts: list[Prompt]) -> None:
        super().__init__(prompts)
        self.q: deque[Prompt] = deque()

    def request(self, r: int, now: float, n: int) -> list[Prompt]:
        self.q.extend(self._arrive(now))
        return [self.q.popleft() for _ in range(min(n, len(self.q)))]


class _Lists(_Feeder):
    """Each replica runs a fixed list in order, waiting for a prompt that has not arrived."""

    def __init__(self, prompts: list[Prompt], lists: list[list[Prompt]], barrier: float = 0.0) -> None:
        super().__init__(prompts)
        self.lists = [deque(x) for x in lists]
        self.barrier = barrier
        self.inversions = 0  # times a replica's next prompt had not arrived

    def request(self, r: int, now: float, n: int) -> list[Prompt]:
        q, out = self.lists[r], []
        if now < self.barrier:
            return out
        while q and len(out) < n and q[0].arrive <= now:
            out.append(q.popleft())
        if q and len(out) < n and q[0].arrive > now:
            self.inversions += 1
        return out

    def wake(self, r: int, now: float) -> float | None:
        q = self.lists[r]
        return max(q[0].arrive, self.barrier) if q else None


class _SimpleRouter(_Feeder):
    """Bucket by prefix; a prefix sticks to the replica with the fewest queued prompts when first seen."""

    def __init__(self, prompts: list[Prompt], s: Shape) -> None:
        super().__init__(prompts)
        self.s = s
        self.owner: dict[int, int] = {}
        self.buckets: list[dict[int, deque[Prompt]]] = [{} for _ in range(s.replicas)]
        self.load = [0] * s.replicas
        self.last: list[int | None] = [None] * s.replicas

    def request(self, r: int, now: float, n: int) -> list[Prompt]:
        for p in self._arrive(now):
            o = self.owner.get(p.prefix)
            if o is None:
                o = min(range(self.s.replicas), key=lambda k: self.load[k])
                self.owner[p.prefix] = o
            self.buckets[o].setdefault(p.prefix, deque()).append(p)
            self.load[o] += 1
        out: list[Prompt] = []
        while len(out) < n:
            b = self.buckets[r]
            if self.last[r] in b:
                key = self.last[r]
            elif b:
                key = min(b, key=lambda k: b[k][0].pid)  # the oldest arrived prompt's bucket
            else:
                donor = max(range(self.s.replicas), key=lambda k: self.load[k])
                if donor == r or self.load[donor] <= 1 or not self.buckets[donor]:
                    break
                bd = self.buckets[donor]
                key = max(bd, key=lambda k: len(bd[k]))
                b[key] = bd.pop(key)
                self.load[donor] -= len(b[key])
                self.load[r] += len(b[key])
                self.owner[key] = r
            assert key is not None
            q = b[key]
            while q and len(out) < n:
                out.append(q.popleft())
                self.load[r] -= 1
            if not q:
                del b[key]
            self.last[r] = key
        return out


class _ThresherRouter(_Feeder):
    """Thresher's online router through its public API: add on arrival, next_batch when slots free."""

    def __init__(self, prompts: list[Prompt], s: Shape, batchwise: bool = False) -> None:
        from thresher.udfs.ai.scheduling import make_scheduler

        super().__init__(prompts)
        self.s = s
        self.batchwise = batchwise
        self.sched = make_scheduler("bucketed", s.replicas, cache_blocks=s.cache_blocks)
        self.by_id = {p.pid: p for p in prompts}
        self.finished: list[list[int]] = [[] for _ in range(s.replicas)]

    def request(self, r: int, now: float, n: int) -> list[Prompt]:
        from thresher.udfs.ai.scheduling import PromptRequest

        arrived = self._arrive(now)
        if arrived:
            self.sched.add(PromptRequest.make(p.pid, token_ids(self.s, p)) for p in arrived)
        # no close() when the last prompt arrived: the engine's router is never told (see the docstring)
        self.sched.complete(r, self.finished[r])
        self.finished[r] = []
        return [self.by_id[q.id] for q in self.sched.next_batch(r, n)]

    def done(self, r: int, prompts: list[Prompt]) -> None:
        self.finished[r].extend(p.pid for p in prompts)


def _schedule_prompts_lists(s: Shape, prompts: list[Prompt]) -> list[list[Prompt]]:
    from thresher.udfs.ai.scheduling import ReplicaModel, schedule_prompts

    model = ReplicaModel(new_tokens=s.new_tokens, step_s=s.step_s, prefill_s_per_token=s.prefill_s,
                         decode_s_per_seq=s.decode_s, cache_blocks=s.cache_blocks)
    parts = ([(p.pid, token_ids(s, p))] for p in prompts)
    ids = schedule_prompts(parts, replicas=s.replicas, arrivals=[p.arrive for p in prompts],
                           batch_size=s.max_running, model=model)
    return [[prompts[i] for i in x] for x in ids]


def _feeder(s: Shape, policy: str, prompts: list[Prompt]) -> Any:
    if policy == "naive":
        return _Naive(prompts)
    if policy == "simple_router":
        return _SimpleRouter(prompts, s)
    if policy == "thresher_router":
        return _ThresherRouter(prompts, s)
    if policy == "thresher_router_batchwise":
        return _ThresherRouter(prompts, s, batchwise=True)
    if policy == "sorted":
        order = sorted(prompts, key=lambda p: (p.prefix, p.pid))
        k = -(-len(order) // s.replicas)
        return _Lists(prompts, [order[i : i + k] for i in range(0, len(order), k)],
                      barrier=max(p.arrive for p in prompts))
    if policy == "schedule_prompts":
        return _Lists(prompts, _schedule_prompts_lists(s, prompts))
    raise ValueError(f"unknown policy {policy!r}; expected one of {POLICIES}")


POLICIES = ("naive", "sorted", "simple_router", "thresher_router", "thresher_router_batchwise", "schedule_prompts",
            "bound")
THRESHER = ("thresher_router", "thresher_router_batchwise", "schedule_prompts")
REFERENCES = ("naive", "sorted", "simple_router", "bound")


def sweep_points(base: Shape) -> dict[str, Shape]:
    """The sweep: each point changes one thing of the base (the talk's) shape, scaled from the base."""
    b = base
    pts = {"base": b}
    pts |= {f"cache={c}": replace(b, cache_blocks=c) for c in (b.cache_blocks // 2, b.cache_blocks * 2)}
    pts |= {f"replicas={r}": replace(b, replicas=r) for r in (max(2, b.replicas // 4), b.replicas * 2)}
    pts |= {f"prefixes={k}": replace(b, prefixes=k) for k in (max(2, b.prefixes // 8), b.prefixes * 8)}
    pts |= {f"zipf={z}": replace(b, zipf=z) for z in (0.8, 1.2)}
    pts |= {f"arrival={a}": replace(b, arrival=a) for a in ("sorted", "bursty")}
    # 0: all there at once; /16: a fast input (sorted's barrier ~1%); x3 and x8: the input is slower
    # than the replicas for part or all of the run
    pts |= {f"arrival_s={t:g}": replace(b, arrival_s=t)
            for t in (0.0, round(b.arrival_s / 16, 3), b.arrival_s * 3, b.arrival_s * 8)}
    pts |= {f"suffix={t}": replace(b, suffix_tokens=t) for t in (max(BLOCK, b.suffix_tokens // 4), b.suffix_tokens * 4)}
    pts |= {f"prefix={b.prefix_tokens // 3}": replace(b, prefix_tokens=b.prefix_tokens // 3)}
    return pts


def summarize(rows: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Worst and median throughput ratio of each Thresher policy vs each reference over the points."""
    out = {}
    for p in THRESHER:
        for ref in REFERENCES:
            xs = [r[p] / r[ref] for r in rows.values() if r.get(p) and r.get(ref)]
            if xs:
                out[f"{p} / {ref}"] = {"worst": min(xs), "median": statistics.median(xs),
                                       "best": max(xs), "points": len(xs)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--prompts", type=int, default=20_000)
    ap.add_argument("--prefixes", type=int, default=512)
    ap.add_argument("--cache-blocks", type=int, default=Shape.cache_blocks,
                    help="KV cache blocks per replica (default: the calibrated 9,500)")
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated sweep point names")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    base = Shape(prompts=args.prompts, prefixes=args.prefixes, cache_blocks=args.cache_blocks)
    policies = args.policies.split(",")
    points = sweep_points(base) if args.sweep else {"base": base}
    if args.only:
        points = {k: v for k, v in points.items() if k in args.only.split(",")}
    rows: dict[str, dict[str, float]] = {}
    detail = {}
    for name, s in points.items():
        prompts = make_prompts(s)
        res = {p: simulate(s, p, prompts) for p in policies}
        rows[name] = {p: r["throughput"] for p, r in res.items()}
        detail[name] = {"shape": asdict(s), **{p: {k: v for k, v in r.items() if k != "per_replica"}
                                               for p, r in res.items()}}
        print(f"{name:<16}", " ".join(f"{p} {r['throughput']:.1f}/s hit {r['hit_rate']:.3f} fill {r['batch_fill']:.2f}"
                                      for p, r in res.items()), flush=True)
    summary = summarize(rows)
    for k, v in summary.items():
        print(f"{k:<34} worst {v['worst']:.3f}  median {v['median']:.3f}  best {v['best']:.3f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"rows": rows, "summary": summary, "detail": detail}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
