"""Relational barriers on Ray beyond the hash and one-key range shuffles, all in tasks.

The stage's input arrives as morsels (object references, or batches the driver puts into the
object store once) and is cut into chunks of about ``target_batch_bytes`` from their metadata;
tasks get the references as arguments (Ray resolves them on the worker). The driver keeps row
counts and references; the result comes back as references (``emit_refs``) or, while the stage
after this one still expects batches, as batches fetched when they are yielded.

* **global aggregates** (:class:`~thresher.planner.distributions.PartialAggregate`): one partial
  aggregate per chunk in a task, one final aggregate over the partial rows in a task;
* **multi-key sorts** (:class:`~thresher.planner.distributions.SortDistribution`): a sample of
  every chunk's key rows in tasks, boundary rows chosen in a task (the composite key sorted with
  each key's direction and null placement), every chunk cut by them in a task (a row's range is
  the number of boundaries at or before it in sort order, so equal keys share a range), every
  range sorted (stable) in a task, ranges yielded in order;
* **windows** (:class:`~thresher.planner.distributions.WindowDistribution`): rows numbered from
  the chunks' row counts, hash-partitioned by the PARTITION BY keys in tasks, the window run per
  partition by Polars in a task (in input order within the partition), the output cut by row
  number into ranges and every range put back in input order in a task; a window without
  PARTITION BY runs in one task;
* anything else (:class:`~thresher.planner.distributions.Gather`, e.g. a median): the program
  in one task over all the input.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.datatypes import Schema
from thresher.engine.ray_dedup import RayRunner, RayShuffleRuntime
from thresher.engine.stats import StageStats
from thresher.engine.stream import Morsel
from thresher.errors import ThresherError
from thresher.planner.distributions import PartialAggregate, SortDistribution, WindowDistribution
from thresher.planner.physical import HashDistribution, RangeDistribution, Stage

_ROW = "__th_row"


# -- worker side (plain functions: wrapped with ray.remote by RayRunner) ----------------------------


def _table(items: Sequence[Any], schema: Schema) -> pa.Table:
    parts = [pa.Table.from_batches([x]) if isinstance(x, pa.RecordBatch) else x for x in items if x is not None]
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return schema.to_arrow().empty_table()
    return pa.concat_tables(parts).combine_chunks()


def _one_batch(table: pa.Table) -> tuple[tuple[int, int], pa.RecordBatch | None]:
    """A task's result as ``(meta, batch)``: ``meta = (rows, bytes)``, no batch when empty."""
    if not table.num_rows:
        return (0, 0), None
    t = table.combine_chunks()
    (b,) = t.to_batches() or [None]
    assert b is not None
    return (b.num_rows, b.nbytes), b


def run_program(program: Any, out_schema: Schema, counts: list[int], schemas: list[Schema],
                *items: Any) -> tuple[tuple[int, int], pa.RecordBatch | None]:
    """A stage's program over its inputs: ``counts[i]`` of ``items`` (batches or tables) are input ``i``."""
    import thresher.datatypes  # noqa: F401 - registers the extension types in this worker
    from thresher.engine.polars_frames import collect_lazy, table_to_lazy

    frames, k = [], 0
    for c, sch in zip(counts, schemas):
        frames.append(table_to_lazy(_table(items[k:k + c], sch), sch))
        k += c
    return _one_batch(collect_lazy(program(frames), out_schema))


def _key_frame(table: pa.Table, keys: Sequence[Any], schema: Schema) -> Any:
    import polars as pl

    from thresher.datatypes import storage_batch
    from thresher.operators.expr_to_polars import to_polars

    batches = [storage_batch(b) for b in table.to_batches()]
    df = pl.from_arrow(pa.Table.from_batches(batches)) if batches else pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    return df.select([to_polars(k, schema).alias(f"__k{i}") for i, k in enumerate(keys)])


