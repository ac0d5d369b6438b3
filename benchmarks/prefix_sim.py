"""An independent block-level prefix-cache simulator for prompt scheduling (issue 19, gap a).

Written apart from :mod:`thresher.udfs.ai.simulator` (it shares no code with the schedulers it
judges) so a policy cannot be tuned to its own yardstick. Model, per replica:

* KV cache of ``cache_blocks`` blocks of 16 tokens, LRU over unpinned blocks; a running prompt
  pins its blocks; a prompt's prefix blocks are shared (hit = already in the cache), its own
  blocks never are. A prompt is admitted only when its blocks fit.
* continuous batching: at most ``max_running`` prompts run; each step costs
  ``step_s + prefill_s * uncached prompt tokens admitted + decode_s * running prompts``; a
  prompt leaves after ``new_tokens`` steps and its prefix blocks stay cached (unpinned).
* prompts arrive over ``arrival_s`` seconds (uniformly at random, or in prefix-grouped bursts).

Policies (all see prompts only after they arrive, except the bound):

* ``naive``: one FIFO in arrival order; a free slot on any replica takes the next prompt.
* ``sorted``: waits for the last arrival, sorts by prefix, deals contiguous runs to replicas.
* ``router``: "bucket by prefix + least-loaded replica": the first prompt of a prefix assigns the
  prefix to the replica with the least outstanding work; a free slot takes the oldest arrived
  prompt of its own buckets (the most recently used prefix first), else steals from the most
  loaded replica.
* ``schedule_prompts``: Thresher's offline per-replica order (``thresher.udfs.ai.scheduling``),
  replayed against arrival order: a replica runs its list in order and waits when the next
  prescribed prompt has not arrived.
* ``bound``: clairvoyant: every prompt there at t=0, each prefix on one replica (LPT), sorted.

    python -m benchmarks.prefix_sim                # the talk's shape: 20k prompts, 512 prefixes, 8 replicas
    python -m benchmarks.prefix_sim --sweep        # cache size, replicas, prefixes, skew, arrival, lengths
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


@dataclass(frozen=True)
class Shape:
    prompts: int = 20_000
    prefixes: int = 512
    replicas: int = 8
    prefix_tokens: int = 288
    suffix_tokens: int = 224  # mean; lengths vary +-50%
    new_tokens: int = 128
    zipf: float = 0.0  # 0: uniform prefix choice; > 1: skewed
    arrival_s: float = 2.5
    bursty: bool = False  # prompts of one prefix arrive together
    cache_blocks: int = 5000  # per replica: naive hits ~25%, sorted ~55% at the base shape (the talk: 26% and 54%)
    max_running: int = 32
    step_s: float = 0.004
    prefill_s: float = 1e-4
    decode_s: float = 1.5e-4
    seed: int = 0


@dataclass
class Prompt:
    pid: int
    prefix: int
    suffix_blocks: int
    arrive: float


def make_prompts(s: Shape) -> list[Prompt]:
    rng = np.random.default_rng(s.seed)
    if s.zipf > 1.0:
        which = (rng.zipf(s.zipf, s.prompts) - 1) % s.prefixes
    else:
        which = rng.integers(0, s.prefixes, s.prompts)
    suffix = np.maximum(1, np.round(rng.uniform(0.5, 1.5, s.prompts) * s.suffix_tokens / BLOCK)).astype(int)
    if s.bursty:
        order = np.argsort(which, kind="stable")
        arrive = np.empty(s.prompts)
        arrive[order] = np.sort(rng.uniform(0, s.arrival_s, s.prompts))
    else:
        arrive = rng.uniform(0, s.arrival_s, s.prompts)
    ps = [Prompt(i, int(w), int(b), float(t)) for i, (w, b, t) in enumerate(zip(which, suffix, arrive))]
    ps.sort(key=lambda p: p.arrive)
    for i, p in enumerate(ps):
        p.pid = i  # ids in arrival order
    return ps


class Replica:
    def __init__(self, s: Shape) -> None:
        self.s = s
        self.cache: OrderedDict[tuple[int, int], None] = OrderedDict()  # unpinned prefix blocks, LRU
        self.pinned: dict[tuple[int, int], int] = {}  # prefix block -> running prompts using it
        self.private = 0  # blocks held by running prompts' own tokens
        self.running: list[list[Any]] = []  # [prompt, steps left]
        self.clock = 0.0
        self.hit_tokens = 0
        self.prompt_tokens = 0
        self.done = 0

    def used(self) -> int:
        return len(self.cache) + len(self.pinned) + self.private

    def try_admit(self, p: Prompt) -> int | None:
        """Admit ``p`` if its blocks fit; returns its uncached prompt tokens, or None."""
        s = self.s
        nblk = s.prefix_tokens // BLOCK
        keys = [(p.prefix, i) for i in range(nblk)]
        hits = 0
        for k in keys:
            if k in self.cache or k in self.pinned:
                hits += 1
            else:
                break  # a prefix cache hit is a contiguous run from the start
        need = (nblk - hits) + p.suffix_blocks + -(-s.new_tokens // BLOCK)
        free = s.cache_blocks - self.used()
        reusable = sum(1 for k in keys[:hits] if k in self.cache)  # pinning these frees nothing new
        evictable = len(self.cache) - reusable
        if need > free + evictable:
            return None
        for k in keys[:hits]:
            if k in self.cache:
                del self.cache[k]
            self.pinned[k] = self.pinned.get(k, 0) + 1
        while s.cache_blocks - self.used() < need:
            self.cache.popitem(last=False)
        for k in keys[hits:]:
            self.pinned[k] = self.pinned.get(k, 0) + 1
        self.private += p.suffix_blocks + -(-s.new_tokens // BLOCK)
        self.running.append([p, s.new_tokens])
        self.hit_tokens += hits * BLOCK
        total = s.prefix_tokens + p.suffix_blocks * BLOCK
        self.prompt_tokens += total
        return total - hits * BLOCK

    def step(self, prefill_tokens: int) -> None:
        s = self.s
        self.clock += s.step_s + s.prefill_s * prefill_tokens + s.decode_s * len(self.running)
        still = []
        for r in self.running:
            r[1] -= 1
            if r[1] > 0:
                still.append(r)
                continue
            p = r[0]
            for i in range(s.prefix_tokens // BLOCK):
                k = (p.prefix, i)
                self.pinned[k] -= 1
                if self.pinned[k] == 0:
                    del self.pinned[k]
                    self.cache[k] = None  # stays cached, most recently used
            self.private -= p.suffix_blocks + -(-s.new_tokens // BLOCK)
            self.done += 1
        self.running = still


def simulate(s: Shape, policy: str, prompts: list[Prompt] | None = None) -> dict[str, Any]:
    prompts = prompts or make_prompts(s)
    n = len(prompts)
    if policy == "bound":
        prompts = [replace(p, arrive=0.0) for p in prompts]
    reps = [Replica(s) for _ in range(s.replicas)]
    feed = _feeder(s, policy, prompts)
    # advance the replica with the smallest clock; it admits what its feeder offers, then steps
    heap = [(0.0, r) for r in range(s.replicas)]
    finished = 0
    stalls = 0
    while finished < n:
        clock, r = heapq.heappop(heap)
        rep = reps[r]
        pre = 0
        while len(rep.running) < s.max_running:
            p = feed.peek(r, rep.clock)
            if p is None:
                break
            got = rep.try_admit(p)
            if got is None:
                break
            feed.take(r, p)
            pre += got
        if not rep.running:
            nxt = feed.next_arrival(r, rep.clock)
            if nxt is None:
                nxt = rep.clock + s.step_s  # nothing for this replica now: idle a step
            stalls += 1
            rep.clock = max(rep.clock + 1e-9, nxt)
        else:
            before = rep.done
            rep.step(pre)
            finished += rep.done - before
        heapq.heappush(heap, (rep.clock, r))
        if stalls > 50 * n:
            raise RuntimeError(f"{policy}: no progress")
    makespan = max(rp.clock for rp in reps)
    hit = sum(rp.hit_tokens for rp in reps) / max(1, sum(rp.prompt_tokens for rp in reps))
    return {"policy": policy, "throughput": n / makespan, "hit_rate": hit, "makespan_s": makespan,
            "per_replica": [rp.done for rp in reps]}


class _Feeder:
    """What each replica may run next (``peek``/``take``), seeing only prompts that have arrived."""

    def __init__(self, prompts: list[Prompt]) -> None:
        self.prompts = prompts
        self.arrivals = [p.arrive for p in prompts]

    def next_arrival(self, r: int, now: float) -> float | None:
        i = int(np.searchsorted(self.arrivals, now, side="right"))
        return self.arrivals[i] if i < len(self.arrivals) else None


class _Naive(_Feeder):
    def __init__(self, prompts: list[Prompt]) -> None:
        super().__init__(prompts)
        self.q = deque(prompts)

    def peek(self, r: int, now: float) -> Prompt | None:
        return self.q[0] if self.q and self.q[0].arrive <= now else None

    def take(self, r: int, p: Prompt) -> None:
        self.q.popleft()


class _Lists(_Feeder):
    """Each replica runs a fixed list in order, waiting for a prompt that has not arrived."""

    def __init__(self, prompts: list[Prompt], lists: list[list[Prompt]], barrier: float = 0.0) -> None:
        super().__init__(prompts)
        self.lists = [deque(x) for x in lists]
        self.barrier = barrier

    def peek(self, r: int, now: float) -> Prompt | None:
        q = self.lists[r]
        if not q or now < self.barrier or q[0].arrive > now:
            return None
        return q[0]

    def take(self, r: int, p: Prompt) -> None:
        self.lists[r].popleft()

    def next_arrival(self, r: int, now: float) -> float | None:
        q = self.lists[r]
        if not q:
            return None
        return max(q[0].arrive, self.barrier, now + 1e-9)


class _Router(_Feeder):
    """Bucket by prefix; a prefix sticks to the replica with the least outstanding work when first seen."""

    def __init__(self, prompts: list[Prompt], s: Shape) -> None:
        super().__init__(prompts)
        self.s = s
        self.owner: dict[int, int] = {}
        self.buckets: list[dict[int, deque[Prompt]]] = [{} for _ in range(s.replicas)]
        self.load = [0] * s.replicas
        self.last: list[int | None] = [None] * s.replicas
        self.i = 0

    def _arrive(self, now: float) -> None:
        while self.i < len(self.prompts) and self.prompts[self.i].arrive <= now:
            p = self.prompts[self.i]
            self.i += 1
            r = self.owner.get(p.prefix)
            if r is None:
                r = min(range(self.s.replicas), key=lambda k: self.load[k])
                self.owner[p.prefix] = r
            self.buckets[r].setdefault(p.prefix, deque()).append(p)
            self.load[r] += 1

    def _pick(self, r: int) -> tuple[int, int] | None:
        b = self.buckets[r]
        if self.last[r] in b:
            return r, self.last[r]  # type: ignore[return-value]
        if b:
            return r, max(b, key=lambda k: len(b[k]))
        donor = max(range(self.s.replicas), key=lambda k: self.load[k])
        if self.load[donor] > 1 and self.buckets[donor]:
            bd = self.buckets[donor]
            return donor, max(bd, key=lambda k: len(bd[k]))
        return None

    def peek(self, r: int, now: float) -> Prompt | None:
        self._arrive(now)
        got = self._pick(r)
        return None if got is None else self.buckets[got[0]][got[1]][0]

    def take(self, r: int, p: Prompt) -> None:
        owner = self.owner[p.prefix]
        if owner != r:  # stolen: the whole bucket moves to the thief
            self.buckets[r][p.prefix] = self.buckets[owner].pop(p.prefix)
            moved = len(self.buckets[r][p.prefix])
            self.load[owner] -= moved
            self.load[r] += moved
            self.owner[p.prefix] = r
        q = self.buckets[r][p.prefix]
        q.popleft()
        self.load[r] -= 1
        if not q:
            del self.buckets[r][p.prefix]
        self.last[r] = p.prefix

    def next_arrival(self, r: int, now: float) -> float | None:
        return self.arrivals[self.i] if self.i < len(self.arrivals) else None


def _feeder(s: Shape, policy: str, prompts: list[Prompt]) -> Any:
    if policy == "naive":
        return _Naive(prompts)
    if policy == "router":
        return _Router(prompts, s)
    if policy in ("sorted", "bound"):
        order = sorted(prompts, key=lambda p: (p.prefix, p.pid))
        if policy == "sorted":
            k = -(-len(order) // s.replicas)
            return _Lists(prompts, [order[i : i + k] for i in range(0, len(order), k)],
                          barrier=max(p.arrive for p in prompts))
        groups: dict[int, list[Prompt]] = {}
        for p in order:
            groups.setdefault(p.prefix, []).append(p)
        lists: list[list[Prompt]] = [[] for _ in range(s.replicas)]
        for g in sorted(groups.values(), key=len, reverse=True):  # LPT
            min(lists, key=len).extend(g)
        return _Lists(prompts, lists)
    if policy == "schedule_prompts":
        from thresher.udfs.ai.scheduling import schedule_prompts

        nblk = s.prefix_tokens // BLOCK
        toks = {p.pid: [p.prefix * 1000 + i for i in range(nblk * BLOCK)] + [10**9 + p.pid] * (p.suffix_blocks * BLOCK)
                for p in prompts}
        parts = [[(p.pid, toks[p.pid]) for p in prompts[i : i + 256]] for i in range(0, len(prompts), 256)]
        ids = schedule_prompts(parts, replicas=s.replicas, cache_blocks=s.cache_blocks)
        return _Lists(prompts, [[prompts[i] for i in x] for x in ids])
    raise ValueError(policy)


POLICIES = ("naive", "sorted", "router", "schedule_prompts", "bound")


def sweep_points(base: Shape) -> list[Shape]:
    pts = [base]
    pts += [replace(base, cache_blocks=c) for c in (3000, 10000)]
    pts += [replace(base, replicas=r) for r in (2, 16)]
    pts += [replace(base, prefixes=k) for k in (64, 4096)]
    pts += [replace(base, zipf=1.3), replace(base, bursty=True), replace(base, arrival_s=0.0),
            replace(base, arrival_s=10.0), replace(base, suffix_tokens=64), replace(base, prefix_tokens=96)]
    return pts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=20_000)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "prefix_sim.json"))
    args = ap.parse_args(argv)
    base = Shape(prompts=args.prompts)
    policies = args.policies.split(",")
    points = sweep_points(base) if args.sweep else [base]
    rows = []
    for s in points:
        prompts = make_prompts(s)
        res = {p: simulate(s, p, prompts) for p in policies}
        row = {"shape": {k: v for k, v in asdict(s).items() if v != getattr(base, k)} or "base",
               **{f"{p}_tput": r["throughput"] for p, r in res.items()}, **{f"{p}_hit": r["hit_rate"] for p, r in res.items()}}
        rows.append(row)
        print(json.dumps(row["shape"]), " ".join(f"{p} {r['throughput']:.0f}/s hit {r['hit_rate']:.3f}" for p, r in res.items()),
              flush=True)
    summary = {}
    for p in policies:
        for ref in ("naive", "sorted", "bound"):
            if ref in policies and p != ref:
                xs = [r[f"{p}_tput"] / r[f"{ref}_tput"] for r in rows]
                summary[f"{p}_vs_{ref}"] = {"worst": min(xs), "median": statistics.median(xs)}
    for k, v in summary.items():
        print(f"{k:<34} worst {v['worst']:.3f}  median {v['median']:.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "summary": summary}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
