"""One prompt router shared by every replica of a ``prompt()`` stage.

The engine calls a model function batch by batch, on several replicas at once (the actors of a
Ray actor pool, or the model instances of a local stage with ``concurrency > 1``). Left alone,
each replica would bucket only its own batch, and prompts sharing a prefix would be spread over
replicas whose caches then all hold -- and all miss -- the same prefixes. Here every call instead
hands its tokenized prompts to one :class:`PromptRouter`, which owns a
:class:`~thresher.udfs.ai.scheduling.PrefixScheduler` -- the one piece of routing logic:
:func:`~thresher.udfs.ai.scheduling.schedule_prompts` replays the same object offline against an
arrival trace. Prompts are bucketed by token-level prefix across all in-flight calls, a bucket
sticks to its replica (the one whose modelled cache holds its prefix, else the least loaded), a
replica's free slots take the next arrived prompts of its own buckets, and a replica with none
left steals from one with a backlog, preferring a prefix it caches.

A call then works *as its replica* until its own prompts are done: it runs whatever the router
issues to that replica (which may be other calls' prompts), reports the answers, and picks up its
own answers wherever they ran. Because every call with pending prompts keeps working and an idle
replica steals whole buckets, no prompt can be stranded on a replica that has left.

Locally the router is an in-process object; on Ray it is a small threaded actor created by the
driver for the stage (declared by :meth:`ModelFunction.shared_service`), and the pool's actors call it.

Examples
--------
>>> router = PromptRouter(cache_blocks=64)
>>> r = router.register()
>>> router.submit("t1", [[1] * 32, [2] * 32])
>>> work, done = router.step(r, "t1", [], max_prompts=8)
>>> [len(toks) for _, toks in work], done
([32, 32], None)
>>> router.step(r, "t1", [(rid, f"answer {i}") for i, (rid, _) in enumerate(work)], max_prompts=8)[1]
['answer 0', 'answer 1']
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import xxhash

from thresher.udfs.ai.scheduling import PrefixScheduler, PromptRequest

__all__ = ["PromptRouter", "PromptFailure", "PromptStepper", "ReplicaSlots", "run_routed", "token_digest"]


@dataclass(frozen=True)
class PromptFailure:
    """The answer of a prompt whose engine call raised (the owning call decides: null + error, or raise)."""

    message: str


@dataclass
class _Ticket:
    """One engine call's prompts: answers fill in as replicas finish them."""

    ids: list[int]
    answers: dict[int, Any] = field(default_factory=dict)


