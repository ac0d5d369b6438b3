"""Near-duplicate groups of 64-bit perceptual hashes within Hamming distance ``k``.

Pigeonhole: cut the 64 bits into ``k + 1`` bands; two hashes that differ in at most ``k`` bits
agree exactly on at least one band. So every pair within distance ``k`` shares a bucket of some
band; the candidates are all pairs inside each bucket (of distinct hash values, identical hashes
are grouped first), verified with a popcount of the XOR, and grouped by connected components.
The result is exact: the components of the graph "Hamming distance <= k".
"""

from __future__ import annotations

import numpy as np

from thresher.operators.kernels.components import connected_components, sorted_unique

_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount64(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (``np.bitwise_count`` when NumPy has it).

    Examples
    --------
    >>> popcount64(np.array([0, 1, 0xFF, 2**64 - 1], dtype=np.uint64)).tolist()
    [0, 1, 8, 64]
    """
    x = np.ascontiguousarray(x, dtype=np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int64)
    return _POP8[x.view(np.uint8).reshape(-1, 8)].sum(axis=1).astype(np.int64)


def _bands(k: int) -> list[tuple[int, int]]:
    """``k + 1`` (shift, width) bit ranges covering 64 bits."""
    nb = k + 1
    widths = [64 // nb + (1 if i < 64 % nb else 0) for i in range(nb)]
    shifts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int).tolist()
    return list(zip(shifts, widths))


def _bucket_pairs(keys: np.ndarray, max_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of positions that share a key."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], sk[1:] != sk[:-1]]))
    sizes = np.diff(np.append(starts, len(sk)))
    big = sizes > 1
    starts, sizes = starts[big], sizes[big]
    if not len(starts):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # element at position p of a bucket pairs with the positions after it
    pos_start = np.repeat(starts, sizes)
    pos = np.arange(len(pos_start)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    size_of = np.repeat(sizes, sizes)
    partners = size_of - 1 - pos
    total = int(partners.sum())
    if total > max_pairs:
        raise ValueError(f"{total} candidate pairs exceed max_pairs={max_pairs}; use a smaller k")
    me = np.repeat(pos_start + pos, partners)
    step = np.arange(total) - np.repeat(np.cumsum(partners) - partners, partners) + 1
    return order[me], order[me + step]


def hamming_pairs(hashes: np.ndarray, k: int, *, max_pairs: int = 50_000_000) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``(i, j)``, ``i < j``, of *distinct* hash values within Hamming distance ``k``.

    Indices refer to ``hashes``; equal values are not paired here (see :func:`phash_groups`).

    Examples
    --------
    >>> l, r = hamming_pairs(np.array([0b1011, 0b1001, 2**63], dtype=np.uint64), 1)
    >>> l.tolist(), r.tolist()
    ([0], [1])
    """
    h = np.asarray(hashes, dtype=np.uint64)
    lefts, rights = [], []
    for shift, width in _bands(k):
        key = (h >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        a, b = _bucket_pairs(key, max_pairs)
        keep = (h[a] != h[b]) & (popcount64(h[a] ^ h[b]) <= k)
        lefts.append(a[keep])
        rights.append(b[keep])
    left = np.concatenate(lefts).astype(np.int64)
    right = np.concatenate(rights).astype(np.int64)
    n = max(len(h), 1)
    key = sorted_unique(np.minimum(left, right) * n + np.maximum(left, right))
    return key // n, key % n


def phash_groups(hashes: np.ndarray, k: int, *, max_pairs: int = 50_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Group hashes within Hamming distance ``k`` (transitively): ``(group, is_kept)``.

    ``group[i]`` is the smallest row index in ``i``'s group; the kept row of a group is that one.

    Parameters
    ----------
    hashes
        uint64 perceptual hashes (e.g. a 64-bit pHash/dHash), one per row.
    k
        Maximum Hamming distance, ``0 <= k < 64``.
    max_pairs
        Guard against huge buckets (raises ``ValueError`` beyond it).

    Examples
    --------
    >>> g, keep = phash_groups(np.array([7, 5, 7, 2**40, 4], dtype=np.uint64), 1)
    >>> g.tolist(), keep.tolist()
    ([0, 0, 0, 3, 0], [True, False, False, True, False])
    """
    if not 0 <= k < 64:
        raise ValueError(f"k must be in [0, 64), got {k}")
    h = np.asarray(hashes, dtype=np.uint64)
    uniq, first_row, inverse = np.unique(h, return_index=True, return_inverse=True)
    left, right = hamming_pairs(uniq, k, max_pairs=max_pairs) if k > 0 else (np.empty(0, np.int64),) * 2
    # components over distinct values, labelled by the smallest row holding a value of the component
    comp = connected_components(left, right, n=len(uniq))
    min_row = np.full(len(uniq), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(min_row, comp, first_row)
    group = min_row[comp][inverse.reshape(-1)]
    return group, group == np.arange(len(h))
