"""Connected components: against a plain union-find, id mode, and the distributed propagation step."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.operators.kernels.components import (
    connected_components,
    min_by_key,
    propagate_labels_step,
)


def union_find(left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(left.tolist(), right.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)])  # roots are the smallest node: merged under min


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 60).flatmap(
        lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=80))
    )
)
def test_matches_union_find(case: tuple[int, list[tuple[int, int]]]) -> None:
    n, edges = case
    left = np.array([e[0] for e in edges], dtype=np.int64)
    right = np.array([e[1] for e in edges], dtype=np.int64)
    got = connected_components(left, right, n=n)
    np.testing.assert_array_equal(got, union_find(left, right, n))
    # the label is the smallest node of the component, whatever the edge order
    perm = np.random.default_rng(n).permutation(len(left))
    np.testing.assert_array_equal(connected_components(right[perm], left[perm], n=n), got)


def test_long_chain_and_random_graph() -> None:
    n = 200_000
    order = np.random.default_rng(0).permutation(n)
    labels = connected_components(order[:-1], order[1:], n=n)  # one path visiting nodes in random order
    assert (labels == 0).all()
    rng = np.random.default_rng(1)
    left, right = rng.integers(0, 5000, 4000), rng.integers(0, 5000, 4000)
    np.testing.assert_array_equal(connected_components(left, right, n=5000), union_find(left, right, 5000))


def test_ids_mode_and_isolated_nodes() -> None:
    ids = np.array([50, 7, 99, 13, 1000])
    labels = connected_components(np.array([50, 99]), np.array([13, 50]), ids=ids)
    assert labels.tolist() == [13, 7, 13, 13, 1000]
    assert connected_components(np.array([], np.int64), np.array([], np.int64), n=3).tolist() == [0, 1, 2]
    with pytest.raises(ValueError):
        connected_components(np.array([1]), np.array([5]), n=3)
    with pytest.raises(ValueError):
        connected_components(np.array([1]), np.array([2]), ids=np.array([1, 3]))


def test_min_by_key() -> None:
    k, v = min_by_key(np.array([5, 2, 5, 9, 2]), np.array([3, 8, 1, 4, 6]))
    assert k.tolist() == [2, 5, 9] and v.tolist() == [6, 1, 4]


def test_distributed_propagation_reaches_components() -> None:
    """Simulate a shuffle-based run: edges in 3 partitions, labels joined on, partial minima merged."""
    rng = np.random.default_rng(7)
    n = 3000
    left, right = rng.integers(0, n, 2500), rng.integers(0, n, 2500)
    parts = np.array_split(np.arange(len(left)), 3)
    labels = np.arange(n)
    for _ in range(100):
        results = [propagate_labels_step(left[p], right[p], labels[left[p]], labels[right[p]]) for p in parts]
        nodes, new = min_by_key(np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results]))
        updated = labels.copy()
        updated[nodes] = np.minimum(updated[nodes], new)
        if np.array_equal(updated, labels):
            break
        labels = updated
    np.testing.assert_array_equal(labels, connected_components(left, right, n=n))