class PromptRouter:
    """Shared prefix-aware scheduler for the replicas of one prompt stage (thread-safe).

    Parameters
    ----------
    cache_blocks : int
        Modelled KV-cache capacity of each replica, in 16-token blocks.
    load_slack, min_slack_tokens : float, int
        Load-balance threshold of :class:`~thresher.udfs.ai.scheduling.PrefixScheduler`.
    stale_after : float
        A replica that runs nothing and has not asked for work for this many seconds is parked
        (its worker's call ended and no new one came, or it died), so the buckets routed to it --
        even the one it was draining -- can be taken whole by the replicas still working. Short
        gaps between a worker's calls keep its buckets (and its cache affinity).
    record : bool
        Keep, per executed prompt, ``(replica, digest of its token ids)`` (a testing hook).
    """

    def __init__(
        self,
        cache_blocks: int = 8192,
        load_slack: float = 0.5,
        min_slack_tokens: int = 16384,
        stale_after: float = 0.25,
        record: bool = False,
    ) -> None:
        self._options = {"cache_blocks": cache_blocks, "load_slack": load_slack, "min_slack_tokens": min_slack_tokens}
        self._stale_after = stale_after
        self._sched: PrefixScheduler | None = None
        self._cond = threading.Condition()
        self._ids = itertools.count()
        self._owner: dict[int, str] = {}  # pending or running prompt id -> ticket
        self._tickets: dict[str, _Ticket] = {}
        self._seen: list[float] = []
        self._parked: set[int] = set()
        self.executed: list[int] = []  # prompts run per replica
        self.placements: list[tuple[int, int]] | None = [] if record else None
        self._taken: dict[str, Any] = {"executed": [], "routed": 0, "steals": 0, "moves": 0, "placements": 0}
        self._keys: dict[str, int] = {}  # worker key (Ray actor id) -> replica
        self._inflight: list[dict[int, Sequence[int]]] = []  # per replica: issued, unfinished prompts

    # -- membership --------------------------------------------------------------------------------
    def register(self, key: str | None = None) -> int:
        """A replica joins; returns its index.

        ``key`` names the worker across restarts (a Ray actor id). A worker that registers again
        under its key was restarted: it keeps its index, the prompts it was running when it died
        go back to the buffer (their owners are still waiting for them), and the calls it owned
        are forgotten (Ray retries them, under new tickets).
        """
        with self._cond:
            if key is not None and key in self._keys:
                r = self._keys[key]
                self._restarted(r, key)
                return r
            if self._sched is None:
                self._sched = PrefixScheduler(1, **self._options)  # type: ignore[arg-type]
                r = 0
            else:
                r = self._sched.add_replica()
            self._seen.append(time.monotonic())
            self.executed.append(0)
            self._inflight.append({})
            if key is not None:
                self._keys[key] = r
            return r

    def _restarted(self, replica: int, key: str) -> None:
        assert self._sched is not None
        for ticket in [t for t in self._tickets if t.startswith(f"{key}:")]:
            for pid in self._tickets.pop(ticket).ids:
                self._owner.pop(pid, None)
        lost = self._inflight[replica]
        self._inflight[replica] = {}
        self._sched.complete(replica, list(lost))
        again = [PromptRequest.make(pid, toks) for pid, toks in lost.items() if pid in self._owner]
        self._sched.add(again)
        self._seen[replica] = time.monotonic()
        self._cond.notify_all()

    def park(self, replica: int) -> None:
        """The replica's worker stopped working for now (its own call finished)."""
        with self._cond:
            assert self._sched is not None
            self._sched.park(replica)
            self._parked.add(replica)
            self._cond.notify_all()

    def close_input(self) -> None:
        """No more prompts will be submitted (until a later :meth:`submit`): the scheduler evens out
        what each replica has left to run (:meth:`PrefixScheduler.close`)."""
        with self._cond:
            if self._sched is not None:
                self._sched.close()
            self._cond.notify_all()

    # -- prompts -----------------------------------------------------------------------------------
    def submit(self, ticket: str, token_ids: Sequence[Sequence[int]]) -> None:
        """Buffer one call's tokenized prompts under ``ticket``."""
        with self._cond:
            if self._sched is None:
                raise RuntimeError("submit() before any replica registered")
            ids = [next(self._ids) for _ in token_ids]
            self._tickets[ticket] = _Ticket(ids)
            for pid in ids:
                self._owner[pid] = ticket
            self._sched.add(PromptRequest.make(pid, toks) for pid, toks in zip(ids, token_ids))
            self._cond.notify_all()

    def step(
        self,
        replica: int,
        ticket: str,
        finished: Sequence[tuple[int, Any]],
        max_prompts: int,
        timeout: float = 0.05,
    ) -> tuple[list[tuple[int, Sequence[int]]], list[Any] | None]:
        """Report ``finished`` ``(prompt id, answer)`` pairs, then return ``(work, answers)``.

        ``answers`` is the ticket's answers in submission order once all are done (then ``work``
        is empty and the ticket is forgotten); otherwise ``work`` is up to ``max_prompts``
        ``(prompt id, token ids)`` for this replica to run next -- possibly empty after waiting
        ``timeout`` seconds, when other replicas are still running the ticket's prompts.
        """
        with self._cond:
            sched = self._sched
            assert sched is not None
            now = time.monotonic()
            self._seen[replica] = now
            self._parked.discard(replica)
            self._finish(replica, finished)
            deadline = now + timeout
            while True:
                done = self._collect(ticket)
                if done is not None:
                    return [], done
                self._park_stale(now)
                work = self._next(replica, max_prompts)
                if work:
                    return work, None
                left = deadline - time.monotonic()
                if left <= 0:
                    return [], None
                self._cond.wait(left)
                now = time.monotonic()

    def issue(
        self, replica: int, finished: Sequence[tuple[int, Any]], max_prompts: int
    ) -> list[tuple[int, Sequence[int]]]:
        """Report ``finished`` ``(prompt id, answer)`` pairs, then take up to ``max_prompts`` prompts
        for ``replica`` at once (possibly none): the routing decision of :meth:`step` without its
        wait, and what :func:`~thresher.udfs.ai.scheduling.schedule_prompts` replays offline.

        Examples
        --------
        >>> router = PromptRouter(cache_blocks=64)
        >>> router.register(), router.register()
        (0, 1)
        >>> router.submit("t", [[1] * 32, [2] * 32, [1] * 32 + [5] * 16])
        >>> [pid for pid, _ in router.issue(0, [], 4)], [pid for pid, _ in router.issue(1, [], 4)]
        ([0, 2], [1])
        """
        with self._cond:
            self._seen[replica] = time.monotonic()
            self._parked.discard(replica)
            self._finish(replica, finished)
            return self._next(replica, max_prompts)

    def _next(self, replica: int, max_prompts: int) -> list[tuple[int, Sequence[int]]]:
        assert self._sched is not None
        batch = self._sched.next_batch(replica, max_prompts)
        if batch:
            self.executed[replica] += len(batch)
            self._inflight[replica].update((p.id, p.token_ids) for p in batch)
            if self.placements is not None:
                self.placements.extend((replica, _digest(p.token_ids)) for p in batch)
        return [(p.id, p.token_ids) for p in batch]

    def wait(self, ticket: str, timeout: float) -> list[Any] | None:
        """Wait (not working) up to ``timeout`` seconds for the ticket's answers."""
        with self._cond:
            done = self._collect(ticket)
            if done is None:
                self._cond.wait(timeout)
                done = self._collect(ticket)
            return done

    def stats(self) -> dict[str, Any]:
        """Routing counters since the router started: prompts each replica ran, buckets routed by
        cache affinity, steals, buckets moved to even the replicas out (and, when recording, the
        placements)."""
        with self._cond:
            return self._counters(reset=False)

    def take_stats(self) -> dict[str, Any]:
        """Like :meth:`stats`, counting from the previous ``take_stats`` call (per-run stage stats)."""
        with self._cond:
            return self._counters(reset=True)

    def _counters(self, reset: bool) -> dict[str, Any]:
        s = self._sched
        routed, steals = (0, 0) if s is None else (s.cache_routed, s.steals)
        moves = 0 if s is None else s.bucket_moves
        base = self._taken
        out: dict[str, Any] = {
            "prompts_per_replica": [
                n - (base["executed"][i] if i < len(base["executed"]) else 0) for i, n in enumerate(self.executed)
            ],
            "cache_routed_buckets": routed - base["routed"],
            "steals": steals - base["steals"],
            "rebalanced_buckets": moves - base.get("moves", 0),
        }
        if self.placements is not None:
            out["placements"] = self.placements[base["placements"] :]
        if reset:
            self._taken = {
                "executed": list(self.executed),
                "routed": routed,
                "steals": steals,
                "moves": moves,
                "placements": len(self.placements or ()),
            }
        return out

    # -- internals ---------------------------------------------------------------------------------
    def _finish(self, replica: int, finished: Sequence[tuple[int, Any]]) -> None:
        if not finished:
            return
        assert self._sched is not None
        self._sched.complete(replica, [pid for pid, _ in finished])
        inflight = self._inflight[replica]
        for pid, answer in finished:
            inflight.pop(pid, None)
            t = self._tickets.get(self._owner.pop(pid, ""))
            if t is not None:
                t.answers[pid] = answer
        self._cond.notify_all()

    def _collect(self, ticket: str) -> list[Any] | None:
        t = self._tickets.get(ticket)
        if t is None:
            raise KeyError(f"unknown prompt ticket {ticket!r}")
        if len(t.answers) < len(t.ids):
            return None
        del self._tickets[ticket]
        return [t.answers[i] for i in t.ids]

    def _park_stale(self, now: float) -> None:
        assert self._sched is not None
        running = self._sched._running
        for r, seen in enumerate(self._seen):
            if r not in self._parked and not running[r] and now - seen > self._stale_after:
                self._sched.park(r)
                self._parked.add(r)


