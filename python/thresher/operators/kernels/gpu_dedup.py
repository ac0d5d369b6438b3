"""Fuzzy dedup on a GPU (CuPy, the ``gpu`` extra): the CPU path's results, computed on the device.

Nothing here is imported by ``import thresher``; CuPy is imported inside functions, and
:func:`gpu_available` says whether it and a device are present. ``df.dedup.fuzzy(...,
device="auto")`` (the default) takes this path on the local executor when they are.

Same semantics as the CPU kernels, bit for bit: the signatures equal
:func:`~.minhash.minhash_signatures` (same shingles, 32-bit shingle hashes, datasketch
``affine32`` permutations), the band hashes equal :func:`~.lsh.band_hashes`, the candidate edges
equal :func:`~.lsh.candidate_pairs` (consecutive members of each bucket in row order), and the
components equal :func:`~.components.connected_components` (every row labelled by the smallest
row of its component). What runs where:

* shingling and the 32-bit shingle hashes: host (vectorized NumPy over the Arrow buffer, chunks
  of documents on a thread per core, streamed to the device in order);
* permutations ``fmix32(h) * a + b mod 2**32`` and the per-document minimum: one device kernel,
  a thread per (shingle, permutation) pair taking ``atomicMin`` into its document's signature
  (no ``[num_perm, shingles]`` intermediate, no sort: documents need not be contiguous);
* band hashes (CuPy uint64 arithmetic), per-band bucket sort (``lexsort`` by hash, then row),
  consecutive pairs, components (hook-and-jump: an ``atomicMin`` scatter hooks roots, CuPy
  gathers do the pointer jumping): device;
* ``verify=True``: exact Jaccard of the candidate pairs with the CPU kernel on the host (edges
  are few next to documents).

Only CuPy is needed (no cuDF: its sort and group-by were the only uses, and they are a
``lexsort`` and an atomic scatter here). Only the ``affine32`` permutation scheme is offered
(``legacy`` needs 61-bit modular arithmetic). The test suite runs this module's code on the CPU
with NumPy standing in for CuPy, where the two kernels become ``np.minimum.at`` (see
``tests/operators/kernels/test_gpu_dedup.py``); ``make test-gpu`` runs it on a device.

``device="auto"`` does not trust the device on its word: :func:`gpu_path_verified` runs the whole
path once per process on a small known-answer corpus and compares every step with the CPU
kernels; if anything differs (or fails), ``auto`` uses the CPU and warns once. ``device="gpu"``
is the user's explicit choice and is not second-guessed.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.errors import UnsupportedError
from thresher.operators.kernels.hashing import band_hashes, fmix32
from thresher.operators.kernels.lsh import resolve_bands_rows, verified_edges
from thresher.operators.kernels.minhash import MAX_HASH, HashName, Unit, permutations, shingle_hashes


def gpu_available() -> bool:
    """Whether CuPy imports and a CUDA device is visible.

    Examples
    --------
    >>> isinstance(gpu_available(), bool)
    True
    """
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount()) > 0
    except Exception:  # noqa: BLE001 - any failure means "no GPU path"
        return False


_VERIFIED: tuple[bool, str] | None = None  # (agrees, why not), once per process
_VERIFY_LOCK = threading.Lock()


def _known_answer_check() -> tuple[bool, str]:
    """Run every GPU step on a small planted corpus and compare it with the CPU kernels."""
    from thresher.operators.kernels.components import connected_components
    from thresher.operators.kernels.lsh import candidate_pairs, fuzzy_duplicates
    from thresher.operators.kernels.minhash import minhash_signatures
    from thresher.testing.text import planted_corpus

    docs, _ = planted_corpus(160, seed=11)
    texts = pa.array(docs[:150] + [None, "", "x"] + docs[150:], pa.large_string())
    try:
        for unit, ngram in (("word", 3), ("char", 5)):
            cpu_sig = minhash_signatures(texts, 64, ngram, unit, seed=3)  # type: ignore[arg-type]
            gpu_sig = minhash_signatures_gpu(texts, 64, ngram, unit, 3)  # type: ignore[arg-type]
            if not np.array_equal(np.asarray(gpu_sig), cpu_sig):
                return False, f"MinHash signatures ({unit} {ngram}-grams) differ"
        sig = minhash_signatures(texts, 128, 3, "word")
        bh = band_hashes(sig, 16, 8)
        xp = backend()
        if not np.array_equal(np.asarray(xp.asnumpy(band_hashes_device(xp.asarray(sig), 16, 8))), bh):
            return False, "band hashes differ"
        valid = ~(sig == MAX_HASH).all(axis=1)
        left, right = candidate_pairs(bh, valid=valid)
        gl, gr = candidate_pairs_gpu(bh, valid)
        if not (np.array_equal(gl, left) and np.array_equal(gr, right)):
            return False, "candidate pairs differ"
        if not np.array_equal(components_gpu(left, right, len(bh)), connected_components(left, right, n=len(bh))):
            return False, "connected components differ"
        cpu = fuzzy_duplicates(texts, 0.8, 128, 3, "word")
        gpu = fuzzy_duplicates_gpu(texts, 0.8, 128, 3, "word")
        if not (np.array_equal(cpu[0], gpu[0]) and np.array_equal(cpu[1], gpu[1])):
            return False, "fuzzy_duplicates groups differ"
    except Exception as exc:  # noqa: BLE001 - a device path that raises is a device path not to use
        return False, f"{type(exc).__name__}: {exc}"[:300]
    return True, ""


def gpu_path_verified() -> bool:
    """Whether ``device="auto"`` may take the GPU path: a device is present and, checked once per
    process on a known answer, every step agrees with the CPU kernels bit for bit.

    On a disagreement it returns False and warns once (``RuntimeWarning``), so a broken driver,
    library version or kernel costs a slower run, never a wrong answer.

    Examples
    --------
    >>> isinstance(gpu_path_verified(), bool)
    True
    """
    global _VERIFIED
    if not gpu_available():
        return False
    with _VERIFY_LOCK:
        if _VERIFIED is None:
            _VERIFIED = _known_answer_check()
            if not _VERIFIED[0]:
                warnings.warn(
                    "the GPU fuzzy-dedup path disagreed with the CPU kernels on a known-answer check "
                    f"({_VERIFIED[1]}); device='auto' uses the CPU path in this process "
                    "(pass device='gpu' to force the device)",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return _VERIFIED[0]


def backend() -> Any:
    """The ``cupy`` module, or :class:`UnsupportedError` when there is no GPU path here."""
    if not gpu_available():
        raise UnsupportedError("the GPU dedup path needs cupy and a CUDA device (pip install thresher[gpu])")
    import cupy

    return cupy


# Two kernels, compiled once per process by CuPy (NVRTC) on first use. The minimum is order-free,
# so the atomics give the same answer as a sort and group-by, run after run.
_KERNEL_SOURCE = r"""
extern "C" __global__ void minhash_min(const unsigned int* h, const long long* doc, long long count,
                                       const unsigned int* a, const unsigned int* b, int perms,
                                       unsigned int* out) {
    long long total = count * (long long)perms;
    long long step = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        long long s = i / perms;
        int p = (int)(i - s * perms);
        unsigned int x = h[s];  /* MurmurHash3's fmix32, as hashing.fmix32 */
        x ^= x >> 16; x *= 0x85EBCA6Bu; x ^= x >> 13; x *= 0xC2B2AE35u; x ^= x >> 16;
        atomicMin(out + doc[s] * perms + p, a[p] * x + b[p]);  /* uint32 wraps mod 2**32 */
    }
}
extern "C" __global__ void scatter_min_i64(long long* target, const long long* index,
                                           const long long* values, long long count) {
    long long step = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += step) {
        atomicMin(target + index[i], values[i]);
    }
}
"""
_KERNELS: dict[str, Any] = {}
_KERNEL_LOCK = threading.Lock()  # not _VERIFY_LOCK: the known-answer check compiles under that one
_THREADS = 256


def _kernel(xp: Any, name: str) -> Any:
    with _KERNEL_LOCK:
        if name not in _KERNELS:
            module = xp.RawModule(code=_KERNEL_SOURCE)
            _KERNELS["minhash_min"] = module.get_function("minhash_min")
            _KERNELS["scatter_min_i64"] = module.get_function("scatter_min_i64")
        return _KERNELS[name]


def _on_device(xp: Any) -> bool:
    """CuPy proper (kernels run); the tests' NumPy stand-in has no ``RawModule``."""
    return hasattr(xp, "RawModule")


