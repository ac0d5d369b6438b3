"""The dedup stage on Ray, all of it in tasks: the driver keeps row counts and object references.

1. **ingest**: the stage's input arrives as morsels, each an object reference (``Morsel.ref``)
   or, from a stage that still hands batches over, a batch the driver puts into the object
   store once. Consecutive morsels form chunks of about ``target_batch_bytes``; every row gets
   its *global position* from the row counts (metadata) in plan order, which is what "first
   occurrence wins" is decided on.
2. **keys and buckets** (:mod:`thresher.operators.dedup_shuffle`): one map task per chunk over
   the chunk's references (Ray resolves them on the worker) computes the keys (MinHash band
   hashes, content hashes, pHash bands) and cuts them into ``shuffle_partitions`` parts by bucket;
   bucket reducers, verification and the large-star/small-star connected-components rounds are
   tasks too. Their result per partition is the list of rows that are *not* their own kept group.
3. **the filter is a join in tasks**: each partition's decided rows are cut by input chunk
   (chunk boundaries are known from the row counts), and one task per chunk joins its batches
   with its part of the keep mask and returns the filtered batches. A batch that keeps every row
   is not copied: its input reference is handed on. ``return_groups`` is built the same way (the
   group row's id looked up in the group row's chunk, in one more hop of tasks).

Semantic dedup: map tasks normalize the embeddings and keep the chunk's candidates for the
k-means sample (the ``kmeans_sample`` smallest hashes of the row position); a tree of merge
tasks keeps the global sample; k-means trains on it in one task; every chunk's rows are assigned
to their nearest centroid in map tasks; clusters are dealt to partitions by cost and every
partition's clusters decided in a task (cosine similarity within each cluster). No process holds
all embeddings: the largest holds one partition's clusters. The local executor trains on the
same sample rows (:func:`~thresher.operators.kernels.semantic.sample_rows`), so the results are
identical.

What reaches the driver: per chunk, its row count and one small tuple per output batch (rows,
bytes); the component rounds' change counters. With ``emit_refs`` the stage hands on references
too; without it (the stage after this one still expects batches) the filtered batches are
fetched as they are yielded, which is the only data the driver sees.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.engine.stats import StageStats
from thresher.engine.stream import Morsel
from thresher.errors import ThresherError
from thresher.operators import dedup_shuffle as ds
from thresher.operators.dedup import DedupOperator
from thresher.operators.dedup_shuffle import ShuffleDedup

_REMOTE_FNS: dict[Callable[..., Any], Any] = {}  # made once per process: Ray exports each on creation

#: merge tasks of the k-means sample take this many candidate sets at once (a tree)
SAMPLE_FAN_IN = 8


@dataclass(frozen=True)
class RayShuffleRuntime:
    """What a shuffled stage needs from the Ray executor.

    ``error(exc, label)``: a task failure as a Thresher error naming the stage and ``label``.
    ``emit_refs``: hand output on as object references (``Morsel.ref``) instead of batches.
    """

    ray: Any
    shuffle_partitions: int
    max_in_flight: int
    max_retries: int
    target_batch_bytes: int
    error: Callable[[BaseException, str], ThresherError]
    emit_refs: bool = False


class RayRunner:
    """:class:`~thresher.operators.dedup_shuffle.TaskRunner` on Ray: steps are remote tasks."""

    def __init__(self, ray: Any, max_retries: int) -> None:
        self.ray = ray
        self.max_retries = max_retries

    def submit(self, fn: Callable[..., Any], num_returns: int, *args: Any) -> list[Any]:
        remote = _REMOTE_FNS.get(fn)
        if remote is None:
            remote = _REMOTE_FNS[fn] = self.ray.remote(fn)
        refs = remote.options(num_returns=num_returns, max_retries=self.max_retries).remote(*args)
        return [refs] if num_returns == 1 else list(refs)

    def put(self, value: Any) -> Any:
        return self.ray.put(value)

    def get(self, handles: list[Any]) -> list[Any]:
        return list(self.ray.get(list(handles)))


@dataclass
class _Chunk:
    """Consecutive input morsels decided and filtered together: references and row counts only."""

    start: int  # global position of its first row
    refs: list[Any]
    rows: list[int]
    partitions: list[str]
    #: end-of-partition markers that follow each morsel (in plan order), and those before the first
    ends_after: list[list[str]]
    #: the batches themselves where the input handed batches to the driver and the output must
    #: be batches too: filtered here by the dropped positions, not fetched back
    local: list[pa.RecordBatch | None]


def _ingest(rt: RayShuffleRuntime, morsels: Iterator[Morsel], st: StageStats,
            on_chunk: Callable[[_Chunk], None]) -> tuple[list[_Chunk], list[str], int]:
    """Cut the input into chunks (calling ``on_chunk`` as each completes): ``(chunks, end
    markers before any data, rows)``."""
    chunks: list[_Chunk] = []
    lead_ends: list[str] = []
    cur: _Chunk | None = None
    size = 0
    n = 0
    for m in morsels:
        if m.is_end:
            if cur is not None:
                cur.ends_after[-1].append(m.partition)
            elif chunks:
                chunks[-1].ends_after[-1].append(m.partition)
            else:
                lead_ends.append(m.partition)
            continue
        if not m.num_rows:
            continue
        st.add_in(m.num_rows, m.num_bytes)
        if m.batch is not None:
            # a batch held here anyway is cut too, so map tasks stay near target_batch_bytes
            b = m.batch
            step = max(1, int(rt.target_batch_bytes * b.num_rows // max(1, b.nbytes)))
            pieces = [(rt.ray.put(p), p.num_rows, p.nbytes, None if rt.emit_refs else p)
                      for p in (b.slice(i, step) for i in range(0, b.num_rows, step))]
        else:
            pieces = [(m.ref, m.num_rows, m.num_bytes, None)]
        for ref, rows, nbytes, local in pieces:
            if cur is None:
                cur = _Chunk(n, [], [], [], [], [])
            cur.local.append(local)
            cur.refs.append(ref)
            cur.rows.append(rows)
            cur.partitions.append(m.partition)
            cur.ends_after.append([])
            n += rows
            size += nbytes
            if size >= rt.target_batch_bytes:
                chunks.append(cur)
                on_chunk(cur)
                cur, size = None, 0
    if cur is not None:
        chunks.append(cur)
        on_chunk(cur)
    return chunks, lead_ends, n


def dedup_on_ray(rt: RayShuffleRuntime, morsels: Iterator[Morsel], st: StageStats, op: DedupOperator,
                 output: str, schema: pa.Schema) -> Iterator[Morsel]:
    """A whole dedup stage in Ray tasks: its output morsels (filtered input, or the groups table)."""
    run = RayRunner(rt.ray, rt.max_retries)
    t0 = time.perf_counter()
    running: list[Any] = []

    def throttle(handle: Any) -> None:
        # at most max_in_flight map tasks unfinished: their inputs wait in the object store
        running.append(handle)
        if len(running) > rt.max_in_flight:
            _, running[:] = rt.ray.wait(running, num_returns=len(running) - rt.max_in_flight, fetch_local=False)

    try:
        if op.method == "semantic":
            sem = _SemanticOnRay(rt, run, op)
            chunks, lead_ends, n = _ingest(rt, morsels, st, lambda c: throttle(sem.add(c)))
            decided = sem.decide() if n else []
            st.extra["kmeans_sample_rows"] = sem.sampled
        else:
            sd = ShuffleDedup(op, rt.shuffle_partitions, run)

            def add(c: _Chunk) -> None:
                sd.add_refs(c.refs, sum(c.rows))
                throttle(sd.last_map_task())

            chunks, lead_ends, n = _ingest(rt, morsels, st, add)
            decided = sd.decide_refs() if n else []
            if op.method != "exact":
                st.extra["component_rounds"] = sd.rounds
                st.extra["star_edges"] = sd.edges
    except Exception as exc:  # noqa: BLE001 - Ray wraps task failures in many types
        # (a Thresher error of a task comes as RayTaskError(ThresherError): its message is the
        # task's traceback; rt.error gives the error's own message, naming the stage)
        if isinstance(exc, ThresherError) and getattr(exc, "cause", None) is None:
            raise
        raise rt.error(exc, "dedup shuffle") from exc
    st.extra["shuffle_partitions"] = rt.shuffle_partitions
    st.extra["dedup_chunks"] = len(chunks)
    st.add_busy(time.perf_counter() - t0)
    if output == "groups":
        yield from _groups(rt, run, op, schema, chunks, decided, st)
        return
    for pid in lead_ends:
        yield Morsel(pid, None)
    yield from _filter(rt, run, chunks, decided, n, st)


def _by_chunk(run: RayRunner, chunks: list[_Chunk], decided: list[Any], by_group: bool) -> list[list[Any]]:
    """Every partition's decided rows cut by chunk: ``[partition][chunk]`` handles (then the
    ``[partition][chunks + chunk]`` ones cut by group row, with ``by_group``)."""
    if not chunks:
        return []
    starts = np.array([c.start for c in chunks], np.int64)
    k = len(chunks) * (2 if by_group else 1)
    return [run.submit(ds.decided_by_chunk, k, starts, by_group, d) for d in decided]


def _filter(rt: RayShuffleRuntime, run: RayRunner, chunks: list[_Chunk], decided: list[Any], n: int,
            st: StageStats) -> Iterator[Morsel]:
    """One filter task per chunk (its batches joined with its keep mask), ``max_in_flight`` ahead
    of the consumer; outputs in plan order with the input's partition tags and end markers."""
    parts = _by_chunk(run, chunks, decided, False)
    pending: deque[tuple[_Chunk, list[Any]]] = deque()
    kept = 0
    it = iter(enumerate(chunks))

    def submit_next() -> bool:
        nxt = next(it, None)
        if nxt is None:
            return False
        i, c = nxt
        want = any(b is None for b in c.local)
        refs = run.submit(ds.filter_chunk, 1 + len(c.refs), c.start, len(c.refs), want, *c.refs, *[p[i] for p in parts])
        pending.append((c, refs))
        return True

    while len(pending) < max(1, rt.max_in_flight) and submit_next():
        pass
    while pending:
        c, refs = pending.popleft()
        try:
            meta = rt.ray.get(refs[0])
        except Exception as exc:  # noqa: BLE001
            raise rt.error(exc, f"dedup filter of rows {c.start}..{c.start + sum(c.rows) - 1}") from exc
        submit_next()
        for j, (rows, nbytes, what, dropped) in enumerate(meta):
            local = c.local[j]
            if what != "none":
                kept += rows
                if local is not None and what == "all":
                    yield Morsel(c.partitions[j], local)
                elif local is not None:
                    mask = np.ones(local.num_rows, bool)
                    mask[dropped] = False
                    yield Morsel(c.partitions[j], local.filter(pa.array(mask)))
                else:
                    ref = c.refs[j] if what == "all" else refs[1 + j]
                    yield _emit(rt, c.partitions[j], ref, rows, nbytes)
            for pid in c.ends_after[j]:
                yield Morsel(pid, None)
    st.extra["duplicates"] = n - kept


