"""Dedup as shuffles: LSH buckets, verification and connected components over partitions.

The local executor decides dedup in memory (:meth:`DedupOperator.decide`); this module computes
the *same* decision — identical groups and kept rows, whatever the chunking or the number of
partitions — as a sequence of tasks over hash partitions, so the Ray executor can spread it over
a cluster. Every step is a plain function over NumPy arrays; a :class:`TaskRunner` decides where
it runs (in this process for tests, Ray tasks in :mod:`thresher.engine.ray_dedup`).

Steps (``P`` partitions, rows numbered by their global input position):

1. **map** (one task per input chunk, :func:`map_chunk`): the operator's keys for the chunk's
   rows, cut into ``P`` parts of *records* by the hash of their bucket: fuzzy ``(band,
   band_hash, row)`` for every band of every valid row; image ``(band, band_bits, phash, row)``
   for the ``k + 1`` pigeonhole bands; exact ``(content_hash, row)``. With ``verify=True`` a
   fuzzy map task also returns the chunk's shingle hashes (CSR), which stay in the object store.
2. **bucket reduce** (one task per partition): records sorted by bucket and row. Exact dedup ends
   here: per hash, the first (or last) row is kept and the others name it as their group. Fuzzy:
   consecutive members of a bucket are linked (``size - 1`` edges per bucket, as NeMo Curator
   does; the same edges as :func:`~.kernels.lsh.candidate_pairs`, whose sort is stable in row
   order). Image: rows of equal hashes are chained and distinct hashes of a bucket paired and
   kept when within ``max_distance`` bits (as :func:`~.kernels.phash_lsh.phash_groups`).
3. **verify** (fuzzy with ``verify=True``): exact Jaccard of the two shingle sets, in two hops
   so that no task holds more than its share of the shingle hashes: one task per chunk of left
   endpoints attaches the left document's hashes to each edge (:func:`verify_left`), one task per
   partition (right endpoint's chunk modulo the partitions) adds the right document's and
   compares (:func:`verify_right`). Data moved: the edges with one shingle set each.
4. **connected components**: every producer of edges first contracts its own edges to stars (a
   local connected components: each node points at the smallest node of its local component),
   which leaves little for the global rounds. The rounds are the alternating *large-star* /
   *small-star* algorithm of Kiveris et al. ("Connected Components in MapReduce and Beyond",
   SoCC 2014): edges are hash-partitioned by node; large-star links every larger neighbour of
   ``u`` to the smallest node of ``u``'s neighbourhood, small-star links ``u`` and its smaller
   neighbours to the smallest of them. Neither changes the components; when a large-star and
   the small-star after it both leave the edges as they were, every component is a star around
   its smallest row. Rounds are O(log² n) in the worst case and, after contraction, usually two.
   Each round's tasks write their output already cut by the next round's key, so a round is one
   task per partition (no separate shuffle step).
5. **result**: the leaves of the stars, ``(row, smallest row of its component)``; rows that are
   no leaf are their own group and kept. The driver turns them into a per-row keep mask and
   filters by position: no join.

Memory per task is its partition's records/edges; the driver holds one int64 and one bool per
row (the group and the keep decision).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from thresher.operators.dedup import DedupOperator, DedupState
from thresher.operators.kernels.components import connected_components, min_by_key, sorted_unique
from thresher.operators.kernels.hashing import fmix64
from thresher.operators.kernels.lsh import _gather_csr, jaccard_pairs
from thresher.operators.kernels.phash_lsh import _bands, _bucket_pairs, popcount64

_U64 = np.uint64
_EMPTY = np.empty(0, np.int64)
Edges = tuple[np.ndarray, np.ndarray]


def _split(part: np.ndarray, n: int, *cols: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Rows of ``cols`` grouped by ``part`` (values in ``[0, n)``), one tuple of arrays per part."""
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(n + 1))
    sorted_cols = [c[order] for c in cols]
    return [tuple(c[bounds[i]:bounds[i + 1]] for c in sorted_cols) for i in range(n)]


def _concat(parts: Sequence[tuple[np.ndarray, ...]], width: int, dtypes: Sequence[Any]) -> list[np.ndarray]:
    if not parts:
        return [np.empty(0, d) for d in dtypes]
    return [np.concatenate([p[i] for p in parts]) for i in range(width)]


