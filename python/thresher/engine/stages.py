"""The in-process stage handlers: how each stage kind runs in this process.

The local executor runs every stage with these; the Ray executor replaces the heavy ones and
keeps the driver-side ones (limits, unions, row indexes, rebatching, writes, gathered relational
stages, dedup's second pass). Row-local work runs on the run's thread pool, several batches at
once, results in order (Polars, Arrow, Pillow and PyAV release the GIL, so every core works).
Each handler reads its stage's ``spec`` (built by ``planner.physical.compile``): operators come
from the spec's factories, never from the logical plan.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.datatypes import Schema, conform_batch
from thresher.engine.polars_frames import collect_lazy, table_to_lazy
from thresher.engine.stage_runner import RunContext, StageHandler
from thresher.engine.stats import StageStats
from thresher.engine.stream import BatchSizer, BufferedPipe, Morsel, ordered_map, rebatch
from thresher.errors import ThresherExecutionError
from thresher.operators.dedup import DedupOperator, DedupState
from thresher.planner.physical import (
    DedupSpec,
    FlatMapSpec,
    LimitSpec,
    MapSpec,
    RebatchSpec,
    RelationalSpec,
    RowIndexSpec,
    ScanSpec,
    Stage,
)

#: ``decide(stage, ctx, stats, operator, keep_input)`` -> ``(group, is_kept, state, kept input morsels)``
DedupDecide = Callable[[Stage, RunContext, StageStats, DedupOperator, bool],
                       tuple[np.ndarray, np.ndarray, DedupState, list[Morsel]]]


class RowNumbering:
    """Numbers a scan's rows across its partitions: :attr:`Morsel.row_start` of each morsel.

    The morsels of a scan come out partition after partition, in the order of ``parts``, so a
    running count is each row's position in the whole input. A partition skipped by a
    checkpoint counts its metadata row count; one without it, or a pushed ``predicate`` (rows
    dropped while reading), leaves the positions unknown (None) from there on.

    >>> from thresher.io.memory import InMemorySource
    >>> src = InMemorySource(pa.table({"x": list(range(5))}), partition_rows=2)
    >>> parts = src.partitions(None, None)
    >>> n = RowNumbering(parts, frozenset(), None)
    >>> [n.number(Morsel(p.id, b)).row_start for p in parts for b in p.read(None, None, 10)]
    [0, 2, 4]
    """

    def __init__(self, parts: Sequence[Any], skip: Collection[str], predicate: Any) -> None:
        self._next: int | None = None if predicate is not None else 0
        self._skipped = {p.id: p.num_rows for p in parts if p.id in skip}
        self._order = [p.id for p in parts]
        self._done = 0  # index into _order of the next partition not yet finished

    def _pass_skipped(self, pid: str) -> None:
        # partitions before `pid` that were skipped: add their metadata row counts
        while self._done < len(self._order) and self._order[self._done] != pid:
            passed = self._order[self._done]
            if passed in self._skipped and self._next is not None:  # (a read one was counted as it went)
                n = self._skipped[passed]
                self._next = None if n is None else self._next + n
            self._done += 1

    def number(self, m: Morsel) -> Morsel:
        self._pass_skipped(m.partition)
        if m.is_end:
            self._done += 1
            return m
        if self._next is not None:  # a batch here or a Ray object ref with its row count
            m.row_start = self._next
            self._next += m.num_rows
        return m


def scan(stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
    """Read the source's partitions in order (a few ahead on background threads)."""
    spec = stage.spec
    assert isinstance(spec, ScanSpec)
    parts = spec.source.partitions(spec.columns, spec.predicate)
    schema = stage.schema
    remaining = spec.limit
    batch_rows = stage.batch_size

    def read(part: Any) -> Iterator[pa.RecordBatch]:
        for b in part.read(spec.columns, spec.predicate, batch_rows):
            yield conform_batch(b, schema)

    todo = [p for p in parts if p.id not in ctx.skip_partitions]
    st.extra["partitions"] = len(parts)
    if len(todo) != len(parts):
        st.extra["partitions_skipped"] = len(parts) - len(todo)
    rows = RowNumbering(parts, ctx.skip_partitions, spec.predicate)
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
                yield rows.number(Morsel(p.id, b))
            yield rows.number(Morsel(p.id, None))
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
            for m in pipe:
                yield rows.number(m)
            yield rows.number(Morsel(pid, None))
            open_next()
    finally:
        for _, pipe in pipes:
            pipe.close()