def _emit(rt: RayShuffleRuntime, pid: str, ref: Any, rows: int, nbytes: int) -> Morsel:
    if rt.emit_refs:
        return Morsel(pid, None, ref=ref, rows=rows, nbytes=nbytes)
    return Morsel(pid, rt.ray.get(ref))


def _groups(rt: RayShuffleRuntime, run: RayRunner, op: DedupOperator, schema: pa.Schema, chunks: list[_Chunk],
            decided: list[Any], st: StageStats) -> Iterator[Morsel]:
    """``return_groups``: ``(id, group_id, kept)`` per row, one task per chunk (with an id
    column, a first hop per chunk looks up the ids of the group rows it holds)."""
    id_col = op.id_column
    parts = _by_chunk(run, chunks, decided, id_col is not None)
    c_n = len(chunks)
    found: list[list[Any]] = []
    if id_col is not None:
        starts = np.array([c.start for c in chunks], np.int64)
        for j, c in enumerate(chunks):
            found.append(run.submit(ds.group_ids_of, c_n, id_col, starts, c.start, len(c.refs), *c.refs,
                                    *[p[c_n + j] for p in parts]))
    pid = "dedup"
    for i, c in enumerate(chunks):
        mine = [p[i] for p in parts]
        extra = [f[i] for f in found]
        meta_ref, batch_ref = run.submit(ds.groups_chunk, 2, schema, id_col, c.start, len(c.refs), len(mine),
                                         *c.refs, *mine, *extra)
        try:
            ((rows, nbytes, _, _),) = rt.ray.get(meta_ref)
        except Exception as exc:  # noqa: BLE001
            raise rt.error(exc, f"dedup groups of rows {c.start}..") from exc
        if rows:
            yield _emit(rt, pid, batch_ref, rows, nbytes)
    yield Morsel(pid, None)


