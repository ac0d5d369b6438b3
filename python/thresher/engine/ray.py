"""The Ray executor: the same physical plan, its stages run as Ray tasks that hand each other
object references.

A sibling of the local executor over the same stage runner
(:mod:`~thresher.engine.stage_runner`). Stages exchange :class:`~thresher.engine.stream.Morsel`
objects that hold an object reference and its metadata (rows, bytes), never the batch: every
data task yields ``(rows, bytes)`` and then the batch as two objects, and the driver fetches only
the first (and the task's small report). The driver schedules from that metadata and keeps plan
order with index bookkeeping; ``stats().driver_bytes_received`` counts what it did fetch.

* **scans, fused with the streaming stages above them** — one streaming-generator task per
  source partition reads it and runs the map / filter / flat_map stages above the scan in the
  same task (Ray Data's operator fusion) while they ask the same of the cluster (task
  resources; no actor pool, no concurrency cap). ``stats()`` shows it: the top stage's
  ``fused`` lists the stages, the others say ``fused_into``. Small outputs are merged up to the
  target batch size in the task;
* **map / flat_map stages that start a task of their own** (other resources, or over a
  non-scan input) — one task per piece of an input reference (``(ref, start, length)``: pieces
  are planned from row counts, cut in the worker); results come back in input order;
* **class-UDF stages** (:mod:`~thresher.engine.ray_pool`) — an actor pool of
  ``concurrency=(min, max)`` actors: each builds its operators once (the model loads once per
  actor), the pool starts at ``min`` and grows while all actors are busy and the cluster has
  room, pieces go to the least-loaded actor; a pool stage is never fused;
* **limit, union, row index, exact rebatching** — planned from row counts: a limit passes whole
  references on, slices only the one it cuts (in a task) and then closes its input, which
  cancels the tasks still running upstream; a union passes references on (conformed in a task
  where an input's Arrow schema differs); a row index numbers each reference from the counts
  before it and adds the column in a task; ``into_batches(n)`` plans spans over references and
  cuts them in tasks;
* **writes** — each partition's references go to a write task (scheduled where the data is)
  that writes the files with the sink and returns its small ``WriteResult`` and its node id
  (also in the files: Parquet key-value metadata ``thresher.node_id``, and the write result's
  ``node_id`` column); the driver commits the results once per partition with the job's
  exactly-once protocol (:class:`~thresher.engine.write.PartitionCommitter`);
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

Still on the driver (their input references are fetched there, explicitly, by ``_resolving``):
the root of a ``collect``/iteration (the caller asked for the data); a relational stage compiled
without a distribution (never by ``compile()``); ``repartition(num_partitions)``; a write
whose sink does not pickle (an Iceberg catalog in an in-memory SQLite database, which no other
process can open: stats say ``writes_on_driver``; an Iceberg sink otherwise travels as its
catalog's construction config and re-opens the catalog on the worker). Everything else moves references only.

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
partition. An actor pool whose minimum cannot fit on the cluster fails before anything runs, and
so does a plan whose pools' minimum actors (which hold their CPUs and GPUs while their stage runs,
and all stages run at once) would leave no room for one task of its other stages: the scans and
maps feeding them, the writes and barriers reading from them (a deadlock otherwise; the
bookkeeping tasks of limits, unions, row indexes and rebatching reserve no CPU, so they always
run). A pool grows past its minimum only while that room stays free. However a run ends --
finished, failed, stopped early -- its pools' actors and shared services are killed with it.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from thresher.datatypes import conform_batch
from thresher.engine import stages
from thresher.engine.memory import default_budget_bytes, parse_bytes
from thresher.engine.progress import cut_label
from thresher.engine.ray_dedup import RayShuffleRuntime, dedup_on_ray
from thresher.engine.ray_pool import ActorPool
from thresher.engine.ray_relational import run_relational
from thresher.engine.ray_runtime import CountingRay, DriverBytes, ensure_ray, remote_functions, task_options
from thresher.engine.ray_tasks import Meta, Step, TaskReport
from thresher.engine.stage_runner import RunConfig, RunContext, StageHandler, check_supported, run_plan
from thresher.engine.stats import RunStats, StageStats
from thresher.engine.stream import BatchSizer, Morsel
from thresher.engine.write import PartitionCommitter, write_stage
from thresher.errors import ThresherError, ThresherExecutionError
from thresher.io.memory import InMemorySource
from thresher.planner.physical import (
    DedupSpec,
    FlatMapSpec,
    LimitSpec,
    MapSpec,
    PhysicalPlan,
    RebatchSpec,
    RelationalSpec,
    RowIndexSpec,
    ScanSpec,
    Stage,
    pool_bounds,
)

__all__ = ["RayExecutor", "ensure_ray"]

#: the smallest byte target of a batch, however small the budget (one task always runs anyway;
#: below this, per-task overhead would dominate: a 1-byte budget must not mean 1-row tasks)
MIN_BATCH_TARGET = 1 << 20


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
    supported_stages: frozenset[str] = frozenset({"scan", "map", "flatmap", "relational", "dedup", "limit", "union",
                                                  "row_index", "rebatch", "write"})

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
        # several nodes: data tasks spread over them (Ray packs tasks with no arguments onto the
        # driver's node otherwise); write tasks follow their data
        self.spread = sum(1 for n in self.ray.nodes() if n.get("Alive")) > 1
        self._rss_lock = threading.Lock()
        #: the actor pools of the running plan (killed when the run ends, however it ends)
        self._pools: list[ActorPool] = []
        #: what one task of the plan's stages outside actor pools asks at most (CPU, GPU)
        self._task_reserve: tuple[float, float] = (1.0, 0.0)

    def stats(self) -> RunStats:
        return self._stats

    def handlers(self) -> dict[str, StageHandler]:
        """How each stage kind runs: the heavy ones on Ray, the bookkeeping on the driver."""
        table: dict[str, StageHandler] = dict(
            scan=self._stream, map=self._stream, flatmap=self._stream,
            limit=self._limit, union=self._union, row_index=self._row_index, rebatch=self._rebatch,
            write=self._write,
            relational=self._relational,
            dedup=self._dedup,
        )
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
        ray_stages = sum(1 for s in plan.stages() if s.kind in ("scan", "map", "flatmap", "write"))
        self._stage_share = max(1, self.flight_bytes // max(1, ray_stages))
        self._rss = {}
        self._workers = {}
        self.ray.received = DriverBytes()
        pools: list[ActorPool] = []
        self._pools = pools
        config = RunConfig(self.budget_bytes, self.num_threads, self.target_batch_bytes, self.min_batch_rows,
                           self.progress, self.skip_partitions, options)
        try:
            yield from run_plan(plan, self.handlers(), config, self._stats, self._materialize)
        finally:
            # A stage's own thread closes its pool when the stage ends; a run that failed or was
            # stopped may leave that thread waiting on an actor: its actors (and services) are
            # killed here, so none outlives the run and holds the cluster's CPUs (the thread then
            # wakes up with the actor's death and ends).
            for pool in pools:
                pool.close(stats=False)
            st = self._stats
            for s in st.stages.values():
                s.extra.pop("in_flight_bytes", None)
            st.peak_in_flight_bytes = self._flight.peak  # type: ignore[attr-defined]
            st.worker_rss_bytes = sum(self._rss.values())  # type: ignore[attr-defined]
            st.driver_bytes_received = self.ray.received.bytes

    def _materialize(self, m: Morsel) -> pa.RecordBatch:
        """The root's output, fetched here: the caller asked for the data (collect, iteration)."""
        batch = self.ray.get(m.ref)
        assert isinstance(batch, pa.RecordBatch)
        return batch

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
        self._check_deadlock(plan, total_cpu, total_gpu)

    def _task_asks(self, plan: PhysicalPlan) -> list[tuple[Stage, float, float]]:
        """``(stage, CPU, GPU)`` that one Ray task of each stage outside the actor pools reserves.

        Scans fused with the maps above them ask the maps' resources (fusion needs equal ones); a
        bare scan of an in-memory source and the bookkeeping stages (limit, union, row index,
        rebatch: ``_small_task``) ask nothing; writes and the barriers' tasks one CPU."""
        fused: set[int] = set()
        for s in plan.stages():
            if s.kind in ("map", "flatmap") and s.pool is None:
                chain = self.fused_chain(s)
                if len(chain) > 1:
                    fused.update(x.id for x in chain)
        asks: list[tuple[Stage, float, float]] = []
        for s in plan.stages():
            if s.pool is not None:
                continue
            if s.kind == "scan":
                spec = s.spec
                if isinstance(spec, ScanSpec) and isinstance(spec.source, InMemorySource) and s.id not in fused:
                    continue
                asks.append((s, float(s.resources.num_cpus), float(s.resources.num_gpus)))
            elif s.kind in ("map", "flatmap"):
                asks.append((s, float(s.resources.num_cpus), float(s.resources.num_gpus)))
            elif s.kind in ("write", "relational", "dedup"):
                asks.append((s, 1.0, 0.0))
        return asks

    def _check_deadlock(self, plan: PhysicalPlan, total_cpu: float, total_gpu: float) -> None:
        """Fail before running when the actor pools' minimums would leave no room for a task.

        A pool's actors hold their CPUs (and GPUs) for as long as its stage runs, and every stage
        of a plan runs at once: the tasks that feed a pool (scans, maps), and those that read
        from it (writes, barriers), must still fit beside all the pools' minimum actors, or they
        wait for resources that come back only when the pools end, which waits for them: a
        deadlock. Also sets the reserve a pool leaves free when it grows past its minimum."""
        pools = [s for s in plan.stages() if s.kind in ("map", "flatmap") and s.pool is not None]
        asks = self._task_asks(plan)
        self._task_reserve = (max([1.0, *(c for _, c, _ in asks)]), max([0.0, *(g for _, _, g in asks)]))
        if not pools:
            return
        held_cpu = sum(s.resources.num_cpus * s.pool.min_size for s in pools if s.pool is not None)
        held_gpu = sum(s.resources.num_gpus * s.pool.min_size for s in pools if s.pool is not None)
        eps = 1e-9
        names = ", ".join(f"stage {s.id}: {s.pool.min_size} × {s.resources.num_cpus:g} CPU"
                          + (f" {s.resources.num_gpus:g} GPU" if s.resources.num_gpus else "")
                          for s in pools if s.pool is not None)
        hint = ("lower the pools' minimum (concurrency=(1, n) grows a pool only while room is left), "
                "their num_cpus / num_gpus, or run on more CPUs")
        if held_cpu > total_cpu + eps or held_gpu > total_gpu + eps:
            raise ThresherExecutionError(
                f"the plan's actor pools need at least {held_cpu:g} CPU, {held_gpu:g} GPU at once ({names}) but "
                f"the cluster has {total_cpu:g} CPU, {total_gpu:g} GPU: the run would deadlock ({hint})")
        for s, cpu, gpu in asks:
            if held_cpu + cpu > total_cpu + eps or held_gpu + gpu > total_gpu + eps:
                need = f"{cpu:g} CPU" + (f", {gpu:g} GPU" if gpu else "")
                raise ThresherExecutionError(
                    f"stage {s.id} ({s.label()[:60]}) runs tasks of {need} each, but the actor pools of this plan "
                    f"({names}) hold {held_cpu:g} of the cluster's {total_cpu:g} CPU"
                    + (f" and {held_gpu:g} of its {total_gpu:g} GPU" if gpu else "")
                    + " while they run: those tasks could never be scheduled and the run would deadlock "
                    f"({hint})")

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

    # -- task outputs ---------------------------------------------------------------------------------
    def _outputs(self, gen: Any, stage: Stage, label: str) -> Iterator[tuple[Any, Meta] | TaskReport]:
        """A data task's outputs in order: ``(batch ref, (rows, bytes))`` pairs, then its report.

        Only the small metadata tuples and the report are fetched here; batches stay in the
        object store and travel on as references."""
        while True:
            try:
                ref = next(gen)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001
                raise self.error(exc, stage, label) from exc
            obj = self._get(ref, stage, label)
            if isinstance(obj, TaskReport):
                # the report is the last output: wait for the task itself to end, so a pool
                # closed right after its last batch kills idle actors, not ones still finishing
                # a task (which Ray would report as failed and retry)
                try:
                    next(gen)
                except StopIteration:
                    pass
                except Exception as exc:  # noqa: BLE001
                    raise self.error(exc, stage, label) from exc
                yield obj
                return
            try:
                batch_ref = next(gen)
            except Exception as exc:  # noqa: BLE001
                raise self.error(exc, stage, label) from exc
            yield batch_ref, obj

    def _record_steps(self, rep: TaskReport, chain: list[Stage], stats: dict[int, StageStats],
                      top: Stage, ctx: RunContext) -> None:
        """A fused task's report into the stats of every stage it ran (the top stage's output is
        counted by the stage runner, from the morsels)."""
        for sr in rep.steps:
            s = stats[sr.stage_id]
            if sr.rows_in or sr.bytes_in:
                s.add_in(sr.rows_in, sr.bytes_in)
            if sr.stage_id != top.id:
                s.add_out(sr.rows_out, sr.bytes_out)
                ctx.progress.update(sr.stage_id, sr.rows_out)
            if sr.stage_id != chain[0].id or len(chain) == 1:
                s.add_busy(sr.busy)
            s.add_metrics(sr.metrics)
            if sr.errors:
                s.error_rows += sr.errors
                if len(s.error_samples) < 20:
                    s.error_samples.extend(sr.samples[: 20 - len(s.error_samples)])
            if sr.heap:
                s.extra["task_heap_max"] = max(int(s.extra.get("task_heap_max", 0)), sr.heap)

    # -- streaming stages: scans, maps, fan-out, fused where they can share a task ----------------------
    def fused_chain(self, stage: Stage) -> list[Stage]:
        """The stages that run with ``stage`` in one task, bottom-up (``stage`` last).

        A scan and the streaming stages right above it fuse (Ray Data's operator fusion) when they
        ask the same of the cluster: same task resources, no actor pool, no concurrency cap, no
        pushed-down scan limit. A class-UDF pool stage or other resources start a new task. Stages
        not over a scan run alone (their row offsets within a partition are known only at their
        own input)."""
        chain = [stage]
        s = stage
        while s.kind in ("map", "flatmap") and s.pool is None and s.concurrency is None:
            (below,) = s.inputs
            if below.kind not in ("scan", "map", "flatmap") or below.pool is not None or below.concurrency is not None:
                break
            if task_options(below) != task_options(s):
                break
            if isinstance(below.spec, ScanSpec) and below.spec.limit is not None:
                break
            chain.insert(0, below)
            s = below
            if below.kind == "scan":
                break
        return chain if chain[0].kind == "scan" else [stage]

    def _stream(self, stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        chain = self.fused_chain(stage)
        if chain[0].kind == "scan":
            yield from self._scan_chain(chain, ctx, st)
        else:
            yield from self._batch_stage(stage, ctx, st)

    def _steps(self, chain: list[Stage]) -> tuple[list[Step], list[Any]]:
        steps: list[Step] = []
        ops: list[Any] = []
        half = max(MIN_BATCH_TARGET, self._stage_share // 2)
        for s in chain:
            if isinstance(s.spec, MapSpec):
                sizer = BatchSizer(s.batch_size, min(self.target_batch_bytes, half), self.min_batch_rows, heap_target=half)
                steps.append(Step(s.id, "map", None, s.batch_size, sizer))
                ops.append(s.spec.make_pipeline())
            elif isinstance(s.spec, FlatMapSpec):
                steps.append(Step(s.id, "flatmap", None, s.batch_size))
                ops.append(s.spec.make_operator())
        return steps, ops

    def _scan_chain(self, chain: list[Stage], ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        """Scan tasks, one per source partition, each running the fused stages above the scan;
        outputs handed on as references in partition order."""
        scan, top = chain[0], chain[-1]
        spec = scan.spec
        assert isinstance(spec, ScanSpec)
        # stats of the fused stages below the top, made top-down (the order the stage runner
        # would have made them in)
        stats = {top.id: st}
        for s in reversed(chain[:-1]):
            stats[s.id] = ctx.stats.stage(s.id, cut_label(s.label(), 60))
            stats[s.id].extra["fused_into"] = top.id
        if len(chain) > 1:
            st.extra["fused"] = " + ".join(f"{s.kind} {s.id}" for s in chain)
        parts = spec.source.partitions(spec.columns, spec.predicate)
        todo = [p for p in parts if p.id not in ctx.skip_partitions]
        stats[scan.id].extra["partitions"] = len(parts)
        if len(todo) != len(parts):
            stats[scan.id].extra["partitions_skipped"] = len(parts) - len(todo)
        steps, ops = self._steps(chain[1:])
        ops_ref = self.ray.put(ops)
        fans_out = any(s.kind == "flatmap" for s in steps)
        starts = _row_starts(parts, spec.predicate)
        k = self.generator_backpressure
        opts: dict[str, Any] = {"num_returns": "streaming", "max_retries": max(self._retries(s) for s in chain),
                                **task_options(top)}
        if self.spread:
            opts["scheduling_strategy"] = "SPREAD"
        if fans_out:
            # a fan-out may make far more than it read: its outputs wait for the driver to take
            # them (a paused generator keeps its CPU: leave one for the stages after it)
            opts["_generator_backpressure_num_objects"] = 2 * k
            ahead = max(1, min(self.cluster_cpus - 1, 4))
        else:
            ahead = self.max_in_flight
        if not steps and isinstance(spec.source, InMemorySource):
            # the rows already sit in the driver's memory and slicing them is no work: a reserved
            # CPU would only deadlock the read behind actor pools that hold every CPU
            opts["num_cpus"] = 0
        task = remote_functions()["scan_chain"].options(**opts)
        # a fan-out's outputs go out as they come (the generator's backpressure bounds them);
        # others are merged up to the target batch size
        out_target = 0 if fans_out else min(self.target_batch_bytes, self._stage_share // 4)
        remaining = spec.limit
        est = [0]  # the most bytes one task handed out (a fan-out's: one batch), as measured
        heap = [0]
        measured = [not steps]
        pending: deque[tuple[str, Any, int]] = deque()
        it = iter(todo)
        nxt: list[Any] = []  # a partition taken from `it` but not submitted yet

        def reserve_for(p: Any) -> int:
            if fans_out:
                out = 2 * k * max(est[0], min(self.target_batch_bytes, 8 << 20))
            else:
                out = max(est[0], int(getattr(p, "size_bytes", 0) or 0), min(self.target_batch_bytes, 8 << 20))
            return min(self._stage_share, out + heap[0])

        try:
            while True:
                cap = 1 if remaining is not None or not measured[0] or self._heap_pressure() else ahead
                while len(pending) < cap:
                    p = nxt[0] if nxt else next(it, None)
                    if p is None:
                        break
                    reserve = reserve_for(p)
                    if pending and not self._fits(reserve, st):
                        nxt[:] = [p]  # submitted once the tasks before it have made room
                        break
                    nxt.clear()
                    self._take(reserve, ctx, st)
                    pending.append((p.id, task.remote(p, spec.columns, spec.predicate, scan.batch_size, scan.schema,
                                                      scan.id, steps, ops_ref, remaining, out_target,
                                                      starts.get(p.id)), reserve))
                if not pending:
                    return
                pid, gen, reserve = pending.popleft()
                drained = False
                out_bytes = 0
                try:
                    for item in self._outputs(gen, top, pid):
                        if isinstance(item, TaskReport):
                            self._record_steps(item, chain, stats, top, ctx)
                            # busy time and bad rows went to each step's stage: not twice to the top's
                            item.errors, item.samples = 0, []
                            if steps:
                                item.busy = 0.0
                            self._record(item, st)
                            heap[0] = max(heap[0], item.heap)
                            for sr, step in zip(item.steps[1:], steps):
                                if sr.sizer is not None:
                                    step.sizer = sr.sizer
                                    stats[step.stage_id].extra["batch_rows"] = sr.sizer.last_rows or step.batch_size
                            measured[0] = all(s.sizer is None or s.sizer.measured for s in steps) or measured[0]
                            continue
                        ref, (rows, nbytes, row_start) = item
                        out_bytes += nbytes
                        est[0] = max(est[0], nbytes if fans_out else 0)
                        if remaining is not None:
                            remaining -= rows
                        yield Morsel(pid, None, ref=ref, rows=rows, nbytes=nbytes, row_start=row_start)
                    drained = True
                finally:
                    self._give(reserve, st)
                    if not drained:
                        self._cancel(gen, force=True)
                if not fans_out:
                    est[0] = max(est[0], out_bytes)
                yield Morsel(pid, None)
                if remaining is not None and remaining <= 0:
                    return
        finally:
            for _, gen, reserve in pending:
                self._give(reserve, st)
                self._cancel(gen, force=True)
            for s in chain[:-1]:
                stats[s.id].finished = time.perf_counter()
                for key in ("peak_in_flight_bytes", "worker_rss_max"):
                    if key in st.extra:
                        stats[s.id].extra[key] = st.extra[key]

    def _batch_stage(self, stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        """A map or fan-out stage over its input's batches (references, or batches a driver-side
        stage made): one task (or actor call) per piece, outputs in input order."""
        fan_out = stage.kind == "flatmap"
        (inp,) = stage.inputs
        steps, ops = self._steps([stage])
        step = steps[0]
        step.sizer = None  # the driver cuts the pieces (below), from the input's row counts
        k = self.generator_backpressure
        half = max(MIN_BATCH_TARGET, self._stage_share // 2)
        sizer = None if fan_out else BatchSizer(stage.batch_size, min(self.target_batch_bytes, half),
                                                self.min_batch_rows, heap_target=half)
        pool: ActorPool | None = None
        if stage.pool is not None:
            pool = ActorPool(self.ray, stage, ops[0], self._retries(stage), self.generator_backpressure,
                             reserve=self._task_reserve)
            self._pools.append(pool)
        else:
            ops_ref = self.ray.put(ops)
            opts: dict[str, Any] = {"num_returns": "streaming", "max_retries": self._retries(stage),
                                    **task_options(stage)}
            if fan_out:
                opts["_generator_backpressure_num_objects"] = 2 * k
            task = remote_functions()["batch_chain"].options(**opts)

        def submit(payload: Any, start: int, length: int, pid: str, off: int, at: int | None) -> tuple[Any, int]:
            if pool is not None:
                return pool.submit_chain(step, payload, start, length, pid, off, 2 * k if fan_out else None, out_target,
                                         at)
            return task.remote([step], ops_ref, payload, start, length, pid, off, out_target, at), -1

        out_target = 0 if fan_out else min(self.target_batch_bytes, self._stage_share // 4)

        limit = self.max_in_flight
        if stage.concurrency is not None and stage.pool is None:
            limit = max(1, pool_bounds(stage.concurrency)[1])
        if fan_out and stage.pool is None:
            # a fan-out generator paused on backpressure keeps its CPU until the driver reads it,
            # and the driver reads the oldest first: with more of them in flight than the cluster
            # runs at once, Ray may start the later ones and leave the oldest waiting for a CPU
            # for good (seen: 4 in flight on 2 CPUs, the run hung)
            per = float(stage.resources.num_cpus or 0)
            if per > 0:
                limit = max(1, min(limit, int(self.cluster_cpus // per)))
        st.extra["max_in_flight"] = limit
        est = [0]
        heap = [0]
        # (partition, generator or None for an end marker, actor, reserved bytes, input bytes)
        pending: deque[tuple[str, Any, int, int, int]] = deque()
        offsets: dict[str, int] = {}

        def drain_one() -> Iterator[Morsel]:
            pid, gen, who, reserve, in_bytes = pending.popleft()
            if gen is None:
                yield Morsel(pid, None)
                return
            drained = False
            out_bytes = 0
            try:
                for item in self._outputs(gen, stage, pid):
                    if isinstance(item, TaskReport):
                        warm = self._record(item, st)
                        for sr in item.steps:
                            st.add_metrics(sr.metrics)
                        if sizer is not None:
                            sizer.observe(in_bytes, out_bytes, item.heap if warm else None)
                        elif warm:
                            heap[0] = max(heap[0], item.heap)
                        continue
                    ref, (rows, nbytes, row_start) = item
                    out_bytes += nbytes
                    est[0] = max(est[0], nbytes)
                    yield Morsel(pid, None, ref=ref, rows=rows, nbytes=nbytes, row_start=row_start)
                drained = True
            finally:
                self._give(reserve, st)
                if not drained:
                    self._cancel(gen, force=pool is None)
                if pool is not None:
                    pool.done(who)

        def busy() -> int:
            return sum(1 for p in pending if p[1] is not None)

        def pieces(m: Morsel) -> Iterator[tuple[int, int]]:
            rows = m.num_rows
            if fan_out:
                n = stage.batch_size
            else:
                assert sizer is not None
                n = stage.batch_size if rows <= sizer.min_rows else min(stage.batch_size,
                                                                         sizer.rows_for_size(rows, m.num_bytes))
                st.extra["batch_rows"] = n
            if rows == 0:
                yield 0, 0
            for start in range(0, rows, max(1, n)):
                yield start, min(n, rows - start)

        # Never wait on upstream while fan-out tasks sit unread: a generator paused on backpressure
        # keeps its CPU, and the upstream tasks may need exactly those CPUs to make progress. When
        # upstream has nothing ready, drain the oldest pending task instead.
        upstream = _Lookahead(ctx.run(inp), f"stage{stage.id}-input")
        try:
            while True:
                m = upstream.get(block=not pending)
                if m is _NOT_READY:
                    yield from drain_one()
                    continue
                if m is _END:
                    break
                assert isinstance(m, Morsel)
                if m.is_end:
                    offsets.pop(m.partition, None)
                    pending.append((m.partition, None, -1, 0, 0))
                    continue
                st.add_in(m.num_rows, m.num_bytes)
                ctx.progress.update(stage.id, 0)
                payload = m.ref if m.ref is not None else m.batch
                for start, length in pieces(m):
                    in_bytes = m.num_bytes * length // max(1, m.num_rows)
                    if fan_out:
                        reserve = in_bytes + 2 * k * max(est[0], in_bytes) + heap[0]
                        cap = 1 if self._heap_pressure() else limit
                    else:
                        assert sizer is not None
                        reserve = int(in_bytes * (1 + sizer.growth))
                        cap = self._cap(limit, sizer)
                    while pending and (busy() >= cap or not self._fits(reserve, st)):
                        yield from drain_one()
                    off = offsets.get(m.partition, 0)
                    offsets[m.partition] = off + length
                    self._take(reserve, ctx, st)
                    at = None if m.row_start is None else m.row_start + start
                    gen, who = submit(payload, start, length, m.partition, off, at)
                    pending.append((m.partition, gen, who, reserve, in_bytes))
                while pending and pending[0][1] is None:
                    yield from drain_one()
            while pending:
                yield from drain_one()
        finally:
            upstream.close()
            for _, gen, _, reserve, _ in pending:
                if gen is not None:
                    self._give(reserve, st)
                    self._cancel(gen, force=pool is None)
            if pool is not None:
                st.extra["actors"] = pool.peak
                pool.close()
                st.add_metrics(pool.udf_stats)

    # -- limit, union, row index, rebatch: planned from row counts, rows cut in tasks ---------------------
    def _small_task(self, name: str, *args: Any) -> Any:
        """A bookkeeping task (slice, concat, add a row index): zero-copy Arrow work that reserves no
        CPU, so it runs even while actor pools hold every CPU (the pools' actors wait on its
        output: a reserved CPU would deadlock them, see ``_check_deadlock``)."""
        return remote_functions()[name].options(max_retries=self.max_retries, num_cpus=0).remote(*args)

    def _payload(self, m: Morsel) -> Any:
        return m.ref if m.ref is not None else m.batch

    def _limit(self, stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        """Counts rows from metadata; only the morsel the limit cuts is sliced (in a task), and
        returning closes the input, which cancels the scan/map tasks still running upstream."""
        spec = stage.spec
        assert isinstance(spec, LimitSpec)
        skip, left = spec.offset, spec.n
        if left == 0:
            return
        for m in ctx.run(stage.inputs[0]):
            if m.is_end:
                yield m
                continue
            rows = m.num_rows
            st.add_in(rows, m.num_bytes)
            drop = min(skip, rows)
            skip -= drop
            take = min(rows - drop, left)
            if take == rows:
                yield m
            elif take > 0:
                yield self._sliced(m, [(0, drop, take)], None)
            left -= take
            if left <= 0:
                yield Morsel(m.partition, None)
                return

    def _sliced(self, m: Morsel, spans: list[tuple[int, int, int]], schema: Any, *more: Morsel) -> Morsel:
        """A morsel of ``spans`` of ``m`` (and ``more``), cut in a task; its size estimated from theirs."""
        src = [m, *more]
        rows = sum(n for _, _, n in spans)
        nbytes = sum(src[i].num_bytes * n // max(1, src[i].num_rows) for i, _, n in spans)
        ref = self._small_task("take_rows", spans, schema, *[self._payload(x) for x in src])
        return Morsel(m.partition, None, ref=ref, rows=rows, nbytes=nbytes)

    def _union(self, stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        """The inputs one after the other (as locally); batches conformed to the union's schema in
        tasks where an input's Arrow schema differs, passed on as they are where it does not."""
        target = stage.schema.to_arrow()
        for i, inp in enumerate(stage.inputs):
            same = inp.schema.to_arrow().equals(target, check_metadata=False)
            for m in ctx.run(inp):
                pid = f"u{i}:{m.partition}"
                if m.is_end:
                    yield Morsel(pid, None)
                    continue
                st.add_in(m.num_rows, m.num_bytes)
                if m.batch is not None:
                    yield Morsel(pid, conform_batch(m.batch, stage.schema))
                elif same:
                    yield Morsel(pid, None, ref=m.ref, rows=m.rows, nbytes=m.nbytes)
                else:
                    out = self._sliced(m, [(0, 0, m.num_rows)], stage.schema)
                    out.partition = pid
                    yield out

    def _row_index(self, stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        """Offsets from the row counts in plan order; the column is added in a task."""
        spec = stage.spec
        assert isinstance(spec, RowIndexSpec)
        n = spec.offset
        schema = stage.schema.to_arrow()
        for m in ctx.run(stage.inputs[0]):
            if m.is_end:
                yield m
                continue
            rows = m.num_rows
            st.add_in(rows, m.num_bytes)
            ref = self._small_task("add_row_index", self._payload(m), n, schema)
            yield Morsel(m.partition, None, ref=ref, rows=rows, nbytes=m.num_bytes + 8 * rows)
            n += rows

    def _rebatch(self, stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        """Exact batches of ``batch_size`` rows per partition, planned from row counts and cut in
        tasks; a repartition into ``num_partitions`` is gathered on the driver (listed above)."""
        spec = stage.spec
        assert isinstance(spec, RebatchSpec)
        if not spec.batch_size:
            yield from self._resolving(stages.rebatch_stage)(stage, ctx, st)
            return
        size = spec.batch_size
        buf: list[Morsel] = []
        spans: list[tuple[int, int, int]] = []
        have = 0
        pid: str | None = None

        def flush() -> Morsel:
            nonlocal buf, spans, have
            used = sorted({i for i, _, _ in spans})
            remap = {old: new for new, old in enumerate(used)}
            parts = [buf[i] for i in used]
            out = self._sliced(parts[0], [(remap[i], s, n) for i, s, n in spans], None, *parts[1:])
            out.partition = pid or out.partition
            buf, spans, have = [], [], 0
            return out

        for m in ctx.run(stage.inputs[0]):
            if m.is_end:
                if spans:
                    yield flush()
                buf, spans, have = [], [], 0
                yield m
                continue
            st.add_in(m.num_rows, m.num_bytes)
            pid = m.partition
            if m.num_rows == 0:
                continue
            if not spans and m.num_rows == size:
                yield m  # already exact: passed on as it is
                continue
            buf.append(m)
            start = 0
            while start < m.num_rows:
                take = min(size - have, m.num_rows - start)
                spans.append((len(buf) - 1, start, take))
                have += take
                start += take
                if have == size:
                    last = buf[-1]
                    rest = start
                    yield flush()
                    if rest < last.num_rows:
                        buf = [last]
        if spans:
            yield flush()

    # -- writes: one task per partition, committed here --------------------------------------------------
    def _write(self, stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        """Each partition's batch references go to a write task (on the node that holds them);
        the task writes the files with the sink and returns the small ``WriteResult``; the driver
        commits them once per partition with the job's protocol (:class:`PartitionCommitter`)."""
        job = ctx.write_job
        if job is None:
            raise ValueError(f"stage {stage.id} is a write but the plan has no write job")
        arrow = stage.inputs[0].schema.to_arrow()
        job.sink.check_schema(arrow)
        try:
            sink_ref = self.ray.put(job.sink)
        except TypeError as exc:
            # a sink that cannot travel to a worker (an Iceberg catalog in an in-memory SQLite
            # database) writes here, from fetched batches, and says so in the stats
            st.extra["writes_on_driver"] = f"{job.sink!r} does not pickle: {str(exc).splitlines()[0][:120]}"
            yield from self._resolving(write_stage)(stage, ctx, st)
            return
        job.sink.prepare(arrow)  # e.g. the Iceberg table, created once here, not raced for by the tasks
        committer = PartitionCommitter(job)
        write_fn = remote_functions()["write_partition"]
        write_opts: dict[str, Any] = {"max_retries": self.max_retries, "num_cpus": 1}
        task = write_fn.options(**write_opts)
        pending: deque[tuple[str, Any, int]] = deque()
        nodes: set[str] = set()
        current: list[Morsel] = []

        def finish_one() -> None:
            pid, ref, reserve = pending.popleft()
            try:
                result, node = self._get(ref, stage, pid)
            finally:
                self._give(reserve, st)
            nodes.add(node)
            committer.add(result)

        try:
            for m in ctx.run(stage.inputs[0]):
                if not m.is_end:
                    st.add_in(m.num_rows, m.num_bytes)
                    current.append(m)
                    continue
                pid = m.partition
                if pid in job.committed:
                    committer.already(pid)
                    current = []
                    continue
                reserve = min(self._stage_share, sum(x.num_bytes for x in current))
                while pending and (len(pending) >= self.max_in_flight or not self._fits(reserve, st)):
                    finish_one()
                self._take(reserve, ctx, st)
                pending.append((pid, self._near(write_fn, write_opts, current).remote(sink_ref, pid, arrow,
                                                                      *[self._payload(x) for x in current]), reserve))
                current = []
            if current:  # a stream that ended without its end marker
                pid = current[0].partition
                if pid in job.committed:
                    committer.already(pid)
                else:
                    pending.append((pid, task.remote(sink_ref, pid, arrow, *[self._payload(x) for x in current]), 0))
            while pending:
                finish_one()
        finally:
            for _, _, reserve in pending:
                self._give(reserve, st)
            st.extra["write_nodes"] = len(nodes)
        table = committer.finish()
        for b in table.to_batches():
            yield Morsel("write", b)
        yield Morsel("write", None)

    def _near(self, fn: Any, opts: dict[str, Any], morsels: list[Morsel]) -> Any:
        """Remote function ``fn`` with ``opts``, placed (softly) on the node that holds most of
        ``morsels``' bytes (options are given at once: Ray's ``options()`` result has none).

        Ray's own locality preference skips small objects (they travel inline), so a partition
        of small batches could be written anywhere: on a cluster the write goes where its map
        ran, which moves no data and spreads the writes as the maps were spread."""
        if not self.spread:
            return fn.options(**opts)
        refs = [m.ref for m in morsels if m.ref is not None]
        if not refs:
            return fn.options(**opts)
        try:
            import ray
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            held: dict[str, int] = {}
            for loc in ray.experimental.get_object_locations(refs, timeout_ms=1000).values():
                for node in loc.get("node_ids") or ():
                    held[node] = held.get(node, 0) + int(loc.get("object_size") or 1)
        except Exception:  # noqa: BLE001 - placement is an optimization: Ray's default still works
            return fn.options(**opts)
        if not held:
            return fn.options(**opts)
        node = max(held, key=lambda n: held[n])
        return fn.options(**opts, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=True))

    # -- stages that still need the batches on the driver ---------------------------------------------------
    def _resolving(self, handler: StageHandler) -> StageHandler:
        """``handler`` over inputs whose references are fetched here first (the stage kinds that
        still run on the driver; listed in the module docstring)."""

        def run(stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
            return handler(stage, _Resolving(ctx, lambda m: self._resolve(m, stage)), st)

        return run

    def _resolve(self, m: Morsel, stage: Stage) -> Morsel:
        if m.ref is None:
            return m
        return Morsel(m.partition, self._get(m.ref, stage, m.partition))

    # -- dedup: buckets and components as shuffles (engine/ray_dedup.py) ------------------------------------
    def _shuffle_runtime(self, stage: Stage) -> RayShuffleRuntime:
        return RayShuffleRuntime(self.ray, self.shuffle_partitions, self.max_in_flight, self.max_retries,
                                 self.target_batch_bytes, lambda exc, label: self.error(exc, stage, label),
                                 emit_refs=True)

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
            yield from self._resolving(stages.relational)(stage, ctx, st)
            return
        inputs = [ctx.run(inp) for inp in stage.inputs]
        yield from run_relational(self._shuffle_runtime(stage), stage, spec.distribution, inputs, st)


def _row_starts(parts: list[Any], predicate: Any) -> dict[str, int]:
    """Each partition's first row in the scan's whole input, from the partitions' row counts
    (as :class:`~thresher.engine.stages.RowNumbering` numbers them locally): known up to the
    first partition without a count, and not at all under a pushed predicate."""
    out: dict[str, int] = {}
    if predicate is not None:
        return out
    n = 0
    for p in parts:
        out[p.id] = n
        if p.num_rows is None:
            break
        n += int(p.num_rows)
    return out


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


class _Resolving(RunContext):
    """A run context whose input streams hold batches, not references (fetched by ``resolve``)."""

    def __init__(self, inner: RunContext, resolve: Callable[[Morsel], Morsel]) -> None:  # noqa: D107
        self.__dict__.update(inner.__dict__)
        self._inner = inner
        self._resolve = resolve

    def run(self, stage: Stage) -> Iterator[Morsel]:
        source = self._inner.run(stage)
        try:
            for m in source:
                yield self._resolve(m)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()


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
