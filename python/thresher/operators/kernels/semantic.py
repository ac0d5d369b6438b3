"""Semantic deduplication of embeddings (SemDeDup): k-means clusters, then cosine similarity within each.

Within a cluster, items are visited in priority order (highest ``priority`` first, ties by row
order); an item is a duplicate when its cosine similarity to an item *already kept* is
``>= 1 - eps``, and is kept otherwise. So the kept item of a group of near-duplicates is the one
with the highest priority (the first row among equals), and a chain ``a ~ b ~ c`` where ``a`` and
``c`` are not similar keeps ``a`` and ``c``. This greedy pass is computed without a per-item loop:
similar pairs come from blocked matrix products, and the greedy decisions are taken in rounds
(an item is decided as soon as every earlier neighbour is decided), which is exactly the
sequential result.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Backend = Literal["auto", "faiss", "sklearn", "numpy"]

#: rows k-means is trained on at most (then every row goes to its nearest centroid): 100k x 384
#: float32 is 150 MB, so training fits one process whatever the input size (SemDeDup trains on a
#: sample too); the rows are the same whatever the executor or the chunking (see :func:`sample_rows`)
DEFAULT_KMEANS_SAMPLE = 100_000


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _kmeans_numpy(x: np.ndarray, k: int, seed: int, iters: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(x)
    # k-means++ seeding
    centroids = np.empty((k, x.shape[1]), dtype=np.float32)
    centroids[0] = x[rng.integers(n)]
    sq = (x * x).sum(axis=1)
    d2 = np.maximum(sq - 2 * x @ centroids[0] + centroids[0] @ centroids[0], 0)
    for i in range(1, k):
        total = float(d2.sum())
        j = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centroids[i] = x[j]
        d2 = np.minimum(d2, np.maximum(sq - 2 * x @ centroids[i] + centroids[i] @ centroids[i], 0))
    labels = np.zeros(n, dtype=np.int64)
    for it in range(iters):
        dist = (centroids * centroids).sum(axis=1)[None, :] - 2 * x @ centroids.T
        new = dist.argmin(axis=1)
        if it and np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k).astype(np.float32)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, x)
        empty = counts == 0
        centroids[~empty] = sums[~empty] / counts[~empty, None]
    return labels, centroids


def kmeans(
    embeddings: np.ndarray, n_clusters: int, seed: int = 0, backend: Backend = "auto", max_iter: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster rows of ``embeddings``: ``(labels int64 [n], centroids float32 [k, dim])``.

    ``backend="auto"`` uses faiss if it imports, else scikit-learn, else a NumPy Lloyd's
    k-means with k-means++ seeding. Each backend is deterministic for a given ``seed``; the
    backends do not give the same clusters as one another.

    Examples
    --------
    >>> x = np.array([[0, 0], [0, 0.1], [10, 10], [10, 10.1]], dtype=np.float32)
    >>> labels, _ = kmeans(x, 2, backend="numpy")
    >>> bool(labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2])
    True
    """
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-d, got shape {x.shape}")
    k = min(n_clusters, len(x))
    if k < 1:
        return np.zeros(len(x), dtype=np.int64), np.zeros((0, x.shape[1] if x.ndim == 2 else 0), np.float32)
    if backend == "auto":
        for name in ("faiss", "sklearn"):
            try:
                __import__(name)
                backend = name  # type: ignore[assignment]
                break
            except ImportError:
                continue
        else:
            backend = "numpy"
    if backend == "faiss":
        import faiss

        km = faiss.Kmeans(x.shape[1], k, niter=max_iter, seed=seed, verbose=False)
        km.train(x)
        _, idx = km.index.search(x, 1)
        return idx[:, 0].astype(np.int64), np.asarray(km.centroids, dtype=np.float32)
    if backend == "sklearn":
        from sklearn.cluster import KMeans

        sk = KMeans(n_clusters=k, random_state=seed, n_init=1, max_iter=max_iter).fit(x)
        return sk.labels_.astype(np.int64), sk.cluster_centers_.astype(np.float32)
    if backend == "numpy":
        return _kmeans_numpy(x, k, seed, max_iter)
    raise ValueError(f"backend must be auto, faiss, sklearn or numpy, got {backend!r}")