# --------------------------------------------------------------------------------------------- map
def map_chunk(op: DedupOperator, n_parts: int, row_offset: int, batches: list[pa.RecordBatch]) -> tuple[Any, ...]:
    """Keys of one chunk as ``n_parts`` record parts, plus the chunk's shingle hashes (or None).

    Returns ``n_parts + 1`` values: the parts (tuples of arrays, see the module docstring) and,
    for fuzzy dedup with ``verify``, ``(row_offset, shingle_hashes, offsets)``.
    """
    state = DedupState()
    for b in batches:
        if b.num_rows:
            op.keys(b, state)
    n = state.n
    rows = np.arange(row_offset, row_offset + n, dtype=np.int64)
    side: Any = None
    if op.method == "exact":
        h = np.concatenate(state.keys) if state.keys else np.empty(0, _U64)
        ok = ~np.concatenate(state.extra) if state.extra else np.empty(0, bool)
        h, r = h[ok], rows[ok]
        parts = _split((fmix64(h) % _U64(n_parts)).astype(np.int64), n_parts, h, r)
    elif op.method == "fuzzy":
        bh = np.concatenate(state.keys) if state.keys else np.empty((0, op.params["bands"]), _U64)
        if op.params.get("verify"):
            valid = np.concatenate([e[2] for e in state.extra]) if state.extra else np.empty(0, bool)
            hs, offs, base = [], [np.zeros(1, np.int64)], 0
            for h, off, _ in state.extra:
                hs.append(h)
                offs.append(off[1:].astype(np.int64) + base)
                base += int(off[-1])
            side = (row_offset, np.concatenate(hs) if hs else np.empty(0, np.uint32), np.concatenate(offs))
        else:
            valid = np.concatenate(state.extra) if state.extra else np.empty(0, bool)
        bh, r = bh[valid], rows[valid]
        bands = bh.shape[1]
        band = np.tile(np.arange(bands, dtype=np.int32), len(r))
        flat = bh.reshape(-1)
        row = np.repeat(r, bands)
        parts = _split((flat % _U64(n_parts)).astype(np.int64), n_parts, band, flat, row)
    elif op.method == "image":
        h = np.concatenate(state.keys) if state.keys else np.empty(0, _U64)
        ok = ~np.concatenate(state.extra) if state.extra else np.empty(0, bool)
        h, r = h[ok], rows[ok]
        k = int(op.params.get("max_distance", 4))
        bands, keys = [], []
        for i, (shift, width) in enumerate(_bands(k)):
            bands.append(np.full(len(h), i, np.int32))
            keys.append((h >> _U64(shift)) & _U64((1 << width) - 1))
        band = np.concatenate(bands)
        key = np.concatenate(keys)
        with np.errstate(over="ignore"):
            part = (fmix64(key ^ fmix64(band.astype(_U64))) % _U64(n_parts)).astype(np.int64)
        parts = _split(part, n_parts, band, key, np.tile(h, len(bands)), np.tile(r, len(bands)))
    else:
        raise ValueError(f"dedup method {op.method!r} has no shuffle form")
    return (*parts, side)


def map_batches(op: DedupOperator, n_parts: int, row_offset: int, *batches: pa.RecordBatch) -> tuple[Any, ...]:
    """:func:`map_chunk` with the chunk's batches as separate arguments (Ray resolves object
    references given as arguments on the worker, not inside a list)."""
    return map_chunk(op, n_parts, row_offset, list(batches))


