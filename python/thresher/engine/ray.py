"""The Ray executor: the same physical plan, with its expensive stages on a Ray cluster.

It shares the local executor's driver-side pipeline (ordered morsel streams under a memory
budget, limits, unions, writes, dedup decisions) and sends the work to Ray:

* scan partitions are read by Ray tasks (one per partition, several in flight);
* stateless map stages run each batch as a Ray task with the stage's resources;
* map stages with class UDFs (models) run on an actor pool: every actor builds the operators once
  (so the model loads once per actor) and batches go to the least-busy actor;
* a relational stage whose top is a group-by over another stage's output, or a join of two such
  outputs, is a hash shuffle: inputs are partitioned by key hash in tasks, and each partition is
  aggregated/joined with Polars in a task; other relational stages run with Polars on the driver.

Backpressure: at most ``max_in_flight`` tasks per stage, and the bytes of batches handed to Ray
count against the memory budget until their results come back. Failed tasks are retried by Ray
(a crashed worker included); when retries are exhausted the error names the stage and the input
partition. An actor pool that cannot fit on the cluster fails before anything starts.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from thresher.datatypes import conform_batch
from thresher.engine.local import LocalExecutor, _Context, _rebatch_morsels
from thresher.engine.stats import StageStats
from thresher.engine.stream import Morsel
from thresher.errors import ThresherError, ThresherExecutionError
from thresher.io.source import Source
from thresher.planner.physical import PhysicalPlan, Stage

_INIT_LOCK = threading.Lock()


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Start (or join) Ray once per process, quietly."""
    import logging

    import ray

    with _INIT_LOCK:
        if not ray.is_initialized():
            os.environ.setdefault("RAY_DEDUP_LOGS", "0")
            os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
            kwargs: dict[str, Any] = {
                "ignore_reinit_error": True,
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.ERROR,
                "configure_logging": True,
                # workers import what the driver can (its sys.path): UDFs and extension types
                # defined in a user's modules unpickle there too
                "runtime_env": {"env_vars": {
                    "THRESHER_PROGRESS": "0",
                    "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
                    "PYTHONPATH": os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)),
                }},
            }
            if address:
                kwargs["address"] = address
            elif num_cpus:
                kwargs["num_cpus"] = num_cpus
            ray.init(**kwargs)
    return ray


# -- remote functions (defined lazily so `import thresher.engine.ray` does not need Ray) ----------

_REMOTE: dict[str, Any] = {}


def _remote() -> dict[str, Any]:
    if _REMOTE:
        return _REMOTE
    import ray

    @ray.remote
    def read_partition(part: Any, columns: Any, predicate: Any, batch_size: int, schema: Any) -> list[pa.RecordBatch]:
        import thresher.datatypes  # noqa: F401 - registers the extension types in this worker

        return [conform_batch(b, schema) for b in part.read(columns, predicate, batch_size)]

    @ray.remote
    def run_pipeline(pipeline: Any, batch: pa.RecordBatch, partition: str, offset: int) -> list[pa.RecordBatch]:
        import thresher.datatypes  # noqa: F401

        return pipeline.process(batch, partition, offset)

    @ray.remote
    class PipelineActor:
        def __init__(self, ops_factory: Any) -> None:
            import thresher.datatypes  # noqa: F401

            self.pipeline = ops_factory()

        def process(self, batch: pa.RecordBatch, partition: str, offset: int) -> list[pa.RecordBatch]:
            return self.pipeline.process(batch, partition, offset)

        def ping(self) -> bool:
            return True

    @ray.remote
    def hash_split(batches: list[pa.RecordBatch], keys: Any, schema: Any, n: int) -> list[pa.Table]:
        from thresher.operators.partition import hash_partition

        if not batches:
            return [schema.to_arrow().empty_table() for _ in range(n)]
        table = pa.Table.from_batches(batches, schema=schema.to_arrow())
        return hash_partition(table, keys, schema, n)

    _REMOTE.update(read_partition=read_partition, run_pipeline=run_pipeline, PipelineActor=PipelineActor,
                   hash_split=hash_split)
    return _REMOTE