def _digest(token_ids: Sequence[int]) -> int:
    import numpy as np

    return xxhash.xxh3_64_intdigest(np.asarray(token_ids, dtype=np.int64).tobytes())


def token_digest(token_ids: Sequence[int]) -> int:
    """The digest :attr:`PromptRouter.placements` records for a prompt (to map placements back to rows)."""
    return _digest(token_ids)


class PromptStepper(Protocol):
    """A replica's engine driven request by request (continuous batching), not batch by batch.

    ``capacity`` is how many requests it runs at once (vLLM's ``max_num_seqs``); :func:`run_routed`
    keeps that many in it, asking the router after every :meth:`step` for exactly the freed slots.
    """

    capacity: int

    def add(self, key: int, token_ids: Sequence[int]) -> None:
        """Start one prompt under ``key`` (raises if the engine rejects this prompt alone)."""
        ...

    def step(self) -> list[tuple[int, Any]]:
        """One engine step; the ``(key, answer)`` of the prompts that finished in it."""
        ...

    def running(self) -> int:
        """Prompts added and not yet returned by :meth:`step`."""
        ...

    def abort(self) -> list[int]:
        """Drop every running prompt (after a failed :meth:`step`); returns their keys."""
        ...


class ReplicaSlots:
    """The local model instances of a stage: a call borrows one free instance while it works.

    Examples
    --------
    >>> slots = ReplicaSlots(["engine-a", "engine-b"], [0, 1])
    >>> slots.acquire(), slots.acquire(), slots.acquire()
    ((0, 'engine-a'), (1, 'engine-b'), None)
    """

    def __init__(self, engines: Sequence[Any], replicas: Sequence[int]) -> None:
        self._free = list(zip(replicas, engines))
        self._lock = threading.Lock()

    def acquire(self) -> tuple[int, Any] | None:
        with self._lock:
            return self._free.pop(0) if self._free else None

    def release(self, slot: tuple[int, Any]) -> None:
        with self._lock:
            self._free.append(slot)