def sort_sample(keys: Sequence[Any], schema: Schema, per_chunk: int, *batches: pa.RecordBatch) -> Any:
    """Evenly spaced key rows of one chunk (the sample the boundaries are chosen from)."""
    table = _table(batches, schema)
    step = max(1, table.num_rows // max(1, per_chunk))
    return _key_frame(table.take(pa.array(np.arange(0, table.num_rows, step))), keys, schema)


def sort_bounds(descending: Sequence[bool], nulls_last: Sequence[bool], n_parts: int, *samples: Any) -> Any:
    """``n_parts - 1`` boundary key rows: the sample sorted by the composite key, cut evenly."""
    import polars as pl

    s = pl.concat([x for x in samples if x.height], how="vertical") if any(x.height for x in samples) else samples[0]
    if not s.height:
        return s
    s = s.sort(s.columns, descending=list(descending), nulls_last=list(nulls_last), maintain_order=True)
    picks = sorted({min(s.height - 1, (s.height * i) // n_parts) for i in range(1, n_parts)})
    return s[picks]


def sort_split(keys: Sequence[Any], descending: Sequence[bool], nulls_last: Sequence[bool], schema: Schema,
               bounds: Any, *batches: pa.RecordBatch) -> tuple[Any, ...]:
    """Cut one chunk into ``len(bounds) + 1`` ranges of the composite key (input order kept)."""
    import polars as pl

    table = _table(batches, schema)
    n = bounds.height + 1
    if not table.num_rows or n == 1:
        return _single([table] + [table.slice(0, 0)] * (n - 1))
    kf = _key_frame(table, keys, schema)
    marks = pl.concat([bounds.with_columns(pl.lit(1, pl.Int64).alias("__b"), pl.lit(-1, pl.Int64).alias("__i")),
                       kf.with_columns(pl.lit(0, pl.Int64).alias("__b"), pl.int_range(pl.len(), dtype=pl.Int64).alias("__i"))],
                      how="vertical_relaxed")
    # boundaries first among equal keys (maintain_order): a row's range = boundaries at or before it
    marks = marks.sort(list(kf.columns), descending=list(descending), nulls_last=list(nulls_last), maintain_order=True)
    marks = marks.with_columns(pl.col("__b").cum_sum().alias("__p")).filter(pl.col("__b") == 0)
    pids = np.empty(table.num_rows, np.int64)
    pids[marks["__i"].to_numpy()] = marks["__p"].to_numpy()
    order = np.argsort(pids, kind="stable")
    counts = np.bincount(pids, minlength=n)
    ordered = table.take(pa.array(order))
    out, start = [], 0
    for c in counts:
        out.append(ordered.slice(start, int(c)))
        start += int(c)
    return _single(out)


def _single(parts: list[Any]) -> Any:
    return parts[0] if len(parts) == 1 else tuple(parts)


def window_split(keys: Sequence[Any], schema: Schema, n: int, row_offset: int, pre: Any, in_schema: Schema,
                 *batches: pa.RecordBatch) -> Any:
    """Cut one chunk by the hash of the PARTITION BY keys, rows numbered from ``row_offset``
    (after ``pre``, the filters/projections below the windows, if any)."""
    from thresher.operators.partition import hash_partition

    table = _table(batches, in_schema)
    if pre is not None:
        from thresher.engine.polars_frames import collect_lazy, table_to_lazy

        table = collect_lazy(pre([table_to_lazy(table, in_schema)]), schema)
    table = table.append_column(_ROW, pa.array(np.arange(row_offset, row_offset + table.num_rows), pa.int64()))
    return _single(hash_partition(table, keys, schema, n) if table.num_rows and n > 1 else [table] * n)


def window_reduce(program: Any, out_schema: Schema, in_schema: Schema, bounds: np.ndarray, *tables: pa.Table) -> Any:
    """The window over one hash partition (in input order), cut by row number at ``bounds``."""
    import thresher.datatypes  # noqa: F401
    from thresher.engine.polars_frames import collect_lazy, table_to_lazy

    parts = [t for t in tables if t.num_rows]
    n = len(bounds) + 1
    if not parts:
        empty = out_schema.to_arrow().empty_table().append_column(_ROW, pa.array([], pa.int64()))
        return _single([empty] * n)
    t = pa.concat_tables(parts)
    t = t.take(pa.array(np.argsort(t.column(_ROW).to_numpy(), kind="stable")))
    rows = t.column(_ROW).combine_chunks()
    out = collect_lazy(program([table_to_lazy(t.drop_columns([_ROW]), in_schema)]), out_schema)
    if out.num_rows != len(rows):
        raise ThresherError(f"window: {out.num_rows} rows out of {len(rows)}: the rows cannot be put back in order")
    out = out.append_column(_ROW, rows)
    r = rows.to_numpy()
    cut = np.searchsorted(r, bounds, side="left")
    edges = [0, *cut.tolist(), len(r)]
    return _single([out.slice(edges[i], edges[i + 1] - edges[i]) for i in range(n)])


def in_row_order(*tables: pa.Table) -> tuple[tuple[int, int], pa.RecordBatch | None]:
    """One range of row numbers from every partition, in input order."""
    t = pa.concat_tables([x for x in tables])
    t = t.take(pa.array(np.argsort(t.column(_ROW).to_numpy(), kind="stable"))).drop_columns([_ROW])
    return _one_batch(t)


# -- driver side ------------------------------------------------------------------------------------


class _Input:
    """A stage input in object references, cut into chunks of about ``target_batch_bytes``."""

    def __init__(self, rt: RayShuffleRuntime, morsels: Iterator[Morsel], st: StageStats) -> None:
        self.chunks: list[list[Any]] = []
        self.starts: list[int] = []
        self.rows = 0
        cur: list[Any] = []
        size = 0
        for m in morsels:
            if m.is_end or not m.num_rows:
                continue
            st.add_in(m.num_rows, m.num_bytes)
            if not cur:
                self.starts.append(self.rows)
            cur.append(m.ref if m.ref is not None else rt.ray.put(m.batch))
            self.rows += m.num_rows
            size += m.num_bytes
            if size >= rt.target_batch_bytes:
                self.chunks.append(cur)
                cur, size = [], 0
        if cur:
            self.chunks.append(cur)

    @property
    def refs(self) -> list[Any]:
        return [r for c in self.chunks for r in c]


def run_relational(rt: RayShuffleRuntime, stage: Stage, dist: Any, inputs: list[Iterator[Morsel]],
                   st: StageStats) -> Iterator[Morsel]:
    """A relational stage spread as ``dist`` says: its output morsels, in the plan's order."""
    run = RayRunner(rt.ray, rt.max_retries)
    pid = f"stage{stage.id}"
    t0 = time.perf_counter()
    ins = [_Input(rt, m, st) for m in inputs]
    schemas = [s.schema for s in stage.inputs]
    results: list[tuple[str, list[Any]]] = []  # (label, [meta ref, batch ref])
    if isinstance(dist, RangeDistribution):  # one key: the same machinery as several
        dist = SortDistribution((dist.key,), (dist.descending,), (dist.nulls_last,), dist.program)
    if isinstance(dist, HashDistribution):
        results.extend(_hash(rt, run, stage, dist, ins, st))
    elif isinstance(dist, PartialAggregate):
        (inp,) = ins
        partials = [run.submit(run_program, 2, dist.partial, dist.partial_schema, [len(c)], schemas, *c)[1]
                    for c in inp.chunks]
        st.extra["partial_aggregates"] = len(partials)
        results.append(("final aggregate", run.submit(run_program, 2, dist.final, stage.schema, [len(partials)],
                                                      [dist.partial_schema], *partials)))
    elif isinstance(dist, SortDistribution) and ins[0].rows:
        (inp,) = ins
        n = rt.shuffle_partitions
        per = max(8, 64 * n // max(1, len(inp.chunks)))
        samples = [run.submit(sort_sample, 1, dist.keys, schemas[0], per, *c)[0] for c in inp.chunks]
        bounds = run.submit(sort_bounds, 1, dist.descending, dist.nulls_last, n, *samples)[0]
        # n ranges at most (fewer when the sample is smaller); repeated boundaries leave ranges empty
        ranges = int(run.get([run.submit(_height, 1, bounds)[0]])[0]) + 1
        cut = [run.submit(sort_split, ranges, dist.keys, dist.descending, dist.nulls_last, schemas[0], bounds, *c)
               for c in inp.chunks]
        st.extra["shuffle_partitions"] = ranges
        for i in range(ranges):
            results.append((f"range-{i}", run.submit(run_program, 2, dist.program, stage.schema, [len(cut)], schemas,
                                                     *[c[i] for c in cut])))
    elif isinstance(dist, WindowDistribution):
        results.extend(_windows(rt, run, stage, dist, ins[0], schemas[0], st))
    else:  # Gather, an empty sort: the program whole, in one task
        program = dist.program
        results.append(("whole stage", run.submit(run_program, 2, program, stage.schema, [len(i.refs) for i in ins],
                                                  schemas, *[r for i in ins for r in i.refs])))
    del ins
    for label, (meta_ref, batch_ref) in results:
        try:
            rows, nbytes = rt.ray.get(meta_ref)
        except Exception as exc:  # noqa: BLE001 - Ray wraps task failures in many types
            # (a Thresher error raised in the task comes as Ray's RayTaskError(ThresherError), whose
            # message is the task's traceback: rt.error gives its own message, naming the stage)
            if isinstance(exc, ThresherError) and getattr(exc, "cause", None) is None:
                raise
            raise rt.error(exc, label) from exc
        if not rows:
            continue
        if rt.emit_refs:
            yield Morsel(pid, None, ref=batch_ref, rows=rows, nbytes=nbytes)
        else:
            batch = rt.ray.get(batch_ref)
            for b in pa.Table.from_batches([batch]).to_batches(max_chunksize=stage.batch_size):
                yield Morsel(pid, b)
    st.add_busy(time.perf_counter() - t0)
    yield Morsel(pid, None)


def _hash(rt: RayShuffleRuntime, run: RayRunner, stage: Stage, dist: HashDistribution, ins: list[_Input],
          st: StageStats) -> list[tuple[str, list[Any]]]:
    """Group-by, join or distinct over hash partitions; a distinct's rows are numbered from the
    chunks' row counts and put back in input order by row-number ranges, in tasks."""
    n = rt.shuffle_partitions
    restore = dist.distinct_subset is not None
    distinct = (dist.distinct_subset, dist.distinct_keep) if restore else None
    cut: list[list[Any]] = []  # per input chunk (inputs one after another): n handles
    counts = []
    for inp, sch, keys in zip(ins, stage.inputs, dist.keys):
        counts.append(len(inp.chunks))
        for c, start in zip(inp.chunks, inp.starts):
            cut.append(_as_list(run.submit(hash_split_refs, n, list(keys), sch.schema, n, start if restore else None, *c)))
    schemas = [s.schema for s in stage.inputs]
    st.extra["shuffle_partitions"] = n
    if not restore:
        return [(f"shuffle-{i}", run.submit(reduce_batch, 2, dist.program, stage.schema, counts, schemas, None,
                                            *[c[i] for c in cut])) for i in range(n)]
    total = sum(i.rows for i in ins)
    bounds = np.array([(total * i) // n for i in range(1, n)], np.int64)
    reduced = [_as_list(run.submit(reduce_by_rows, n, dist.program, stage.schema, counts, schemas, distinct, bounds,
                                   *[c[i] for c in cut])) for i in range(n)]
    return [(f"rows-{i}", run.submit(in_row_order, 2, *[r[i] for r in reduced])) for i in range(n)]


def _windows(rt: RayShuffleRuntime, run: RayRunner, stage: Stage, dist: WindowDistribution, inp: _Input,
             in_schema: Schema, st: StageStats) -> list[tuple[str, list[Any]]]:
    """Windows level by level (stacked ones innermost first), each hash-partitioned by its own
    PARTITION BY keys (one partition without), rows numbered once from the chunks' row counts;
    the last level's output cut by row number and every range put back in input order."""
    n = rt.shuffle_partitions
    levels = [*dist.levels, (dist.keys, dist.program, stage.schema)]
    bounds = np.array([(inp.rows * i) // n for i in range(1, n)], np.int64)
    prev: list[Any] = []
    schema = dist.pre.schema if dist.pre is not None else in_schema
    for li, (keys, program, out_schema) in enumerate(levels):
        parts = n if keys else 1
        if li == 0:
            cut = [_as_list(run.submit(window_split, parts, keys, schema, parts, start, dist.pre, in_schema, *c))
                   for c, start in zip(inp.chunks, inp.starts)]
        else:
            cut = [_as_list(run.submit(window_resplit, parts, keys, schema, parts, t)) for t in prev]
        last = li == len(levels) - 1
        outs = len(bounds) + 1 if last else 1
        reduced = [_as_list(run.submit(window_reduce, outs, program, out_schema, schema,
                                       bounds if last else np.empty(0, np.int64), *[c[i] for c in cut]))
                   for i in range(parts)]
        prev = [r[0] for r in reduced]
        schema = out_schema
    st.extra["shuffle_partitions"] = n
    st.extra["window_levels"] = len(levels)
    return [(f"rows-{i}", run.submit(in_row_order, 2, *[r[i] for r in reduced])) for i in range(len(bounds) + 1)]


def window_resplit(keys: Sequence[Any], schema: Schema, n: int, table: pa.Table) -> Any:
    """Cut a window level's output (rows numbered already) by the next level's keys."""
    from thresher.operators.partition import hash_partition

    if n == 1 or not table.num_rows:
        return _single([table] * n)
    return _single(hash_partition(table, keys, schema, n))


def _as_list(refs: list[Any]) -> list[Any]:
    return refs


def hash_split_refs(keys: Any, schema: Schema, n: int, row_offset: int | None, *batches: pa.RecordBatch) -> Any:
    """:func:`~thresher.engine.ray_tasks.hash_split` over batches given as arguments (references)."""
    from thresher.engine.ray_tasks import hash_split

    return _single(list(hash_split(list(batches), keys, schema, n, row_offset)))


def reduce_batch(program: Any, schema: Schema, counts: list[int], schemas: list[Schema], distinct: Any,
                 *tables: pa.Table) -> tuple[tuple[int, int], pa.RecordBatch | None]:
    """One hash partition's program, as ``(meta, batch)``."""
    from thresher.engine.ray_tasks import reduce_partition

    return _one_batch(reduce_partition(program, schema, counts, schemas, distinct, *tables))


def reduce_by_rows(program: Any, schema: Schema, counts: list[int], schemas: list[Schema], distinct: Any,
                   bounds: np.ndarray, *tables: pa.Table) -> Any:
    """A distinct's partition (rows numbered), cut by row number at ``bounds`` (in row order)."""
    from thresher.engine.ray_tasks import reduce_partition

    out = reduce_partition(program, schema, counts, schemas, distinct, *tables)
    if _ROW not in out.column_names:
        out = out.append_column(_ROW, pa.array([], pa.int64()))
    out = out.take(pa.array(np.argsort(out.column(_ROW).to_numpy(), kind="stable")))
    r = out.column(_ROW).to_numpy()
    edges = [0, *np.searchsorted(r, bounds, side="left").tolist(), len(r)]
    return _single([out.slice(edges[i], edges[i + 1] - edges[i]) for i in range(len(bounds) + 1)])


def _height(frame: Any) -> int:
    return int(frame.height)
