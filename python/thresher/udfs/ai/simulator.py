"""A prefix-cache simulator for offline evaluation of the prompt schedulers.

Each simulated replica behaves like a vLLM engine with automatic prefix caching: its KV cache is
an LRU of 16-token blocks keyed by their prefix-chain hash with a fixed capacity; it runs
continuous batching (at most ``max_running`` sequences, at most ``max_batched_tokens`` prefill
tokens per step, a finished sequence's slot refilled at the next step); a step costs a fixed
overhead, plus ``prefill_s_per_token`` for every *uncached* prompt token admitted, plus
``decode_s_per_seq`` for every running sequence. Prompts arrive in partitions over time and the
scheduler (the real :mod:`.scheduling` object) is driven exactly as the engine drives it:
``add`` on arrival (bounded by ``max_buffered``), ``next_batch`` when slots free up,
``complete`` when sequences finish.

Examples
--------
>>> wl = Workload(num_prompts=256, num_prefixes=8, prompt_tokens=64, prefix_tokens=32, partition_size=32)
>>> r = simulate(wl, "bucketed", SimConfig(replicas=2, cache_blocks=64))
>>> r.completed, round(r.hit_rate, 2) > 0.4
(256, True)
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from thresher.udfs.ai.scheduling import (
    BLOCK_SIZE,
    LRUBlockCache,
    PromptRequest,
    Scheduler,
    make_scheduler,
)

__all__ = ["Workload", "SimConfig", "SimResult", "OracleScheduler", "simulate", "compare", "calibrate_cache_blocks"]


@dataclass(frozen=True)
class Workload:
    """A synthetic prompt workload: ``num_prefixes`` shared prefixes, each prompt one prefix plus unique tokens.

    Attributes
    ----------
    num_prompts, prompt_tokens, num_prefixes, prefix_tokens : int
        Shape of the workload (defaults: 20,000 prompts of 512 tokens over 512 prefixes of 288).
    output_tokens : int
        Tokens generated per prompt.
    partition_size : int
        Prompts per arriving partition.
    arrival_s : float
        Seconds over which the partitions arrive (evenly spaced); 0 means all at once.
    vocab : int
        Token id range.
    seed : int
        Random seed; prompts are assigned to prefixes uniformly at random, in random order.

    Examples
    --------
    >>> parts = list(Workload(num_prompts=10, partition_size=4, prompt_tokens=32, prefix_tokens=16).partitions())
    >>> [len(p) for p in parts], len(parts[0][0][1])
    ([4, 4, 2], 32)
    """

    num_prompts: int = 20_000
    prompt_tokens: int = 512
    num_prefixes: int = 512
    prefix_tokens: int = 288
    output_tokens: int = 16
    partition_size: int = 256
    arrival_s: float = 0.0
    vocab: int = 32_000
    seed: int = 0

    @property
    def num_partitions(self) -> int:
        return -(-self.num_prompts // self.partition_size)

    def arrival_time(self, index: int) -> float:
        """When partition ``index`` arrives."""
        return self.arrival_s * index / max(1, self.num_partitions)

    def partitions(self) -> Iterator[list[tuple[int, np.ndarray]]]:
        """Yield the partitions, generated lazily: lists of ``(prompt_id, token_ids)``."""
        rng = np.random.default_rng(self.seed)
        prefixes = rng.integers(0, self.vocab, size=(self.num_prefixes, self.prefix_tokens), dtype=np.int64)
        owner = rng.integers(0, self.num_prefixes, size=self.num_prompts)
        suffix_len = self.prompt_tokens - self.prefix_tokens
        for start in range(0, self.num_prompts, self.partition_size):
            stop = min(start + self.partition_size, self.num_prompts)
            suffixes = rng.integers(0, self.vocab, size=(stop - start, suffix_len), dtype=np.int64)
            yield [(i, np.concatenate([prefixes[owner[i]], suffixes[i - start]])) for i in range(start, stop)]

    def ideal_hit_rate(self) -> float:
        """Hit rate if every prefix were computed exactly once (block-aligned)."""
        cached = (self.prefix_tokens // BLOCK_SIZE) * BLOCK_SIZE
        used = len(set(np.random.default_rng(self.seed).integers(0, self.num_prefixes, size=self.num_prompts)))
        return cached * (self.num_prompts - used) / (self.num_prompts * self.prompt_tokens)


@dataclass(frozen=True)
class SimConfig:
    """Replica and cost model of the simulation.

    The default costs approximate one mid-size model per GPU on a prefill-heavy workload (long
    prompts, short answers): 40k prefill tokens/s, a 4 ms step floor, 20 us per running sequence.

    Examples
    --------
    >>> SimConfig(replicas=2).max_running
    128
    """

    replicas: int = 8
    cache_blocks: int = 8192
    max_running: int = 128
    max_batched_tokens: int = 8192
    step_overhead_s: float = 0.004
    prefill_s_per_token: float = 25e-6
    decode_s_per_seq: float = 20e-6
    max_buffered: int = 8192
    scheduler_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SimResult:
    """What one simulated run measured.

    Attributes
    ----------
    policy : str
    completed : int
        Prompts finished (equals the workload size).
    hit_rate : float
        Cached prompt tokens / all prompt tokens.
    makespan_s : float
        Simulated seconds until the last prompt finished.
    throughput : float
        Prompts per simulated second.
    per_replica : list[int]
        Prompts each replica ran.
    max_pending : int
        Largest number of prompts the scheduler buffered at once.
    """

    policy: str
    completed: int
    hit_rate: float
    makespan_s: float
    throughput: float
    prompt_tokens: int
    cached_tokens: int
    per_replica: list[int]
    max_pending: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Replica:
    __slots__ = ("index", "clock", "cache", "running", "done", "count")

    def __init__(self, index: int, cache_blocks: int) -> None:
        self.index = index
        self.clock = 0.0
        self.cache = LRUBlockCache(cache_blocks)
        self.running: list[list[Any]] = []  # [prompt id, remaining output tokens]
        self.done = False
        self.count = 0


def _buffer_limit(sched: object, base: int) -> int:
    limit = getattr(sched, "buffer_limit", None)
    return int(limit(base)) if callable(limit) else base


def simulate(workload: Workload, policy: str | Scheduler, config: SimConfig | None = None) -> SimResult:
    """Replay ``workload`` through a scheduler and simulated prefix-caching replicas.

    Parameters
    ----------
    workload : Workload
        The prompts and their arrival.
    policy : str or Scheduler
        ``"naive"``, ``"sorted"`` (global sort; waits for all input), ``"bucketed"``, or a scheduler object.
    config : SimConfig, optional
        Replicas and costs.

    Returns
    -------
    SimResult

    Examples
    --------
    >>> wl = Workload(num_prompts=64, num_prefixes=4, prompt_tokens=64, prefix_tokens=32, partition_size=16)
    >>> simulate(wl, "naive", SimConfig(replicas=2)).completed
    64
    """
    cfg = config or SimConfig()
    if isinstance(policy, str):
        options = dict(cfg.scheduler_options)
        if policy == "bucketed":
            options.setdefault("cache_blocks", cfg.cache_blocks)
        sched = make_scheduler(policy, cfg.replicas, **options if policy != "naive" else {})
        name = policy
    else:
        sched, name = policy, type(policy).__name__
    bounded = not getattr(sched, "barrier", False)
    source = workload.partitions()
    next_part = 0
    nparts = workload.num_partitions
    replicas = [_Replica(i, cfg.cache_blocks) for i in range(cfg.replicas)]
    heap = [(0.0, r.index) for r in replicas]
    prompt_tokens = cached_tokens = completed = max_pending = 0
    makespan = 0.0

    while heap:
        now, idx = heapq.heappop(heap)
        rep = replicas[idx]
        rep.clock = now
        while (
            next_part < nparts
            and workload.arrival_time(next_part) <= now
            and (not bounded or sched.pending < _buffer_limit(sched, cfg.max_buffered))
        ):
            sched.add(PromptRequest.make(pid, toks) for pid, toks in next(source))  # type: ignore[arg-type]
            next_part += 1
            if next_part == nparts:
                sched.close()
        max_pending = max(max_pending, sched.pending)
        budget = cfg.max_batched_tokens
        prefill = 0
        while len(rep.running) < cfg.max_running and budget > 0:
            batch = sched.next_batch(idx, 1)
            if not batch:
                break
            p = batch[0]
            hits = rep.cache.admit(p.block_hashes) * BLOCK_SIZE
            new = p.num_tokens - hits
            prefill += new
            budget -= new
            prompt_tokens += p.num_tokens
            cached_tokens += hits
            rep.running.append([p.id, workload.output_tokens])
        if not rep.running:
            if next_part >= nparts and sched.pending == 0:
                rep.done = True
                continue
            # Idle: wake at the next arrival, or when a busy replica next steps (work may be stolen).
            wake = [workload.arrival_time(next_part)] if next_part < nparts else []
            wake += [t for t, j in heap if replicas[j].running]
            if not wake:
                raise RuntimeError(f"{name}: {sched.pending} prompts pending but no replica can run them")
            heapq.heappush(heap, (max(now, min(wake)) + 1e-9, idx))
            continue
        dt = cfg.step_overhead_s + prefill * cfg.prefill_s_per_token + len(rep.running) * cfg.decode_s_per_seq
        now += dt
        finished: list[Any] = []
        still: list[Any] = []
        for seq in rep.running:
            seq[1] -= 1
            (finished if seq[1] <= 0 else still).append(seq)
        rep.running = still
        if finished:
            ids = [s[0] for s in finished]
            sched.complete(idx, ids)
            rep.count += len(ids)
            completed += len(ids)
            makespan = max(makespan, now)
        heapq.heappush(heap, (now, idx))

    return SimResult(
        policy=name,
        completed=completed,
        hit_rate=cached_tokens / max(1, prompt_tokens),
        makespan_s=makespan,
        throughput=completed / makespan if makespan else 0.0,
        prompt_tokens=prompt_tokens,
        cached_tokens=cached_tokens,
        per_replica=[r.count for r in replicas],
        max_pending=max_pending,
    )


class OracleScheduler:
    """The clairvoyant bound: sees the whole input at once (ignores arrival), knows each prompt's
    prefix, runs every prefix's prompts back to back on one replica, and balances replicas by
    placing prefix groups largest first on the least-loaded one (LPT).

    No streaming policy can cache better (each prefix is computed once per workload), so its hit
    rate is the workload's :meth:`Workload.ideal_hit_rate` and its throughput the bound the
    streaming policies are measured against.

    Examples
    --------
    >>> s = OracleScheduler(2, prefix_blocks=1)
    >>> s.add(PromptRequest.make(i, [i % 2] * 16 + [i] * 16) for i in range(4)); s.close()
    >>> [p.id for p in s.next_batch(0, 4)], [p.id for p in s.next_batch(1, 4)]
    ([0, 2], [1, 3])
    """

    barrier = True

    def buffer_limit(self, base: int) -> int:
        return base

    def __init__(self, num_replicas: int, prefix_blocks: int) -> None:
        self.num_replicas = num_replicas
        self.prefix_blocks = max(1, prefix_blocks)
        self._incoming: list[PromptRequest] = []
        self._queues: list[list[PromptRequest]] = [[] for _ in range(num_replicas)]
        self._pos = [0] * num_replicas

    @property
    def pending(self) -> int:
        return len(self._incoming) + sum(len(q) - i for q, i in zip(self._queues, self._pos))

    def add(self, prompts: Any) -> None:
        self._incoming.extend(prompts)

    def close(self) -> None:
        groups: dict[Any, list[PromptRequest]] = {}
        for p in self._incoming:
            key = p.block_hashes[: self.prefix_blocks] or (p.id,)
            groups.setdefault(key, []).append(p)
        self._incoming = []
        load = [(0, r) for r in range(self.num_replicas)]
        heapq.heapify(load)
        for g in sorted(groups.values(), key=lambda g: -sum(p.num_tokens for p in g)):
            tokens, r = heapq.heappop(load)
            self._queues[r].extend(g)
            heapq.heappush(load, (tokens + sum(p.num_tokens for p in g), r))

    def next_batch(self, replica: int, max_prompts: int) -> list[PromptRequest]:
        q, i = self._queues[replica], self._pos[replica]
        self._pos[replica] = i + min(max_prompts, len(q) - i)
        return q[i : self._pos[replica]]

    def complete(self, replica: int, prompt_ids: Any) -> None:
        pass


def compare(
    workload: Workload,
    config: SimConfig | None = None,
    policies: tuple[str, ...] = ("naive", "sorted", "bucketed"),
) -> dict[str, SimResult]:
    """Run several policies on the same workload and configuration.

    ``"ideal"`` among ``policies`` runs the :class:`OracleScheduler` (input all at once).

    Examples
    --------
    >>> wl = Workload(num_prompts=64, num_prefixes=4, prompt_tokens=64, prefix_tokens=32, partition_size=16)
    >>> sorted(compare(wl, SimConfig(replicas=2), ("naive", "sorted", "bucketed", "ideal")))
    ['bucketed', 'ideal', 'naive', 'sorted']
    """
    cfg = config or SimConfig()
    out = {}
    for p in policies:
        if p == "ideal":
            oracle = OracleScheduler(cfg.replicas, workload.prefix_tokens // BLOCK_SIZE)
            r = simulate(replace(workload, arrival_s=0.0), oracle, cfg)
            r.policy = "ideal"
            out[p] = r
        else:
            out[p] = simulate(workload, p, cfg)
    return out


def calibrate_cache_blocks(
    workload: Workload, config: SimConfig, target_naive_hit: float = 0.26, lo: int = 64, hi: int = 1 << 20
) -> int:
    """Find the per-replica cache size (blocks) at which the naive policy hits ``target_naive_hit``.

    Bisection on the naive hit rate, which grows with the cache size.

    Examples
    --------
    >>> wl = Workload(num_prompts=512, num_prefixes=32, prompt_tokens=64, prefix_tokens=32, partition_size=64)
    >>> 0 < calibrate_cache_blocks(wl, SimConfig(replicas=2), 0.2) < 4096
    True
    """
    wl = replace(workload, arrival_s=0.0)
    while hi - lo > max(8, lo // 64):
        mid = (lo + hi) // 2
        hit = simulate(wl, "naive", replace(config, cache_blocks=mid)).hit_rate
        if hit < target_naive_hit:
            lo = mid
        else:
            hi = mid
    return (lo + hi) // 2
