"""Semantic dedup: k-means backends, planted clusters, priority order, exactness of the greedy rounds."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from thresher.operators.kernels.semantic import kmeans, semantic_duplicates

BACKENDS = ["numpy"] + [
    b for b, mod in (("sklearn", "sklearn"), ("faiss", "faiss")) if importlib.util.find_spec(mod) is not None
]


def planted(seed: int = 0, groups: int = 25, per_group: int = 8, singles: int = 200, dim: int = 48):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(groups, dim))
    dup = np.repeat(centers, per_group, axis=0) + rng.normal(scale=0.01, size=(groups * per_group, dim))
    x = np.concatenate([dup, rng.normal(size=(singles, dim))]).astype(np.float32)
    truth = np.concatenate([np.repeat(np.arange(groups), per_group), groups + np.arange(singles)])
    perm = rng.permutation(len(x))
    return x[perm], truth[perm]


@pytest.mark.parametrize("backend", BACKENDS)
def test_kmeans_backends_deterministic(backend: str) -> None:
    x, truth = planted()
    labels, centroids = kmeans(x, 10, seed=3, backend=backend)  # type: ignore[arg-type]
    assert labels.shape == (len(x),) and centroids.shape == (10, x.shape[1])
    again, _ = kmeans(x, 10, seed=3, backend=backend)  # type: ignore[arg-type]
    np.testing.assert_array_equal(labels, again)
    for g in range(25):  # a tight planted group stays in one cluster
        assert len(np.unique(labels[truth == g])) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_planted_groups_found(backend: str) -> None:
    x, truth = planted()
    group, kept = semantic_duplicates(x, eps=0.01, n_clusters=8, backend=backend)  # type: ignore[arg-type]
    for g in range(25):
        rows = np.flatnonzero(truth == g)
        assert kept[rows].sum() == 1
        assert (group[rows] == rows[kept[rows]][0]).all()
    singles = truth >= 25
    assert kept[singles].all() and (group[singles] == np.flatnonzero(singles)).all()


def test_priority_decides_which_is_kept() -> None:
    x, truth = planted(groups=3, per_group=5, singles=0)
    prio = np.random.default_rng(1).random(len(x))
    _, kept = semantic_duplicates(x, eps=0.01, priority=prio)
    for g in range(3):
        rows = np.flatnonzero(truth == g)
        assert kept[rows].tolist() == (rows == rows[np.argmax(prio[rows])]).tolist()
    _, kept_first = semantic_duplicates(x, eps=0.01)  # no priority: the first row of each group
    for g in range(3):
        rows = np.flatnonzero(truth == g)
        assert kept_first[rows].tolist() == (rows == rows.min()).tolist()


def sequential_reference(x: np.ndarray, eps: float, prio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = x / np.linalg.norm(x, axis=1, keepdims=True)
    order = np.lexsort((np.arange(len(x)), -prio))
    kept_rows: list[int] = []
    group = np.arange(len(x))
    kept = np.zeros(len(x), dtype=bool)
    for i in order:
        sims = [(float(v[i] @ v[j]), j) for j in kept_rows]
        close = [(s, j) for s, j in sims if s >= 1 - eps]
        if close:
            best = max(close, key=lambda t: (t[0], -kept_rows.index(t[1])))
            group[i] = best[1]
        else:
            kept[i] = True
            kept_rows.append(int(i))
    return group, kept


def test_greedy_rounds_equal_sequential_pass() -> None:
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(4, 6))[rng.integers(0, 4, 120)] + rng.normal(scale=0.35, size=(120, 6))).astype(np.float32)
    prio = rng.integers(0, 5, 120).astype(float)
    group, kept = semantic_duplicates(x, eps=0.1, priority=prio, block=17)
    ref_group, ref_kept = sequential_reference(x, 0.1, prio)
    np.testing.assert_array_equal(kept, ref_kept)
    np.testing.assert_array_equal(group, ref_group)


def test_zero_vectors_and_precomputed_labels() -> None:
    x = np.array([[0, 0], [0, 0], [1, 0], [1, 0]], dtype=np.float32)
    group, kept = semantic_duplicates(x, eps=0.01, labels=np.array([0, 0, 1, 0]))
    assert kept.tolist() == [True, True, True, True]  # zero vectors never match; 2 and 3 are in different clusters
    group, kept = semantic_duplicates(x, eps=0.01, labels=np.zeros(4, np.int64))
    assert group.tolist() == [0, 1, 2, 2] and kept.tolist() == [True, True, True, False]