def sample_hash(rows: np.ndarray, seed: int) -> np.ndarray:
    """The sampling hash of global row positions: the k-means sample is the ``k`` smallest.

    A function of (row, seed) only, so a map task can pick its candidates from its own rows and
    the union of every chunk's ``k`` smallest holds the global ``k`` smallest.
    """
    from thresher.operators.kernels.hashing import fmix64

    salt = fmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], np.uint64))[0]
    return fmix64(np.asarray(rows, np.uint64) ^ salt)  # type: ignore[no-any-return]


def bottom_k(h: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Positions (into ``h``/``rows``) of the ``k`` smallest ``(hash, row)``, in row order."""
    if len(h) <= k:
        return np.argsort(rows, kind="stable")
    pick = np.lexsort((rows, h))[:k]
    return pick[np.argsort(rows[pick], kind="stable")]


def sample_rows(n: int, sample_size: int, seed: int) -> np.ndarray:
    """The rows (ascending) k-means trains on: all when ``n <= sample_size``.

    >>> sample_rows(5, 10, 0).tolist()
    [0, 1, 2, 3, 4]
    >>> len(sample_rows(1000, 10, 0))
    10
    """
    rows = np.arange(n, dtype=np.int64)
    return rows[bottom_k(sample_hash(rows, seed), rows, sample_size)]


def assign_clusters(x: np.ndarray, centroids: np.ndarray, block: int = 65536) -> np.ndarray:
    """The nearest centroid (squared Euclidean) of every row of ``x``, ties to the lowest index.

    >>> assign_clusters(np.array([[0, 0], [9, 9]], np.float32), np.array([[10, 10], [1, 0]], np.float32)).tolist()
    [1, 0]
    """
    c = np.asarray(centroids, np.float32)
    cc = (c * c).sum(axis=1)
    out = np.empty(len(x), np.int64)
    for s in range(0, len(x), block):  # bounded memory: block x k distances at a time
        out[s:s + block] = (cc[None, :] - 2 * x[s:s + block] @ c.T).argmin(axis=1)
    return out


def train_centroids(x_sample: np.ndarray, n_clusters: int, seed: int, backend: Backend = "auto") -> np.ndarray:
    """k-means centroids of the (already normalized) sample rows."""
    return kmeans(x_sample, n_clusters, seed=seed, backend=backend)[1]


def _similar_pairs(x: np.ndarray, members: np.ndarray, thr: float, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``j < i`` in the order of ``members``, with cosine similarity ``>= thr``."""
    lefts, rights = [], []
    m = len(members)
    v = x[members]
    for s in range(0, m, block):
        sim = v[s : s + block] @ v[: s + block].T  # rows s.., columns up to the block's end
        rows = np.arange(s, min(s + block, m))
        mask = sim >= thr
        mask &= np.arange(sim.shape[1])[None, :] < rows[:, None]  # only earlier items
        i, j = np.nonzero(mask)
        lefts.append(i + s)
        rights.append(j)
    if not lefts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(lefts).astype(np.int64), np.concatenate(rights).astype(np.int64)


def _greedy_keep(m: int, later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Sequential greedy (keep unless similar to an earlier kept item), computed in rounds."""
    state = np.zeros(m, dtype=np.int8)  # 0 undecided, 1 kept, -1 duplicate
    while True:
        undecided = state == 0
        if not undecided.any():
            return state == 1
        e_state = state[earlier]
        live = undecided[later]
        dup = np.zeros(m, dtype=bool)
        dup[later[live & (e_state == 1)]] = True  # an earlier neighbour is kept
        blocked = np.zeros(m, dtype=bool)
        blocked[later[live & (e_state == 0)]] = True  # an earlier neighbour is still undecided
        state[undecided & dup] = -1
        state[undecided & ~dup & ~blocked] = 1


def semantic_duplicates(
    embeddings: np.ndarray,
    eps: float,
    n_clusters: int = 1,
    priority: np.ndarray | None = None,
    *,
    labels: np.ndarray | None = None,
    seed: int = 0,
    backend: Backend = "auto",
    block: int = 2048,
    sample_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mark semantic near-duplicates: ``(group_id int64 [n], is_kept bool [n])``.

    Parameters
    ----------
    embeddings
        ``float [n, dim]``; compared by cosine similarity (zero vectors are never duplicates).
    eps
        Items with cosine similarity ``>= 1 - eps`` are duplicates.
    n_clusters
        k-means clusters (1 = compare all pairs); pairs in different clusters are never compared.
    priority
        Higher is kept first; ties (and ``None``) by row order.
    labels
        Precomputed cluster labels (skips k-means).
    seed, backend
        For :func:`kmeans`.
    block
        Rows per similarity block (memory ``block * cluster size`` floats).
    sample_size
        Train k-means on at most this many rows (:func:`sample_rows`), then give every row its
        nearest centroid; None: k-means over all rows.

    Returns
    -------
    tuple of np.ndarray
        ``group_id[i]`` is the row of the kept item that ``i`` duplicates (the most similar kept
        earlier item; its own row when kept); ``is_kept[i]`` says whether ``i`` is kept.

    Examples
    --------
    >>> e = np.array([[1, 0], [0.999, 0.04], [0, 1]], dtype=np.float32)
    >>> g, keep = semantic_duplicates(e, eps=0.01, priority=np.array([0, 1, 0]))
    >>> g.tolist(), keep.tolist()
    ([1, 1, 2], [False, True, True])
    """
    x, clusters = semantic_clusters(embeddings, n_clusters, priority, labels=labels, seed=seed, backend=backend,
                                    sample_size=sample_size)
    n = len(x)
    group = np.arange(n, dtype=np.int64)
    kept = np.ones(n, dtype=bool)
    for members in clusters:
        keep, grp = cluster_decisions(x[members], 1.0 - eps, block)
        kept[members] = keep
        group[members] = members[grp]
    return group, kept


def semantic_clusters(
    embeddings: np.ndarray,
    n_clusters: int = 1,
    priority: np.ndarray | None = None,
    *,
    labels: np.ndarray | None = None,
    seed: int = 0,
    backend: Backend = "auto",
    sample_size: int | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The global half of :func:`semantic_duplicates`: normalized embeddings and the clusters.

    Each cluster (two members or more) is its rows in visiting order: priority descending, then
    row. :func:`cluster_decisions` decides each one independently, so clusters can be spread
    over tasks. ``sample_size``: k-means is trained on :func:`sample_rows` only and every row
    assigned to its nearest centroid (the Ray executor does the same in tasks).

    Examples
    --------
    >>> x, cl = semantic_clusters(np.eye(3, dtype=np.float32), labels=np.array([0, 1, 0]), priority=np.array([0, 0, 1]))
    >>> [c.tolist() for c in cl]
    [[2, 0]]
    """
    x = _normalize(embeddings)
    n = len(x)
    if labels is None and n_clusters > 1 and sample_size is not None:
        centroids = train_centroids(x[sample_rows(n, sample_size, seed)], n_clusters, seed, backend)
        labels = assign_clusters(x, centroids)
    elif labels is None:
        labels = kmeans(x, n_clusters, seed=seed, backend=backend)[0] if n_clusters > 1 else np.zeros(n, np.int64)
    labels = np.asarray(labels)
    prio = np.zeros(n) if priority is None else np.asarray(priority, dtype=np.float64)
    order = np.lexsort((np.arange(n), -prio, labels))
    sorted_labels = labels[order]
    cuts = np.flatnonzero(sorted_labels[1:] != sorted_labels[:-1]) + 1
    return x, [m for m in np.split(order, cuts) if len(m) >= 2]


def cluster_decisions(xm: np.ndarray, thr: float, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Decide one cluster: ``(is_kept, group)`` for its members (normalized, in visiting order).

    ``group[i]`` is the position (in the cluster) of the kept item ``i`` duplicates — its most
    similar kept earlier item, ties to the earliest — or ``i`` when kept.

    Examples
    --------
    >>> keep, grp = cluster_decisions(np.array([[1, 0], [1, 0], [0, 1]], np.float32), 0.99)
    >>> keep.tolist(), grp.tolist()
    ([True, False, True], [0, 0, 2])
    """
    m = len(xm)
    grp = np.arange(m, dtype=np.int64)
    later, earlier = _similar_pairs(xm, np.arange(m), thr, block)
    if not len(later):
        return np.ones(m, dtype=bool), grp
    keep = _greedy_keep(m, later, earlier)
    ok = keep[earlier] & ~keep[later]
    lo, eo = later[ok], earlier[ok]
    sim = (xm[lo] * xm[eo]).sum(axis=1)
    pick = np.lexsort((eo, -sim, lo))
    lo, eo = lo[pick], eo[pick]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = lo[1:] != lo[:-1]
    grp[lo[first]] = eo[first]
    return keep, grp
