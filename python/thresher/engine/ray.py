"""The Ray executor: the same physical plan, its heavy stages streamed through a Ray cluster.

A sibling of the local executor over the same stage runner
(:mod:`~thresher.engine.stage_runner`): the driver keeps the plan's order and its cheap
bookkeeping (limits, unions, row indexes, writes: the in-process handlers of
:mod:`~thresher.engine.stages`); the work goes to Ray:

* **scans** — every source partition is a streaming-generator task; a few are read ahead and
  their batches are handed on in partition order;
* **stateless map stages** — one task per batch with the stage's resources (``num_cpus``,
  ``num_gpus``, ``memory``); results come back in input order;
* **class-UDF stages** (:mod:`~thresher.engine.ray_pool`) — an actor pool of
  ``concurrency=(min, max)`` actors: each builds its operators once (the model loads once per
  actor), the pool starts at ``min`` and grows while all actors are busy and the cluster has
  room, batches go to the least-loaded actor;
* **flat_map stages** — streaming-generator tasks (or actor methods), so one input row that fans
  out to thousands of rows arrives ``batch_size`` rows at a time;
* **barriers** (:mod:`~thresher.engine.ray_relational`) — group-by, join and distinct are hash
  shuffles; sorts (any number of keys, directions, null placements) are range-partitioned by
  sampled boundaries and each range sorted in a task; global aggregates are partial aggregates
  per chunk plus a final one; windows are hash-partitioned by their PARTITION BY keys and put
  back in input order by row numbers; anything else runs in one task. The driver holds row
  counts and references only. Results equal the local executor's, in the same order wherever
  the plan defines one;
* **dedup** — keys in map tasks, LSH buckets / content hashes shuffled to reducer tasks,
  connected components in large-star/small-star rounds of tasks, and the filter as a join of
  per-chunk keep masks with the input chunks in tasks (:mod:`.ray_dedup`).

Backpressure: the memory budget bounds the batches queued between stages (as locally), and an
in-flight budget bounds the bytes in Ray (inputs of running tasks plus what they will hold
besides: their outputs, or the worker heap they need, whichever is larger; and the outputs a
generator may run ahead by): each Ray stage owns an equal share and submits no more work when its
next task would not fit, so ``stats().peak_in_flight_bytes`` stays under it. Worker heap is
measured, not guessed: every task reports how far its worker's resident memory rose at its peak
(``task_heap_max`` in the stage's stats); a map stage starts with one small batch at a time until
it has a measurement, then cuts batches so one task's heap fits half its share
(:class:`~thresher.engine.stream.BatchSizer`), and reserves that heap while the task runs. While
the workers' total resident memory passes ``worker_memory_limit`` stages run one task at a time.

Faults: a task whose worker dies is retried by Ray (``max_retries``), an actor that dies is
restarted and its task re-run; when retries run out the error names the stage and the input
partition. An actor pool whose minimum cannot fit on the cluster fails before anything runs.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from thresher.engine import stages
from thresher.engine.local import LOCAL_HANDLERS
from thresher.engine.memory import default_budget_bytes, parse_bytes
from thresher.engine.ray_dedup import RayShuffleRuntime, dedup_on_ray
from thresher.engine.ray_pool import ActorPool
from thresher.engine.ray_relational import run_relational
from thresher.engine.ray_runtime import CountingRay, DriverBytes, ensure_ray, remote_functions, task_options
from thresher.engine.ray_tasks import TaskReport
from thresher.engine.stage_runner import RunConfig, RunContext, StageHandler, check_supported, run_plan
from thresher.engine.stages import rebatch_morsels
from thresher.engine.stats import RunStats, StageStats
from thresher.engine.stream import BatchSizer, Morsel
from thresher.errors import ThresherError, ThresherExecutionError
from thresher.planner.physical import (
    DedupSpec,
    FlatMapSpec,
    MapSpec,
    PhysicalPlan,
    RelationalSpec,
    ScanSpec,
    Stage,
    pool_bounds,
)

__all__ = ["RayExecutor", "ensure_ray"]

#: the smallest byte target of a batch, however small the budget (one task always runs anyway;
#: below this, per-task overhead would dominate: a 1-byte budget must not mean 1-row tasks)
MIN_BATCH_TARGET = 1 << 20

#: stage kinds that run on the driver with the in-process handlers (cheap bookkeeping)
_DRIVER_KINDS = ("limit", "union", "row_index", "rebatch", "write")


class RayExecutor:
    """Runs physical plans on Ray (``th.set_runner("ray")`` or ``collect(runner="ray")``).

    Parameters
    ----------
    address
        A Ray cluster address; None starts (or joins the already started) local Ray.
    memory_budget
        Bytes of batches queued between stages on the driver (as on the local executor).
    in_flight_budget
        Bytes in flight in Ray (inputs of running tasks, outputs a generator may run ahead by);
        default: ``memory_budget``. Each Ray stage gets an equal share.
    num_cpus
        CPUs of a Ray started here (ignored when joining a cluster).
    max_in_flight
        Tasks in flight per stage (default: twice the cluster's CPUs).
    max_retries
        Retries of a task whose worker died, and restarts of a dead actor.
    shuffle_partitions
        Partitions of a hash/range shuffle (default: the cluster's CPUs, at least 2).
    target_batch_bytes, min_batch_rows
        Batches sent to map stages are cut so that rows × bytes per row (input or output,
        whichever is larger as measured so far) stay near ``target_batch_bytes``, never below
        ``min_batch_rows`` rows nor above the stage's batch size.
    generator_backpressure
        Output batches a fan-out or scan task may run ahead of the driver.
    worker_memory_limit
        Resident bytes of all workers above which stages run one task at a time
        (default: 60% of this machine's RAM).
    """

    name = "ray"
    supported_stages: frozenset[str] = frozenset({"scan", "map", "flatmap", "relational", "dedup", *_DRIVER_KINDS})

    def __init__(
        self,
        address: str | None = None,
        memory_budget: int | str | None = None,
        num_cpus: int | None = None,
        max_in_flight: int | None = None,
        max_retries: int = 3,
        shuffle_partitions: int | None = None,
        target_batch_bytes: int | str = 16 << 20,
        min_batch_rows: int = 1,
        generator_backpressure: int = 1,
        worker_memory_limit: int | str | None = None,
        in_flight_budget: int | str | None = None,
        progress: bool | None = None,
        skip_partitions: set[str] | None = None,
        num_threads: int | None = None,
        **_: Any,
    ) -> None:
        total = parse_bytes(memory_budget) if memory_budget is not None else default_budget_bytes()
        self.budget_bytes = total
        self.target_batch_bytes = parse_bytes(target_batch_bytes)
        self.min_batch_rows = max(1, min_batch_rows)
        self.num_threads = num_threads or max(2, os.cpu_count() or 2)
        self.progress = progress
        self.skip_partitions = frozenset(skip_partitions or ())
        self._stats = RunStats(executor="ray")
        self.memory_budget = total
        self.flight_bytes = parse_bytes(in_flight_budget) if in_flight_budget is not None else total
        # every ray.get of the executor is counted: stats().driver_bytes_received
        self.ray = CountingRay(ensure_ray(address, num_cpus))
        resources = self.ray.cluster_resources()
        self.cluster_cpus = max(1, int(resources.get("CPU", 1)))
        self.max_in_flight = max_in_flight or max(2, 2 * self.cluster_cpus)
        self.max_retries = max_retries
        self.shuffle_partitions = shuffle_partitions or max(2, self.cluster_cpus)
        self.generator_backpressure = max(1, generator_backpressure)
        if worker_memory_limit is None:
            try:
                import psutil

                worker_memory_limit = int(psutil.virtual_memory().total * 0.6)
            except Exception:  # noqa: BLE001
                worker_memory_limit = 8 << 30
        self.worker_memory_limit = parse_bytes(worker_memory_limit)
        self._flight = _Flight()
        self._stage_share = self.flight_bytes
        self._rss: dict[int, int] = {}
        self._workers: dict[int, set[int]] = {}  # stage id -> worker pids that ran it
        self._rss_lock = threading.Lock()

    def stats(self) -> RunStats:
        return self._stats

    def handlers(self) -> dict[str, StageHandler]:
        """How each stage kind runs: the heavy ones on Ray, the bookkeeping on the driver."""
        table: dict[str, StageHandler] = {k: LOCAL_HANDLERS[k] for k in _DRIVER_KINDS}
        table.update(scan=self._scan, map=self._map, flatmap=self._flatmap, relational=self._relational,
                     dedup=self._dedup)
        assert frozenset(table) == self.supported_stages
        return table

    def execute(self, plan: PhysicalPlan, **options: Any) -> Iterator[pa.RecordBatch]:
        """Stream the plan's output batches; a plan Ray cannot run or schedule is rejected first."""
        check_supported(self.name, self.supported_stages, plan)
        self._check_schedulable(plan)
        self._stats = RunStats(executor="ray")
        return self._execute(plan, options)

    def _execute(self, plan: PhysicalPlan, options: dict[str, Any]) -> Iterator[pa.RecordBatch]:
        self._flight = _Flight()
        ray_stages = sum(1 for s in plan.stages() if s.kind in ("scan", "map", "flatmap"))
        self._stage_share = max(1, self.flight_bytes // max(1, ray_stages))
        self._rss = {}
        self._workers = {}
        self.ray.received = DriverBytes()
        config = RunConfig(self.budget_bytes, self.num_threads, self.target_batch_bytes, self.min_batch_rows,
                           self.progress, self.skip_partitions, options)
        try:
            yield from run_plan(plan, self.handlers(), config, self._stats)
        finally:
            st = self._stats
            for s in st.stages.values():
                s.extra.pop("in_flight_bytes", None)
            st.peak_in_flight_bytes = self._flight.peak  # type: ignore[attr-defined]
            st.worker_rss_bytes = sum(self._rss.values())  # type: ignore[attr-defined]
            st.driver_bytes_received = self.ray.received.bytes

    # -- scheduling checks ------------------------------------------------------------------------
    def _check_schedulable(self, plan: PhysicalPlan) -> None:
        """Fail before running when a stage could never get its resources on this cluster."""
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        total_cpu = sum(float(r.get("CPU", 0)) for r in nodes)
        total_gpu = sum(float(r.get("GPU", 0)) for r in nodes)
        for s in plan.stages():
            if s.kind not in ("map", "flatmap"):
                continue
            cpu, gpu, mem = s.resources.num_cpus, s.resources.num_gpus, s.resources.memory or 0
            fits_a_node = any(float(r.get("CPU", 0)) >= cpu and float(r.get("GPU", 0)) >= gpu
                              and float(r.get("memory", mem)) >= mem for r in nodes)
            what = f"stage {s.id} ({s.label()[:60]})"
            if not fits_a_node:
                raise ThresherExecutionError(
                    f"{what} asks for {cpu:g} CPU, {gpu:g} GPU per worker but no node of the cluster has that "
                    f"(cluster: {total_cpu:g} CPU, {total_gpu:g} GPU): it could never be scheduled")
            if s.pool is not None:
                lo = s.pool.min_size
                if cpu * lo > total_cpu or gpu * lo > total_gpu:
                    raise ThresherExecutionError(
                        f"{what} needs an actor pool of at least {lo} × ({cpu:g} CPU, {gpu:g} GPU) but the cluster "
                        f"has {total_cpu:g} CPU, {total_gpu:g} GPU: it could never be scheduled "
                        "(lower concurrency, num_cpus or num_gpus)")

    # -- helpers ------------------------------------------------------------------------------------
    def _retries(self, stage: Stage) -> int:
        return max(self.max_retries, stage.max_retries)

    def error(self, exc: BaseException, stage: Stage, partition: str) -> ThresherError:
        """A worker failure as a Thresher error naming the stage and the input partition."""
        cause = getattr(exc, "cause", None) or exc
        if isinstance(cause, ThresherError) and f"stage {stage.id} " in str(cause):
            return cause
        crashed = type(exc).__name__ in ("WorkerCrashedError", "ActorDiedError", "RayActorError", "NodeDiedError",
                                         "OutOfMemoryError", "ActorUnavailableError", "ObjectLostError")
        retries = f" after {self._retries(stage)} retries" if crashed else ""
        what = str(cause) if isinstance(cause, ThresherError) else f"{type(cause).__name__}: {cause}"
        msg = (f"stage {stage.id} ({stage.label()[:80]}) failed on input partition "
               f"{partition!r}{retries}: {what}")
        cls = type(cause) if isinstance(cause, ThresherError) else ThresherExecutionError
        try:
            return cls(msg)
        except Exception:  # noqa: BLE001 - an error class with another constructor
            return ThresherExecutionError(msg)

    def _get(self, ref: Any, stage: Stage, partition: str) -> Any:
        try:
            return self.ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - Ray wraps worker failures in many types
            raise self.error(exc, stage, partition) from exc

    def _record(self, rep: TaskReport, st: StageStats) -> bool:
        """Put a task's report into the stats; True when its worker had run this stage before."""
        st.add_busy(rep.busy)
        st.add_metrics(rep.metrics)
        with self._rss_lock:
            self._rss[rep.pid] = rep.rss
        st.extra["worker_rss_max"] = max(int(st.extra.get("worker_rss_max", 0)), rep.rss)
        seen = self._workers.setdefault(st.stage_id, set())
        warm = rep.pid in seen
        seen.add(rep.pid)
        if warm:  # a worker's first task of a stage also pays its imports and warm-up
            st.extra["task_heap_max"] = max(int(st.extra.get("task_heap_max", 0)), rep.heap)
        if rep.errors:
            st.error_rows += rep.errors
            if len(st.error_samples) < 20:
                st.error_samples.extend(rep.samples[: 20 - len(st.error_samples)])
        return warm

    def _heap_pressure(self) -> bool:
        with self._rss_lock:
            return sum(self._rss.values()) > self.worker_memory_limit

    def _cap(self, limit: int, sizer: BatchSizer) -> int:
        """Tasks a map stage may have in flight: one until its first batch has been measured
        (its output and heap per input byte are unknown before), or while the workers' resident
        memory is over ``worker_memory_limit``; else ``limit``."""
        return 1 if not sizer.measured or self._heap_pressure() else limit

    def _fits(self, n: int, st: StageStats) -> bool:
        """Would ``n`` more bytes fit in this stage's share of the in-flight budget?

        Every Ray stage gets an equal share and waits only for its own tasks, so a stage never
        waits on bytes held by another one (which may itself wait for this one: no deadlock).
        """
        used = int(st.extra.get("in_flight_bytes", 0))
        return used + n <= self._stage_share

    def _take(self, n: int, ctx: RunContext, st: StageStats) -> None:
        self._flight.take(n)
        st.extra["in_flight_bytes"] = int(st.extra.get("in_flight_bytes", 0)) + n
        st.extra["peak_in_flight_bytes"] = max(int(st.extra.get("peak_in_flight_bytes", 0)), st.extra["in_flight_bytes"])

    def _give(self, n: int, st: StageStats) -> None:
        self._flight.give(n)
        st.extra["in_flight_bytes"] = int(st.extra.get("in_flight_bytes", 0)) - n

    def _cancel(self, gen: Any, force: bool) -> None:
        """Stop a task whose output nobody will read (the run failed or stopped early).

        A streaming generator paused on backpressure keeps its CPU until its output is read, so a
        run that ends with generators pending would starve every later run on the cluster."""
        try:
            self.ray.cancel(gen, force=force)
        except Exception:  # noqa: BLE001 - it already finished, or force is not allowed (actor task)
            pass

    def _drain(self, gen: Any, stage: Stage, pid: str, st: StageStats, est: list[int],
               heap: list[int] | None = None) -> Iterator[pa.RecordBatch]:
        """The batches of one streaming-generator task, in order (its report goes to the stats).

        ``est[0]`` keeps the largest batch seen, ``heap[0]`` the largest worker heap of a task
        (past its worker's first one)."""
        while True:
            try:
                ref = next(gen)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001
                raise self.error(exc, stage, pid) from exc
            obj = self._get(ref, stage, pid)
            if isinstance(obj, TaskReport):
                if self._record(obj, st) and heap is not None:
                    heap[0] = max(heap[0], obj.heap)
                continue
            est[0] = max(est[0], obj.nbytes)
            yield obj

    # -- scans ----------------------------------------------------------------------------------------
    def _scan(self, stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        spec = stage.spec
        assert isinstance(spec, ScanSpec)
        parts = spec.source.partitions(spec.columns, spec.predicate)
        if spec.limit is not None or len(parts) <= 1:
            yield from stages.scan(stage, ctx, st)  # early stop / one partition: no gain from a task
            return
        todo = [p for p in parts if p.id not in ctx.skip_partitions]
        st.extra["partitions"] = len(parts)
        if len(todo) != len(parts):
            st.extra["partitions_skipped"] = len(parts) - len(todo)
        numbering = stages.RowNumbering(parts, ctx.skip_partitions, spec.predicate)
        k = self.generator_backpressure
        task = remote_functions()["read_partition"].options(num_returns="streaming", _generator_backpressure_num_objects=k,
                                                   max_retries=self.max_retries, num_cpus=1)
        est = [min(self.target_batch_bytes, 8 << 20)]
        pending: deque[tuple[str, Any, int]] = deque()
        it = iter(todo)
        try:
            while True:
                # a scan generator paused on backpressure keeps its CPU: leave one for the stages after it
                while len(pending) < max(1, min(self.cluster_cpus - 1, 4)):
                    reserve = k * est[0]
                    if pending and not self._fits(reserve, st):
                        break
                    p = next(it, None)
                    if p is None:
                        break
                    self._take(reserve, ctx, st)
                    pending.append((p.id, task.remote(p, spec.columns, spec.predicate, stage.batch_size, stage.schema),
                                    reserve))
                if not pending:
                    return
                pid, gen, reserve = pending.popleft()
                drained = False
                try:
                    for b in self._drain(gen, stage, pid, st, est):
                        yield numbering.number(Morsel(pid, b))
                    drained = True
                finally:
                    self._give(reserve, st)
                    if not drained:
                        self._cancel(gen, force=True)
                yield numbering.number(Morsel(pid, None))
        finally:
            for _, gen, reserve in pending:
                self._give(reserve, st)
                self._cancel(gen, force=True)

    # -- row-local map stages ---------------------------------------------------------------------------
    def _map(self, stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        spec = stage.spec
        assert isinstance(spec, MapSpec)
        (inp,) = stage.inputs
        upstream = ctx.run(inp)
        if stage.batch_size:
            upstream = rebatch_morsels(upstream, stage.batch_size)
        # a batch's data aims at target_batch_bytes, and its worker heap at half the stage's
        # share of the in-flight budget: two tasks fit in flight under any budget
        half = max(MIN_BATCH_TARGET, self._stage_share // 2)
        sizer = BatchSizer(stage.batch_size, min(self.target_batch_bytes, half), self.min_batch_rows, heap_target=half)
        upstream = sizer.cut(upstream)
        pipeline = spec.make_pipeline()
        pool: ActorPool | None = None
        if stage.pool is not None:
            pool = ActorPool(self.ray, stage, pipeline, self._retries(stage), self.generator_backpressure)
            submit: Callable[[pa.RecordBatch, str, int, int | None], tuple[Any, int]] = pool.submit_process
        else:
            pipeline_ref = self.ray.put(pipeline)
            task = remote_functions()["run_pipeline"].options(max_retries=self._retries(stage), **task_options(stage))

            def submit(b: pa.RecordBatch, pid: str, off: int, row_start: int | None) -> tuple[Any, int]:
                return task.remote(pipeline_ref, b, pid, off, row_start), -1

        limit = self.max_in_flight
        if stage.concurrency is not None and stage.pool is None:
            limit = max(1, pool_bounds(stage.concurrency)[1])
        # (morsel, ref, actor, reserved bytes); ref None: an end-of-partition marker
        pending: deque[tuple[Morsel, Any, int, int]] = deque()
        offsets: dict[str, int] = {}

        def drain_one() -> Iterator[Morsel]:
            m, ref, who, reserve = pending.popleft()
            if ref is None:
                yield m
                return
            try:
                out, rep = self._get(ref, stage, m.partition)
            finally:
                self._give(reserve, st)
                if pool is not None:
                    pool.done(who)
            warm = self._record(rep, st)
            assert m.batch is not None
            sizer.observe(m.batch.nbytes, sum(b.nbytes for b in out), rep.heap if warm else None)
            keep = m.row_start if len(out) == 1 and out[0].num_rows == m.batch.num_rows else None
            for b in out:
                yield Morsel(m.partition, b, row_start=keep)

        def busy() -> int:
            return sum(1 for p in pending if p[1] is not None)

        try:
            for m in upstream:
                if m.batch is None:
                    offsets.pop(m.partition, None)
                    pending.append((m, None, -1, 0))
                else:
                    st.add_in(m.batch.num_rows, m.batch.nbytes)
                    st.extra["batch_rows"] = sizer.last_rows or m.batch.num_rows
                    ctx.progress.update(stage.id, 0)
                    # the input, and what the task will hold besides: its output or its heap
                    reserve = int(m.batch.nbytes * (1 + sizer.growth))
                    while pending and (busy() >= self._cap(limit, sizer) or not self._fits(reserve, st)):
                        yield from drain_one()
                    off = offsets.get(m.partition, 0)
                    offsets[m.partition] = off + m.batch.num_rows
                    self._take(reserve, ctx, st)
                    ref, who = submit(m.batch, m.partition, off, m.row_start)
                    pending.append((m, ref, who, reserve))
                while pending and pending[0][1] is None:
                    yield from drain_one()
            while pending:
                yield from drain_one()
        finally:
            for _, ref, _, reserve in pending:
                if ref is not None:
                    self._give(reserve, st)
            if pool is not None:
                st.extra["actors"] = pool.peak
                pool.close()
                st.add_metrics(pool.udf_stats)

    # -- fan-out ------------------------------------------------------------------------------------------
    def _flatmap(self, stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        spec = stage.spec
        assert isinstance(spec, FlatMapSpec)
        (inp,) = stage.inputs
        op = spec.make_operator()
        k = self.generator_backpressure
        pool: ActorPool | None = None
        if stage.pool is not None:
            pool = ActorPool(self.ray, stage, op, self._retries(stage), self.generator_backpressure)
            submit: Callable[[pa.RecordBatch], tuple[Any, int]] = pool.submit_flatmap
        else:
            op_ref = self.ray.put(op)
            task = remote_functions()["run_flatmap"].options(
                num_returns="streaming", _generator_backpressure_num_objects=k, max_retries=self._retries(stage),
                **task_options(stage))

            def submit(b: pa.RecordBatch) -> tuple[Any, int]:
                return task.remote(op_ref, b, stage.batch_size), -1

        limit = self.max_in_flight
        if stage.concurrency is not None and stage.pool is None:
            limit = max(1, pool_bounds(stage.concurrency)[1])
        est = [0]
        heap = [0]  # the worker heap of one fan-out task, as measured (a video decoder's frames)
        pending: deque[tuple[str, Any, int, int]] = deque()

        def drain_one() -> Iterator[Morsel]:
            pid, gen, who, reserve = pending.popleft()
            if gen is None:
                yield Morsel(pid, None)
                return
            drained = False
            try:
                for b in self._drain(gen, stage, pid, st, est, heap):
                    yield Morsel(pid, b)
                drained = True
            finally:
                self._give(reserve, st)
                if not drained:
                    self._cancel(gen, force=pool is None)
                if pool is not None:
                    pool.done(who)

        def busy() -> int:
            return sum(1 for p in pending if p[1] is not None)

        # Never wait on upstream while fan-out tasks sit unread: a generator paused on backpressure
        # keeps its CPU, and the upstream tasks may need exactly those CPUs to make progress. When
        # upstream has nothing ready, drain the oldest pending generator instead.
        upstream = _Lookahead(rebatch_morsels(ctx.run(inp), stage.batch_size), f"stage{stage.id}-input")
        try:
            while True:
                m = upstream.get(block=not pending)
                if m is _NOT_READY:
                    yield from drain_one()
                    continue
                if m is _END:
                    break
                assert isinstance(m, Morsel)
                if m.batch is None:
                    pending.append((m.partition, None, -1, 0))
                    continue
                st.add_in(m.batch.num_rows, m.batch.nbytes)
                # the input, the outputs the generator may run ahead by, and its worker heap
                reserve = m.batch.nbytes + k * max(est[0], m.batch.nbytes) + heap[0]
                while pending and (busy() >= (1 if self._heap_pressure() else limit) or not self._fits(reserve, st)):
                    yield from drain_one()
                self._take(reserve, ctx, st)
                gen, who = submit(m.batch)
                pending.append((m.partition, gen, who, reserve))
            while pending:
                yield from drain_one()
        finally:
            upstream.close()
            for _, gen, _, reserve in pending:
                if gen is not None:
                    self._give(reserve, st)
                    self._cancel(gen, force=pool is None)
            if pool is not None:
                st.extra["actors"] = pool.peak
                pool.close()

    # -- dedup: buckets and components as shuffles (engine/ray_dedup.py) ------------------------------------
    def _shuffle_runtime(self, stage: Stage) -> RayShuffleRuntime:
        return RayShuffleRuntime(self.ray, self.shuffle_partitions, self.max_in_flight, self.max_retries,
                                 self.target_batch_bytes, lambda exc, label: self.error(exc, stage, label))

    def _dedup(self, stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        """Keys, buckets, components and the filter, all in tasks (:mod:`.ray_dedup`)."""
        spec = stage.spec
        assert isinstance(spec, DedupSpec)
        yield from dedup_on_ray(self._shuffle_runtime(stage), ctx.run(stage.inputs[0]), st, spec.make_operator(),
                                spec.output, stage.schema.to_arrow())

    # -- barriers -------------------------------------------------------------------------------------------
    def _relational(self, stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        """Every relational barrier in tasks (:mod:`.ray_relational`): hash shuffles, range sorts,
        partial + final global aggregates, windows by their PARTITION BY keys, else one task."""
        spec = stage.spec
        assert isinstance(spec, RelationalSpec)
        if spec.distribution is None:  # a plan compiled without one (never by compile()): whole, here
            yield from stages.relational(stage, ctx, st)
            return
        inputs = [ctx.run(inp) for inp in stage.inputs]
        yield from run_relational(self._shuffle_runtime(stage), stage, spec.distribution, inputs, st)


_NOT_READY = object()
_END = object()


class _Lookahead:
    """An iterator run on its own thread, so its consumer can ask whether an item is ready."""

    def __init__(self, source: Iterator[Morsel], name: str) -> None:
        self._q: queue.Queue[object] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._source = source
        self._thread = threading.Thread(target=self._run, name=f"thresher-{name}", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for m in self._source:
                if not self._put(m):
                    return
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            self._put(exc)
        finally:
            close = getattr(self._source, "close", None)
            if close is not None and self._stop.is_set():
                try:
                    close()
                except Exception:  # noqa: BLE001
                    pass

    def get(self, block: bool) -> object:
        """The next item, ``_END`` after the last, or ``_NOT_READY`` when not blocking and none is ready."""
        try:
            item = self._q.get(block=block)
        except queue.Empty:
            return _NOT_READY
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()


class _Flight:
    """Bytes in flight in Ray over all stages (for the stats: stages bound their own share)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.used = 0
        self.peak = 0

    def take(self, n: int) -> None:
        with self._lock:
            self.used += n
            self.peak = max(self.peak, self.used)

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n
