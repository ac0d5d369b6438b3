"""The local executor: the physical plan as a pipeline of threads in this process.

Every stage is a generator of morsels; a stage's output is handed to the next one through a
:class:`BufferedPipe` whose queued bytes count against one :class:`MemoryBudget`, so a fast
producer waits for a slow consumer instead of filling memory. Row-local work runs on a thread
pool, several batches at once, results in order (Polars, Arrow, Pillow and PyAV release the GIL,
so both cores work). Relational stages run as one Polars LazyFrame.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher.datatypes import Schema, conform_batch
from thresher.engine.lowering import row_pipeline
from thresher.engine.memory import MemoryBudget, default_budget_bytes, parse_bytes
from thresher.engine.progress import ProgressReporter
from thresher.engine.relational import build_lazy, collect_lazy, table_to_lazy
from thresher.engine.stats import RunStats, StageStats
from thresher.engine.stream import BatchSizer, BufferedPipe, Morsel, ordered_map, rebatch
from thresher.errors import ThresherError, ThresherExecutionError
from thresher.planner.logical import Dedup, Limit, LogicalPlan, Repartition, WithRowIndex, Write
from thresher.planner.physical import PhysicalPlan, Stage


class LocalExecutor:
    """In-process streaming executor (the default runner).

    Parameters
    ----------
    memory_budget
        Bytes of batches queued between stages (default: a quarter of RAM, or
        ``THRESHER_MEMORY_BUDGET``).
    num_threads
        Worker threads for row-local stages (default: the CPUs, at least 2).
    target_batch_bytes, min_batch_rows
        Batches sent to map stages are cut so that rows × bytes per row (the larger of input and
        output, as measured so far) stay near ``target_batch_bytes``, never below
        ``min_batch_rows`` rows nor above the stage's batch size.
    """

    name = "local"
    supported_stages = frozenset(
        {"scan", "map", "flatmap", "relational", "limit", "union", "row_index", "rebatch", "write", "dedup"}
    )

    def __init__(
        self,
        memory_budget: int | str | None = None,
        num_threads: int | None = None,
        progress: bool | None = None,
        skip_partitions: set[str] | None = None,
        target_batch_bytes: int | str = 16 << 20,
        min_batch_rows: int = 1,
    ) -> None:
        self.budget_bytes = parse_bytes(memory_budget) if memory_budget is not None else default_budget_bytes()
        self.target_batch_bytes = parse_bytes(target_batch_bytes)
        self.min_batch_rows = max(1, min_batch_rows)
        self.num_threads = num_threads or max(2, os.cpu_count() or 2)
        self.progress = progress
        self.skip_partitions = skip_partitions or set()
        self._stats = RunStats(executor="local")

    def stats(self) -> RunStats:
        return self._stats

    # ------------------------------------------------------------------------------------
    def execute(self, plan: PhysicalPlan, **options: Any) -> Iterator[pa.RecordBatch]:
        from thresher.engine.executor import check_supported

        check_supported(self, plan)
        self._stats = RunStats(executor="local")
        budget = MemoryBudget(self.budget_bytes)
        cancel = threading.Event()
        pool = ThreadPoolExecutor(self.num_threads, thread_name_prefix="thresher-worker")
        progress = ProgressReporter(plan, self._stats, enabled=self.progress)
        ctx = _Context(budget, cancel, pool, self._stats, self.num_threads, progress, self.skip_partitions, options)
        t0 = time.perf_counter()
        try:
            for m in self._run(plan.root, ctx):
                if m.batch is not None and m.batch.num_rows:
                    yield m.batch
        finally:
            cancel.set()
            budget.close()
            pool.shutdown(wait=True, cancel_futures=True)
            self._stats.wall_seconds = time.perf_counter() - t0
            self._stats.peak_buffered_bytes = budget.peak
            progress.close()

    def _run(self, stage: Stage, ctx: _Context) -> Iterator[Morsel]:
        """The stage's output morsels, produced on a background thread."""
        gen = self._stage_iter(stage, ctx)
        return iter(BufferedPipe(gen, ctx.budget, ctx.cancel, name=f"stage{stage.id}"))

    def _stage_iter(self, stage: Stage, ctx: _Context) -> Iterator[Morsel]:
        st = ctx.stats.stage(stage.id, stage.describe().split(": ", 1)[-1][:60])
        try:
            runner = getattr(self, _STAGE_RUNNERS[stage.kind].__name__)  # subclasses override stages
            for m in runner(stage, ctx, st):
                if m.batch is not None:
                    st.add_out(m.batch.num_rows, m.batch.nbytes)
                    ctx.progress.update(stage.id, m.batch.num_rows)
                yield m
        except ThresherError:
            raise
        except Exception as exc:
            raise ThresherExecutionError(f"stage {stage.id} ({stage.kind}) failed: {type(exc).__name__}: {exc}") from exc
        finally:
            st.finished = time.perf_counter()

    # -- stage kinds -------------------------------------------------------------------------
    def _scan(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        from thresher.planner.logical import ScanSource

        node = stage.logical
        assert isinstance(node, ScanSource)
        parts = node.source.partitions(node.columns, node.predicate)
        schema = node.schema
        remaining = node.limit
        batch_rows = stage.batch_size

        def read(part: Any) -> Iterator[pa.RecordBatch]:
            for b in part.read(node.columns, node.predicate, batch_rows):
                yield conform_batch(b, schema)

        todo = [p for p in parts if p.id not in ctx.skip_partitions]
        st.extra["partitions"] = len(parts)
        if len(todo) != len(parts):
            st.extra["partitions_skipped"] = len(parts) - len(todo)
        if remaining is not None or len(todo) <= 1 or ctx.threads <= 1:
            for p in todo:
                if remaining is not None and remaining <= 0:
                    break
                for b in read(p):
                    if remaining is not None:
                        if remaining <= 0:
                            break
                        if b.num_rows > remaining:
                            b = b.slice(0, remaining)
                        remaining -= b.num_rows
                    yield Morsel(p.id, b)
                yield Morsel(p.id, None)
            return
        # read a few partitions ahead on background threads, hand them over in order
        ahead = max(1, min(ctx.threads, 4))
        pipes: list[tuple[str, BufferedPipe]] = []
        it = iter(todo)

        def open_next() -> None:
            p = next(it, None)
            if p is not None:
                gen = (Morsel(p.id, b) for b in read(p))
                pipes.append((p.id, BufferedPipe(gen, ctx.budget, ctx.cancel, name=f"scan-{p.id}")))

        for _ in range(ahead):
            open_next()
        try:
            while pipes:
                pid, pipe = pipes.pop(0)
                yield from pipe
                yield Morsel(pid, None)
                open_next()
        finally:
            for _, pipe in pipes:
                pipe.close()

    def _map(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        (inp,) = stage.inputs
        pipeline = row_pipeline(stage.ops)
        local = threading.local()

        def fn(batch: pa.RecordBatch, partition: str, offset: int) -> list[pa.RecordBatch]:
            # class UDFs keep state per worker thread: one pipeline copy per thread
            p = getattr(local, "pipeline", None)
            if p is None:
                p = local.pipeline = pipeline if not stage.actor else row_pipeline(stage.ops)
            t0 = time.perf_counter()
            st.add_in(batch.num_rows, batch.nbytes)
            out = p.process(batch, partition, offset)
            st.add_busy(time.perf_counter() - t0)
            st.add_metrics(p.take_metrics())
            sizer.observe(batch.nbytes, sum(b.nbytes for b in out))
            return out

        upstream = self._run(inp, ctx)
        if stage.batch_size:
            upstream = _rebatch_morsels(upstream, stage.batch_size)
        sizer = BatchSizer(stage.batch_size, self.target_batch_bytes, self.min_batch_rows)
        upstream = _noting_rows(sizer.cut(upstream), sizer, st)
        in_flight = ctx.threads * 2
        if stage.concurrency is not None:
            c = stage.concurrency
            in_flight = max(1, c[1] if isinstance(c, tuple) else c)
        yield from ordered_map(fn, upstream, ctx.pool, in_flight, ctx.cancel)
        errs = pipeline.error_count()
        st.error_rows += errs
        st.error_samples.extend(pipeline.error_samples())

    def _flatmap(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        from thresher.operators.flatmap import FlatMapOperator
        from thresher.planner.logical import FlatMap

        (inp,) = stage.inputs
        node = stage.logical
        assert isinstance(node, FlatMap)
        op = FlatMapOperator(node.udf, node.args, node.output, node.keep_input, inp.schema, node.schema,
                             outer=node.outer)
        # generators that declare themselves thread-safe (the video frame sampler) fan out several
        # rows at once, in order; user generators run one row at a time, as written
        workers = ctx.threads if getattr(node.udf, "thread_safe", False) else 1

        waited = [0.0]  # time spent waiting for the input, not working

        def inputs() -> Iterator[tuple[str, pa.RecordBatch | None]]:
            source = iter(self._run(inp, ctx))
            while True:
                t = time.perf_counter()
                m = next(source, None)
                waited[0] += time.perf_counter() - t
                if m is None:
                    return
                if m.batch is not None:
                    st.add_in(m.batch.num_rows, m.batch.nbytes)
                yield m.partition, m.batch

        t0, w0 = time.perf_counter(), 0.0
        try:
            for pid, out in op.process_stream(inputs(), stage.batch_size, workers):
                st.add_busy(max(0.0, time.perf_counter() - t0 - (waited[0] - w0)))
                yield Morsel(pid, out)
                t0, w0 = time.perf_counter(), waited[0]
        finally:
            st.error_rows += op.errors
            st.error_samples.extend(op.error_samples)

    def _relational(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        node = stage.logical
        assert node is not None
        leaf_frames: dict[int, Any] = {}
        for leaf, inp in zip(stage.leaves, stage.inputs):
            batches = [m.batch for m in self._run(inp, ctx) if m.batch is not None]
            table = pa.Table.from_batches(batches, schema=inp.schema.to_arrow()) if batches else inp.schema.to_arrow().empty_table()
            st.add_in(table.num_rows, table.nbytes)
            leaf_frames[id(leaf)] = table_to_lazy(table, leaf.schema)

        def resolve(n: LogicalPlan) -> Any:
            if id(n) in leaf_frames:
                return leaf_frames[id(n)]
            raise KeyError(n)

        t0 = time.perf_counter()
        lf = build_lazy(node, resolve)
        table = collect_lazy(lf, node.schema, engine=ctx.options.get("polars_engine", "auto"))
        st.add_busy(time.perf_counter() - t0)
        pid = f"stage{stage.id}"
        for b in table.to_batches(max_chunksize=stage.batch_size):
            yield Morsel(pid, b)
        yield Morsel(pid, None)

    def _limit(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        node = stage.logical
        assert isinstance(node, Limit)
        skip, left = node.offset, node.n
        if left == 0:
            return
        for m in _counting(self._run(stage.inputs[0], ctx), st):
            if m.batch is None:
                yield m
                continue
            b = m.batch
            if skip:
                drop = min(skip, b.num_rows)
                b = b.slice(drop)
                skip -= drop
            if b.num_rows > left:
                b = b.slice(0, left)
            left -= b.num_rows
            if b.num_rows:
                yield Morsel(m.partition, b)
            if left <= 0:
                yield Morsel(m.partition, None)
                return

    def _union(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        schema = stage.schema
        for i, inp in enumerate(stage.inputs):
            for m in _counting(self._run(inp, ctx), st):
                pid = f"u{i}:{m.partition}"
                yield Morsel(pid, None if m.batch is None else conform_batch(m.batch, schema))

    def _row_index(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        node = stage.logical
        assert isinstance(node, WithRowIndex)
        n = node.offset
        schema = node.schema.to_arrow()
        for m in _counting(self._run(stage.inputs[0], ctx), st):
            if m.batch is None:
                yield m
                continue
            idx = pa.array(np.arange(n, n + m.batch.num_rows, dtype=np.int64))
            n += m.batch.num_rows
            yield Morsel(m.partition, pa.RecordBatch.from_arrays([idx, *m.batch.columns], schema=schema))

    def _rebatch(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        node = stage.logical
        assert isinstance(node, Repartition)
        upstream = _counting(self._run(stage.inputs[0], ctx), st)
        if node.batch_size:
            yield from _rebatch_morsels(upstream, node.batch_size, exact=True)
            return
        if node.num_partitions:
            # locally, partitions are contiguous ranges of the stream
            batches = [m.batch for m in upstream if m.batch is not None]
            table = pa.Table.from_batches(batches, schema=stage.schema.to_arrow()) if batches else None
            if table is None:
                return
            if node.by:
                from thresher.operators.partition import hash_partition

                parts = hash_partition(table, list(node.by), stage.inputs[0].schema, node.num_partitions)
            else:
                size = -(-table.num_rows // node.num_partitions) or 1
                parts = [table.slice(i, size) for i in range(0, table.num_rows, size)]
            for i, t in enumerate(parts):
                for b in t.to_batches():
                    yield Morsel(f"p{i}", b)
                yield Morsel(f"p{i}", None)
            return
        yield from upstream

    def _dedup(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        """Pass 1 streams the input computing keys; one global decision; pass 2 filters by position.

        Pass 2 re-runs the input (nothing held in memory) when its order is deterministic (scans
        and row-local maps); otherwise pass 1 keeps the input batches.
        """
        from thresher.engine.checkpoint import partition_local
        from thresher.operators.dedup import DedupOperator

        def _cheap(plan: LogicalPlan) -> bool:
            from thresher.expressions.cost import cost_class
            from thresher.planner.logical import Filter, FlatMap, Project

            for n in plan.walk():
                if isinstance(n, FlatMap):
                    return False
                exprs = n.exprs if isinstance(n, Project) else (n.predicate,) if isinstance(n, Filter) else ()
                if any(cost_class(e) != "scalar" for e in exprs):
                    return False
            return True

        node = stage.logical
        assert isinstance(node, Dedup)
        (inp,) = stage.inputs
        op = DedupOperator(node.method, node.by, dict(node.params), inp.schema, node.priority, node.id_column)
        rerun = node.output == "filter" and partition_local(node.input) and _cheap(node.input)
        t0 = time.perf_counter()
        group, kept, state, kept_batches = self._dedup_decide(stage, ctx, st, op, node.output == "filter" and not rerun)
        st.add_busy(time.perf_counter() - t0)
        st.extra["duplicates"] = int(len(kept) - int(kept.sum()))
        if node.output == "groups":
            table = op.groups_table(state, group, kept, node.schema)
            for b in table.to_batches(max_chunksize=stage.batch_size):
                yield Morsel("dedup", b)
            yield Morsel("dedup", None)
            return
        source = self._run(inp, ctx) if rerun else iter(kept_batches)
        pos = 0
        for m in source:
            if m.batch is None:
                yield m
                continue
            n = m.batch.num_rows
            mask = kept[pos:pos + n]
            pos += n
            if mask.all():
                yield m
            elif mask.any():
                yield Morsel(m.partition, m.batch.filter(pa.array(mask)))
        if pos != len(kept):
            raise ThresherExecutionError(f"dedup: the input changed between passes ({len(kept)} rows, then {pos})")

    def _dedup_decide(self, stage: Stage, ctx: _Context, st: StageStats, op: Any,
                      keep_input: bool) -> tuple[np.ndarray, np.ndarray, Any, list[Morsel]]:
        """Pass 1 of a dedup stage, in memory: every batch's keys, then one vectorized decision.

        Returns ``(group, is_kept, state, input morsels if keep_input)``; the Ray executor
        overrides this with the shuffled version (:mod:`thresher.engine.ray_dedup`).
        """
        state, kept_batches = self._dedup_keys(stage, ctx, st, op, keep_input)
        group, kept = op.decide(state)
        return group, kept, state, kept_batches

    def _dedup_keys(self, stage: Stage, ctx: _Context, st: StageStats, op: Any,
                    keep_input: bool) -> tuple[Any, list[Morsel]]:
        """Every input batch's dedup keys, in input order: ``(state, input morsels if keep_input)``."""
        from thresher.operators.dedup import DedupState

        def keys_of(batch: pa.RecordBatch) -> DedupState:
            one = DedupState()
            op.keys(batch, one)
            return one

        # keys (MinHash signatures, decodes + pHashes, content hashes) of several batches at
        # once on the pool, merged in input order
        state = DedupState()
        kept_batches: list[Morsel] = []
        pending: deque[Future[DedupState]] = deque()
        for m in self._run(stage.inputs[0], ctx):
            if m.batch is not None:
                st.add_in(m.batch.num_rows, m.batch.nbytes)
                pending.append(ctx.pool.submit(keys_of, m.batch))
                while len(pending) > ctx.threads:
                    op.merge(state, pending.popleft().result())
            if keep_input:
                kept_batches.append(m)
        while pending:
            op.merge(state, pending.popleft().result())
        return state, kept_batches

    def _write(self, stage: Stage, ctx: _Context, st: StageStats) -> Iterator[Morsel]:
        from thresher.engine.checkpoint import run_write

        node = stage.logical
        assert isinstance(node, Write)
        upstream = _counting(self._run(stage.inputs[0], ctx), st)
        table = run_write(node, upstream, stage.inputs[0].schema, st)
        for b in table.to_batches():
            yield Morsel("write", b)
        yield Morsel("write", None)


def _counting(source: Iterator[Morsel], st: StageStats) -> Iterator[Morsel]:
    """``source``, its rows and bytes counted as the stage's input."""
    for m in source:
        if m.batch is not None:
            st.add_in(m.batch.num_rows, m.batch.nbytes)
        yield m


def _noting_rows(source: Iterator[Morsel], sizer: BatchSizer, st: StageStats) -> Iterator[Morsel]:
    """``source``, recording the adapted rows per batch in the stage's stats."""
    for m in source:
        if m.batch is not None:
            st.extra["batch_rows"] = sizer.last_rows or m.batch.num_rows
        yield m


def _rebatch_morsels(source: Iterator[Morsel], rows: int, exact: bool = False) -> Iterator[Morsel]:
    """Cut data morsels into batches of at most ``rows`` rows (merge small ones when ``exact``)."""
    if not exact:
        for m in source:
            if m.batch is None or m.batch.num_rows <= rows:
                yield m
            else:
                for i in range(0, m.batch.num_rows, rows):
                    yield Morsel(m.partition, m.batch.slice(i, rows))
        return
    pid = None
    buf: list[pa.RecordBatch] = []
    for m in source:
        if m.batch is None:
            if buf:
                for b in rebatch(buf, rows):
                    yield Morsel(m.partition, b)
                buf = []
            yield m
            continue
        pid = m.partition
        buf.append(m.batch)
        if sum(b.num_rows for b in buf) >= rows:
            merged = list(rebatch(buf, rows))
            last = merged[-1]
            full = merged if last.num_rows == rows else merged[:-1]
            buf = [] if last.num_rows == rows else [last]
            for b in full:
                yield Morsel(pid, b)
    if buf and pid is not None:
        for b in rebatch(buf, rows):
            yield Morsel(pid, b)


class _Context:
    def __init__(
        self,
        budget: MemoryBudget,
        cancel: threading.Event,
        pool: ThreadPoolExecutor,
        stats: RunStats,
        threads: int,
        progress: ProgressReporter,
        skip_partitions: set[str],
        options: dict[str, Any],
    ) -> None:
        self.budget = budget
        self.cancel = cancel
        self.pool = pool
        self.stats = stats
        self.threads = threads
        self.progress = progress
        self.skip_partitions = skip_partitions
        self.options = options


_STAGE_RUNNERS = {
    "scan": LocalExecutor._scan,
    "map": LocalExecutor._map,
    "flatmap": LocalExecutor._flatmap,
    "relational": LocalExecutor._relational,
    "limit": LocalExecutor._limit,
    "union": LocalExecutor._union,
    "row_index": LocalExecutor._row_index,
    "rebatch": LocalExecutor._rebatch,
    "write": LocalExecutor._write,
    "dedup": LocalExecutor._dedup,
}


def filter_mask_fill(mask: pa.Array) -> pa.Array:
    return pc.fill_null(mask, False) if mask.null_count else mask


def schema_of(stage: Stage) -> Schema:
    return stage.schema