# ---------------------------------------------------------------------------------- bucket reduce
def exact_reduce(keep_last: bool, *parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of duplicated content hashes: ``(row, group = first row, is_kept)``."""
    h, r = _concat(parts, 2, (_U64, np.int64))
    if not len(h):
        return _EMPTY, _EMPTY, np.empty(0, bool)
    order = np.lexsort((r, h))
    h, r = h[order], r[order]
    starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
    sizes = np.diff(np.r_[starts, len(h)])
    first = np.repeat(r[starts], sizes)
    last = np.repeat(r[starts + sizes - 1], sizes)
    dup = np.repeat(sizes > 1, sizes)
    kept = (r == last) if keep_last else (r == first)
    return r[dup], first[dup], kept[dup]


def fuzzy_bucket_edges(*parts: tuple[np.ndarray, ...]) -> Edges:
    """Consecutive members (in row order) of every ``(band, band_hash)`` bucket."""
    band, h, r = _concat(parts, 3, (np.int32, _U64, np.int64))
    if len(r) < 2:
        return _EMPTY, _EMPTY
    order = np.lexsort((r, h, band))
    band, h, r = band[order], h[order], r[order]
    same = (band[1:] == band[:-1]) & (h[1:] == h[:-1])
    return r[:-1][same], r[1:][same]


def image_bucket_edges(max_distance: int, max_pairs: int, *parts: tuple[np.ndarray, ...]) -> Edges:
    """Equal hashes chained; distinct hashes of a bucket paired when within ``max_distance`` bits."""
    band, key, h, r = _concat(parts, 4, (np.int32, _U64, _U64, np.int64))
    if len(r) < 2:
        return _EMPTY, _EMPTY
    order = np.lexsort((r, h, key, band))
    band, key, h, r = band[order], key[order], h[order], r[order]
    same_bucket = (band[1:] == band[:-1]) & (key[1:] == key[:-1])
    same_value = same_bucket & (h[1:] == h[:-1])
    lefts, rights = [r[:-1][same_value]], [r[1:][same_value]]
    if max_distance > 0:
        # one representative row per distinct value of a bucket, all pairs of them checked
        first = np.r_[True, ~same_value]
        ub, uk, uh, ur = band[first], key[first], h[first], r[first]
        bucket = np.cumsum(np.r_[True, (ub[1:] != ub[:-1]) | (uk[1:] != uk[:-1])])
        a, b = _bucket_pairs(bucket, max_pairs)
        ok = popcount64(uh[a] ^ uh[b]) <= max_distance
        lefts.append(ur[a][ok])
        rights.append(ur[b][ok])
    return np.concatenate(lefts), np.concatenate(rights)


def split_by_chunk(left: np.ndarray, right: np.ndarray, chunk_starts: np.ndarray) -> tuple[Any, ...]:
    """Edges cut by the chunk of their left endpoint (``len(chunk_starts)`` parts), plus their number."""
    lc = np.searchsorted(chunk_starts, left, side="right") - 1
    return (*_split(lc.astype(np.int64), len(chunk_starts), left, right), len(left))


def verify_left(n_parts: int, chunk_starts: np.ndarray, csr: tuple[int, np.ndarray, np.ndarray],
                *edge_parts: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
    """First hop of verification, for the edges whose left endpoint is in this chunk.

    Each edge takes its left document's shingle hashes along; the edges are cut by the chunk of
    their right endpoint modulo ``n_parts`` (so a second-hop task holds ``1 / n_parts`` of the
    shingles, not all). Returns ``n_parts`` parts ``(left, right, hashes, lengths)`` and the edge count.
    """
    row0, h, off = csr
    left, right = _concat(edge_parts, 2, (np.int64, np.int64))
    part = (np.searchsorted(chunk_starts, right, side="right") - 1) % n_parts
    order = np.argsort(part, kind="stable")
    left, right, part = left[order], right[order], part[order]
    bounds = np.searchsorted(part, np.arange(n_parts + 1))
    off = np.asarray(off, np.int64)
    out = []
    for i in range(n_parts):
        loc = left[bounds[i]:bounds[i + 1]] - row0
        vals, _ = _gather_csr(h, off, loc)
        out.append((left[bounds[i]:bounds[i + 1]], right[bounds[i]:bounds[i + 1]], vals, off[loc + 1] - off[loc]))
    return (*out, len(left))


def verify_right(threshold: float, n_parts: int, n_csr: int, *args: Any) -> tuple[Any, ...]:
    """Second hop: the right documents' shingle hashes, exact Jaccard, keep ``>= threshold``; contract.

    ``args``: the ``n_csr`` shingle CSRs ``(row_offset, hashes, offsets)`` of this partition's
    chunks, then the parts :func:`verify_left` cut for it.
    """
    csrs = sorted(args[:n_csr], key=lambda c: c[0])
    parts = args[n_csr:]
    left, right, vals, lens = _concat(parts, 4, (np.int64, np.int64, np.uint32, np.int64))
    if not len(left):
        return contract_and_key(n_parts, left, right)
    # one CSR of every chunk held here; a right row's position in it
    row0 = np.array([c[0] for c in csrs], np.int64)
    counts = np.array([len(c[2]) - 1 for c in csrs], np.int64)
    local0 = np.concatenate([[0], np.cumsum(counts)[:-1]])
    hashes, offs, base = [], [np.zeros(1, np.int64)], 0
    for _, h, off in csrs:
        hashes.append(h)
        offs.append(np.asarray(off[1:], np.int64) + base)
        base += int(off[-1])
    all_h, all_off = np.concatenate(hashes), np.concatenate(offs)
    j = np.searchsorted(row0, right, side="right") - 1
    rvals, _ = _gather_csr(all_h, all_off, local0[j] + (right - row0[j]))
    rlens = all_off[local0[j] + (right - row0[j]) + 1] - all_off[local0[j] + (right - row0[j])]
    # documents 0..E-1: the left sets carried along; E..2E-1: the right sets
    e = len(left)
    doc_off = np.zeros(2 * e + 1, np.int64)
    np.cumsum(np.concatenate([lens, rlens]), out=doc_off[1:])
    idx = np.arange(e, dtype=np.int64)
    ok = jaccard_pairs(idx, idx + e, np.concatenate([vals, rvals]), doc_off) >= threshold
    return contract_and_key(n_parts, left[ok], right[ok])


# ------------------------------------------------------------------------------ connected components
def _unique_pairs(u: np.ndarray, w: np.ndarray) -> Edges:
    if not len(u):
        return u, w
    order = np.lexsort((w, u))
    u, w = u[order], w[order]
    keep = np.r_[True, (u[1:] != u[:-1]) | (w[1:] != w[:-1])]
    return u[keep], w[keep]


def _key_both(n_parts: int, leaf: np.ndarray, center: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Undirected edges as directed records at both ends (large-star input), cut by node."""
    u = np.concatenate([leaf, center])
    w = np.concatenate([center, leaf])
    return _split((fmix64(u) % _U64(n_parts)).astype(np.int64), n_parts, u, w)


def contract_and_key(n_parts: int, left: np.ndarray, right: np.ndarray) -> tuple[Any, ...]:
    """Contract edges to stars (local components), then key them for the first large-star round.

    Returns ``n_parts`` parts and the number of star edges.
    """
    left = np.asarray(left, np.int64)
    right = np.asarray(right, np.int64)
    if len(left):
        nodes = sorted_unique(np.concatenate([left, right]))
        labels = connected_components(left, right, ids=nodes)
        leaf = nodes != labels
        left, right = nodes[leaf], labels[leaf]
    return (*_key_both(n_parts, left, right), len(left))


def star_round(kind: str, n_parts: int, *parts: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
    """One large-star (``kind="large"``) or small-star round over one partition's records.

    ``parts``: records ``(u, w)`` "``w`` is a neighbour of ``u``", all keyed at ``u``'s
    partition. Large-star input has every edge at both ends, small-star input at its larger end.
    Returns the ``n_parts`` parts of the next round's input and the number of nodes whose
    neighbourhood changed (0 in both rounds of a pair: converged).
    """
    u, w = _unique_pairs(*_concat(parts, 2, (np.int64, np.int64)))
    if not len(u):
        return (*[(_EMPTY, _EMPTY)] * n_parts, 0)
    nodes, m = min_by_key(u, w)
    idx = np.searchsorted(nodes, u)
    if kind == "large":
        m = np.minimum(m, nodes)
        mu = m[idx]
        larger = w > u
        changed = int(len(sorted_unique(u[larger & (mu < u)])))
        leaf, center = w[larger], mu[larger]
        # next: small-star, each edge at its larger end (the leaf)
        out = _split((fmix64(leaf) % _U64(n_parts)).astype(np.int64), n_parts, leaf, center)
        return (*out, changed)
    if kind != "small":
        raise ValueError(f"kind must be 'large' or 'small', got {kind!r}")
    mu = m[idx]  # every w < u here, so the smallest neighbour is the centre
    changed = int((np.bincount(idx, minlength=len(nodes)) > 1).sum())
    others = w != mu
    leaf = np.concatenate([nodes, w[others]])
    center = np.concatenate([m, mu[others]])
    return (*_key_both(n_parts, leaf, center), changed)


def star_leaves(*parts: tuple[np.ndarray, ...]) -> Edges:
    """The converged stars of one partition as ``(leaf row, smallest row of its component)``."""
    u, w = _unique_pairs(*_concat(parts, 2, (np.int64, np.int64)))
    smaller = w < u
    return u[smaller], w[smaller]


# ------------------------------------------------------------------------------------------ driver
class TaskRunner(Protocol):
    """Where the steps run: ``submit`` returns ``num_returns`` handles, ``get`` resolves them."""

    def submit(self, fn: Callable[..., Any], num_returns: int, *args: Any) -> list[Any]: ...

    def put(self, value: Any) -> Any: ...

    def get(self, handles: list[Any]) -> list[Any]: ...


class InlineRunner:
    """Runs every step immediately in this process (tests, and the reference for the Ray runner)."""

    def submit(self, fn: Callable[..., Any], num_returns: int, *args: Any) -> list[Any]:
        out = fn(*args)
        return [out] if num_returns == 1 else list(out)

    def put(self, value: Any) -> Any:
        return value

    def get(self, handles: list[Any]) -> list[Any]:
        return list(handles)


@dataclass
class ShuffleDedup:
    """Feed chunks with :meth:`add`, then :meth:`decide`: the same ``(group, is_kept)`` as
    :meth:`DedupOperator.decide`, computed by tasks over ``n_parts`` partitions.

    Examples
    --------
    >>> import thresher as th
    >>> from thresher.expressions.expr import Column
    >>> t = th.from_pydict({"t": ["a", "b", "a"]})
    >>> op = DedupOperator("exact", Column("t"), {}, t.schema)
    >>> sd = ShuffleDedup(op, n_parts=2, runner=InlineRunner())
    >>> sd.add(t.to_arrow().to_batches())
    >>> [x.tolist() for x in sd.decide()]
    [[0, 1, 0], [True, True, False]]
    """

    op: DedupOperator
    n_parts: int
    runner: Any
    max_rounds: int = 200
    n: int = 0
    rounds: int = 0
    edges: int = 0
    _chunks: list[list[Any]] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)
    _op_ref: Any = None

    def add(self, batches: list[pa.RecordBatch]) -> None:
        """Submit the map task of one chunk (rows numbered from the rows added before)."""
        if self.op.method not in ("exact", "fuzzy", "image"):
            raise ValueError(f"dedup method {self.op.method!r} has no shuffle form")
        if self._op_ref is None:
            if self.op.device != "cpu":  # map tasks run on CPU workers (same keys either way)
                self.op = copy.copy(self.op)
                self.op.device = "cpu"
            self._op_ref = self.runner.put(self.op)
        rows = sum(b.num_rows for b in batches)
        if not rows:
            return
        self._chunks.append(self.runner.submit(map_chunk, self.n_parts + 1, self._op_ref, self.n_parts, self.n,
                                               batches))
        self._starts.append(self.n)
        self.n += rows

    def last_map_task(self) -> Any:
        """A handle that resolves when the latest map task has finished (for backpressure)."""
        return self._chunks[-1][-1] if self._chunks else None

    def _column(self, i: int) -> list[Any]:
        return [c[i] for c in self._chunks]

    def add_refs(self, batches: list[Any], rows: int) -> None:
        """Submit the map task of one chunk given as ``rows`` rows in ``batches`` (object
        references, resolved on the worker: the data never passes through here)."""
        if self.op.method not in ("exact", "fuzzy", "image"):
            raise ValueError(f"dedup method {self.op.method!r} has no shuffle form")
        if self._op_ref is None:
            if self.op.device != "cpu":
                self.op = copy.copy(self.op)
                self.op.device = "cpu"
            self._op_ref = self.runner.put(self.op)
        if not rows:
            return
        self._chunks.append(self.runner.submit(map_batches, self.n_parts + 1, self._op_ref, self.n_parts, self.n,
                                               *batches))
        self._starts.append(self.n)
        self.n += rows

    def decide(self) -> tuple[np.ndarray, np.ndarray]:
        """Every row's ``(group, is_kept)``, gathered here (see :meth:`decide_refs` to keep them in tasks)."""
        n = self.n
        group = np.arange(n, dtype=np.int64)
        kept = np.ones(n, bool)
        for res in self.runner.get(self.decide_refs()):
            rows, g, k = as_decided(res)
            group[rows] = g
            kept[rows] = k
        return group, kept

    def decide_refs(self) -> list[Any]:
        """Per partition, a handle of its decided rows (:func:`as_decided` reads it): only the
        rows that are not their own kept group; every other row is kept and its own group."""
        p, run = self.n_parts, self.runner
        if self.op.method == "exact":
            keep_last = self.op.params.get("keep", "first") == "last"
            return [run.submit(exact_reduce, 1, keep_last, *self._column(i))[0] for i in range(p)]
        if self.op.method == "fuzzy":
            buckets = [run.submit(fuzzy_bucket_edges, 1, *self._column(i))[0] for i in range(p)]
            if self.op.params.get("verify"):
                parts = self._verify(buckets)
            else:
                parts = [run.submit(contract_pair, p + 1, p, e) for e in buckets]
        else:
            k = int(self.op.params.get("max_distance", 4))
            buckets = [run.submit(image_bucket_edges, 1, k, 50_000_000, *self._column(i))[0] for i in range(p)]
            parts = [run.submit(contract_pair, p + 1, p, e) for e in buckets]
        self.edges = int(sum(run.get([x[p] for x in parts])))
        return self._components([x[:p] for x in parts])

    def _verify(self, buckets: list[Any]) -> list[list[Any]]:
        """Two hops, so no task holds more than its share of the shingle hashes: edges by left
        chunk (one task per chunk, which attaches the left sets), then by right chunk modulo the
        partitions (one task per partition, holding those chunks' sets)."""
        run, p = self.runner, self.n_parts
        c = len(self._chunks)
        starts = np.array(self._starts, np.int64)
        side = self._column(p)
        cut = [run.submit(_split_edges, c + 1, e, starts) for e in buckets]
        hop1 = [run.submit(verify_left, p + 1, p, starts, side[lc], *[x[lc] for x in cut]) for lc in range(c)]
        threshold = float(self.op.params.get("threshold", 0.8))
        out = []
        for q in range(p):
            mine = [side[j] for j in range(c) if j % p == q]
            out.append(run.submit(verify_right, p + 1, threshold, p, len(mine), *mine, *[x[q] for x in hop1]))
        return out

    def _components(self, producers: list[list[Any]]) -> list[Any]:
        leaves, rounds = star_components(self.runner, self.n_parts, producers, self.max_rounds)
        self.rounds += rounds
        return leaves


def star_components(runner: Any, n_parts: int, producers: list[list[Any]], max_rounds: int = 200) -> tuple[list[Any], int]:
    """Large-star / small-star rounds until both leave the graph unchanged.

    ``producers``: per producer of edges, ``n_parts`` handles of records keyed for large-star
    (as :func:`contract_and_key` writes them). Returns the handles of every partition's
    :func:`star_leaves` and the number of rounds.

    Examples
    --------
    >>> prod = [list(contract_and_key(2, np.array([0]), np.array([1])))[:2],
    ...         list(contract_and_key(2, np.array([2]), np.array([1])))[:2]]
    >>> leaves, rounds = star_components(InlineRunner(), 2, prod)
    >>> sorted((int(a), int(b)) for leaf, center in leaves for a, b in zip(leaf, center))
    [(1, 0), (2, 0)]
    """
    run, p = runner, n_parts
    current = producers
    rounds = 0
    while True:
        large = [run.submit(star_round, p + 1, "large", p, *[x[i] for x in current]) for i in range(p)]
        small = [run.submit(star_round, p + 1, "small", p, *[x[i] for x in large]) for i in range(p)]
        rounds += 2
        changed = sum(run.get([x[p] for x in large])) + sum(run.get([x[p] for x in small]))
        current = [x[:p] for x in small]
        if changed == 0:
            break
        if rounds >= max_rounds:
            raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    return [run.submit(star_leaves, 1, *[x[i] for x in current])[0] for i in range(p)], rounds


# ------------------------------------------------------------------------------------ semantic
def semantic_partition(thr: float, block: int, *clusters: tuple[np.ndarray, np.ndarray]) -> list[tuple[Any, ...]]:
    """Decide some k-means clusters: per cluster ``(rows, is_kept, group row)``."""
    from thresher.operators.kernels.semantic import cluster_decisions

    out = []
    for members, xm in clusters:
        keep, grp = cluster_decisions(xm, thr, block)
        out.append((members, keep, members[grp]))
    return out


def semantic_shuffled(op: DedupOperator, state: DedupState, runner: Any, n_parts: int,
                      block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Semantic dedup with the per-cluster similarity step in tasks; the same result as
    :meth:`DedupOperator.decide`.

    k-means runs here (it needs every embedding); the clusters, with their members'
    embeddings, are dealt to ``n_parts`` tasks by cost (size squared, largest first, to the least
    loaded task), each deciding its clusters independently.

    Examples
    --------
    >>> import pyarrow as pa, thresher as th
    >>> from thresher.expressions.expr import Column
    >>> e = pa.FixedSizeListArray.from_arrays(pa.array([1, 0, 1, 0, 0, 1], pa.float32()), 2)
    >>> t = pa.table({"e": e})
    >>> op = DedupOperator("semantic", Column("e"), {"eps": 0.01}, th.from_arrow(t).schema)
    >>> st = DedupState()
    >>> op.keys(t.to_batches()[0], st)
    >>> [x.tolist() for x in semantic_shuffled(op, st, InlineRunner(), 2)]
    [[0, 0, 2], [True, False, True]]
    """
    from thresher.operators.kernels.semantic import semantic_clusters

    p = op.params
    n = state.n
    group = np.arange(n, dtype=np.int64)
    kept = np.ones(n, dtype=bool)
    if n == 0:
        return group, kept
    emb = np.concatenate(state.keys)
    prio = np.concatenate(state.priority) if state.priority else None
    x, clusters = semantic_clusters(emb, int(p.get("n_clusters", 1)), prio, seed=int(p.get("seed", 0)),
                                    sample_size=op.kmeans_sample)
    parts: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n_parts)]
    load = np.zeros(n_parts)
    for members in sorted(clusters, key=len, reverse=True):
        i = int(np.argmin(load))
        parts[i].append((members, x[members]))
        load[i] += float(len(members)) ** 2
    thr = 1.0 - float(p["eps"])
    handles = [runner.submit(semantic_partition, 1, thr, block, *part)[0] for part in parts if part]
    for result in runner.get(handles):
        for members, keep, grp in result:
            kept[members] = keep
            group[members] = grp
    return group, kept


# ------------------------------------------------------------------- decided rows -> keep masks
def as_decided(result: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, group, is_kept)`` of a partition's decision: exact and semantic reducers give
    the triple, the components' :func:`star_leaves` the ``(leaf, centre)`` pairs (leaves are
    never kept)."""
    if len(result) == 2:
        rows, group = result
        return rows, group, np.zeros(len(rows), bool)
    rows, group, kept = result
    return rows, group, kept


def _parts(parts: Sequence[Any]) -> Any:
    """``parts`` as a task's returns: one part alone is the whole return value (a runner, like
    Ray with ``num_returns=1``, hands a single return on as it is)."""
    return parts[0] if len(parts) == 1 else tuple(parts)


def chunk_of(rows: np.ndarray, chunk_starts: np.ndarray) -> np.ndarray:
    """The chunk (index into the ascending ``chunk_starts``) of every global row position."""
    return (np.searchsorted(chunk_starts, rows, side="right") - 1).astype(np.int64)


def decided_by_chunk(chunk_starts: np.ndarray, by_group: bool, result: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
    """A partition's decided rows cut by the input chunk of their row (``len(chunk_starts)``
    parts): the keep mask of one chunk is then the parts of every partition for it. With
    ``by_group`` as many parts again, cut by the chunk of their group row (to look up its id)."""
    rows, group, kept = as_decided(result)
    c = len(chunk_starts)
    out = _split(chunk_of(rows, chunk_starts), c, rows, group, kept)
    if by_group:
        out += _split(chunk_of(group, chunk_starts), c, rows, group, kept)
    return _parts(out)  # type: ignore[no-any-return]


def _decided(parts: Sequence[tuple[np.ndarray, ...]]) -> list[np.ndarray]:
    return _concat(parts, 3, (np.int64, np.int64, bool))


def filter_chunk(row_offset: int, n_batches: int, want_batches: bool, *args: Any) -> tuple[Any, ...]:
    """The filter of one input chunk: its batches joined with its part of the keep mask.

    ``args``: the chunk's ``n_batches`` batches, then its decided rows from every partition.
    Returns ``(meta, *batches)``: ``meta[i] = (rows, bytes, what, dropped)`` with ``what`` "all"
    (batch ``i`` unchanged: its output is None, the caller reuses the input), "none" (no row
    kept) or "some" (the filtered batch, made only with ``want_batches``; ``dropped``: the
    positions of the dropped rows, for a caller that holds the input batch itself).
    """
    batches = args[:n_batches]
    rows, _, kept = _decided(args[n_batches:])
    total = sum(b.num_rows for b in batches)
    mask = np.ones(total, bool)
    mask[rows - row_offset] = kept
    meta: list[tuple[int, int, str, Any]] = []
    outs: list[Any] = []
    pos = 0
    for b in batches:
        m = mask[pos:pos + b.num_rows]
        pos += b.num_rows
        if m.all():
            meta.append((b.num_rows, b.nbytes, "all", None))
            outs.append(None)
        elif not m.any():
            meta.append((0, 0, "none", None))
            outs.append(None)
        else:
            fb = b.filter(pa.array(m)) if want_batches else None
            kept_rows = int(m.sum())
            meta.append((kept_rows, fb.nbytes if fb is not None else b.nbytes * kept_rows // b.num_rows, "some",
                         np.flatnonzero(~m).astype(np.int32)))
            outs.append(fb)
    return (meta, *outs)


def _ids(batches: Sequence[pa.RecordBatch], id_column: str) -> pa.Array:
    cols = [b.column(b.schema.get_field_index(id_column)) for b in batches]
    return pa.concat_arrays(cols) if cols else pa.array([])


def group_ids_of(id_column: str, chunk_starts: np.ndarray, row_offset: int, n_batches: int,
                 *args: Any) -> tuple[Any, ...]:
    """First hop of ``return_groups`` with an id column, for the group rows in this chunk: the
    id of each decided row's group row, cut by the chunk of the decided row (``len(chunk_starts)``
    parts of ``(rows, group ids)``)."""
    ids = _ids(args[:n_batches], id_column)
    rows, group, _ = _decided(args[n_batches:])
    gids = ids.take(pa.array(group - row_offset))
    c = len(chunk_starts)
    part = chunk_of(rows, chunk_starts)
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(c + 1))
    rows, gids = rows[order], gids.take(pa.array(order))
    return _parts([(rows[bounds[i]:bounds[i + 1]], gids.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i])))
                   for i in range(c)])  # type: ignore[no-any-return]


