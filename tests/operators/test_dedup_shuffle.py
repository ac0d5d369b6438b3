"""The shuffled dedup decision (Ray's) equals the in-memory one for every chunking and partition count."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

import thresher as th
from thresher.expressions.expr import Column
from thresher.operators.dedup import DedupOperator, DedupState
from thresher.operators.dedup_shuffle import (
    InlineRunner,
    ShuffleDedup,
    contract_and_key,
    star_components,
)
from thresher.operators.kernels.components import connected_components


def _corpus() -> pa.Table:
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(3000)]
    docs = [" ".join(rng.choice(vocab) for _ in range(40)) for _ in range(120)]
    for b in range(0, 120, 3):  # near copies (one word changed) and exact copies
        words = docs[b].split()
        words[rng.randrange(40)] = rng.choice(vocab)
        docs.append(" ".join(words))
    docs += [docs[b] for b in range(1, 120, 7)] + [None, "", "   "]  # type: ignore[list-item]
    hrng = np.random.default_rng(0)
    base = hrng.integers(0, 2**63, 80, dtype=np.uint64)
    hashes = np.concatenate([base, base[:30] ^ np.uint64(0b101), base[:20], base[:10] ^ np.uint64((1 << 40) | 9)])
    hcol = [int(x) for x in hashes] + [None] * (len(docs) - len(hashes))
    return pa.table({"t": pa.array(docs, pa.large_string()), "h": pa.array(hcol, pa.uint64())})


CASES = [
    ("fuzzy", "t", {"threshold": 0.8, "ngram": 3, "unit": "word", "verify": True}),
    ("fuzzy", "t", {"threshold": 0.8, "ngram": 3, "unit": "word"}),
    ("fuzzy", "t", {"threshold": 0.85, "ngram": 2, "unit": "word", "bands": 32, "rows": 4}),
    ("exact", "t", {"keep": "first"}),
    ("exact", "t", {"keep": "last"}),
    ("image", "h", {"max_distance": 4}),
    ("image", "h", {"max_distance": 0}),
]


@pytest.mark.parametrize(("method", "column", "params"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_shuffled_decision_equals_in_memory(method: str, column: str, params: dict) -> None:
    table = _corpus()
    op = DedupOperator(method, Column(column), params, th.from_arrow(table).schema)
    state = DedupState()
    for b in table.to_batches():
        op.keys(b, state)
    group, kept = op.decide(state)
    assert (~kept).sum() > 10  # the corpus has duplicates of this kind
    for parts in (1, 2, 5):
        for rows, per_chunk in ((23, 1), (23, 4), (1000, 1)):
            sd = ShuffleDedup(op, parts, InlineRunner())
            batches = table.to_batches(max_chunksize=rows)
            for i in range(0, len(batches), per_chunk):
                sd.add(batches[i:i + per_chunk])
            g, k = sd.decide()
            assert np.array_equal(g, group), (parts, rows, per_chunk)
            assert np.array_equal(k, kept), (parts, rows, per_chunk)


def _distributed_labels(left: np.ndarray, right: np.ndarray, n: int, producers: int, parts: int,
                        seed: int) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    who = rng.integers(0, producers, len(left))
    prod = [list(contract_and_key(parts, left[who == i], right[who == i]))[:parts] for i in range(producers)]
    leaves, rounds = star_components(InlineRunner(), parts, prod)
    labels = np.arange(n)
    for leaf, center in leaves:
        assert (labels[leaf] == leaf).all()  # every row is the leaf of at most one star
        labels[leaf] = center
    return labels, rounds


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_star_rounds_equal_connected_components_on_random_graphs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    left = rng.integers(0, n, 2500)
    right = rng.integers(0, n, 2500)
    expected = connected_components(left, right, n=n)
    for producers, parts in ((1, 1), (7, 3), (40, 8)):
        labels, _ = _distributed_labels(left, right, n, producers, parts, seed)
        assert np.array_equal(labels, expected)


def test_long_chain_split_over_producers_is_one_component() -> None:
    # a path 0-1-...-999 whose edges are all in different producers: local contraction does
    # nothing, the rounds must merge it
    n = 1000
    order = np.random.default_rng(5).permutation(n)  # node ids shuffled along the path
    left, right = order[:-1], order[1:]
    labels, rounds = _distributed_labels(left, right, n, producers=n - 1, parts=4, seed=0)
    assert (labels == 0).all()
    assert rounds > 2


def test_semantic_clusters_in_tasks_equal_in_memory() -> None:
    from thresher.operators.dedup_shuffle import semantic_shuffled

    rng = np.random.default_rng(3)
    centers = rng.normal(size=(30, 24)).astype(np.float32)
    vecs = np.repeat(centers, 4, axis=0) + 0.02 * rng.normal(size=(120, 24)).astype(np.float32)
    vecs = np.concatenate([vecs, rng.normal(size=(40, 24)).astype(np.float32), np.zeros((2, 24), np.float32)])
    emb = pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1)), 24)
    table = pa.table({"e": emb, "p": rng.integers(0, 3, len(vecs)).astype(np.float64)})
    schema = th.from_arrow(table).schema
    for params, prio in (({"eps": 0.02, "n_clusters": 8}, Column("p")), ({"eps": 0.05, "n_clusters": 1}, None)):
        op = DedupOperator("semantic", Column("e"), params, schema, priority=prio)
        state = DedupState()
        for b in table.to_batches(max_chunksize=50):
            op.keys(b, state)
        group, kept = op.decide(state)
        assert (~kept).sum() >= 60
        for parts in (1, 3, 16):
            g, k = semantic_shuffled(op, state, InlineRunner(), parts, block=7)
            assert np.array_equal(g, group) and np.array_equal(k, kept), parts
