"""MinHash LSH: banding, candidate pairs, exact-Jaccard verification, fuzzy duplicate groups.

A signature of ``bands * rows`` values is cut into ``bands`` bands; two documents become
candidates when some band is identical, which happens with probability ``1 - (1 - s**rows)**bands``
for Jaccard similarity ``s`` (the S-curve). :func:`optimal_bands_rows` picks ``(bands, rows)``
like datasketch's ``MinHashLSH``. :func:`candidate_pairs` sorts each band's hashes and links the
members of each bucket (O(n) edges, not all pairs; NeMo Curator's approach), :func:`verify_pairs`
keeps the edges whose exact Jaccard similarity on shingle sets reaches the threshold, and
:func:`fuzzy_duplicates` chains it all with :func:`~.components.connected_components`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa

from thresher.operators.kernels.components import connected_components, sorted_unique
from thresher.operators.kernels.hashing import band_hashes
from thresher.operators.kernels.minhash import (
    MAX_HASH,
    HashName,
    Scheme,
    Unit,
    minhash_signatures,
    shingle_hashes,
)

_U64 = np.uint64


def s_curve(similarity: np.ndarray | float, bands: int, rows: int) -> np.ndarray:
    """Probability that two documents of Jaccard ``similarity`` share a band: ``1 - (1 - s**r)**b``.

    Examples
    --------
    >>> round(float(s_curve(0.8, 9, 13)), 3)
    0.399
    """
    s = np.asarray(similarity, dtype=np.float64)
    return 1.0 - (1.0 - s**rows) ** bands


def optimal_bands_rows(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    """The ``(bands, rows)`` with ``bands * rows <= num_perm`` that minimize weighted FP + FN.

    FP is the area under the S-curve below ``threshold``, FN the area above it between the curve
    and 1, as datasketch's ``_optimal_param`` (which integrates with scipy; here Gauss-Legendre
    with enough nodes to be exact for these polynomials, all candidates at once).

    Examples
    --------
    >>> optimal_bands_rows(0.8, 128)
    (9, 13)
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if num_perm < 1:
        raise ValueError(f"num_perm must be >= 1, got {num_perm}")
    pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    bs = np.array([p[0] for p in pairs], dtype=np.float64)[:, None]
    rs = np.array([p[1] for p in pairs], dtype=np.float64)[:, None]
    nodes, weights = np.polynomial.legendre.leggauss(max(64, num_perm // 2 + 2))

    def integral(lo: float, hi: float, tail: bool) -> np.ndarray:
        s = (hi - lo) / 2 * nodes + (hi + lo) / 2
        p = 1.0 - (1.0 - s[None, :] ** rs) ** bs
        f = 1.0 - p if tail else p
        return (f * weights[None, :]).sum(axis=1) * (hi - lo) / 2

    error = false_positive_weight * integral(0.0, threshold, False)
    error = error + false_negative_weight * integral(threshold, 1.0, True)
    return pairs[int(np.argmin(error))]


def candidate_pairs(
    band_hashes: np.ndarray,
    ids: np.ndarray | None = None,
    *,
    valid: np.ndarray | None = None,
    mode: Literal["chain", "star"] = "chain",
) -> tuple[np.ndarray, np.ndarray]:
    """Edges between documents that share a band bucket, without enumerating all pairs.

    Each band's hashes are sorted (stably, so bucket members stay in row order); ``"chain"``
    links consecutive members of a bucket, ``"star"`` links every member to the bucket's first.
    Either gives ``size - 1`` edges per bucket and the same connected components. Edges are
    deduplicated across bands.

    Parameters
    ----------
    band_hashes
        ``uint64 [n, bands]`` from :func:`band_hashes`.
    ids
        Row ids to return instead of row indices.
    valid
        Rows to consider (e.g. not null, not empty); others get no edge.
    mode
        ``"chain"`` or ``"star"``.

    Returns
    -------
    tuple of np.ndarray
        ``(left, right)`` with ``left < right`` in row order, sorted, unique.

    Examples
    --------
    >>> bh = np.array([[5, 1], [6, 1], [5, 2], [7, 3]], dtype=np.uint64)
    >>> [x.tolist() for x in candidate_pairs(bh)]
    [[0, 0], [1, 2]]
    """
    n, bands = band_hashes.shape
    rows = np.arange(n, dtype=np.int64) if valid is None else np.flatnonzero(valid).astype(np.int64)
    lefts: list[np.ndarray] = []
    rights: list[np.ndarray] = []
    for k in range(bands):
        col = band_hashes[rows, k]
        order = np.argsort(col, kind="stable")
        sh = col[order]
        same = sh[1:] == sh[:-1]
        if not same.any():
            continue
        members = rows[order]
        if mode == "chain":
            lefts.append(members[:-1][same])
            rights.append(members[1:][same])
        elif mode == "star":
            starts = np.concatenate([[True], ~same])
            anchor = members[np.maximum.accumulate(np.where(starts, np.arange(len(sh)), 0))]
            lefts.append(anchor[1:][same])
            rights.append(members[1:][same])
        else:
            raise ValueError(f"mode must be 'chain' or 'star', got {mode!r}")
    if not lefts:
        empty = np.empty(0, np.int64)
        return (empty, empty) if ids is None else (np.asarray(ids)[empty], np.asarray(ids)[empty])
    left = np.concatenate(lefts)
    right = np.concatenate(rights)
    key = sorted_unique(np.minimum(left, right) * n + np.maximum(left, right))
    left, right = key // n, key % n
    if ids is not None:
        ids = np.asarray(ids)
        return ids[left], ids[right]
    return left, right


def _unique_sets(hashes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-document sorted distinct hashes (CSR) from per-document hash lists."""
    doc = np.repeat(np.arange(len(offsets) - 1, dtype=np.uint64), np.diff(offsets))
    key = sorted_unique((doc << _U64(32)) | hashes.astype(np.uint64))
    new_off = np.searchsorted(key >> _U64(32), np.arange(len(offsets), dtype=np.uint64)).astype(np.int64)
    return (key & _U64(0xFFFFFFFF)).astype(np.uint32), new_off


def _gather_csr(values: np.ndarray, offsets: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lens = offsets[docs + 1] - offsets[docs]
    owner = np.repeat(np.arange(len(docs), dtype=np.int64), lens)
    pos = np.repeat(offsets[docs] - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()), dtype=np.int64)
    return values[pos], owner


def jaccard_pairs(
    left: np.ndarray, right: np.ndarray, hashes: np.ndarray, offsets: np.ndarray, *, max_elements: int = 1 << 24
) -> np.ndarray:
    """Exact Jaccard similarity of the shingle-hash sets of every pair ``(left[i], right[i])``.

    ``hashes``/``offsets`` are per-document hash lists (CSR, as :func:`~.minhash.shingle_hashes`
    returns); duplicates within a document are ignored. Two empty sets have similarity 1.
    Vectorized: the two sets of each pair are tagged with the pair number, sorted together, and
    equal neighbours counted; pairs are processed in batches of about ``max_elements`` values.

    Examples
    --------
    >>> h = np.array([1, 2, 3, 2, 3, 4, 9], dtype=np.uint32)
    >>> jaccard_pairs(np.array([0, 0]), np.array([1, 2]), h, np.array([0, 3, 6, 7])).tolist()
    [0.5, 0.0]
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    # only the documents of some pair: the sets of all others are never built (the hashes may be
    # a memory map of every document's shingles)
    docs, inv = np.unique(np.concatenate([left, right]), return_inverse=True)
    vals, _ = _gather_csr(hashes, offsets, docs)
    sub_off = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(offsets[docs + 1] - offsets[docs], out=sub_off[1:])
    sets, soff = _unique_sets(np.asarray(vals), sub_off)
    left, right = inv[: len(left)], inv[len(left):]
    sizes = np.diff(soff)
    la, lb = sizes[left], sizes[right]
    inter = np.zeros(len(left), dtype=np.int64)
    cost = np.cumsum(la + lb)
    start = 0
    while start < len(left):
        stop = max(int(np.searchsorted(cost, (cost[start - 1] if start else 0) + max_elements)), start + 1)
        stop = min(stop, len(left))
        va, oa = _gather_csr(sets, soff, left[start:stop])
        vb, ob = _gather_csr(sets, soff, right[start:stop])
        key = np.concatenate([(oa.astype(np.uint64) << _U64(32)) | va, (ob.astype(np.uint64) << _U64(32)) | vb])
        key.sort()
        dup = key[1:] == key[:-1]
        inter[start:stop] = np.bincount((key[1:][dup] >> _U64(32)).astype(np.int64), minlength=stop - start)
        start = stop
    union = la + lb - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def verify_pairs(
    left: np.ndarray, right: np.ndarray, hashes: np.ndarray, offsets: np.ndarray, threshold: float
) -> np.ndarray:
    """Boolean mask of the pairs whose exact Jaccard similarity is ``>= threshold``.

    Examples
    --------
    >>> h = np.array([1, 2, 3, 2, 3, 4], dtype=np.uint32)
    >>> verify_pairs(np.array([0]), np.array([1]), h, np.array([0, 3, 6]), 0.5).tolist()
    [True]
    """
    return jaccard_pairs(left, right, hashes, offsets) >= threshold


def resolve_bands_rows(
    threshold: float, num_perm: int, bands: int | None, rows: int | None, weights: tuple[float, float] = (0.5, 0.5)
) -> tuple[int, int]:
    """``(bands, rows)`` as given, or from :func:`optimal_bands_rows` when neither is.

    Examples
    --------
    >>> resolve_bands_rows(0.8, 128, 16, 8)
    (16, 8)
    """
    if (bands is None) != (rows is None):
        raise ValueError("give both bands and rows, or neither")
    if bands is None or rows is None:
        return optimal_bands_rows(threshold, num_perm, *weights)
    return bands, rows


def verified_edges(
    texts: pa.Array | pa.ChunkedArray,
    left: np.ndarray,
    right: np.ndarray,
    ngram: int,
    unit: Unit,
    hash: HashName,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate edges whose exact shingle-set Jaccard similarity reaches ``threshold``."""
    if not len(left):
        return left, right
    h, off = shingle_hashes(texts, ngram, unit, hash)
    ok = verify_pairs(left, right, h, off, threshold)
    return left[ok], right[ok]


def fuzzy_duplicates(
    texts: pa.Array | pa.ChunkedArray,
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    unit: Unit = "char",
    seed: int = 1,
    *,
    bands: int | None = None,
    rows: int | None = None,
    verify: bool = False,
    weights: tuple[float, float] = (0.5, 0.5),
    hash: HashName = "poly64",
    scheme: Scheme = "affine32",
    num_threads: int | None = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Near-duplicate groups of one batch of documents: MinHash, LSH, (verify), components.

    Null documents and documents without a shingle are never duplicates (each its own group).
    With ``verify=True`` a candidate edge is kept only if the exact Jaccard similarity of the two
    shingle sets is ``>= threshold`` (chained candidates that verify are still grouped
    transitively). ``weights`` (false positive, false negative) tune :func:`optimal_bands_rows`
    when ``bands``/``rows`` are not given: favour recall, e.g. ``(0.2, 0.8)``, when verifying.

    Returns
    -------
    tuple of np.ndarray
        ``(group, is_kept)``: ``group[i]`` is the smallest row index of row ``i``'s group, and
        the kept row of each group is that first row (``is_kept = group == arange(n)``).

    Examples
    --------
    >>> g, keep = fuzzy_duplicates(pa.array(["the cat sat on the mat", "the cat sat on the mat!", "dogs"]))
    >>> g.tolist(), keep.tolist()
    ([0, 0, 2], [True, False, True])
    """
    bands, rows = resolve_bands_rows(threshold, num_perm, bands, rows, weights)
    sig = minhash_signatures(texts, num_perm, ngram, unit, seed, hash, scheme, num_threads=num_threads)
    valid = ~(sig == MAX_HASH).all(axis=1)
    if isinstance(texts, pa.ChunkedArray | pa.Array) and texts.null_count:
        valid &= np.asarray(texts.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    left, right = candidate_pairs(band_hashes(sig, bands, rows), valid=valid)
    if verify:
        left, right = verified_edges(texts, left, right, ngram, unit, hash, threshold)
    group = connected_components(left, right, n=len(sig))
    return group, group == np.arange(len(sig))