def groups_chunk(schema: pa.Schema, id_column: str | None, row_offset: int, n_batches: int, n_decided: int,
                 *args: Any) -> tuple[Any, ...]:
    """The ``return_groups`` rows of one chunk: ``(id, group_id, kept)`` in row order.

    ``args``: the chunk's batches, its ``n_decided`` decided parts, then (with an id column) the
    group ids :func:`group_ids_of` found for its rows. Returns ``(meta, batch)`` as
    :func:`filter_chunk` does.
    """
    batches = args[:n_batches]
    rows, group, kept_part = _decided(args[n_batches:n_batches + n_decided])
    n = sum(b.num_rows for b in batches)
    local = rows - row_offset
    kept = np.ones(n, bool)
    kept[local] = kept_part
    if id_column is None:
        g = np.arange(row_offset, row_offset + n, dtype=np.int64)
        g[local] = group
        ids: pa.Array = pa.array(np.arange(row_offset, row_offset + n, dtype=np.int64))
        group_ids: pa.Array = pa.array(g)
    else:
        ids = _ids(batches, id_column)
        found = list(args[n_batches + n_decided:])
        f_rows = np.concatenate([f[0] for f in found]) if found else _EMPTY
        f_ids = [f[1] for f in found if len(f[1])]
        index = np.arange(n, dtype=np.int64)
        index[f_rows - row_offset] = n + np.arange(len(f_rows), dtype=np.int64)
        group_ids = pa.concat_arrays([ids, *[a.cast(ids.type) for a in f_ids]]).take(pa.array(index))
    batch = pa.RecordBatch.from_arrays([ids, group_ids, pa.array(kept)], schema=schema)
    return [(batch.num_rows, batch.nbytes, "some", None)], batch


