"""What runs inside Ray workers: scan reads, map pipelines, fan-out generators, shuffle halves.

Plain functions and classes (no Ray import here): the executor wraps them with ``ray.remote``
when it starts, and workers unpickle them by reference (``thresher`` is importable there). Every
task reports its worker's resident memory, its busy time and the bad rows it saw, so the driver
can account worker heap next to the object store and ``df.stats()`` reads the same on both
executors.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from thresher.datatypes import Schema, conform_batch


@dataclass
class TaskReport:
    """Side information of one task: sent after (or with) its batches."""

    pid: int
    rss: int
    busy: float
    errors: int = 0
    samples: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)  # UDF counters (model tokens), summed by the driver
    #: the worker's resident memory grew by this much at the task's peak (its transient heap:
    #: decoded images, model activations), 0 where it cannot be measured
    heap: int = 0
    #: per fused stage (bottom-up): what it took in and gave out, inside this task
    steps: list[StepReport] = field(default_factory=list)
    #: the Ray node the task ran on
    node: str = ""


#: what the driver learns of one output batch, ``(rows, bytes, row_start)``: the batch itself
#: stays in the object store (a plain tuple: a few bytes pickled, it is fetched once per batch)
Meta = tuple[int, int, "int | None"]


@dataclass
class StepReport:
    """One stage of a fused task: its rows and bytes in and out, busy time, bad rows."""

    stage_id: int
    rows_in: int = 0
    bytes_in: int = 0
    rows_out: int = 0
    bytes_out: int = 0
    batches_out: int = 0
    busy: float = 0.0
    errors: int = 0
    samples: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    heap: int = 0
    #: a map step's batch sizer after this task's batches (the driver hands it to the next task)
    sizer: Any = None


@dataclass
class Step:
    """One stage run inside a task: a row pipeline (``map``) or a fan-out operator (``flatmap``).

    ``sizer`` (map steps) cuts the step's input batches (``BatchSizer``); ``batch_size`` is the
    most rows a call gets."""

    stage_id: int
    kind: str
    op: Any
    batch_size: int
    sizer: Any = None


def _rss() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # noqa: BLE001 - psutil missing: no heap accounting
        return 0


def _heap_start() -> int:
    """Start measuring a task's peak heap: reset the worker's high-water mark, return its RSS now."""
    try:
        with open("/proc/self/clear_refs", "w") as f:  # "5" resets VmHWM to the current RSS (Linux)
            f.write("5")
    except OSError:
        pass
    return _rss()


def _heap_since(start: int) -> int:
    """How far the resident memory rose above ``start`` since :func:`_heap_start` (at its peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return max(0, int(line.split()[1]) * 1024 - start)
    except OSError:
        pass
    return max(0, _rss() - start)  # no high-water mark here: what is still resident at the end


def _report(t0: float, pipeline: Any = None, errors_before: int = 0) -> TaskReport:
    errs = 0
    samples: list[str] = []
    metrics: dict[str, Any] = {}
    if pipeline is not None:
        errs = pipeline.error_count() - errors_before
        if errs:
            samples = pipeline.error_samples()[:5]
        take = getattr(pipeline, "take_metrics", None)
        metrics = take() if take is not None else {}
    return TaskReport(os.getpid(), _rss(), time.perf_counter() - t0, errs, samples, metrics)


def _node_id() -> str:
    try:
        import ray

        return str(ray.get_runtime_context().get_node_id())
    except Exception:  # noqa: BLE001 - outside Ray (unit tests call these functions directly)
        return ""


#: stages this worker process ran before: its first batch of a stage also pays imports and
#: warm-up, so that batch's heap is no measurement
_WARM: set[int] = set()


def _errors_of(op: Any) -> tuple[int, list[str]]:
    count = getattr(op, "error_count", None)
    if count is not None:
        return int(count()), list(op.error_samples())
    return int(getattr(op, "errors", 0)), list(getattr(op, "error_samples", []))


#: a batch flowing through a task, with the position of its first row in the scan's whole input
#: (``Morsel.row_start``; None once rows moved)
_Item = tuple[pa.RecordBatch, "int | None"]


def _map_step(step: Step, rep: StepReport, items: Iterator[_Item], partition: str,
              offset: int) -> Iterator[_Item]:
    """A row pipeline over a stream of batches, each cut by the step's sizer (``offset``: the
    stream's first row within ``partition``)."""
    op, sizer = step.op, step.sizer
    for b, row_start in items:
        rep.rows_in += b.num_rows
        rep.bytes_in += b.nbytes
        i = 0
        while True:
            rows = step.batch_size
            if sizer is not None and b.num_rows > sizer.min_rows:
                rows = sizer.last_rows = min(rows, sizer.rows_for(b))
            piece = b.slice(i, rows) if (i or rows < b.num_rows) else b
            at = None if row_start is None else row_start + i
            t0 = time.perf_counter()
            start = _heap_start()
            out = op.process(piece, partition, offset + i, at)
            heap = _heap_since(start)
            rep.busy += time.perf_counter() - t0
            warm = step.stage_id in _WARM
            _WARM.add(step.stage_id)
            if warm:
                rep.heap = max(rep.heap, heap)
            if sizer is not None:
                sizer.observe(piece.nbytes, sum(o.nbytes for o in out), heap if warm else None)
            # one batch with the input's rows: the rows stayed where they were
            keep = at if len(out) == 1 and out[0].num_rows == piece.num_rows else None
            for o in out:
                rep.rows_out += o.num_rows
                rep.bytes_out += o.nbytes
                rep.batches_out += 1
                yield o, keep
            i += rows
            if i >= b.num_rows:
                break
        offset += b.num_rows


def _flat_step(step: Step, rep: StepReport, items: Iterator[_Item]) -> Iterator[_Item]:
    """A fan-out over a stream of batches, ``batch_size`` input rows per call. Its heap is the
    worker's resident memory at each output above where the call started (a decoder's frames
    are held while it yields)."""
    op, n = step.op, step.batch_size
    for b, _ in items:
        rep.rows_in += b.num_rows
        rep.bytes_in += b.nbytes
        for i in range(0, max(1, b.num_rows), n):
            piece = b.slice(i, n) if (i or n < b.num_rows) else b
            base = _rss()
            t0 = time.perf_counter()
            for o in op.process(piece, n):
                rep.busy += time.perf_counter() - t0
                if step.stage_id in _WARM:
                    rep.heap = max(rep.heap, _rss() - base)
                rep.rows_out += o.num_rows
                rep.bytes_out += o.nbytes
                rep.batches_out += 1
                yield o, None
                t0 = time.perf_counter()
            rep.busy += time.perf_counter() - t0
            _WARM.add(step.stage_id)


def _coalesce(items: Iterator[_Item], target: int) -> Iterator[_Item]:
    """Consecutive small batches merged up to ``target`` bytes (fewer objects in the object
    store and fewer metadata round trips: a stage's batch size bounds its calls, not its output).
    A merged batch keeps its first row's position when its rows were contiguous."""
    buf: list[pa.RecordBatch] = []
    size = 0
    first: int | None = None
    nxt: int | None = None
    for b, rs in _split(items, target):
        if buf and size + b.nbytes > target:
            yield _concat(buf), first
            buf, size = [], 0
        if not buf:
            first = rs
        elif nxt is None or rs != nxt:
            first = None
        nxt = None if rs is None else rs + b.num_rows
        buf.append(b)
        size += b.nbytes
    if buf:
        yield _concat(buf), first


def _split(items: Iterator[_Item], target: int) -> Iterator[_Item]:
    """Batches far over ``target`` bytes cut into pieces of about ``target`` (zero-copy slices),
    so the stages after this task (a shuffle's map side, a dedup's chunks) can spread them."""
    for b, rs in items:
        if b.nbytes <= 2 * target or b.num_rows <= 1:
            yield b, rs
            continue
        step = max(1, int(target * b.num_rows // max(1, b.nbytes)))
        for i in range(0, b.num_rows, step):
            yield b.slice(i, step), None if rs is None else rs + i


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    rows = [b for b in batches if b.num_rows]
    if len(rows) <= 1:
        return rows[0] if rows else batches[0]
    return pa.Table.from_batches(rows).combine_chunks().to_batches()[0]


def _run_chain(steps: list[Step], source: Iterator[_Item], partition: str, offset: int,
               limit: int | None, first: StepReport | None, out_bytes: int = 0) -> Iterator[Any]:
    """The shared body of every data task: ``source``'s batches through ``steps``, each output
    batch (merged up to ``out_bytes``) yielded as its :data:`Meta` then the batch (two objects:
    the driver gets only the first), then one :class:`TaskReport`. ``first`` counts what the
    source produced (a scan)."""
    import thresher.datatypes  # noqa: F401 - registers the extension types in this worker

    t0 = time.perf_counter()
    reps = [StepReport(s.stage_id) for s in steps]
    before = [_errors_of(s.op)[0] for s in steps]

    def counted(it: Iterator[_Item]) -> Iterator[_Item]:
        for item in it:
            b = item[0]
            if first is not None:
                first.rows_out += b.num_rows
                first.bytes_out += b.nbytes
                first.batches_out += 1
            yield item

    stream: Iterator[_Item] = counted(source)
    for step, rep in zip(steps, reps):
        if step.kind == "map":
            stream = _map_step(step, rep, stream, partition, offset)
        else:
            stream = _flat_step(step, rep, stream)
        offset = 0  # a later step's rows are counted from the partition's start (scan-rooted chains)
    left = limit
    if out_bytes:
        stream = _coalesce(stream, out_bytes)
    for b, row_start in stream:
        if left is not None:
            if b.num_rows > left:
                b = b.slice(0, left)
            left -= b.num_rows
        yield (b.num_rows, b.nbytes, row_start)
        yield b
        if left is not None and left <= 0:
            break
    report = TaskReport(os.getpid(), _rss(), time.perf_counter() - t0, node=_node_id())
    for step, rep, n0 in zip(steps, reps, before):
        n, samples = _errors_of(step.op)
        rep.errors = n - n0
        rep.samples = samples[:5] if rep.errors else []
        take = getattr(step.op, "take_metrics", None)
        rep.metrics = take() if take is not None else {}
        rep.sizer = step.sizer
        report.errors += rep.errors
        report.samples.extend(rep.samples)
        report.heap = max(report.heap, rep.heap)
    report.steps = ([first] if first is not None else []) + reps
    report.busy = sum(r.busy for r in reps) or report.busy
    yield report


def scan_chain(part: Any, columns: Any, predicate: Any, batch_size: int, schema: Schema, scan_id: int,
               steps: list[Step], ops: list[Any], limit: int | None, out_bytes: int = 0,
               row_start: int | None = None) -> Iterator[Any]:
    """Streaming generator: one source partition read, then ``steps`` (the fused stages above
    the scan, their operators in ``ops``: shipped once per stage as one object) over its
    batches, in this one task; at most ``limit`` rows come out. ``row_start``: the partition's
    first row in the scan's whole input, when known."""
    steps = [replace(s, op=o) for s, o in zip(steps, ops)]

    def read() -> Iterator[_Item]:
        at = row_start
        for b in part.read(columns, predicate, batch_size):
            yield conform_batch(b, schema), at
            at = None if at is None else at + b.num_rows

    yield from _run_chain(steps, read(), part.id, 0, limit, StepReport(scan_id), out_bytes)


def batch_chain(steps: list[Step], ops: list[Any], batch: pa.RecordBatch, start: int, length: int, partition: str,
                offset: int, out_bytes: int = 0, row_start: int | None = None) -> Iterator[Any]:
    """Streaming generator: ``steps`` over rows ``[start, start + length)`` of ``batch`` (Ray
    resolves the batch's object ref to a zero-copy view in this worker); ``offset``: the row of
    ``partition`` that ``start`` is."""
    steps = [replace(s, op=o) for s, o in zip(steps, ops)]
    piece = batch.slice(start, length) if (start or length < batch.num_rows) else batch
    yield from _run_chain(steps, iter([(piece, row_start)]), partition, offset, None, None, out_bytes)


def take_rows(spans: list[tuple[int, int, int]], schema: Schema | None, *batches: pa.RecordBatch) -> pa.RecordBatch:
    """One batch made of row spans ``(batch number, start, length)`` of ``batches``, conformed
    to ``schema`` when given (a union's). Limits, exact rebatching and unions run this: the
    driver plans the spans from row counts and never holds the rows."""
    parts = [batches[i].slice(s, n) for i, s, n in spans]
    if schema is not None:
        parts = [conform_batch(p, schema) for p in parts]
    if len(parts) == 1:
        return parts[0]
    table = pa.Table.from_batches(parts).combine_chunks()
    return table.to_batches()[0] if table.num_rows else parts[0].slice(0, 0)


def add_row_index(batch: pa.RecordBatch, start: int, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with a row index column in front, numbered from ``start``."""
    import numpy as np

    idx = pa.array(np.arange(start, start + batch.num_rows, dtype=np.int64))
    return pa.RecordBatch.from_arrays([idx, *batch.columns], schema=schema)


def write_partition(sink: Any, partition: str, schema: pa.Schema, *batches: pa.RecordBatch) -> tuple[Any, str]:
    """Write one partition's batches with ``sink`` in this worker (Ray resolves the object refs
    to zero-copy views here, on the node that holds them); the files carry the writing node's
    id. Returns the ``WriteResult`` (small: the driver commits it) and the node id."""
    import thresher.datatypes  # noqa: F401
    from thresher.io.sink import writer_metadata

    node = _node_id()
    with writer_metadata({"thresher.node_id": node}):
        result = sink.write(partition, iter(batches), schema)
    return replace(result, node_id=node), node


class PipelineActor:
    """One worker of an actor pool: builds its operators (and loads its model) once."""

    def __init__(self, pipeline: Any) -> None:
        import thresher.datatypes  # noqa: F401

        self.pipeline = pipeline
        # load the model now, while the stages upstream still start up, not on the first batch
        # (a failure here is left to that batch, whose error names the stage and the partition)
        try:
            pipeline.warm_up()
        except Exception:  # noqa: BLE001
            pass

    def chain(self, step: Step, batch: pa.RecordBatch, start: int, length: int, partition: str,
              offset: int, out_bytes: int = 0, row_start: int | None = None) -> Iterator[Any]:
        """:func:`batch_chain` with this actor's operators (built once)."""
        yield from batch_chain([step], [self.pipeline], batch, start, length, partition, offset, out_bytes,
                               row_start)


# -- shuffles ----------------------------------------------------------------------------------

def _table(batches: Sequence[pa.RecordBatch], schema: Schema) -> pa.Table:
    arrow = schema.to_arrow()
    return pa.Table.from_batches(list(batches), schema=arrow) if batches else arrow.empty_table()


def hash_split(batches: list[pa.RecordBatch], keys: Any, schema: Schema, n: int, row_offset: int | None) -> tuple[pa.Table, ...]:
    """Cut a chunk of a shuffle's input into ``n`` parts by key hash (one return per part).

    With ``row_offset`` a ``__th_row`` column numbers the rows globally, so a reducer can
    restore the input order (distinct keeps the first occurrence, in input order).
    """
    from thresher.operators.partition import hash_partition

    table = _table(batches, schema)
    if row_offset is not None:
        table = table.append_column("__th_row", pa.array(range(row_offset, row_offset + table.num_rows), pa.int64()))
    if table.num_rows == 0:
        return tuple(table for _ in range(n))
    return tuple(hash_partition(table, keys, schema, n))


def reduce_partition(program: Any, schema: Schema, counts: list[int], schemas: list[Schema],
                     distinct: tuple[Sequence[str], str] | None, *tables: pa.Table) -> pa.Table:
    """Run a relational stage's program (aggregate/join/sort) over one shuffled partition with Polars.

    ``counts[i]`` of ``tables`` belong to input ``i``. ``distinct=(subset, keep)``: a distinct
    that keeps the input order (the ``__th_row`` numbers travel through ``unique()``).
    """
    import thresher.datatypes  # noqa: F401
    from thresher.engine.polars_frames import collect_lazy, table_to_lazy

    frames: list[Any] = []
    rows: pa.Array | None = None
    k = 0
    for c, sch in zip(counts, schemas):
        parts = list(tables[k:k + c])
        k += c
        t = pa.concat_tables(parts) if parts else sch.to_arrow().empty_table()
        if distinct is not None:
            # an input with no rows at all sent no chunk: its empty table has no row numbers
            numbered = "__th_row" in t.column_names
            rows = t.column("__th_row").combine_chunks() if numbered and t.num_rows else pa.array([], pa.int64())
            if numbered:
                t = t.drop_columns(["__th_row"])
        frames.append(table_to_lazy(t, sch))

    if distinct is None:
        return collect_lazy(program(frames), schema)
    # distinct: keep the input order by carrying the row numbers through unique()
    import polars as pl

    subset, keep = distinct
    lf = frames[0].with_columns(pl.Series("__th_row", rows))
    out = lf.unique(subset=list(subset), keep=keep, maintain_order=True)  # type: ignore[arg-type]
    table = out.collect().to_arrow()
    result = collect_lazy(pl.from_arrow(table.drop_columns(["__th_row"])).lazy(), schema)  # type: ignore[union-attr]
    return result.append_column("__th_row", table.column("__th_row").cast(pa.int64()))