def run_routed(
    router: Any,
    ticket: str,
    token_ids: Sequence[Sequence[int]],
    acquire: Callable[[], tuple[int, Any] | None],
    release: Callable[[tuple[int, Any]], None],
    execute: Callable[[Any, list[Sequence[int]]], list[Any]],
    max_prompts: int,
    call: Callable[[Any], Any] = lambda x: x,
    stepper: Callable[[Any], PromptStepper | None] | None = None,
    hand_over: bool = False,
) -> list[Any]:
    """Submit a call's prompts to the shared router and work as a replica until they are answered.

    ``router`` is a :class:`PromptRouter` or a Ray actor handle to one; ``call`` turns a method
    call's return value into its result (identity locally, ``ray.get`` on Ray). ``execute(engine,
    token_ids)`` runs prompts on a replica's engine, batch by batch. When ``stepper(engine)`` gives
    a :class:`PromptStepper`, the replica is driven continuously instead (:func:`_work_stepped`);
    ``hand_over`` (locally, where every call still waiting for answers polls for a free slot) lets
    a call return as soon as its own answers are in, leaving other calls' prompts running in the
    engine for the next call that takes the slot. When no replica is free (locally, more calls in
    flight than model instances), the call waits for others to run its prompts.
    """
    method = (
        (lambda name: getattr(router, name).remote)
        if hasattr(router.step, "remote")
        else (lambda name: getattr(router, name))
    )
    call(method("submit")(ticket, [list(t) for t in token_ids]))
    while True:
        slot = acquire()
        if slot is None:
            # Locally: more calls in flight than model instances. Check back often -- a slot frees
            # as soon as its call's own prompts are answered, and the engine should not sit idle.
            done = call(method("wait")(ticket, 0.005))
            if done is not None:
                return list(done)
            continue
        replica, engine = slot
        finished: list[tuple[int, Any]] = []
        held = [slot]  # the slot this call works on (the stepped loop may move to another)
        try:
            stepped = stepper(engine) if stepper is not None else None
            if stepper is not None and stepped is not None:  # both: narrows stepper for the type checker
                return _work_stepped(method, call, ticket, held, stepped, stepper, acquire, release, hand_over)
            while True:
                work, done = call(method("step")(replica, ticket, finished, max_prompts))
                finished = []
                if done is not None:
                    return list(done)
                if not work:
                    # Nothing for this replica: if another model instance sits free (its call
                    # ended), take it over -- its buckets, cache and affinity come with it.
                    other = acquire()
                    if other is not None:
                        release(held[0])
                        held[0] = other
                        replica, engine = other
                    continue
                if work:
                    try:
                        answers = execute(engine, [toks for _, toks in work])
                    except Exception as exc:  # noqa: BLE001 - the prompts' owners report it per row
                        answers = [PromptFailure(f"{type(exc).__name__}: {exc}")] * len(work)
                    finished = [(pid, a) for (pid, _), a in zip(work, answers)]
        finally:
            release(held[0])  # not parked: its buckets wait for its next call (or go stale, see PromptRouter)


