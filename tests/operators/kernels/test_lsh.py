"""LSH banding, candidate pairs and verification on a corpus with planted near-duplicates; pHash LSH."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from thresher.operators.kernels.components import connected_components
from thresher.operators.kernels.lsh import (
    band_hashes,
    candidate_pairs,
    fuzzy_duplicates,
    jaccard_pairs,
    optimal_bands_rows,
    s_curve,
    verify_pairs,
)
from thresher.operators.kernels.minhash import minhash_signatures, shingle_hashes
from thresher.operators.kernels.phash_lsh import hamming_pairs, phash_groups, popcount64

LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
PAIRS_PER_LEVEL = 150
SET_SIZE = 200


def planted_corpus(seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of word sets at known Jaccard similarity, then unrelated singletons.

    Returns texts, pair left rows, pair right rows and the exact Jaccard of each pair.
    """
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    left, right, sims = [], [], []
    fresh = iter(rng.permutation(10_000_000))
    for level in LEVELS:
        x = round(SET_SIZE * (1 - level) / (1 + level))  # replace x words: J = (m - x) / (m + x)
        for _ in range(PAIRS_PER_LEVEL):
            a = [f"w{next(fresh)}" for _ in range(SET_SIZE)]
            b = a[: SET_SIZE - x] + [f"w{next(fresh)}" for _ in range(x)]
            rng.shuffle(b)
            left.append(len(texts))
            right.append(len(texts) + 1)
            sims.append((SET_SIZE - x) / (SET_SIZE + x))
            texts += [" ".join(a), " ".join(b)]
    texts += [" ".join(f"w{next(fresh)}" for _ in range(SET_SIZE)) for _ in range(300)]
    return texts, np.array(left), np.array(right), np.array(sims)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    texts, left, right, sims = planted_corpus()
    sig = minhash_signatures(pa.array(texts), 128, 1, "word", seed=1)
    return texts, left, right, sims, sig


@pytest.mark.parametrize("threshold,num_perm", [(0.5, 64), (0.8, 128), (0.9, 128), (0.7, 32)])
def test_optimal_bands_rows_matches_datasketch(threshold: float, num_perm: int) -> None:
    lsh = pytest.importorskip("datasketch.lsh")
    assert optimal_bands_rows(threshold, num_perm) == lsh._optimal_param(threshold, num_perm, 0.5, 0.5)
    assert optimal_bands_rows(threshold, num_perm, 0.2, 0.8) == lsh._optimal_param(threshold, num_perm, 0.2, 0.8)


def test_band_hashes_shape_and_equality() -> None:
    sig = np.random.default_rng(0).integers(0, 2**32, (5, 16), dtype=np.uint64).astype(np.uint32)
    sig[3] = sig[1]
    sig[4, :4] = sig[0, :4]
    bh = band_hashes(sig, 4, 4)
    assert bh.shape == (5, 4) and bh.dtype == np.uint64
    assert (bh[3] == bh[1]).all() and bh[4, 0] == bh[0, 0] and (bh[4, 1:] != bh[0, 1:]).all()
    with pytest.raises(ValueError):
        band_hashes(sig, 5, 4)


def test_candidate_rate_per_level_follows_s_curve(corpus) -> None:
    _, left, right, sims, sig = corpus
    bands, rows = 16, 8
    cl, cr = candidate_pairs(band_hashes(sig, bands, rows))
    found = set(zip(cl.tolist(), cr.tolist()))
    for level in LEVELS:
        sel = np.isclose(sims, sims[np.argmin(np.abs(sims - level))])
        rate = np.mean([(a, b) in found for a, b in zip(left[sel], right[sel])])
        expected = float(s_curve(sims[sel][0], bands, rows))
        assert abs(rate - expected) < 0.12, (level, rate, expected)


def test_recall_and_precision_at_threshold_with_verify(corpus) -> None:
    texts, left, right, sims, _ = corpus
    group, kept = fuzzy_duplicates(
        pa.array(texts), threshold=0.8, ngram=1, unit="word", verify=True, weights=(0.2, 0.8)
    )
    same = group[left] == group[right]
    assert same[sims >= 0.9].mean() >= 0.95
    predicted = same.sum()
    assert predicted and (same & (sims >= 0.8)).sum() / predicted >= 0.95
    # singletons are never grouped with anything
    n_pairs = len(left)
    assert kept[2 * n_pairs :].all()
    assert (group[2 * n_pairs :] == np.arange(2 * n_pairs, len(texts))).all()


