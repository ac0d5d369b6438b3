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
from dataclasses import dataclass, field
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


def read_partition(part: Any, columns: Any, predicate: Any, batch_size: int, schema: Schema) -> Iterator[Any]:
    """Streaming generator: one source partition's batches, then a :class:`TaskReport`."""
    import thresher.datatypes  # noqa: F401 - registers the extension types in this worker

    t0 = time.perf_counter()
    for b in part.read(columns, predicate, batch_size):
        yield conform_batch(b, schema)
    yield _report(t0)


def run_pipeline(pipeline: Any, batch: pa.RecordBatch, partition: str, offset: int,
                 row_start: int | None = None) -> tuple[list[pa.RecordBatch], TaskReport]:
    """A stateless map stage over one batch (``row_start``: its first row's position in the whole input)."""
    t0 = time.perf_counter()
    start = _heap_start()
    before = pipeline.error_count()
    out = pipeline.process(batch, partition, offset, row_start)
    rep = _report(t0, pipeline, before)
    rep.heap = _heap_since(start)
    return out, rep


def run_flatmap(op: Any, batch: pa.RecordBatch, batch_size: int) -> Iterator[Any]:
    """Streaming generator: the fan-out of one batch, ``batch_size`` rows at a time."""
    t0 = time.perf_counter()
    start = _heap_start()
    busy = 0.0
    for out in op.process(batch, batch_size):
        busy += time.perf_counter() - t0
        yield out
        t0 = time.perf_counter()
    rep = _report(t0)
    rep.busy += busy
    rep.heap = _heap_since(start)
    yield rep


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

    def process(self, batch: pa.RecordBatch, partition: str, offset: int,
                row_start: int | None = None) -> tuple[list[pa.RecordBatch], TaskReport]:
        return run_pipeline(self.pipeline, batch, partition, offset, row_start)

    def flatmap(self, batch: pa.RecordBatch, batch_size: int) -> Iterator[Any]:
        yield from run_flatmap(self.pipeline, batch, batch_size)


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


def range_split(batches: list[pa.RecordBatch], key: Any, schema: Schema, bounds: list[Any]) -> tuple[pa.Table, ...]:
    """Cut a chunk of a sort's input by key ranges: ``len(bounds) + 1`` ranges, then the nulls."""
    import numpy as np
    import polars as pl

    from thresher.datatypes import storage_batch
    from thresher.operators.expr_to_polars import to_polars

    table = _table(batches, schema)
    n = len(bounds) + 2
    if table.num_rows == 0:
        return tuple(table for _ in range(n))
    frame = pl.from_arrow(pa.Table.from_batches([storage_batch(b) for b in table.to_batches()]))
    assert isinstance(frame, pl.DataFrame)
    keys = frame.select(to_polars(key, schema).alias("k")).to_series()
    if bounds:
        b = pl.Series(bounds, dtype=keys.dtype)
        pids = b.search_sorted(keys.fill_null(b[0]), side="right").to_numpy().astype(np.int64)
    else:
        pids = np.zeros(len(keys), np.int64)
    pids[keys.is_null().to_numpy()] = n - 1
    order = np.argsort(pids, kind="stable")
    counts = np.bincount(pids, minlength=n)
    ordered = table.take(pa.array(order))
    out, start = [], 0
    for c in counts:
        out.append(ordered.slice(start, int(c)))
        start += int(c)
    return tuple(out)


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