def _work_stepped(
    method: Callable[[str], Any],
    call: Callable[[Any], Any],
    ticket: str,
    held: list[tuple[int, Any]],
    engine: PromptStepper,
    stepper: Callable[[Any], PromptStepper | None],
    acquire: Callable[[], tuple[int, Any] | None],
    release: Callable[[tuple[int, Any]], None],
    hand_over: bool,
) -> list[Any]:
    """Drive one replica's engine step by step: after every engine step, report the prompts that
    finished and take from the router exactly as many as freed, so the engine keeps
    ``engine.capacity`` requests running (the simulator's every-step policy, not a batch that
    ends with a part-empty tail). Once the call's own answers are in, it returns at once when
    ``hand_over`` (the engine, still running, goes to the next call that takes the slot);
    otherwise the replica keeps working -- topping up freed slots with whatever the router routes
    to it -- until its engine is empty, so no prompt is left inside an engine nobody steps (on
    Ray, an actor may get no further call). ``held[0]`` is the slot worked on.
    """
    replica = held[0][0]
    finished: list[tuple[int, Any]] = []
    answers: list[Any] | None = None
    while True:
        running = engine.running()
        free = max(engine.capacity - running, 0)
        if answers is None:
            # Wait for work only when the engine has nothing to step meanwhile.
            work, done = call(method("step")(replica, ticket, finished, free, timeout=0.0 if running else 0.05))
            if done is not None:
                answers = list(done)
                if hand_over:
                    return answers
                work = call(method("issue")(replica, [], free)) if free else []
        else:
            work = call(method("issue")(replica, finished, free)) if (free or finished) else []
        finished = []
        for pid, toks in work:
            try:
                engine.add(pid, toks)
            except Exception as exc:  # noqa: BLE001 - this prompt alone fails; its owner reports it
                finished.append((pid, PromptFailure(f"{type(exc).__name__}: {exc}")))
        if engine.running():
            try:
                finished.extend(engine.step())
            except Exception as exc:  # noqa: BLE001 - the engine failed: every running prompt fails
                failure = PromptFailure(f"{type(exc).__name__}: {exc}")
                finished.extend((pid, failure) for pid in engine.abort())
        elif answers is not None and not finished:
            return answers
        elif answers is None and not work and not finished:
            # Nothing for this replica: take over a free model instance if there is one (as in
            # the batch-by-batch loop; it may hold prompts a call handed over). This engine is
            # empty, so nothing is left behind in it.
            other = acquire()
            if other is not None:
                moved = stepper(other[1])
                if moved is None:
                    release(other)
                else:
                    release(held[0])
                    held[0], engine, replica = other, moved, other[0]