def test_transitive_chain_is_one_component() -> None:
    base = [f"c{i}" for i in range(200)]
    docs = [base]
    for step in range(1, 5):  # each doc replaces 6 more words of the previous: neighbours J = 194/206
        docs.append(docs[-1][6:] + [f"n{step}_{i}" for i in range(6)])
    assert len(set(docs[0]) & set(docs[4])) / len(set(docs[0]) | set(docs[4])) < 0.8
    texts = [" ".join(d) for d in docs] + ["something else entirely"]
    group, kept = fuzzy_duplicates(
        pa.array(texts), threshold=0.85, ngram=1, unit="word", verify=True, weights=(0.2, 0.8)
    )
    assert group.tolist() == [0, 0, 0, 0, 0, 5]
    assert kept.tolist() == [True, False, False, False, False, True]


def test_candidate_pairs_chain_star_same_components_and_valid_mask() -> None:
    rng = np.random.default_rng(3)
    bh = rng.integers(0, 6, (400, 3)).astype(np.uint64)
    chain = candidate_pairs(bh, mode="chain")
    star = candidate_pairs(bh, mode="star")
    np.testing.assert_array_equal(connected_components(*chain, n=400), connected_components(*star, n=400))
    assert (chain[0] < chain[1]).all() and len(chain[0]) <= 3 * 399
    valid = np.ones(400, bool)
    valid[::2] = False
    lv, rv = candidate_pairs(bh, valid=valid)
    assert (lv % 2 == 1).all() and (rv % 2 == 1).all()
    ids = np.arange(400) * 10 + 7
    li, ri = candidate_pairs(bh, ids=ids)
    np.testing.assert_array_equal(li, ids[chain[0]])


def test_jaccard_pairs_exact() -> None:
    rng = np.random.default_rng(5)
    sets = [np.unique(rng.integers(0, 40, rng.integers(0, 30))).astype(np.uint32) for _ in range(50)]
    hashes = np.concatenate([np.concatenate([s, s[:3]]) for s in sets])  # duplicates are ignored
    offsets = np.concatenate([[0], np.cumsum([len(s) + min(3, len(s)) for s in sets])])
    left = rng.integers(0, 50, 300)
    right = rng.integers(0, 50, 300)
    got = jaccard_pairs(left, right, hashes, offsets, max_elements=64)
    for g, a, b in zip(got, left, right):
        sa, sb = set(sets[a].tolist()), set(sets[b].tolist())
        want = len(sa & sb) / len(sa | sb) if sa | sb else 1.0
        assert g == pytest.approx(want)
    assert verify_pairs(left, right, hashes, offsets, 0.5).tolist() == (got >= 0.5).tolist()


def test_verify_uses_shingle_sets() -> None:
    texts = pa.array(["a b c d e f g h", "a b c d e f g x", "q r s"])
    h, off = shingle_hashes(texts, 2, "word")
    assert jaccard_pairs(np.array([0, 0]), np.array([1, 2]), h, off).tolist() == pytest.approx([6 / 8, 0.0])


def test_fuzzy_duplicates_split_invariant_signatures(corpus) -> None:
    texts, *_ = corpus
    sub = texts[:100]
    a = minhash_signatures(pa.array(sub), 128, 1, "word")
    b = np.concatenate(
        [minhash_signatures(pa.array(sub[:37]), 128, 1, "word"), minhash_signatures(pa.array(sub[37:]), 128, 1, "word")]
    )
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        fuzzy_duplicates(pa.array(sub), ngram=1, unit="word")[0],
        fuzzy_duplicates(pa.chunked_array([sub[:37], sub[37:]]), ngram=1, unit="word")[0],
    )


def test_fuzzy_duplicates_nulls_and_empties_are_singletons() -> None:
    group, kept = fuzzy_duplicates(pa.array([None, "", None, "", "same text here", "same text here"]))
    assert group.tolist() == [0, 1, 2, 3, 4, 4] and kept.tolist() == [True] * 5 + [False]


# ------------------------------------------------------------------------------------------- pHash
def test_popcount() -> None:
    x = np.random.default_rng(0).integers(0, 2**63, 1000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    assert popcount64(x).tolist() == [bin(int(v)).count("1") for v in x]


@pytest.mark.parametrize("k", [0, 1, 3, 6])
def test_phash_groups_match_bruteforce(k: int) -> None:
    rng = np.random.default_rng(k)
    centers = rng.integers(0, 2**63, 30, dtype=np.uint64)
    flips = [
        np.uint64(sum(1 << int(b) for b in rng.choice(64, rng.integers(0, k + 3), replace=False))) for _ in range(300)
    ]
    h = centers[rng.integers(0, 30, 300)] ^ np.array(flips, dtype=np.uint64)
    group, kept = phash_groups(h, k)
    dist = popcount64((h[:, None] ^ h[None, :]).reshape(-1)).reshape(300, 300)
    i, j = np.nonzero(dist <= k)
    want = connected_components(i, j, n=300)
    np.testing.assert_array_equal(group, want)
    assert kept.tolist() == (want == np.arange(300)).tolist()
    if k:
        pl, pr = hamming_pairs(np.unique(h), k)
        u = np.unique(h)
        assert (popcount64(u[pl] ^ u[pr]) <= k).all()
