"""Dedup on the Ray executor: buckets and components as shuffles of tasks, same results as local."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import thresher as th
from thresher import col
from thresher.testing.text import planted_corpus

ray = pytest.importorskip("ray")

# small chunks and several partitions, so every bucket and chain is cut across tasks
OPTIONS: dict[str, Any] = {"shuffle_partitions": 3, "target_batch_bytes": 8000}


@pytest.fixture(scope="module")
def ray_runtime() -> Any:
    from thresher.engine.ray import ensure_ray

    return ensure_ray(num_cpus=2)


@pytest.fixture(scope="module")
def planted() -> th.DataFrame:
    docs, _ = planted_corpus()
    return th.from_pydict({"id": list(range(len(docs))), "text": docs})


@pytest.mark.parametrize("verify", [True, False])
def test_fuzzy_on_ray_equals_local(ray_runtime: Any, planted: th.DataFrame, verify: bool) -> None:
    q = planted.into_batches(41).dedup.fuzzy("text", threshold=0.8, ngram=3, unit="word", verify=verify)
    local = q.to_pydict()
    assert len(local["id"]) < planted.count_rows() - 100
    assert q.to_pydict(runner="ray", **OPTIONS) == local
    # another partition count and chunking: still identical
    assert q.to_pydict(runner="ray", shuffle_partitions=5, target_batch_bytes=30000) == local
    g = planted.dedup.fuzzy("text", threshold=0.8, ngram=3, unit="word", verify=verify, return_groups=True,
                            id_column="id")
    assert g.to_pydict(runner="ray", **OPTIONS) == g.to_pydict()


def test_fuzzy_stage_runs_as_shuffle_on_ray(ray_runtime: Any, planted: th.DataFrame) -> None:
    q = planted.dedup.fuzzy("text", threshold=0.8, ngram=3, unit="word")
    # at most two map tasks unfinished at a time: the driver waits, the result does not change
    out = q.collect(runner="ray", max_in_flight=2, **OPTIONS)
    assert out.to_pydict() == q.to_pydict()
    extra = next(s.extra for s in out.stats().stages.values() if "component_rounds" in s.extra)
    assert extra["shuffle_partitions"] == 3
    assert extra["dedup_chunks"] > 3
    assert extra["component_rounds"] >= 2 and extra["star_edges"] > 0


def test_chain_across_partitions_is_one_group_on_ray(ray_runtime: Any) -> None:
    base = [f"tok{i}" for i in range(60)]
    a = " ".join(base)
    b = " ".join(base[:57] + ["x1", "x2", "x3"])
    c = " ".join(base[:54] + ["x1", "x2", "x3", "y1", "y2", "y3"])
    other = [" ".join(f"o{i}w{j}" for j in range(12)) for i in range(6)]
    # a, b and c land in different chunks (one row per batch, tiny chunks)
    df = th.from_pydict({"t": [a, *other[:3], b, *other[3:], c]}).into_batches(1)
    q = df.dedup.fuzzy("t", threshold=0.85, ngram=2, unit="word", bands=32, rows=4, return_groups=True)
    local = q.to_pydict()
    remote = q.to_pydict(runner="ray", shuffle_partitions=4, target_batch_bytes=1)
    assert remote == local
    assert remote["group_id"][0] == remote["group_id"][4] == remote["group_id"][8] == 0
    assert len(set(remote["group_id"])) == 7


@pytest.mark.parametrize("keep", ["first", "last"])
def test_exact_on_ray_equals_local(ray_runtime: Any, keep: str) -> None:
    df = th.from_pydict({"t": ["a", "b", "a", None, "b", None, "c", "a"] * 5, "k": list(range(40))})
    q = df.dedup.exact("t", keep=keep)
    assert q.to_pydict(runner="ray", shuffle_partitions=3, target_batch_bytes=64) == q.to_pydict()
    g = df.dedup.exact("t", keep=keep, return_groups=True, id_column="k")
    assert g.to_pydict(runner="ray", shuffle_partitions=3, target_batch_bytes=64) == g.to_pydict()


def test_image_hash_dedup_on_ray_equals_local(ray_runtime: Any) -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2**63, 300, dtype=np.uint64)
    near = base[:100] ^ np.uint64(0b1011)  # 3 bits away
    hashes = [int(x) for x in np.concatenate([base, near, base[:20]])] + [None, None]
    df = th.from_arrow(pa.table({"h": pa.array(hashes, pa.uint64()), "i": list(range(len(hashes)))}))
    q = df.into_batches(50).dedup.image("h", max_distance=4)
    local = q.to_pydict()
    assert len(local["i"]) == 302
    assert q.to_pydict(runner="ray", **OPTIONS) == local


def test_semantic_on_ray_decides_clusters_in_tasks_with_the_same_result(ray_runtime: Any) -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(10, 16)).astype(np.float32)
    vecs = np.repeat(centers, 3, axis=0) + 0.001 * rng.normal(size=(30, 16)).astype(np.float32)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1)), 16)
    df = th.from_arrow(pa.table({"id": list(range(30)), "e": emb}))
    q = df.dedup.semantic("e", eps=0.01, n_clusters=3, priority=col("id") % 3)
    out = q.collect(runner="ray", **OPTIONS)
    assert out.to_pydict() == q.to_pydict()
    assert len(out.to_pydict()["id"]) == 10
    assert any(s.extra.get("shuffle_partitions") == 3 for s in out.stats().stages.values())


def test_dedup_of_a_map_stage_on_ray(ray_runtime: Any, planted: th.DataFrame) -> None:
    # the dedup key is an expression: computed in a map stage, then shuffled
    q = planted.dedup.exact(col("text").str.slice(0, 12))
    assert q.to_pydict(runner="ray", **OPTIONS) == q.to_pydict()