class RayExecutor(LocalExecutor):
    """Runs physical plans on Ray (``th.set_runner("ray")`` or ``collect(runner="ray")``)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        memory_budget: int | str | None = None,
        num_cpus: int | None = None,
        max_in_flight: int | None = None,
        max_retries: int = 3,
        shuffle_partitions: int | None = None,
        progress: bool | None = None,
        skip_partitions: set[str] | None = None,
        **_: Any,
    ) -> None:
        super().__init__(memory_budget=memory_budget, progress=progress, skip_partitions=skip_partitions)
        self.ray = ensure_ray(address, num_cpus)
        resources = self.ray.cluster_resources()
        self.cluster_cpus = int(resources.get("CPU", 1))
        self.max_in_flight = max_in_flight or max(2, 2 * self.cluster_cpus)
        self.max_retries = max_retries
        self.shuffle_partitions = shuffle_partitions or max(2, self.cluster_cpus)
        self._stats.executor = "ray"

    def execute(self, plan: PhysicalPlan, **options: Any) -> Iterator[pa.RecordBatch]:
        self._check_schedulable(plan)
        yield from super().execute(plan, **options)
        self._stats.executor = "ray"

    def _check_schedulable(self, plan: PhysicalPlan) -> None:
        res = self.ray.cluster_resources()
        cpus, gpus = float(res.get("CPU", 0)), float(res.get("GPU", 0))
        for s in plan.stages():
            if s.kind not in ("map", "flatmap"):
                continue
            c = s.concurrency
            need = (c[0] if isinstance(c, tuple) else c) or 1
            if s.resources.num_gpus and s.resources.num_gpus * need > gpus:
                raise ThresherExecutionError(
                    f"stage {s.id} needs {need} × {s.resources.num_gpus:g} GPU but the cluster has {gpus:g}: "
                    "it could never be scheduled (lower concurrency or num_gpus)")
            if s.actor and s.resources.num_cpus * need > cpus:
                raise ThresherExecutionError(
                    f"stage {s.id} needs {need} actors × {s.resources.num_cpus:g} CPU but the cluster has {cpus:g}: "
                    "it could never be scheduled (lower concurrency or num_cpus)")

    # -- stages that run on Ray -------------------------------------------------------------------
    def _scan(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        from thresher.planner.logical import ScanSource

        node = stage.logical
        assert isinstance(node, ScanSource)
        if node.limit is not None:
            yield from super()._scan(stage, ctx, st)  # early stop is cheaper on the driver
            return
        remote = _remote()["read_partition"].options(max_retries=self.max_retries)
        parts = [p for p in node.source.partitions(node.columns, node.predicate) if p.id not in ctx.skip_partitions]
        st.extra["partitions"] = len(parts)
        pending: deque[tuple[str, Any]] = deque()
        it = iter(parts)
        schema = node.schema

        def submit() -> None:
            p = next(it, None)
            if p is not None:
                pending.append((p.id, remote.remote(p, node.columns, node.predicate, stage.batch_size, schema)))

        for _ in range(self.max_in_flight):
            submit()
        while pending:
            pid, ref = pending.popleft()
            batches = self._get(ref, stage, pid)
            submit()
            for b in batches:
                yield Morsel(pid, b)
            yield Morsel(pid, None)

    def _get(self, ref: Any, stage: Stage, partition: str) -> Any:
        try:
            return self.ray.get(ref)
        except ThresherError:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray wraps worker failures in many types
            cause = getattr(exc, "cause", None) or exc
            raise ThresherExecutionError(
                f"stage {stage.id} ({stage.describe().split(': ', 1)[-1][:80]}) failed on input partition "
                f"{partition!r} after {self.max_retries} retries: {type(cause).__name__}: {cause}"
            ) from exc

    def _map(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        import functools

        from thresher.engine.lowering import row_pipeline

        (inp,) = stage.inputs
        upstream = self._run(inp, ctx)
        if stage.batch_size:
            upstream = _rebatch_morsels(upstream, stage.batch_size)
        rm = _remote()
        opts: dict[str, Any] = {"num_cpus": stage.resources.num_cpus}
        if stage.resources.num_gpus:
            opts["num_gpus"] = stage.resources.num_gpus
        if stage.resources.memory:
            opts["memory"] = stage.resources.memory
        actors: list[Any] = []
        if stage.actor:
            c = stage.concurrency
            lo, hi = (c if isinstance(c, tuple) else (c or 1, c or 1))
            n = max(1, min(hi, max(lo, int(self.cluster_cpus // max(stage.resources.num_cpus, 1e-9)))))
            factory = functools.partial(row_pipeline, stage.ops)
            actors = [rm["PipelineActor"].options(max_restarts=self.max_retries, max_task_retries=self.max_retries,
                                                  **opts).remote(factory) for _ in range(n)]
            st.extra["actors"] = n
            pipeline_ref = None
        else:
            pipeline_ref = self.ray.put(row_pipeline(stage.ops))
            task = rm["run_pipeline"].options(max_retries=self.max_retries, **opts)
        pending: deque[tuple[Morsel, Any, int, int]] = deque()
        load = [0] * len(actors)
        offsets: dict[str, int] = {}
        inflight = [0]
        in_flight = self.max_in_flight
        if stage.concurrency is not None and not stage.actor:
            c = stage.concurrency
            in_flight = max(1, c[1] if isinstance(c, tuple) else c)

        def drain_one() -> Iterator[Morsel]:
            m, ref, who, nbytes = pending.popleft()
            if ref is None:
                yield m
                return
            out = self._get(ref, stage, m.partition)
            inflight[0] -= nbytes
            if who >= 0:
                load[who] -= 1
            for b in out:
                yield Morsel(m.partition, b)

        try:
            for m in upstream:
                if m.batch is None:
                    offsets.pop(m.partition, None)
                    pending.append((m, None, -1, 0))
                else:
                    st.add_in(m.batch.num_rows)
                    off = offsets.get(m.partition, 0)
                    offsets[m.partition] = off + m.batch.num_rows
                    nbytes = m.batch.nbytes
                    # bytes handed to Ray are bounded by half the budget (the queues between
                    # stages hold the other half); wait for results, never for the budget lock
                    while pending and inflight[0] + nbytes > ctx.budget.limit // 2:
                        yield from drain_one()
                    inflight[0] += nbytes
                    if actors:
                        who = min(range(len(actors)), key=lambda i: load[i])
                        load[who] += 1
                        ref = actors[who].process.remote(m.batch, m.partition, off)
                    else:
                        who = -1
                        ref = task.remote(pipeline_ref, m.batch, m.partition, off)
                    pending.append((m, ref, who, nbytes))
                while len(pending) >= in_flight:
                    yield from drain_one()
            while pending:
                yield from drain_one()
        finally:
            for a in actors:
                try:
                    self.ray.kill(a)
                except Exception:  # noqa: BLE001
                    pass

    def _relational(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        from thresher.planner.logical import Aggregate, Join, ScanSource

        node = stage.logical
        assert node is not None
        shuffle_keys: list[Any] | None = None
        if isinstance(node, Aggregate) and node.keys and len(stage.leaves) == 1 and stage.leaves[0] is node.input:
            shuffle_keys = [list(node.keys)]
        elif (isinstance(node, Join) and node.how not in ("cross",) and len(stage.leaves) == 2
              and stage.leaves[0] is node.left and stage.leaves[1] is node.right):
            shuffle_keys = [list(node.left_on), list(node.right_on)]
        if shuffle_keys is None:
            yield from super()._relational(stage, ctx, st)
            return
        rm = _remote()
        n = self.shuffle_partitions
        split_refs = []
        for inp, keys in zip(stage.inputs, shuffle_keys):
            batches = [m.batch for m in self._run(inp, ctx) if m.batch is not None]
            st.add_in(sum(b.num_rows for b in batches))
            split_refs.append(rm["hash_split"].options(num_returns=1, max_retries=self.max_retries)
                              .remote(batches, keys, inp.schema, n))
        splits = [self._get(r, stage, "shuffle") for r in split_refs]
        t0 = time.perf_counter()
        # ship the node with its inputs cut off (leaves become schema-only placeholders), so a
        # task never carries the upstream plan or its in-memory sources
        shipped = node.with_children([ScanSource(SchemaOnlySource(leaf.schema.to_arrow())) for leaf in stage.leaves])
        node_ref = self.ray.put(shipped)
        refs = []
        for i in range(n):
            parts = [[s[i]] for s in splits]
            refs.append(_run_partition.remote(node_ref, parts, [inp.schema for inp in stage.inputs]))
        tables = [self._get(r, stage, f"shuffle-{i}") for i, r in enumerate(refs)]
        st.add_busy(time.perf_counter() - t0)
        st.extra["shuffle_partitions"] = n
        table = pa.concat_tables(tables) if tables else stage.schema.to_arrow().empty_table()
        pid = f"stage{stage.id}"
        for b in table.to_batches(max_chunksize=stage.batch_size):
            yield Morsel(pid, b)
        yield Morsel(pid, None)


class SchemaOnlySource(Source):
    """A placeholder leaf: the shuffled partitions replace it inside the task."""

    supports_predicate = False

    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self.name = "shuffle-input"

    def arrow_schema(self) -> pa.Schema:
        return self._schema

    def partitions(self, columns: Any, predicate: Any) -> list[Any]:
        raise ThresherExecutionError("a shuffle placeholder is never read")


class _LazyRemote:
    """``_run_partition.remote(...)`` resolved on first use (Ray is imported lazily)."""

    _fn: Any = None

    def remote(self, node: Any, parts: list[list[pa.Table]], schemas: list[Any]) -> Any:
        if self._fn is None:
            import ray

            @ray.remote(max_retries=3)
            def run_partition(node: Any, parts: list[list[pa.Table]], schemas: list[Any]) -> pa.Table:
                import thresher.datatypes  # noqa: F401
                from thresher.engine.relational import build_lazy, collect_lazy, table_to_lazy
                from thresher.planner.logical import Aggregate

                leaves = [node.input] if isinstance(node, Aggregate) else [node.left, node.right]
                frames = {}
                for leaf, tables, sch in zip(leaves, parts, schemas):
                    t = pa.concat_tables(tables) if tables else sch.to_arrow().empty_table()
                    frames[id(leaf)] = table_to_lazy(t, sch)

                def resolve(n: Any) -> Any:
                    if id(n) in frames:
                        return frames[id(n)]
                    raise KeyError(n)

                return collect_lazy(build_lazy(node, resolve), node.schema)

            type(self)._fn = run_partition
        return self._fn.remote(node, parts, schemas)


_run_partition = _LazyRemote()
