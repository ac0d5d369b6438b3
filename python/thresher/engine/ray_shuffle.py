"""Barriers on Ray: hash shuffles (group-by, join, distinct) and range-partitioned one-key sorts.

The map side cuts each input chunk by key hash (or key range) in a task while the input still
streams in; the reduce side runs the stage's relational node with Polars on one partition per
task. Tasks never carry the upstream plan: the stage's distribution carries a Polars program
whose inputs are placeholders (``planner.polars_plan.cut_inputs``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from thresher.engine.ray_runtime import remote_functions
from thresher.engine.stats import StageStats
from thresher.engine.stream import Morsel
from thresher.planner.physical import HashDistribution, RangeDistribution, Stage

#: ``get(ref, partition_label)``: a task's result, or a Thresher error naming the stage and partition
Getter = Callable[[Any, str], Any]


def chunks(morsels: Iterator[Morsel], target_bytes: int, st: StageStats) -> Iterator[list[pa.RecordBatch]]:
    """An input's batches in chunks of about ``target_bytes`` (the map side of a shuffle)."""
    buf: list[pa.RecordBatch] = []
    size = 0
    for m in morsels:
        if m.batch is None or not m.batch.num_rows:
            continue
        st.add_in(m.batch.num_rows, m.batch.nbytes)
        buf.append(m.batch)
        size += m.batch.nbytes
        if size >= target_bytes:
            yield buf
            buf, size = [], 0
    if buf:
        yield buf


def hash_shuffle(ray: Any, stage: Stage, dist: HashDistribution, inputs: list[Iterator[list[pa.RecordBatch]]],
                 n: int, retries: int, get: Getter, st: StageStats) -> Iterator[Morsel]:
    """Group-by, join or distinct over ``n`` hash partitions; ``inputs`` are chunked streams.

    A distinct's rows are numbered on the map side and the result is put back in input order,
    as the local executor gives it.
    """
    restore_order = dist.distinct_subset is not None
    distinct = (dist.distinct_subset, dist.distinct_keep) if restore_order else None
    rm = remote_functions()
    split = rm["hash_split"].options(num_returns=n, max_retries=retries)
    t0 = time.perf_counter()
    parts: list[list[list[Any]]] = []  # per input, per chunk: n refs
    for inp, chunked, k in zip(stage.inputs, inputs, dist.keys):
        cut: list[list[Any]] = []
        rows = 0
        for batches in chunked:
            cut.append(list(split.remote(batches, list(k), inp.schema, n, rows if restore_order else None)))
            rows += sum(b.num_rows for b in batches)
        parts.append(cut)
    program_ref = ray.put(dist.program)
    reduce = rm["reduce_partition"].options(max_retries=retries)
    counts = [len(c) for c in parts]
    schemas = [inp.schema for inp in stage.inputs]
    refs = [reduce.remote(program_ref, stage.schema, counts, schemas, distinct,
                          *[c[i] for cut in parts for c in cut])
            for i in range(n)]
    st.extra["shuffle_partitions"] = n
    pid = f"stage{stage.id}"
    if restore_order:
        tables = [get(r, f"shuffle-{i}") for i, r in enumerate(refs)]
        st.add_busy(time.perf_counter() - t0)
        table = pa.concat_tables(tables)
        table = table.take(pc.sort_indices(table.column("__th_row"))).drop_columns(["__th_row"])
        for b in table.to_batches(max_chunksize=stage.batch_size):
            yield Morsel(pid, b)
    else:
        for i, r in enumerate(refs):
            table = get(r, f"shuffle-{i}")
            for b in table.to_batches(max_chunksize=stage.batch_size):
                yield Morsel(pid, b)
        st.add_busy(time.perf_counter() - t0)
    yield Morsel(pid, None)


def range_sort(ray: Any, stage: Stage, dist: RangeDistribution, chunked: Iterator[list[pa.RecordBatch]], n: int,
               retries: int, get: Getter, st: StageStats) -> Iterator[Morsel]:
    """Sort by one key: sample boundaries, cut every chunk into ranges, sort each range in a task."""
    import polars as pl

    from thresher.datatypes import storage_batch
    from thresher.operators.expr_to_polars import to_polars

    (inp,) = stage.inputs
    key = dist.key
    key_expr = to_polars(key, inp.schema).alias("k")
    rm = remote_functions()
    t0 = time.perf_counter()
    chunk_refs: list[Any] = []
    samples: list[pl.Series] = []
    for batches in chunked:
        chunk_refs.append(ray.put(batches))
        for b in batches:
            step = max(1, b.num_rows // 256)
            frame = pl.from_arrow(storage_batch(b.take(pa.array(range(0, b.num_rows, step)))))
            assert isinstance(frame, pl.DataFrame)
            samples.append(frame.select(key_expr).to_series())
    bounds: list[Any] = []
    if samples:
        s = pl.concat(samples).drop_nulls().sort()
        if len(s):
            bounds = sorted({s[min(len(s) - 1, (len(s) * i) // n)] for i in range(1, n)})
    ranges = len(bounds) + 2  # the ranges, then the nulls
    split = rm["range_split"].options(num_returns=ranges, max_retries=retries)
    cut = [list(split.remote(c, key, inp.schema, bounds)) for c in chunk_refs]
    program_ref = ray.put(dist.program)
    reduce = rm["reduce_partition"].options(max_retries=retries)
    order = list(range(ranges - 1))
    if dist.descending:
        order.reverse()
    order = order + [ranges - 1] if dist.nulls_last else [ranges - 1, *order]
    refs = [(i, reduce.remote(program_ref, stage.schema, [len(cut)], [inp.schema], None, *[c[i] for c in cut]))
            for i in order]
    st.extra["shuffle_partitions"] = ranges
    pid = f"stage{stage.id}"
    for i, r in refs:
        table = get(r, f"range-{i}")
        for b in table.to_batches(max_chunksize=stage.batch_size):
            yield Morsel(pid, b)
    st.add_busy(time.perf_counter() - t0)
    yield Morsel(pid, None)