class _SemanticOnRay:
    """Semantic dedup's steps as tasks (see the module docstring)."""

    def __init__(self, rt: RayShuffleRuntime, run: RayRunner, op: DedupOperator) -> None:
        self.rt, self.run, self.op = rt, run, op
        self.op_ref = run.put(op)
        self.sample_size = op.kmeans_sample
        self.keys: list[Any] = []
        self.samples: list[Any] = []
        self.sampled = 0
        self.n = 0

    def add(self, c: _Chunk) -> Any:
        key, sample = self.run.submit(ds.semantic_map, 2, self.op_ref, self.sample_size, c.start, *c.refs)
        self.n += sum(c.rows)
        self.keys.append(key)
        self.samples.append(sample)
        if len(self.samples) >= SAMPLE_FAN_IN * 2:  # merge as they come: candidates stay bounded
            head = self.samples[:SAMPLE_FAN_IN]
            self.samples = [self.run.submit(ds.semantic_sample_merge, 1, self.sample_size, *head)[0],
                            *self.samples[SAMPLE_FAN_IN:]]
        return key

    def decide(self) -> list[Any]:
        run, p = self.run, self.rt.shuffle_partitions
        n_clusters = int(self.op.params.get("n_clusters", 1))
        centroids: Any = None
        if n_clusters > 1:
            samples = self.samples
            while len(samples) > 1:
                samples = [run.submit(ds.semantic_sample_merge, 1, self.sample_size, *samples[i:i + SAMPLE_FAN_IN])[0]
                           for i in range(0, len(samples), SAMPLE_FAN_IN)]
            centroids = run.submit(ds.semantic_train, 1, n_clusters, int(self.op.params.get("seed", 0)), samples[0])[0]
            self.sampled = min(self.sample_size, self.n)
        assigned = [run.submit(ds.semantic_assign, 2, centroids, k) for k in self.keys]
        mapping = run.submit(ds.semantic_balance, 1, p, *[a[1] for a in assigned])[0]
        split = [run.submit(ds.semantic_split, p, p, mapping, k, a[0]) for k, a in zip(self.keys, assigned)]
        thr = 1.0 - float(self.op.params["eps"])
        return [run.submit(ds.semantic_reduce, 1, thr, 2048, *[s[i] for s in split])[0] for i in range(p)]