# ------------------------------------------------------------------------ semantic, in tasks
def semantic_map(op: DedupOperator, sample_size: int, row_offset: int, *batches: pa.RecordBatch) -> tuple[Any, Any]:
    """Semantic keys of one chunk: ``((rows, normalized embeddings, priority), k-means sample
    candidates)``; the candidates are the chunk's ``sample_size`` smallest sampling hashes."""
    from thresher.operators.kernels.semantic import _normalize, bottom_k, sample_hash

    state = DedupState()
    for b in batches:
        if b.num_rows:
            op.keys(b, state)
    n = state.n
    rows = np.arange(row_offset, row_offset + n, dtype=np.int64)
    x = _normalize(np.concatenate(state.keys)) if state.keys else np.empty((0, 0), np.float32)
    prio = np.concatenate(state.priority) if state.priority else np.zeros(n)
    h = sample_hash(rows, int(op.params.get("seed", 0)))
    pick = bottom_k(h, rows, sample_size)
    return (rows, x, prio), (h[pick], rows[pick], x[pick])


def semantic_sample_merge(sample_size: int, *samples: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """The ``sample_size`` smallest sampling hashes of several candidate sets, in row order."""
    from thresher.operators.kernels.semantic import bottom_k

    h = np.concatenate([s[0] for s in samples])
    rows = np.concatenate([s[1] for s in samples])
    x = np.concatenate([s[2] for s in samples if len(s[2])]) if any(len(s[2]) for s in samples) else samples[0][2]
    pick = bottom_k(h, rows, sample_size)
    return h[pick], rows[pick], x[pick]


def semantic_train(n_clusters: int, seed: int, sample: tuple[np.ndarray, ...]) -> np.ndarray:
    """k-means centroids trained on the sample (:func:`~.kernels.semantic.sample_rows`' rows)."""
    from thresher.operators.kernels.semantic import train_centroids

    return train_centroids(sample[2], n_clusters, seed)


def semantic_assign(centroids: np.ndarray | None, part: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Every row's nearest centroid, and the cluster sizes of this chunk."""
    from thresher.operators.kernels.semantic import assign_clusters

    rows, x, _ = part
    if centroids is None or not len(rows):
        k = 1 if centroids is None else len(centroids)
        return np.zeros(len(rows), np.int64), np.bincount(np.zeros(len(rows), np.int64), minlength=k)
    labels = assign_clusters(x, centroids)
    return labels, np.bincount(labels, minlength=len(centroids))


def semantic_balance(n_parts: int, *counts: np.ndarray) -> np.ndarray:
    """Clusters dealt to partitions by cost (size squared, largest first, to the least loaded)."""
    sizes = np.sum(counts, axis=0)
    mapping = np.zeros(len(sizes), np.int64)
    load = np.zeros(n_parts)
    for c in np.argsort(-sizes, kind="stable"):
        i = int(np.argmin(load))
        mapping[c] = i
        load[i] += float(sizes[c]) ** 2
    return mapping


def semantic_split(n_parts: int, mapping: np.ndarray, part: tuple[np.ndarray, ...],
                   labels: np.ndarray) -> tuple[Any, ...]:
    """A chunk's rows cut by the partition of their cluster: ``(rows, labels, priority, x)``."""
    rows, x, prio = part
    return _parts(_split(mapping[labels] if len(labels) else labels, n_parts, rows, labels, prio, x))  # type: ignore[no-any-return]


def semantic_reduce(thr: float, block: int, *parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Decide this partition's clusters (each independently): ``(rows, group row, is_kept)``."""
    from thresher.operators.kernels.semantic import cluster_decisions

    parts = tuple(q for q in parts if len(q[0]))
    if not parts:
        return _EMPTY, _EMPTY, np.empty(0, bool)
    rows = np.concatenate([q[0] for q in parts])
    labels = np.concatenate([q[1] for q in parts])
    prio = np.concatenate([q[2] for q in parts])
    x = np.concatenate([q[3] for q in parts])
    # the visiting order of the local decision: cluster, priority descending, row
    order = np.lexsort((rows, -prio, labels))
    cuts = np.flatnonzero(labels[order][1:] != labels[order][:-1]) + 1
    out_rows, out_group, out_kept = [], [], []
    for members in np.split(order, cuts):
        if len(members) < 2:
            continue
        keep, grp = cluster_decisions(x[members], thr, block)
        r = rows[members]
        out_rows.append(r)
        out_group.append(r[grp])
        out_kept.append(keep)
    if not out_rows:
        return _EMPTY, _EMPTY, np.empty(0, bool)
    return np.concatenate(out_rows), np.concatenate(out_group), np.concatenate(out_kept)


# a bucket task returns its edges as one object (a pair); these unpack it inside the next task
def _split_edges(edges: Edges, chunk_starts: np.ndarray) -> tuple[Any, ...]:
    return split_by_chunk(edges[0], edges[1], chunk_starts)


def contract_pair(n_parts: int, edges: Edges) -> tuple[Any, ...]:
    """:func:`contract_and_key` of a ``(left, right)`` pair."""
    return contract_and_key(n_parts, edges[0], edges[1])