def _grid(total: int) -> tuple[int]:
    return (max(1, min((total + _THREADS - 1) // _THREADS, 65535 * 8)),)


def _scatter_min(xp: Any, target: Any, index: Any, values: Any) -> None:
    """``target[index] = minimum(target[index], values)`` with repeated indices, in place (int64)."""
    if not len(index):
        return
    if _on_device(xp):
        index = xp.ascontiguousarray(index, dtype=xp.int64)
        values = xp.ascontiguousarray(values, dtype=xp.int64)
        _kernel(xp, "scatter_min_i64")(_grid(len(index)), (_THREADS,), (target, index, values, np.int64(len(index))))
    else:
        xp.minimum.at(target, index, values)


def _host_shingles(texts: pa.Array | pa.ChunkedArray, ngram: int, unit: Unit, hash: HashName,
                   docs_per_chunk: int, num_threads: int | None) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(first document, shingle hashes, offsets)`` per chunk of documents, in order; with
    ``num_threads`` > 1 (``None``: a thread per core) the chunks are shingled on a thread pool
    (the NumPy steps release the GIL), so more than one core feeds the device."""
    n = len(texts)
    bounds = [(i, min(i + docs_per_chunk, n)) for i in range(0, n, docs_per_chunk)]

    def one(bound: tuple[int, int]) -> tuple[int, np.ndarray, np.ndarray]:
        h, off = shingle_hashes(texts.slice(bound[0], bound[1] - bound[0]), ngram, unit, hash)
        return bound[0], h, off

    threads = num_threads if num_threads is not None else (os.cpu_count() or 1)
    if threads <= 1 or len(bounds) <= 1:
        yield from map(one, bounds)
        return
    with ThreadPoolExecutor(max_workers=min(threads, len(bounds))) as pool:
        yield from pool.map(one, bounds)


def signatures_device(
    texts: pa.Array | pa.ChunkedArray,
    num_perm: int = 128,
    ngram: int = 5,
    unit: Unit = "char",
    seed: int = 1,
    hash: HashName = "poly64",
    *,
    block_shingles: int = 1 << 24,
    docs_per_chunk: int = 16384,
    num_threads: int | None = 1,
) -> Any:
    """MinHash signatures as a device array ``uint32 [n, num_perm]`` (equal to the CPU ones).

    The host shingles chunks of ``docs_per_chunk`` documents, on ``num_threads`` threads (as
    :func:`~.minhash.minhash_signatures`: 1 by default, since the executor already runs batches
    in parallel; ``None`` for a thread per core); each chunk's
    hashes go to the device in launches of at most ``block_shingles`` (12 bytes each with their
    document numbers); a document cut by a launch boundary gets the minimum of both parts.
    """
    xp = backend()
    a, b = permutations(num_perm, seed, "affine32")
    out = xp.full((len(texts), num_perm), MAX_HASH, dtype=xp.uint32)
    da = xp.asarray(np.ascontiguousarray(a, dtype=np.uint32))
    db = xp.asarray(np.ascontiguousarray(b, dtype=np.uint32))
    for first, h, off in _host_shingles(texts, ngram, unit, hash, docs_per_chunk, num_threads):
        doc = np.repeat(np.arange(first, first + len(off) - 1, dtype=np.int64), np.diff(off))
        for s0 in range(0, len(h), block_shingles):
            s1 = min(s0 + block_shingles, len(h))
            hv = xp.asarray(np.ascontiguousarray(h[s0:s1], dtype=np.uint32))
            dv = xp.asarray(doc[s0:s1])
            if _on_device(xp):
                count = s1 - s0
                _kernel(xp, "minhash_min")(_grid(count * num_perm), (_THREADS,),
                                           (hv, dv, np.int64(count), da, db, np.int32(num_perm), out))
            else:
                perm = da[:, None] * fmix32(hv, xp)[None, :] + db[:, None]  # uint32: wraps mod 2**32
                xp.minimum.at(out, (dv[None, :], xp.arange(num_perm)[:, None]), perm)
    return out


def minhash_signatures_gpu(
    texts: pa.Array | pa.ChunkedArray, num_perm: int = 128, ngram: int = 5, unit: Unit = "char", seed: int = 1,
    hash: HashName = "poly64",
) -> np.ndarray:
    """:func:`~.minhash.minhash_signatures` computed on the GPU, as a host array."""
    xp = backend()
    return np.asarray(xp.asnumpy(signatures_device(texts, num_perm, ngram, unit, seed, hash)))


def band_hashes_device(sig: Any, bands: int, rows: int) -> Any:
    """:func:`~.lsh.band_hashes` of a device signature array: device ``uint64 [n, bands]``."""
    return band_hashes(sig, bands, rows, backend())


def candidate_pairs_device(bh: Any, valid: np.ndarray | None = None) -> tuple[Any, Any]:
    """:func:`~.lsh.candidate_pairs` (chain mode) on the device: sorted unique ``(left, right)``."""
    xp = backend()
    n, bands = bh.shape
    rows = xp.arange(n, dtype=xp.int64) if valid is None else xp.asarray(np.flatnonzero(valid).astype(np.int64))
    row_key = rows.astype(xp.uint64)  # lexsort's keys share one dtype; rows are >= 0
    lefts, rights = [], []
    for k in range(bands):
        h = bh[rows, k]
        order = xp.lexsort(xp.stack([row_key, h]))  # by hash, then row (the last key is the primary one)
        hs, members = h[order], rows[order]
        same = hs[1:] == hs[:-1]
        lefts.append(members[:-1][same])
        rights.append(members[1:][same])
    if not lefts:
        return xp.empty(0, xp.int64), xp.empty(0, xp.int64)
    left, right = xp.concatenate(lefts), xp.concatenate(rights)
    key = xp.unique(xp.minimum(left, right) * n + xp.maximum(left, right))
    return key // n, key % n


def connected_components_device(left: Any, right: Any, n: int) -> Any:
    """:func:`~.components.connected_components` on the device: the smallest node of each component.

    Hook-and-jump: every open edge hooks the larger of its two roots under the smaller (an
    atomic-min scatter per round), then pointer jumping to a fixpoint.
    """
    xp = backend()
    labels = xp.arange(n, dtype=xp.int64)
    u, v = xp.asarray(left, dtype=xp.int64), xp.asarray(right, dtype=xp.int64)
    while len(u):
        lu, lv = labels[u], labels[v]
        open_ = lu != lv
        if not bool(open_.any()):
            break
        u, v, lu, lv = u[open_], v[open_], lu[open_], lv[open_]
        _scatter_min(xp, labels, xp.maximum(lu, lv), xp.minimum(lu, lv))
        while True:
            nxt = labels[labels]
            if bool((nxt == labels).all()):
                break
            labels = nxt
    return labels


def fuzzy_band_hashes_gpu(texts: pa.Array | pa.ChunkedArray, num_perm: int, ngram: int, unit: Unit, seed: int,
                          hash: HashName, bands: int, rows: int, num_threads: int | None = 1
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Host ``(band hashes uint64 [n, bands], valid)`` of a batch, signatures computed on the device."""
    xp = backend()
    sig = signatures_device(texts, num_perm, ngram, unit, seed, hash, num_threads=num_threads)
    valid = xp.asnumpy(~(sig == MAX_HASH).all(axis=1))
    return np.asarray(xp.asnumpy(band_hashes_device(sig, bands, rows))), np.asarray(valid, dtype=bool)


def candidate_pairs_gpu(band_hashes: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Host ``(left, right)`` of :func:`candidate_pairs_device` for host band hashes."""
    xp = backend()
    bh = xp.asarray(band_hashes)
    left, right = candidate_pairs_device(bh, valid)
    return np.asarray(xp.asnumpy(left)), np.asarray(xp.asnumpy(right))


def components_gpu(left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    """Host labels of :func:`connected_components_device`."""
    xp = backend()
    return np.asarray(xp.asnumpy(connected_components_device(xp.asarray(left), xp.asarray(right), n)), np.int64)


def fuzzy_duplicates_gpu(
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
    num_threads: int | None = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """GPU counterpart of :func:`~.lsh.fuzzy_duplicates`, same result: ``(group, is_kept)``;
    ``num_threads`` shingles on the host as the CPU path's does."""
    bands, rows = resolve_bands_rows(threshold, num_perm, bands, rows, weights)
    bh, valid = fuzzy_band_hashes_gpu(texts, num_perm, ngram, unit, seed, hash, bands, rows, num_threads)
    if texts.null_count:
        valid &= np.asarray(texts.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    left, right = candidate_pairs_gpu(bh, valid)
    if verify:
        left, right = verified_edges(texts, left, right, ngram, unit, hash, threshold)
    group = components_gpu(left, right, len(bh))
    return group, group == np.arange(len(bh))