def map_stage(stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
    """Row-local operators over batches on the thread pool, results in input order."""
    spec = stage.spec
    assert isinstance(spec, MapSpec)
    (inp,) = stage.inputs
    pipeline = spec.make_pipeline()
    local = threading.local()
    cfg = ctx.config

    def fn(batch: pa.RecordBatch, partition: str, offset: int, row_start: int | None) -> list[pa.RecordBatch]:
        # a UDF pool's state (a loaded model) lives per worker thread: one pipeline copy each
        p = getattr(local, "pipeline", None)
        if p is None:
            p = local.pipeline = pipeline if stage.pool is None else spec.make_pipeline()
        t0 = time.perf_counter()
        st.add_in(batch.num_rows, batch.nbytes)
        out = p.process(batch, partition, offset, row_start)
        st.add_busy(time.perf_counter() - t0)
        st.add_metrics(p.take_metrics())
        sizer.observe(batch.nbytes, sum(b.nbytes for b in out))
        return out

    upstream = ctx.run(inp)
    if stage.batch_size:
        upstream = rebatch_morsels(upstream, stage.batch_size)
    sizer = BatchSizer(stage.batch_size, cfg.target_batch_bytes, cfg.min_batch_rows)
    upstream = _noting_rows(sizer.cut(upstream), sizer, st)
    in_flight = ctx.threads * 2
    if stage.concurrency is not None:
        c = stage.concurrency
        in_flight = max(1, c[1] if isinstance(c, tuple) else c)
    yield from ordered_map(fn, upstream, ctx.pool, in_flight, ctx.cancel)
    errs = pipeline.error_count()
    st.error_rows += errs
    st.error_samples.extend(pipeline.error_samples())


def flatmap(stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
    """A generator UDF over the input rows, ``batch_size`` output rows at a time."""
    spec = stage.spec
    assert isinstance(spec, FlatMapSpec)
    (inp,) = stage.inputs
    op = spec.make_operator()
    # generators that declare themselves thread-safe (the video frame sampler) fan out several
    # rows at once, in order; user generators run one row at a time, as written
    workers = ctx.threads if spec.thread_safe else 1

    waited = [0.0]  # time spent waiting for the input, not working

    def inputs() -> Iterator[tuple[str, pa.RecordBatch | None]]:
        source = iter(ctx.run(inp))
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


def relational(stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
    """The stage's Polars program over its gathered inputs, collected once."""
    frames = []
    for inp in stage.inputs:
        batches = [m.batch for m in ctx.run(inp) if m.batch is not None]
        arrow = inp.schema.to_arrow()
        table = pa.Table.from_batches(batches, schema=arrow) if batches else arrow.empty_table()
        st.add_in(table.num_rows, table.nbytes)
        frames.append(table_to_lazy(table, inp.schema))
    pid = f"stage{stage.id}"
    for b in relational_batches(stage, frames, ctx.options, st):
        yield Morsel(pid, b)
    yield Morsel(pid, None)


def relational_batches(stage: Stage, frames: list[Any], options: dict[str, Any], st: StageStats) -> list[pa.RecordBatch]:
    """A relational stage's output: its Polars program over ``frames`` (its inputs' LazyFrames)
    collected, cut into batches of at most the stage's batch size (its busy time goes to ``st``)."""
    t0 = time.perf_counter()
    lf = relational_program(stage, frames)
    return collect_relational(lf, stage.schema, stage.batch_size, options, st, t0)


def relational_program(stage: Stage, frames: list[Any]) -> Any:
    """A relational stage's Polars program (a LazyFrame) over ``frames``."""
    spec = stage.spec
    assert isinstance(spec, RelationalSpec)
    return spec.program(frames)


def collect_relational(lf: Any, schema: Schema, batch_size: int, options: dict[str, Any], st: StageStats,
                       t0: float) -> list[pa.RecordBatch]:
    """The stage's program ``lf`` collected as ``schema``, in batches of at most ``batch_size``
    rows; the time since ``t0`` goes to ``st`` as busy."""
    table = collect_lazy(lf, schema, engine=options.get("polars_engine", "auto"))
    st.add_busy(time.perf_counter() - t0)
    return table.to_batches(max_chunksize=batch_size)


def limit(stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
    spec = stage.spec
    assert isinstance(spec, LimitSpec)
    skip, left = spec.offset, spec.n
    if left == 0:
        return
    for m in counting(ctx.run(stage.inputs[0]), st):
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


def union(stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
    schema = stage.schema
    for i, inp in enumerate(stage.inputs):
        for m in counting(ctx.run(inp), st):
            pid = f"u{i}:{m.partition}"
            yield Morsel(pid, None if m.batch is None else conform_batch(m.batch, schema))


def row_index(stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
    spec = stage.spec
    assert isinstance(spec, RowIndexSpec)
    n = spec.offset
    schema = stage.schema.to_arrow()
    for m in counting(ctx.run(stage.inputs[0]), st):
        if m.batch is None:
            yield m
            continue
        idx = pa.array(np.arange(n, n + m.batch.num_rows, dtype=np.int64))
        n += m.batch.num_rows
        yield Morsel(m.partition, pa.RecordBatch.from_arrays([idx, *m.batch.columns], schema=schema))


def rebatch_stage(stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
    spec = stage.spec
    assert isinstance(spec, RebatchSpec)
    upstream = counting(ctx.run(stage.inputs[0]), st)
    if spec.batch_size:
        yield from rebatch_morsels(upstream, spec.batch_size, exact=True)
        return
    if spec.num_partitions:
        # locally, partitions are contiguous ranges of the stream
        batches = [m.batch for m in upstream if m.batch is not None]
        table = pa.Table.from_batches(batches, schema=stage.schema.to_arrow()) if batches else None
        if table is None:
            return
        if spec.by:
            from thresher.operators.partition import hash_partition

            parts = hash_partition(table, list(spec.by), stage.inputs[0].schema, spec.num_partitions)
        else:
            size = -(-table.num_rows // spec.num_partitions) or 1
            parts = [table.slice(i, size) for i in range(0, table.num_rows, size)]
        for i, t in enumerate(parts):
            for b in t.to_batches():
                yield Morsel(f"p{i}", b)
            yield Morsel(f"p{i}", None)
        return
    yield from upstream


# -- dedup --------------------------------------------------------------------------------------


def dedup_keys(stage: Stage, ctx: RunContext, st: StageStats, op: DedupOperator,
               keep_input: bool) -> tuple[DedupState, list[Morsel]]:
    """Every input batch's dedup keys, in input order: ``(state, input morsels if keep_input)``."""

    def keys_of(batch: pa.RecordBatch) -> DedupState:
        one = DedupState()
        op.keys(batch, one)
        return one

    # keys (MinHash signatures, decodes + pHashes, content hashes) of several batches at
    # once on the pool, merged in input order
    state = DedupState()
    kept_batches: list[Morsel] = []
    pending: deque[Future[DedupState]] = deque()
    for m in ctx.run(stage.inputs[0]):
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


def decide_in_memory(stage: Stage, ctx: RunContext, st: StageStats, op: DedupOperator,
                     keep_input: bool) -> tuple[np.ndarray, np.ndarray, DedupState, list[Morsel]]:
    """Pass 1 of a dedup stage, in memory: every batch's keys, then one vectorized decision."""
    state, kept_batches = dedup_keys(stage, ctx, st, op, keep_input)
    group, kept = op.decide(state)
    return group, kept, state, kept_batches


def dedup_with(decide: DedupDecide) -> StageHandler:
    """The dedup stage handler whose pass 1 (keys and the global decision) is ``decide``.

    Pass 2 re-runs the input (nothing held in memory) when the spec allows it (deterministic,
    cheap input); otherwise pass 1 keeps the input batches.
    """

    def dedup(stage: Stage, ctx: RunContext, st: StageStats) -> Iterator[Morsel]:
        spec = stage.spec
        assert isinstance(spec, DedupSpec)
        (inp,) = stage.inputs
        op = spec.make_operator()
        t0 = time.perf_counter()
        group, kept, state, kept_batches = decide(stage, ctx, st, op, spec.output == "filter" and not spec.rerun)
        st.add_busy(time.perf_counter() - t0)
        st.extra["duplicates"] = int(len(kept) - int(kept.sum()))
        if spec.output == "groups":
            table = op.groups_table(state, group, kept, stage.schema)
            for b in table.to_batches(max_chunksize=stage.batch_size):
                yield Morsel("dedup", b)
            yield Morsel("dedup", None)
            return
        source = ctx.run(inp) if spec.rerun else iter(kept_batches)
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

    return dedup


# -- helpers ----------------------------------------------------------------------------------


def counting(source: Iterator[Morsel], st: StageStats) -> Iterator[Morsel]:
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


def rebatch_morsels(source: Iterator[Morsel], rows: int, exact: bool = False) -> Iterator[Morsel]:
    """Cut data morsels into batches of at most ``rows`` rows (merge small ones when ``exact``)."""
    if not exact:
        for m in source:
            if m.batch is None or m.batch.num_rows <= rows:
                yield m
            else:
                for i in range(0, m.batch.num_rows, rows):
                    first = None if m.row_start is None else m.row_start + i
                    yield Morsel(m.partition, m.batch.slice(i, rows), row_start=first)
        return
    pid = None
    buf: list[pa.RecordBatch] = []
    # row_start of buf's first row: None unless the buffered morsels were contiguous rows
    start: int | None = None

    def numbered(batches: Iterator[pa.RecordBatch], p: str) -> Iterator[Morsel]:
        nonlocal start
        for b in batches:
            yield Morsel(p, b, row_start=start)
            start = None if start is None else start + b.num_rows

    for m in source:
        if m.batch is None:
            if buf:
                yield from numbered(rebatch(buf, rows), m.partition)
                buf = []
            yield m
            continue
        if not buf:
            start = m.row_start
        elif start is None or m.row_start != start + sum(b.num_rows for b in buf) or m.partition != pid:
            start = None
        pid = m.partition
        buf.append(m.batch)
        if sum(b.num_rows for b in buf) >= rows:
            merged = list(rebatch(buf, rows))
            last = merged[-1]
            full = merged if last.num_rows == rows else merged[:-1]
            buf = [] if last.num_rows == rows else [last]
            yield from numbered(iter(full), pid)
    if buf and pid is not None:
        yield from numbered(rebatch(buf, rows), pid)
