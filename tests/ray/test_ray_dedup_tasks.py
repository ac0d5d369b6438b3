"""Dedup on Ray entirely in tasks: same rows as the local executor, and the driver gets no data.

The driver-bytes check feeds the dedup stage object references (as the Ray scans and maps hand
them on) and counts every byte ``ray.get``/``ray.wait`` return in the driver while the stage
runs: only row counts and per-batch metadata may come back, never a batch.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import thresher as th
from thresher import col
from thresher.engine.stats import StageStats
from thresher.engine.stream import Morsel
from thresher.errors import ThresherExecutionError
from thresher.testing.text import planted_corpus

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_runtime() -> Any:
    from thresher.engine.ray import ensure_ray

    return ensure_ray(num_cpus=2)


def _emb_frame(n_centers: int, copies: int, dim: int = 16, seed: int = 0) -> th.DataFrame:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_centers, dim)).astype(np.float32)
    vecs = np.repeat(centers, copies, axis=0) + 0.001 * rng.normal(size=(n_centers * copies, dim)).astype(np.float32)
    order = rng.permutation(len(vecs))
    emb = pa.FixedSizeListArray.from_arrays(pa.array(vecs[order].reshape(-1)), dim)
    return th.from_arrow(pa.table({"id": list(range(len(vecs))), "e": emb}))


def test_semantic_kmeans_on_a_sample_equals_local(ray_runtime: Any) -> None:
    # k-means trains on 40 of 240 rows (a task), every row is assigned in map tasks: the same
    # sample rows and so the same result as the local executor
    df = _emb_frame(24, 10).into_batches(17)
    q = df.dedup.semantic("e", eps=0.01, n_clusters=6, kmeans_sample=40, priority=col("id") % 4)
    local = q.to_pydict()
    assert len(local["id"]) == 24
    out = q.collect(runner="ray", shuffle_partitions=3, target_batch_bytes=2000)
    assert out.to_pydict() == local
    assert any(s.extra.get("kmeans_sample_rows") == 40 for s in out.stats().stages.values())
    g = df.dedup.semantic("e", eps=0.01, n_clusters=6, kmeans_sample=40, return_groups=True, id_column="id")
    assert g.to_pydict(runner="ray", shuffle_partitions=2, target_batch_bytes=3000) == g.to_pydict()


def test_semantic_sample_is_all_rows_when_small() -> None:
    from thresher.operators.kernels.semantic import sample_rows

    assert sample_rows(7, 100, 3).tolist() == list(range(7))
    a, b = sample_rows(10_000, 50, 1), sample_rows(10_000, 50, 2)
    assert len(a) == 50 and list(a) == sorted(a) and set(a) != set(b)


def test_semantic_kmeans_sample_must_be_positive() -> None:
    with pytest.raises(ValueError, match="kmeans_sample"):
        _emb_frame(2, 2).dedup.semantic("e", kmeans_sample=0)


@pytest.mark.parametrize("method", ["exact", "fuzzy", "semantic"])
def test_partition_tags_and_ends_survive(ray_runtime: Any, method: str) -> None:
    # several source partitions, chunks spanning their ends: the filtered output keeps each row's
    # partition order and the result equals the local one
    docs, _ = planted_corpus()
    parts = [th.from_pydict({"id": list(range(i, len(docs), 4)), "text": docs[i::4]}) for i in range(4)]
    df = parts[0].union(parts[1]).union(parts[2]).union(parts[3])
    if method == "exact":
        q = df.dedup.exact(col("text").str.slice(0, 10))
    elif method == "fuzzy":
        q = df.dedup.fuzzy("text", threshold=0.8, ngram=3, unit="word")
    else:
        rng = np.random.default_rng(3)
        e = rng.normal(size=(200, 8)).astype(np.float32)
        e = np.concatenate([e, e + 1e-4])[rng.permutation(400)]
        emb = pa.FixedSizeListArray.from_arrays(pa.array(e.reshape(-1)), 8)
        t = pa.table({"id": list(range(400)), "e": emb})
        sem = [th.from_arrow(t.slice(i * 100, 100)).into_batches(29) for i in range(4)]
        q = sem[0].union(sem[1], sem[2], sem[3]).dedup.semantic("e", eps=0.01, n_clusters=3)
    local = q.to_pydict()
    assert q.to_pydict(runner="ray", shuffle_partitions=3, target_batch_bytes=5000) == local


# -- the driver receives no data ---------------------------------------------------------------------


def _size(obj: Any) -> int:
    try:
        return len(pickle.dumps(obj, protocol=5))
    except Exception:  # noqa: BLE001 - an unpicklable handle: count it as small
        return 64


class _DriverBytes:
    """Counts what ``ray.get`` and ``ray.wait`` hand the driver (``ray.wait`` returns references)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        self.calls = 0
        get, wait = ray.get, ray.wait

        def counting_get(refs: Any, *a: Any, **k: Any) -> Any:
            out = get(refs, *a, **k)
            self.calls += 1
            self.bytes += sum(_size(x) for x in out) if isinstance(refs, list) else _size(out)
            return out

        def counting_wait(*a: Any, **k: Any) -> Any:
            ready, rest = wait(*a, **k)
            self.calls += 1
            self.bytes += _size(ready) + _size(rest)
            return ready, rest

        monkeypatch.setattr(ray, "get", counting_get)
        monkeypatch.setattr(ray, "wait", counting_wait)


