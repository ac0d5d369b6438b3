"""The dedup stage on Ray: LSH buckets and connected components as shuffles over tasks.

The driver streams the stage's input as on the local executor, but only cuts it into chunks of
about ``target_batch_bytes`` and hands every chunk to a map task (keys: MinHash signatures and
band hashes, content hashes, pHash bands, cut into ``shuffle_partitions`` parts by bucket hash).
Bucket reducers, verification, and the large-star/small-star connected-components rounds are Ray
tasks too (:mod:`thresher.operators.dedup_shuffle` has the algorithm and why it is exact); the
driver only keeps the row count, a per-row group/keep array, and, for ``return_groups`` with an
``id_column``, the ids. Pass 2 is the in-process one (:func:`thresher.engine.stages.dedup_with`): the input again (or
the kept batches), filtered by row position. Everything the executor lends these functions is in
:class:`RayShuffleRuntime` (no executor internals).

Semantic dedup gathers the embeddings on the driver for one k-means over all of them (fine for
moderate sizes: 1M × 256 float32 is 1 GiB; 10M would want a k-means on a sample and assignment in
map tasks, not done), then decides the clusters in ``shuffle_partitions`` tasks.
Results equal the local executor's for every method, chunking and partition count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.engine.stats import StageStats
from thresher.engine.stream import Morsel
from thresher.errors import ThresherError
from thresher.operators.dedup import DedupOperator, DedupState
from thresher.operators.dedup_shuffle import ShuffleDedup, semantic_shuffled

_REMOTE_FNS: dict[Callable[..., Any], Any] = {}  # made once per process: Ray exports each on creation


@dataclass(frozen=True)
class RayShuffleRuntime:
    """What a shuffled decision needs from the Ray executor.

    ``error(exc, label)``: a task failure as a Thresher error naming the stage and ``label``.
    """

    ray: Any
    shuffle_partitions: int
    max_in_flight: int
    max_retries: int
    target_batch_bytes: int
    error: Callable[[BaseException, str], ThresherError]


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


def decide_on_ray(rt: RayShuffleRuntime, morsels: Iterator[Morsel], st: StageStats, op: DedupOperator,
                  keep_input: bool) -> tuple[np.ndarray, np.ndarray, DedupState, list[Morsel]]:
    """Pass 1 of a dedup stage as Ray tasks over the input ``morsels``:
    ``(group, is_kept, state, kept input morsels)``."""
    sd = ShuffleDedup(op, rt.shuffle_partitions, RayRunner(rt.ray, rt.max_retries))
    state = DedupState()
    kept_batches: list[Morsel] = []
    chunk: list[pa.RecordBatch] = []
    size = 0
    id_index = -1
    running: list[Any] = []
    chunks = 0

    def submit(batches: list[pa.RecordBatch]) -> None:
        # at most max_in_flight map tasks unfinished: their inputs wait in the object store
        nonlocal chunks
        sd.add(batches)
        chunks += 1
        running.append(sd.last_map_task())
        if len(running) > rt.max_in_flight:
            _, running[:] = rt.ray.wait(running, num_returns=len(running) - rt.max_in_flight, fetch_local=False)

    for m in morsels:
        if keep_input:
            kept_batches.append(m)
        b = m.batch
        if b is None or not b.num_rows:
            continue
        st.add_in(b.num_rows, b.nbytes)
        if op.id_column is not None:
            if id_index < 0:
                id_index = b.schema.get_field_index(op.id_column)
            state.ids.append(b.column(id_index))
        state.n += b.num_rows
        # big batches are cut too, so map tasks stay near target_batch_bytes
        step = max(1, int(rt.target_batch_bytes * b.num_rows // max(1, b.nbytes)))
        for i in range(0, b.num_rows, step):
            piece = b.slice(i, step)
            chunk.append(piece)
            size += piece.nbytes
            if size >= rt.target_batch_bytes:
                submit(chunk)
                chunk, size = [], 0
    if chunk:
        submit(chunk)
    try:
        group, kept = sd.decide()
    except Exception as exc:  # noqa: BLE001 - Ray wraps task failures in many types
        raise rt.error(exc, "dedup shuffle") from exc
    st.extra["shuffle_partitions"] = sd.n_parts
    st.extra["dedup_chunks"] = chunks
    if op.method != "exact":
        st.extra["component_rounds"] = sd.rounds
        st.extra["star_edges"] = sd.edges
    return group, kept, state, kept_batches


def decide_semantic_on_ray(rt: RayShuffleRuntime, op: DedupOperator, state: DedupState,
                           st: StageStats) -> tuple[np.ndarray, np.ndarray]:
    """Semantic dedup on Ray: the gathered keys' k-means here, clusters decided in tasks."""
    try:
        group, kept = semantic_shuffled(op, state, RayRunner(rt.ray, rt.max_retries), rt.shuffle_partitions)
    except Exception as exc:  # noqa: BLE001 - Ray wraps task failures in many types
        raise rt.error(exc, "semantic clusters") from exc
    st.extra["shuffle_partitions"] = rt.shuffle_partitions
    return group, kept
