"""Streaming prompt schedulers: dynamic prefix bucketing with prefix-aware routing.

A model replica with prefix caching (vLLM's automatic prefix caching, or the prefix reuse of the
``transformers`` provider) only saves prefill work when prompts that share a prefix run close
together *on the same replica*. The schedulers here decide, as prompts stream in, which replica
runs which prompt and in what order:

- :class:`NaiveScheduler` -- first in, first out; any replica takes the next prompts.
- :class:`SortedScheduler` -- sorts the prompts by their tokens, then hands them out in order. With
  ``window=None`` it is the global sort baseline: a barrier that waits for the whole input.
- :class:`PrefixScheduler` -- the engine's router: prompts are bucketed by their token-level
  prefix (a chain of 16-token block hashes, the unit vLLM caches); a bucket sticks to one replica
  (cache affinity); a new bucket goes to the replica whose modelled KV cache holds its prefix, else
  to the least-loaded one; a replica's freed slots take the next *arrived* prompts of its own
  buckets (the one it is draining first), and only when it has none left does it steal from a
  replica with a backlog, preferring a bucket whose prefix it already caches. When the input
  ends it evens out what each replica has left, like a global sort's equal split, but without
  the sort's barrier.

All three implement :class:`Scheduler` (``add`` / ``close`` / ``next_batch`` / ``complete``).
:class:`~thresher.udfs.ai.routing.PromptRouter` drives a :class:`PrefixScheduler` in the engine;
:func:`schedule_prompts` (offline) is not a separate heuristic but the same object driven by
:func:`iter_schedule` against an arrival trace, with replicas modelled by :class:`ReplicaModel`
(continuous batching, prefix cache, step costs), so its per-replica orders are the router's
decisions and stay feasible while prompts stream in. ``benchmarks/prefix_sim.py`` judges both on
an independent simulator.

Examples
--------
>>> prompts = [(i, [i % 2] * 32 + [100 + i] * 16) for i in range(6)]
>>> schedule_prompts([prompts[:3], prompts[3:]], replicas=2, batch_size=4)
[[0, 2, 4], [1, 3, 5]]
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import xxhash

__all__ = [
    "BLOCK_SIZE",
    "PromptRequest",
    "Scheduler",
    "NaiveScheduler",
    "SortedScheduler",
    "PrefixScheduler",
    "LRUBlockCache",
    "prefix_block_hashes",
    "make_scheduler",
    "ReplicaModel",
    "iter_schedule",
    "schedule_prompts",
]

#: Tokens per KV-cache block; vLLM's default block size and the unit of prefix matching.
BLOCK_SIZE = 16

_ROOT = 0  # bucket key of prompts shorter than one block
_TAIL = 4  # a victim's last prompts a thief with work takes past its share (see PrefixScheduler._steal)


def prefix_block_hashes(token_ids: Sequence[int], block_size: int = BLOCK_SIZE) -> tuple[int, ...]:
    """Hash every full block of ``token_ids`` chained on its prefix (vLLM's prefix-cache key).

    Two prompts share the first ``k`` hashes exactly when they share the first ``k * block_size``
    tokens, so a hash names a whole prefix, not just one block.

    Parameters
    ----------
    token_ids : Sequence[int]
        The prompt's token ids.
    block_size : int
        Tokens per block; a trailing partial block is not hashed (it is never cached).

    Returns
    -------
    tuple[int, ...]
        One hash per full block.

    Examples
    --------
    >>> a = prefix_block_hashes(list(range(40)))
    >>> b = prefix_block_hashes(list(range(32)) + [7] * 8)
    >>> len(a), a[:2] == b[:2]
    (2, True)
    """
    arr = np.ascontiguousarray(token_ids, dtype=np.int64)
    out: list[int] = []
    parent = 0
    for start in range(0, len(arr) - block_size + 1, block_size):
        parent = xxhash.xxh3_64_intdigest(arr[start : start + block_size].tobytes(), seed=parent)
        out.append(parent)
    return tuple(out)


@dataclass(slots=True, eq=False)
class PromptRequest:
    """A prompt waiting to be scheduled: its id, tokens and prefix block hashes.

    Examples
    --------
    >>> PromptRequest.make(3, [1] * 20).num_blocks
    1
    """

    id: int
    token_ids: Sequence[int]
    block_hashes: tuple[int, ...]
    arrival: int = 0

    @staticmethod
    def make(prompt_id: int, token_ids: Sequence[int], block_size: int = BLOCK_SIZE) -> PromptRequest:
        """Build a request, hashing the prompt's blocks once."""
        return PromptRequest(prompt_id, token_ids, prefix_block_hashes(token_ids, block_size))

    @property
    def num_tokens(self) -> int:
        """Prompt length in tokens."""
        return len(self.token_ids)

    @property
    def num_blocks(self) -> int:
        """Number of full (cacheable) blocks."""
        return len(self.block_hashes)


class LRUBlockCache:
    """A least-recently-used set of block hashes with a fixed capacity in blocks.

    Used two ways: as the scheduler's *model* of what a replica's KV cache holds, and by the
    offline replay (:func:`iter_schedule`) as the replica's cache itself.

    Examples
    --------
    >>> c = LRUBlockCache(2)
    >>> c.admit((1, 2)), c.admit((1, 3)), 2 in c
    (0, 1, False)
    """

    __slots__ = ("capacity", "_blocks")

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self._blocks: OrderedDict[int, None] = OrderedDict()

    def __contains__(self, block: int) -> bool:
        return block in self._blocks

    def __len__(self) -> int:
        return len(self._blocks)

    def matched_prefix(self, hashes: Sequence[int]) -> int:
        """Number of leading blocks of ``hashes`` present (a prefix cache hit stops at the first miss)."""
        n = 0
        for h in hashes:
            if h not in self._blocks:
                break
            n += 1
        return n

    def admit(self, hashes: Sequence[int]) -> int:
        """Touch a prompt's blocks in order, inserting the missing ones; return the number of leading hits."""
        blocks = self._blocks
        hits = self.matched_prefix(hashes)
        for h in hashes:
            if h in blocks:
                blocks.move_to_end(h)
            else:
                blocks[h] = None
        while len(blocks) > self.capacity:
            blocks.popitem(last=False)
        return hits


class Scheduler(Protocol):
    """What a model actor (or the offline replay) drives: feed prompts, ask for work, report completions."""

    num_replicas: int

    def add(self, prompts: Iterable[PromptRequest]) -> None:
        """Buffer newly arrived prompts."""
        ...

    def close(self) -> None:
        """Signal that no more prompts will arrive."""
        ...

    def buffer_limit(self, base: int) -> int:
        """How many prompts a driver may keep pending now, given its configured bound ``base``."""
        ...

    @property
    def pending(self) -> int:
        """Prompts buffered and not yet issued."""
        ...

    def next_batch(self, replica: int, max_prompts: int) -> list[PromptRequest]:
        """Up to ``max_prompts`` prompts for ``replica`` to run next, in execution order (may be empty)."""
        ...

    def complete(self, replica: int, prompt_ids: Iterable[int]) -> None:
        """Report that ``replica`` finished these prompts (frees their outstanding work)."""
        ...


class _Base:
    """Outstanding-work accounting shared by the schedulers."""

    def __init__(self, num_replicas: int) -> None:
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be >= 1, got {num_replicas}")
        self.num_replicas = num_replicas
        self.closed = False
        self.outstanding = [0] * num_replicas  # queued + running prompt tokens per replica
        self._running: list[dict[int, int]] = [{} for _ in range(num_replicas)]
        self.issued = [0] * num_replicas  # prompts ever issued per replica
        self.completed_tokens = [0] * num_replicas  # prompt tokens of the prompts a replica finished

    def close(self) -> None:
        self.closed = True

    def buffer_limit(self, base: int) -> int:
        """How many prompts a driver may keep pending now, given its configured bound ``base``."""
        return base

    def add_replica(self) -> int:
        """Grow by one replica (an actor that joined the pool); returns its index."""
        self.outstanding.append(0)
        self._running.append({})
        self.issued.append(0)
        self.completed_tokens.append(0)
        self.num_replicas += 1
        return self.num_replicas - 1

    def _issue(self, replica: int, batch: list[PromptRequest]) -> list[PromptRequest]:
        running = self._running[replica]
        for p in batch:
            running[p.id] = p.num_tokens
        self.issued[replica] += len(batch)
        return batch

    def complete(self, replica: int, prompt_ids: Iterable[int]) -> None:
        running = self._running[replica]
        for pid in prompt_ids:
            tokens = running.pop(pid, 0)
            self.outstanding[replica] -= tokens
            self.completed_tokens[replica] += tokens

    def assigned(self) -> list[int]:
        """Prompt tokens each replica has been given in all: finished, running and pending."""
        return [o + c for o, c in zip(self.outstanding, self.completed_tokens)]


class NaiveScheduler(_Base):
    """First in, first out: whichever replica asks takes the oldest prompts.

    Examples
    --------
    >>> s = NaiveScheduler(2)
    >>> s.add(PromptRequest.make(i, [i]) for i in range(3))
    >>> [p.id for p in s.next_batch(1, 2)]
    [0, 1]
    """

    def __init__(self, num_replicas: int) -> None:
        super().__init__(num_replicas)
        self._queue: deque[PromptRequest] = deque()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def add(self, prompts: Iterable[PromptRequest]) -> None:
        self._queue.extend(prompts)

    def next_batch(self, replica: int, max_prompts: int) -> list[PromptRequest]:
        q = self._queue
        batch = [q.popleft() for _ in range(min(max_prompts, len(q)))]
        self.outstanding[replica] += sum(p.num_tokens for p in batch)
        return self._issue(replica, batch)


class SortedScheduler(_Base):
    """Sort prompts by their tokens so equal prefixes are adjacent, then hand them out in order.

    Parameters
    ----------
    num_replicas : int
        Number of model replicas.
    window : int or None
        ``None`` (default): the global sort baseline, a barrier that issues nothing until
        :meth:`close`. An integer: sort each arriving window of that many prompts (streaming, weaker).

    Examples
    --------
    >>> s = SortedScheduler(1)
    >>> s.add([PromptRequest.make(0, [2]), PromptRequest.make(1, [1])])
    >>> s.next_batch(0, 2), s.close(), [p.id for p in s.next_batch(0, 2)]
    ([], None, [1, 0])
    """

    def __init__(self, num_replicas: int, window: int | None = None) -> None:
        super().__init__(num_replicas)
        self.window = window
        #: issues nothing before close(): a driver must not bound its buffer
        self.barrier = window is None
        self._incoming: list[PromptRequest] = []
        self._ready: deque[PromptRequest] = deque()

    @property
    def pending(self) -> int:
        return len(self._incoming) + len(self._ready)

    def add(self, prompts: Iterable[PromptRequest]) -> None:
        self._incoming.extend(prompts)
        if self.window is not None:
            while len(self._incoming) >= self.window:
                self._flush(self._incoming[: self.window])
                del self._incoming[: self.window]

    def close(self) -> None:
        super().close()
        self._flush(self._incoming)
        self._incoming = []

    def _flush(self, prompts: list[PromptRequest]) -> None:
        # Big-endian fixed-width bytes sort like the token sequences themselves.
        self._ready.extend(sorted(prompts, key=lambda p: np.asarray(p.token_ids, dtype=">u8").tobytes()))

    def next_batch(self, replica: int, max_prompts: int) -> list[PromptRequest]:
        q = self._ready
        batch = [q.popleft() for _ in range(min(max_prompts, len(q)))]
        self.outstanding[replica] += sum(p.num_tokens for p in batch)
        return self._issue(replica, batch)


@dataclass(slots=True, eq=False)
class _Bucket:
    key: int
    chain: tuple[int, ...]  # block hashes of the shared prefix (the bucket's routing key)
    replica: int
    members: OrderedDict[int, PromptRequest] = field(default_factory=OrderedDict)
    tokens: int = 0  # prompt tokens of the members
    part: bool = False  # split off another bucket (its prefix is counted once, by the other: buffer_limit)


class PrefixScheduler(_Base):
    """Dynamic prefix bucketing with prefix-aware routing: the streaming policy.

    Each arriving prompt is keyed by the deepest prefix block it shares with another buffered
    prompt (a prompt buffered alone under a shallower key moves to the deeper bucket as soon as a
    partner arrives). A new bucket is routed to the replica whose modelled cache (an LRU of block
    hashes sized like the replica's KV cache, updated as prompts are issued) holds the longest part
    of its prefix -- unless that replica's outstanding tokens exceed the least-loaded replica's by
    more than the slack, then to the least-loaded one. :meth:`next_batch` fills a replica's free
    slots from its own buckets: the one it is draining, then the one of its prompt older than
    ``max_wait`` issues (so nothing starves; the bucket stays on its replica unless that one left),
    then one whose whole prefix it caches, then the largest. With none left it steals, so its
    slots stay full: only from a replica whose pending prompts exceed its free slots (as of its
    last request) or that left (:meth:`park`), a whole bucket that replica is not draining -- the
    one whose prefix the thief caches longest first, then the busiest victim's largest -- else part
    of the one it is draining.

    The makespan is set by the replica that finishes last, and the router is not told when the
    input ends (the engine cannot know), so it keeps the replicas even all along: after every
    :meth:`add`, once the spread of the prompt tokens each replica has been assigned in all
    (finished, running, pending; a prompt weighs its length plus the mean length) exceeds a couple
    of prompts and 0.5% of the mean, pending buckets move from the most to the least assigned
    (:meth:`rebalance`; a bucket is split only to move a few prompts). Once the input looks complete (more prompts issued since the last
    arrival than are pending), a thief that still has work takes from a backlog its owner will
    start within its next batch only up to the mean -- growing its last batch past its share
    only makes it finish after the replica it robbed -- except a victim's last few prompts, which
    it starts at once rather than leave a late tail; a larger backlog, or a thief with nothing
    running, it takes as above. :meth:`close` (the input is complete, as the offline replay
    knows) rebalances once more, splitting buckets where no whole one fits.

    Parameters
    ----------
    num_replicas : int
        Number of model replicas.
    cache_blocks : int
        Capacity, in :data:`BLOCK_SIZE` blocks, of each replica's KV cache as modelled for routing.
    load_slack : float
        Route away from the best-cached replica when its outstanding tokens exceed the least-loaded
        replica's by more than ``load_slack`` times the mean outstanding tokens (plus ``min_slack_tokens``).
    min_slack_tokens : int
        Absolute part of the slack, so small loads never override cache affinity.
    max_wait : int or None
        Serve the bucket of any prompt that has waited through this many issued prompts
        (default: four times the number of prompts buffered when it arrived, at least 4,096).
    min_bucket_rows : int
        Buckets a driver should be able to grow to: while the buffer holds many small shared
        buckets (many distinct prefixes), :meth:`buffer_limit` lets it grow past its configured
        bound to ``min_bucket_rows`` prompts per shared bucket, so bucketing keeps paying off as the
        number of distinct prefixes rises. Prompts that share nothing never grow it.
    max_buffer_growth : int
        Cap on that growth, as a multiple of the configured bound (memory stays bounded).
    block_size : int
        Tokens per block.

    Examples
    --------
    >>> s = PrefixScheduler(num_replicas=2, cache_blocks=64)
    >>> s.add(PromptRequest.make(i, [i % 2] * 32 + [i] * 16) for i in range(4))
    >>> [p.id for p in s.next_batch(0, 4)], [p.id for p in s.next_batch(1, 4)]
    ([0, 2], [1, 3])
    """

    def __init__(
        self,
        num_replicas: int,
        cache_blocks: int = 8192,
        load_slack: float = 0.5,
        min_slack_tokens: int = 16384,
        max_wait: int | None = None,
        block_size: int = BLOCK_SIZE,
        min_bucket_rows: int = 16,
        max_buffer_growth: int = 8,
    ) -> None:
        super().__init__(num_replicas)
        self.min_bucket_rows = min_bucket_rows
        self.max_buffer_growth = max_buffer_growth
        self._shared = 0  # buckets holding two or more pending prompts
        self.block_size = block_size
        self.load_slack = load_slack
        self.min_slack_tokens = min_slack_tokens
        self.max_wait = max_wait
        self.caches = [LRUBlockCache(cache_blocks) for _ in range(num_replicas)]
        self._buckets: dict[int, _Bucket] = {}
        self._key_of: dict[int, int] = {}  # pending prompt id -> bucket key
        self._depth_of: dict[int, int] = {}  # pending prompt id -> number of blocks in its key
        self._count: dict[int, int] = {}  # block hash -> pending prompts through it
        self._owner: dict[int, int] = {}  # block hash -> last pending prompt that added it
        self._heaps: list[list[tuple[int, int, int]]] = [[] for _ in range(num_replicas)]
        self._active: list[int | None] = [None] * num_replicas
        self._hot: list[dict[int, None]] = [{} for _ in range(num_replicas)]  # buckets whose prefix r caches
        self._order: deque[tuple[int, int]] = deque()  # (arrival seq, prompt id) for the age cap
        self._seq = itertools.count()
        self._issued = 0
        self._issued_at_add = 0  # prompts issued when prompts last arrived
        self._added = 0
        self._added_tokens = 0
        self._tie = itertools.count()
        self._cache_blocks = cache_blocks
        self._parked: set[int] = set()
        self._cap: list[int | None] = [None] * num_replicas  # slots a replica had at its last request
        #: buckets (or bucket halves) moved to an idle replica, for the stats
        self.steals = 0
        #: prompts moved by the rebalance when the input ended, for the stats
        self.rebalance_on_close = 0
        #: prompts moved to keep the replicas' assigned work even while prompts stream in
        self.balanced = 0
        #: buckets (or bucket parts) moved by :meth:`rebalance`, for the stats
        self.bucket_moves = 0
        #: buckets routed to a replica because its modelled cache held part of their prefix
        self.cache_routed = 0

    def add_replica(self) -> int:
        r = super().add_replica()
        self.caches.append(LRUBlockCache(self._cache_blocks))
        self._heaps.append([])
        self._active.append(None)
        self._hot.append({})
        self._cap.append(None)
        return r

    def park(self, replica: int) -> None:
        """The replica stopped asking for work (its worker left): its buckets, even the one it was
        draining, may now be taken whole by the replicas still working."""
        self._active[replica] = None
        self._parked.add(replica)

    def buffer_limit(self, base: int) -> int:
        """``base`` grown to ``min_bucket_rows`` per shared bucket, at most ``max_buffer_growth`` times."""
        return min(base * self.max_buffer_growth, max(base, self.min_bucket_rows * self._shared))

    def _slack(self) -> float:
        return self.min_slack_tokens + self.load_slack * (sum(self.outstanding) / self.num_replicas)

    # -- buffering -------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return len(self._key_of)

    @property
    def num_buckets(self) -> int:
        """Buckets currently holding pending prompts."""
        return len(self._buckets)

    def buckets(self, replica: int | None = None) -> list[list[int]]:
        """Pending prompt ids grouped by bucket, largest bucket first (optionally one replica's only)."""
        live = [b for b in self._buckets.values() if replica is None or b.replica == replica]
        live.sort(key=lambda b: -len(b.members))
        return [list(b.members) for b in live]

    def add(self, prompts: Iterable[PromptRequest]) -> None:
        for p in prompts:
            self.closed = False  # more input after all (a long-lived router): streaming rules again
            if p.id in self._key_of:
                raise ValueError(f"prompt id {p.id} is already pending")
            p.arrival = next(self._seq)
            self._order.append((self._issued, p.id))
            self._insert(p)
            self._issued_at_add = self._issued
            self._added += 1
            self._added_tokens += p.num_tokens
        self._balance()

    def _insert(self, p: PromptRequest) -> None:
        hashes = p.block_hashes
        count, owner = self._count, self._owner
        depth = 0
        partners: dict[int, int] = {}  # pending prompt buffered under a shallower key -> its new depth
        for i, h in enumerate(hashes):
            c = count.get(h, 0) + 1
            count[h] = c
            if c >= 2:
                depth = i + 1
                prev = owner.get(h)
                if c == 2 and prev is not None and prev in self._key_of and self._depth_of[prev] < depth:
                    partners[prev] = depth
            owner[h] = p.id
        for prev, d in partners.items():
            self._move(prev, d)
        if depth == 0 and hashes:
            # Shares nothing with a pending prompt yet: a singleton bucket under its first block
            # (routed by the longest prefix a replica's modelled cache holds).
            depth = 1
        self._place(p, depth, hint=None)

    def _place(self, p: PromptRequest, depth: int, hint: int | None) -> None:
        key = p.block_hashes[depth - 1] if depth else _ROOT
        bucket = self._buckets.get(key)
        if bucket is None:
            chain = p.block_hashes[:depth]
            bucket = _Bucket(key, chain, self._route(chain, hint))
            self._buckets[key] = bucket
            if chain and chain[-1] in self.caches[bucket.replica]:
                self._hot[bucket.replica][key] = None
        bucket.members[p.id] = p
        bucket.tokens += p.num_tokens
        if len(bucket.members) == 2:
            self._shared += 1
        self._key_of[p.id] = key
        self._depth_of[p.id] = depth
        self.outstanding[bucket.replica] += p.num_tokens
        self._push(bucket)

    def _move(self, pid: int, depth: int) -> None:
        old = self._buckets[self._key_of[pid]]
        p = old.members.pop(pid)
        old.tokens -= p.num_tokens
        if len(old.members) == 1 and not old.part:
            self._shared -= 1
        self.outstanding[old.replica] -= p.num_tokens
        self._drop_if_empty(old)
        self._place(p, depth, hint=old.replica)

    def _drop_if_empty(self, bucket: _Bucket) -> None:
        if not bucket.members:
            del self._buckets[bucket.key]
            if self._active[bucket.replica] == bucket.key:
                self._active[bucket.replica] = None
        else:
            self._push(bucket)

    def _push(self, bucket: _Bucket) -> None:
        heapq.heappush(self._heaps[bucket.replica], (-len(bucket.members), next(self._tie), bucket.key))

    # -- routing ---------------------------------------------------------------------------------
    def _route(self, chain: tuple[int, ...], hint: int | None) -> int:
        load = self.outstanding
        least = min(range(self.num_replicas), key=load.__getitem__)
        best, best_hits = least, 0
        if chain:
            for r in range(self.num_replicas):
                hits = self.caches[r].matched_prefix(chain)
                if hits > best_hits or (hits == best_hits and hits > 0 and load[r] < load[best]):
                    best, best_hits = r, hits
        if best_hits == 0:
            best = hint if hint is not None else least
        if load[best] - load[least] > self._slack():
            return least
        self.cache_routed += best_hits > 0
        return best

    # -- issuing ---------------------------------------------------------------------------------
    def _pick(self, replica: int, want: int, taken: int = 0) -> _Bucket | None:
        active = self._active[replica]
        if active is not None and active in self._buckets:
            return self._buckets[active]
        # Once the input is complete every prompt will run soon anyway: the age cap (there so an
        # endless stream starves nothing) would only move buckets off the replicas evened out by
        # the rebalance, and the replica that took the last of them would finish late.
        starving = self._starving()
        if starving is not None:
            bucket = self._buckets[self._key_of[starving]]
            if bucket.replica == replica:
                return bucket
            if bucket.replica in self._parked:
                self._reassign(bucket, replica)
                return bucket
        hot = self._hot_bucket(replica)
        if hot is not None:
            return hot
        heap = self._heaps[replica]
        while heap:
            neg, _, key = heap[0]
            b = self._buckets.get(key)
            if b is None or b.replica != replica or -neg != len(b.members):
                heapq.heappop(heap)  # stale entry
                continue
            return b
        return self._steal(replica, want, taken) if want else None

    def _hot_bucket(self, replica: int) -> _Bucket | None:
        """The largest bucket whose whole prefix the replica (as modelled) still caches: all hits, serve it now."""
        hot, cache, best = self._hot[replica], self.caches[replica], None
        for key in list(hot):
            b = self._buckets.get(key)
            if b is None or b.replica != replica or cache.matched_prefix(b.chain) < len(b.chain):
                del hot[key]
            elif best is None or len(b.members) > len(best.members):
                best = b
        return best

    def _starving(self) -> int | None:
        order = self._order
        while order and order[0][1] not in self._key_of:
            order.popleft()
        if not order:
            return None
        limit = self.max_wait if self.max_wait is not None else max(4096, 4 * self.pending)
        waited_since, pid = order[0]
        return pid if self._issued - waited_since > limit else None

    def _steal(self, replica: int, want: int, taken: int = 0) -> _Bucket | None:
        """Work for a replica whose own buckets are empty, so its ``want`` free slots stay full.

        Only from a replica with a backlog -- more pending prompts than its free slots (as of its
        last request) -- or one that left (parked): a replica that will take its prompts at its
        next request is not robbed. If the input looks complete, this replica has work (running,
        or ``taken`` prompts in the batch being filled) and the victim's backlog is smaller than
        its batch, only what keeps both at or under / over the mean assigned work (see the class
        docstring; the victim's last few prompts excepted). A whole bucket
        that the victim is not draining and that fits, preferring the one whose prefix this
        replica caches longest (no prefill lost), then the busiest victim's largest; else part of
        a bucket (at most half of it; all of it when its replica left). The bucket becomes this
        replica's: affinity follows the cache that now holds its prefix.
        """
        cache, load, active, parked = self.caches[replica], self.outstanding, self._active, self._parked
        backlog = [0] * self.num_replicas
        for b in self._buckets.values():
            backlog[b.replica] += len(b.members)
        pending = backlog[:]
        for v in range(self.num_replicas):
            if v not in parked:
                cap = self._cap[v]
                slots = cap if cap is not None else self._cap[replica] or want  # unknown: like the thief's
                backlog[v] -= max(0, slots - len(self._running[v]))
        # How much of a victim's backlog the thief may take. A backlog of a full batch or more will
        # not start on its owner within one generation: the thief runs it sooner, take it. A
        # smaller one starts on its owner soon: moving it only pays when the thief was assigned
        # less (issued + pending), and then at most half the difference -- else the thief ends up
        # running the victim's tail and finishes after it.
        total = self._work()
        unit = self._unit()
        total[replica] += unit * taken  # the ``taken`` prompts' tokens already count (outstanding)
        tokens = [0.0] * self.num_replicas
        for b in self._buckets.values():
            tokens[b.replica] += b.tokens + unit * len(b.members)
        # The input looks complete once more prompts were issued since the last arrival than are
        # still pending; until then more input will come and even the replicas out (add()).
        quiet = self._issued - self._issued_at_add > self.pending
        live = [v for v in range(self.num_replicas) if v not in parked]
        mean = sum(total[v] for v in live) / max(1, len(live))
        share = [0] * self.num_replicas
        for v in range(self.num_replicas):
            if v in parked:
                share[v] = pending[v]
            elif backlog[v] >= (self._cap[v] or want):
                share[v] = backlog[v]
            elif quiet and (self._running[replica] or taken) and (pending[v] > min(want, _TAIL)):
                # up to the mean: the victim keeps what brings it down to the mean, the thief takes
                # what brings it up to it (work, converted at the victim's mean pending prompt).
                # Except a victim's last few prompts, when they fit in the thief's free slots now:
                # their owner would start them only as its own slots free, each leaving a late
                # tail of mostly empty steps; the thief starts them at once.
                room = min(total[v] - mean, mean - total[replica])
                share[v] = min(backlog[v], int(room * pending[v] / max(1, tokens[v])))
            else:
                share[v] = backlog[v]  # an idle thief: any work beats idling
        best: _Bucket | None = None
        best_score: tuple[int, int, int, int] = (-1, -1, -1, -1)
        donor: _Bucket | None = None
        for b in self._buckets.values():
            v = b.replica
            if v == replica or backlog[v] <= 0 or share[v] < 1:
                continue
            if len(b.members) > share[v]:
                if donor is None or backlog[v] > backlog[donor.replica]:
                    donor = b  # too large to take whole: a part of it
                continue
            if active[v] == b.key and v not in parked:
                if donor is None or backlog[v] > backlog[donor.replica]:
                    donor = b
                continue
            hits = cache.matched_prefix(b.chain) if b.chain else 0
            score = (int(hits == len(b.chain) and hits > 0), hits, load[v], len(b.members))
            if score > best_score:
                best, best_score = b, score
        if best is not None:
            self._reassign(best, replica)
            self.steals += 1
            return best
        if donor is None:
            return None
        take = min(max(1, len(donor.members) // 2), share[donor.replica])
        self.steals += 1
        return self._split(donor, take, replica)

    def _split(self, donor: _Bucket, take: int, replica: int) -> _Bucket:
        """Move the ``take`` newest prompts of ``donor`` to a new bucket (same prefix) on ``replica``
        (all of them: the bucket itself moves, so no empty bucket is left behind)."""
        if take >= len(donor.members):
            self._reassign(donor, replica)
            return donor
        part = list(donor.members)[len(donor.members) - take :]
        split = _Bucket(-next(self._tie) - 1, donor.chain, replica, part=True)
        for pid in part:
            p = donor.members.pop(pid)
            split.members[pid] = p
            donor.tokens -= p.num_tokens
            split.tokens += p.num_tokens
            self._shared -= len(donor.members) == 1 and not donor.part
            self._key_of[pid] = split.key
            self.outstanding[donor.replica] -= p.num_tokens
            self.outstanding[replica] += p.num_tokens
        self._buckets[split.key] = split
        self._push(donor)
        self._push(split)
        return split

    def close(self) -> None:
        """No more prompts will arrive: even out what the replicas still have to run (:meth:`rebalance`,
        splitting buckets freely). Optional: :meth:`add` keeps them about even anyway."""
        if not self.closed:
            self.rebalance_on_close = self.rebalance()
        super().close()

    def rebalance(self, min_split_tokens: float = 0.0) -> int:
        """Move pending prompts so every working replica is assigned the same work in all.

        The makespan is set by the replica that finishes last; replicas run at about the same
        speed, so they end together when each has been assigned (finished, running and pending)
        about the same work -- a prompt weighs its length plus the mean length (its prefill and
        its share of output steps alike; :meth:`_work`). Pending buckets move whole from the most to the least assigned replica (one whose
        prefix the receiver caches first, then the largest that fits), and never past the mean,
        so every move narrows the spread; when none fits, part of the smallest larger one moves,
        if that part is worth at least ``min_split_tokens``. The one a replica is draining stays.
        Parked replicas are left out. Returns the number of prompts moved.

        :meth:`add` runs it whenever the spread exceeds a couple of prompts and half a percent of
        the mean (splitting only to move a few prompts), so the replicas stay even while prompts stream in and end
        together whenever the input ends -- the router need not be told (:meth:`close` runs it
        once more, splitting freely).
        """
        live = [r for r in range(self.num_replicas) if r not in self._parked]
        if len(live) < 2 or not self._buckets:
            return 0
        total = self._work()
        unit = self._unit()
        assigned = {r: total[r] for r in live}
        target = sum(assigned.values()) / len(live)
        moved = 0
        for _ in range(4 * len(self._buckets) + len(live)):
            donor = max(live, key=assigned.__getitem__)
            taker = min(live, key=assigned.__getitem__)
            amount = min(assigned[donor] - target, target - assigned[taker])
            if amount < 1:
                break
            cache = self.caches[taker]
            fits: _Bucket | None = None
            fits_score: tuple[int, float] = (-1, -1.0)
            larger: _Bucket | None = None
            for b in self._buckets.values():
                if b.replica != donor or not b.members or self._active[donor] == b.key:
                    continue
                w = b.tokens + unit * len(b.members)
                if w <= amount:
                    score = (int(bool(b.chain) and cache.matched_prefix(b.chain) == len(b.chain)), w)
                    if score > fits_score:
                        fits, fits_score = b, score
                elif larger is None or w < larger.tokens + unit * len(larger.members):
                    larger = b
            if fits is not None:
                tokens, n = fits.tokens + unit * len(fits.members), len(fits.members)
                self._reassign(fits, taker)
            elif larger is not None and amount >= min_split_tokens:
                n = max(1, int(amount * len(larger.members) / (larger.tokens + unit * len(larger.members))))
                part = self._split(larger, n, taker)
                tokens = part.tokens + unit * len(part.members)
            else:
                live.remove(donor)  # nothing of it fits: it keeps what it has
                if len(live) < 2:
                    break
                continue
            assigned[donor] -= tokens
            assigned[taker] += tokens
            moved += n
            self.bucket_moves += 1
        return moved

    def _unit(self) -> float:
        """The fixed part of a prompt's work, in tokens: the mean prompt length seen so far."""
        return self._added_tokens / max(1, self._added)

    def _work(self) -> list[float]:
        """Work each replica has been assigned in all (finished, running, pending), in tokens: a
        prompt weighs its length plus the mean length. Neither a prompt's count alone (its output
        steps, the same for every prompt) nor its tokens alone (its prefill) is its cost; this
        weighs both alike."""
        unit = self._unit()
        pending = [0] * self.num_replicas
        for b in self._buckets.values():
            pending[b.replica] += len(b.members)
        tokens = self.assigned()
        return [tokens[r] + unit * (self.issued[r] + pending[r]) for r in range(self.num_replicas)]

    def _balance(self) -> None:
        """Keep the replicas' assigned tokens even as prompts arrive (cheap check first)."""
        if self.num_replicas < 2 or not self._buckets:
            return
        total = self._work()
        live = [total[r] for r in range(self.num_replicas) if r not in self._parked]
        if len(live) < 2:
            return
        prompt = 2 * self._unit()  # the work of a mean prompt
        mean = sum(live) / len(live)
        # Act once the spread is worth a couple of prompts and half a percent of the work assigned
        # so far (what it would add to the makespan were this the end of the input). Split a
        # bucket only to move four prompts' work or more (the receiver may have to compute the
        # bucket's prefix once, at most about one prompt's work).
        if max(live) - min(live) > max(2 * prompt, 0.005 * mean):
            self.balanced += self.rebalance(min_split_tokens=4 * prompt)

    def _reassign(self, bucket: _Bucket, replica: int) -> None:
        tokens = bucket.tokens
        if self._active[bucket.replica] == bucket.key:
            self._active[bucket.replica] = None
        self.outstanding[bucket.replica] -= tokens
        self.outstanding[replica] += tokens
        bucket.replica = replica
        self._push(bucket)

    def next_batch(self, replica: int, max_prompts: int) -> list[PromptRequest]:
        self._parked.discard(replica)
        self._cap[replica] = len(self._running[replica]) + max_prompts
        batch: list[PromptRequest] = []
        while len(batch) < max_prompts:
            # Steal another replica's bucket only when this one would otherwise sit idle.
            bucket = self._pick(replica, max_prompts - len(batch), len(batch))  # own work first, then steal
            if bucket is None:
                break
            self._active[replica] = bucket.key
            while bucket.members and len(batch) < max_prompts:
                _, p = bucket.members.popitem(last=False)
                bucket.tokens -= p.num_tokens
                if len(bucket.members) == 1 and not bucket.part:
                    self._shared -= 1
                self._release(p)
                batch.append(p)
            self._drop_if_empty(bucket)
        cache = self.caches[replica]
        for p in batch:
            cache.admit(p.block_hashes)
        self._issued += len(batch)
        return self._issue(replica, batch)

    def _release(self, p: PromptRequest) -> None:
        del self._key_of[p.id]
        del self._depth_of[p.id]
        count, owner = self._count, self._owner
        for h in p.block_hashes:
            c = count[h] - 1
            if c:
                count[h] = c
            else:
                del count[h]
            if owner.get(h) == p.id:
                del owner[h]


def make_scheduler(policy: str, num_replicas: int, **options: object) -> Scheduler:
    """Build a scheduler by name: ``"naive"``, ``"sorted"`` or ``"bucketed"`` (:class:`PrefixScheduler`).

    Examples
    --------
    >>> type(make_scheduler("bucketed", 2, cache_blocks=128)).__name__
    'PrefixScheduler'
    """
    if policy == "naive":
        return NaiveScheduler(num_replicas)
    if policy == "sorted":
        return SortedScheduler(num_replicas, **options)  # type: ignore[arg-type]
    if policy in ("bucketed", "prefix"):
        return PrefixScheduler(num_replicas, **options)  # type: ignore[arg-type]
    raise ValueError(f"unknown scheduling policy {policy!r}; expected 'naive', 'sorted' or 'bucketed'")


@dataclass(frozen=True)
class ReplicaModel:
    """How :func:`iter_schedule` models a replica's time while it replays the router offline.

    A replica runs continuous batching: at most ``batch_size`` sequences at once (the engine's
    ``max_num_seqs``), and only as many as its KV cache of ``cache_blocks`` blocks holds -- a
    running sequence holds its prompt's blocks (full blocks shared with the other running
    sequences of the same prefix) and the blocks of its ``new_tokens`` output tokens, as vLLM
    admits a prompt only when its blocks fit. Each step costs ``step_s`` plus
    ``prefill_s_per_token`` per prompt token admitted that its prefix cache (an LRU of
    ``cache_blocks`` blocks) does not hold, plus ``decode_s_per_seq`` per running sequence; a
    sequence leaves after ``new_tokens`` steps and its slot is offered to the router at the next
    step. Only ratios of the costs matter to the order.

    Examples
    --------
    >>> ReplicaModel(new_tokens=16).new_tokens
    16
    """

    new_tokens: int = 128
    step_s: float = 0.004
    prefill_s_per_token: float = 1e-4
    decode_s_per_seq: float = 1.5e-4
    cache_blocks: int = 8192


class _ReplicaKV:
    """A modelled replica's KV cache (:class:`ReplicaModel`): the blocks its running sequences
    hold, which decide how many run at once, and the LRU prefix cache, which decides the hits."""

    def __init__(self, capacity: int, new_tokens: int) -> None:
        self.capacity = capacity
        self.out_blocks = -(-new_tokens // BLOCK_SIZE)
        self.lru = LRUBlockCache(capacity)
        self.pinned: dict[int, int] = {}  # full prompt block -> running sequences holding it
        self.private = 0  # partial prompt blocks and output blocks of the running sequences
        self.needed = 0  # blocks the admitted prompts needed, for the estimate in room()
        self.admitted = 0

    def _private(self, p: PromptRequest) -> int:
        return -(-p.num_tokens // BLOCK_SIZE) - p.num_blocks + self.out_blocks

    def _need(self, p: PromptRequest) -> int:
        return sum(1 for h in p.block_hashes if h not in self.pinned) + self._private(p)

    def free(self) -> int:
        return self.capacity - len(self.pinned) - self.private

    def fits(self, p: PromptRequest) -> bool:
        """``p``'s blocks fit next to the running sequences' (any prompt runs on an empty replica)."""
        return (not self.pinned and not self.private) or self._need(p) <= self.free()

    def admit(self, p: PromptRequest) -> int:
        """Start ``p``: hold its blocks; return its prompt tokens the prefix cache did not hold."""
        self.needed += self._need(p)
        self.admitted += 1
        for h in p.block_hashes:
            self.pinned[h] = self.pinned.get(h, 0) + 1
        self.private += self._private(p)
        return p.num_tokens - BLOCK_SIZE * self.lru.admit(p.block_hashes)

    def release(self, p: PromptRequest) -> None:
        for h in p.block_hashes:
            c = self.pinned[h] - 1
            if c:
                self.pinned[h] = c
            else:
                del self.pinned[h]
        self.private -= self._private(p)

    def room(self, default: int) -> int:
        """About how many more prompts fit now: free blocks over the mean an admitted prompt needed."""
        if not self.admitted:
            return default
        return int(self.free() * self.admitted // max(1, self.needed))


class _Feed:
    """Hands a scheduler the partitions that have arrived (pushed by time, or pulled as the buffer drains)."""

    def __init__(
        self,
        sched: Scheduler,
        source: Iterator[Sequence[tuple[int, Sequence[int]]]],
        times: Iterator[float] | None,
        max_buffered: int,
        trace: list[tuple[Any, ...]] | None,
    ) -> None:
        self.sched, self.source, self.times, self.max_buffered, self.trace = sched, source, times, max_buffered, trace
        self.barrier = bool(getattr(sched, "barrier", False))
        self.exhausted = False
        self.k = 0
        self.next: Sequence[tuple[int, Sequence[int]]] | None = None
        self.t = 0.0

    def _add(self, part: Sequence[tuple[int, Sequence[int]]]) -> None:
        self.sched.add(PromptRequest.make(pid, toks) for pid, toks in part)
        if self.trace is not None:
            self.trace.append(("add", self.k))
        self.k += 1

    def _pull(self) -> bool:
        part = next(self.source, None)
        if part is None:
            self.exhausted = True
            self.sched.close()
            if self.trace is not None:
                self.trace.append(("close",))
            return False
        self.next = part
        return True

    def until(self, now: float) -> float | None:
        """Add what has arrived by ``now``; return the next arrival time (None: none known)."""
        sched = self.sched
        if self.times is None:
            while not self.exhausted and (sched.pending < sched.buffer_limit(self.max_buffered) or self.barrier):
                if self._pull():
                    assert self.next is not None
                    self._add(self.next)
            return None
        while not self.exhausted:
            if self.next is None:
                if not self._pull():
                    break
                t = next(self.times, None)
                if t is None:
                    raise ValueError("arrivals has fewer entries than partitions")
                self.t = float(t)
            if self.t > now:
                return self.t
            assert self.next is not None
            self._add(self.next)
            self.next = None
        return None


def iter_schedule(
    partitions: Iterable[Sequence[tuple[int, Sequence[int]]]],
    replicas: int,
    *,
    policy: str = "bucketed",
    batch_size: int = 32,
    max_buffered: int = 8192,
    arrivals: Iterable[float] | None = None,
    model: ReplicaModel | None = None,
    trace: list[tuple[Any, ...]] | None = None,
    **options: object,
) -> Iterator[tuple[int, list[int]]]:
    """Replay the engine's router against an arrival trace; yield ``(replica, prompt_ids)`` as it issues them.

    This is the online policy run offline, not a separate heuristic: replicas are modelled
    (:class:`ReplicaModel`) running continuous batching, and whenever a replica has free slots
    it asks the scheduler -- the same object :class:`~thresher.udfs.ai.routing.PromptRouter`
    drives in the engine -- for as many prompts as it can start (the free slots its KV cache
    holds), reporting first the prompts it finished.
    Prompts reach the scheduler only when they arrive:

    - ``arrivals`` given: partition ``k`` arrives at time ``arrivals[k]`` (seconds, ascending), the
      order and times prompts stream in from upstream;
    - ``arrivals=None``: the engine pulls -- a partition arrives whenever fewer than
      ``max_buffered`` prompts (grown by the scheduler's :meth:`~Scheduler.buffer_limit`) are
      pending, so an unbounded input works.

    ``trace``, if a list, receives the calls made to the scheduler, in order:
    ``("add", partition_index)``, ``("close",)`` (the input ended) and
    ``("issue", replica, finished_ids, free_slots, issued_ids)`` (``free_slots``: the prompts asked for).

    Examples
    --------
    >>> endless = ([(i, [i % 3] * 16)] for i in itertools.count())
    >>> next(iter_schedule(endless, replicas=2, batch_size=2, max_buffered=8))
    (0, [0, 3])
    """
    m = model or ReplicaModel()
    if policy in ("bucketed", "prefix"):
        options.setdefault("cache_blocks", m.cache_blocks)
    sched = make_scheduler(policy, replicas, **options)
    kvs = [_ReplicaKV(m.cache_blocks, m.new_tokens) for _ in range(replicas)]
    # (finish step, prompts); waiting: issued to the replica, not yet admitted (its KV cache is full)
    running: list[deque[tuple[int, list[PromptRequest]]]] = [deque() for _ in range(replicas)]
    waiting: list[deque[PromptRequest]] = [deque() for _ in range(replicas)]
    nrun = [0] * replicas
    steps = [0] * replicas
    finished: list[list[int]] = [[] for _ in range(replicas)]
    heap = [(0.0, r) for r in range(replicas)]
    feed = _Feed(sched, iter(partitions), None if arrivals is None else iter(arrivals), max_buffered, trace)

    while heap:
        now, r = heapq.heappop(heap)
        upcoming = feed.until(now)
        done = finished[r]
        finished[r] = []
        sched.complete(r, done)
        kv, wait = kvs[r], waiting[r]
        # Ask only for what the replica can start now (free slots its KV cache holds): a prompt
        # issued to a full replica would wait there, where no idle replica can take it.
        free = min(batch_size - nrun[r], kv.room(batch_size)) - len(wait)
        batch = sched.next_batch(r, free) if free > 0 else []
        if trace is not None and (batch or done):
            trace.append(("issue", r, done, max(0, free), [p.id for p in batch]))
        if batch:
            yield r, [p.id for p in batch]
            wait.extend(batch)
        prefill = 0
        started: list[PromptRequest] = []
        while wait and nrun[r] + len(started) < batch_size and kv.fits(wait[0]):
            p = wait.popleft()
            prefill += kv.admit(p)
            started.append(p)
        if started:
            running[r].append((steps[r] + m.new_tokens, started))
            nrun[r] += len(started)
        if nrun[r]:
            now += m.step_s + m.prefill_s_per_token * prefill + m.decode_s_per_seq * nrun[r]
            steps[r] += 1
            q = running[r]
            while q and q[0][0] <= steps[r]:
                _, ps = q.popleft()
                nrun[r] -= len(ps)
                for p in ps:
                    kv.release(p)
                finished[r].extend(p.id for p in ps)
            heapq.heappush(heap, (now, r))
            continue
        # Idle: wake at the next arrival, or after the next replica's turn (it may take its own
        # prompts, or leave a backlog to steal); with nothing pending or to come, this replica is done.
        if upcoming is not None:
            heapq.heappush(heap, (max(upcoming, now), r))
        elif sched.pending:
            if not heap:
                raise RuntimeError("scheduler has pending prompts but issued none to any replica")
            busy = [t for t, q in heap if nrun[q]]  # after the next busy replica's step, else the next turn
            heapq.heappush(heap, (max(min(busy) if busy else heap[0][0], now) + 1e-9, r))


def schedule_prompts(
    partitions: Iterable[Sequence[tuple[int, Sequence[int]]]],
    replicas: int,
    **options: object,
) -> list[list[int]]:
    """Schedule streamed prompts onto replicas; return each replica's prompt ids in execution order.

    The orders are the decisions of the engine's online router (:class:`PrefixScheduler`, as
    :class:`~thresher.udfs.ai.routing.PromptRouter` runs it) replayed against the arrival trace by
    :func:`iter_schedule`: a replica's free slot takes the next *arrived* prompt of its own
    buckets, so running the returned lists while prompts stream in in the same order keeps
    batches full.

    Parameters
    ----------
    partitions : Iterable[Sequence[tuple[int, Sequence[int]]]]
        Partitions in arrival order, each a list of ``(prompt_id, token_ids)``; consumed lazily.
    replicas : int
        Number of model replicas.
    **options
        ``policy`` (``"bucketed"`` default, ``"sorted"``, ``"naive"``), ``batch_size`` (sequences a
        replica runs at once, 32), ``arrivals`` (arrival time of each partition; default: pulled as
        the buffer drains), ``max_buffered`` (8,192), ``model`` (a :class:`ReplicaModel`), and the
        policy's own options (e.g. ``cache_blocks``, ``load_slack`` for :class:`PrefixScheduler`).

    Returns
    -------
    list[list[int]]
        ``result[r]`` is the ids replica ``r`` runs, in order; every id appears exactly once.

    Examples
    --------
    >>> parts = [[(0, [1] * 32), (1, [2] * 32)], [(2, [1] * 32), (3, [2] * 32)]]
    >>> schedule_prompts(parts, replicas=2, batch_size=4)
    [[0, 2], [1, 3]]
    """
    out: list[list[int]] = [[] for _ in range(replicas)]
    for r, ids in iter_schedule(partitions, replicas, **options):  # type: ignore[arg-type]
        out[r].extend(ids)
    return out