def _ref_morsels(table: pa.Table, rows_per_batch: int, partitions: int) -> Iterator[Morsel]:
    """The input as a Ray scan hands it on: references with their metadata, partition ends."""
    per_part = -(-table.num_rows // partitions)
    for p in range(partitions):
        part = table.slice(p * per_part, per_part)
        for b in part.to_batches(max_chunksize=rows_per_batch):
            yield Morsel(f"p{p}", None, ref=ray.put(b), rows=b.num_rows, nbytes=b.nbytes)
        yield Morsel(f"p{p}", None)


@pytest.mark.parametrize("method", ["exact", "fuzzy", "semantic"])
def test_dedup_stage_sends_no_data_to_the_driver(ray_runtime: Any, monkeypatch: pytest.MonkeyPatch,
                                                 method: str) -> None:
    from thresher.engine.ray_dedup import RayShuffleRuntime, dedup_on_ray
    from thresher.expressions.expr import Column
    from thresher.operators.dedup import DedupOperator

    docs, _ = planted_corpus()
    reps = 12
    text = [d + f" {i // len(docs)}" if i % 3 else d for i, d in enumerate(docs * reps)]
    n = len(text)
    rng = np.random.default_rng(0)
    e = rng.normal(size=(n, 32)).astype(np.float32)
    e[1::7] = e[0::7][: len(e[1::7])] + 1e-4  # planted near-duplicates
    table = pa.table({"id": np.arange(n), "text": text,
                      "e": pa.FixedSizeListArray.from_arrays(pa.array(e.reshape(-1)), 32),
                      "pad": pa.array([b"x" * 512] * n)})
    frame = th.from_arrow(table).into_batches(200)
    if method == "exact":
        key, params, q = "text", {"keep": "first"}, frame.dedup.exact("text")
    elif method == "fuzzy":
        params = {"threshold": 0.8, "ngram": 3, "unit": "word", "num_perm": 128, "seed": 1, "verify": False}
        key, q = "text", frame.dedup.fuzzy("text", threshold=0.8, ngram=3, unit="word")
    else:
        params = {"eps": 0.01, "n_clusters": 4, "seed": 0, "kmeans_sample": 500}
        key, q = "e", frame.dedup.semantic("e", eps=0.01, n_clusters=4, kmeans_sample=500)
    expected = q.to_arrow()
    assert 0 < expected.num_rows < n

    op = DedupOperator(method, Column(key), params, frame.schema)
    input_bytes = table.nbytes
    morsels = list(_ref_morsels(table, 200, 3))
    counter = _DriverBytes(monkeypatch)

    def fail(exc: BaseException, label: str) -> ThresherExecutionError:
        return ThresherExecutionError(f"{label}: {exc}")

    rt = RayShuffleRuntime(ray, 3, 4, 1, 64 << 10, fail, emit_refs=True)
    out = list(dedup_on_ray(rt, iter(morsels), StageStats(0, "dedup"), op, "filter", table.schema))
    driver = counter.bytes
    monkeypatch.undo()
    print(f"\n{method}: the driver received {driver:,} bytes in {counter.calls} calls for {input_bytes:,} input bytes")
    assert driver < 0.01 * input_bytes, (driver, input_bytes)
    assert counter.calls > 0
    # the output: references in partition order, the end of every partition kept
    assert [m.partition for m in out if m.is_end] == ["p0", "p1", "p2"]
    data = [m for m in out if not m.is_end]
    assert all(m.batch is None and m.ref is not None for m in data)
    got = pa.Table.from_batches([ray.get(m.ref) for m in data])
    assert sum(m.rows for m in data) == got.num_rows
    assert got.equals(expected.cast(got.schema))
