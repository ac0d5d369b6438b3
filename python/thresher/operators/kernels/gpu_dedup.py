"""Fuzzy dedup on a GPU (cuDF + CuPy, the ``gpu`` extra): the CPU path's results, computed on the device.

Nothing here is imported by ``import thresher``; cuDF and CuPy are imported inside functions, and
:func:`gpu_available` says whether they and a device are present. ``df.dedup.fuzzy(...,
device="auto")`` (the default) takes this path on the local executor when they are.

Same semantics as the CPU kernels, bit for bit: the signatures equal
:func:`~.minhash.minhash_signatures` (same shingles, 32-bit shingle hashes, datasketch
``affine32`` permutations), the band hashes equal :func:`~.lsh.band_hashes`, the candidate edges
equal :func:`~.lsh.candidate_pairs` (consecutive members of each bucket in row order), and the
components equal :func:`~.components.connected_components` (every row labelled by the smallest
row of its component). What runs where:

* shingling and the 32-bit shingle hashes: host (vectorized NumPy over the Arrow buffer; a text
  pass, cheap next to the permutations);
* permutations ``fmix32(h) * a + b mod 2**32`` (CuPy, uint32 wrap-around, blocks of shingles)
  and the per-document minimum (cuDF ``groupby(doc).min()``): device;
* band hashes (CuPy uint64 arithmetic), per-band bucket sort (cuDF ``sort_values``), consecutive
  pairs, components (hook-and-jump: cuDF ``groupby.min`` to hook roots, CuPy gathers for the
  pointer jumping): device;
* ``verify=True``: exact Jaccard of the candidate pairs with the CPU kernel on the host (edges
  are few next to documents).

Only the ``affine32`` permutation scheme is offered here (``legacy`` needs 61-bit modular
arithmetic). The test suite runs this module's code on the CPU with pandas/NumPy standing in for
cuDF/CuPy (see ``tests/operators/kernels/test_gpu_dedup.py``); it has not run on a GPU yet.

Because of that, ``device="auto"`` does not trust the device on its word: :func:`gpu_path_verified`
runs the whole path once per process on a small known-answer corpus and compares every step with
the CPU kernels; if anything differs (or fails), ``auto`` uses the CPU and warns once.
``device="gpu"`` is the user's explicit choice and is not second-guessed.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.errors import UnsupportedError
from thresher.operators.kernels.hashing import band_hashes, fmix32
from thresher.operators.kernels.lsh import resolve_bands_rows, verified_edges
from thresher.operators.kernels.minhash import MAX_HASH, HashName, Unit, permutations, shingle_hashes


def gpu_available() -> bool:
    """Whether cuDF and CuPy import and a CUDA device is visible.

    Examples
    --------
    >>> isinstance(gpu_available(), bool)
    True
    """
    try:
        import cudf  # noqa: F401
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
        _, xp = backend()
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


def backend() -> tuple[Any, Any]:
    """``(cudf, cupy)``, or :class:`UnsupportedError` when there is no GPU path here."""
    if not gpu_available():
        raise UnsupportedError("the GPU dedup path needs cudf, cupy and a CUDA device (pip install thresher[gpu])")
    import cudf
    import cupy

    return cudf, cupy


def signatures_device(
    texts: pa.Array | pa.ChunkedArray,
    num_perm: int = 128,
    ngram: int = 5,
    unit: Unit = "char",
    seed: int = 1,
    hash: HashName = "poly64",
    *,
    block_shingles: int = 1 << 18,
) -> Any:
    """MinHash signatures as a device array ``uint32 [n, num_perm]`` (equal to the CPU ones).

    Shingles are processed in blocks of ``block_shingles`` (the block's ``[num_perm, block]``
    permutation values bound device memory: 128 MiB at the default); a document cut by a block
    boundary gets the minimum of both parts.
    """
    cudf, xp = backend()
    h, off = shingle_hashes(texts, ngram, unit, hash)
    a, b = permutations(num_perm, seed, "affine32")
    n = len(off) - 1
    out = xp.full((n, num_perm), MAX_HASH, dtype=xp.uint32)
    doc = np.repeat(np.arange(n, dtype=np.int64), np.diff(off))
    da, db = xp.asarray(a)[:, None], xp.asarray(b)[:, None]
    names = [f"p{i}" for i in range(num_perm)]
    for s0 in range(0, len(h), block_shingles):
        s1 = min(s0 + block_shingles, len(h))
        hv = fmix32(xp.asarray(h[s0:s1]), xp)
        perm = da * hv[None, :] + db  # uint32: wraps mod 2**32, as datasketch's affine32
        frame = cudf.DataFrame({name: perm[i] for i, name in enumerate(names)})
        frame["doc"] = xp.asarray(doc[s0:s1])
        mins = frame.groupby("doc", sort=True).min()
        docs = xp.asarray(mins.index.values)
        vals = xp.asarray(mins[names].values, dtype=xp.uint32)
        out[docs] = xp.minimum(out[docs], vals)
    return out


def minhash_signatures_gpu(
    texts: pa.Array | pa.ChunkedArray, num_perm: int = 128, ngram: int = 5, unit: Unit = "char", seed: int = 1,
    hash: HashName = "poly64",
) -> np.ndarray:
    """:func:`~.minhash.minhash_signatures` computed on the GPU, as a host array."""
    _, xp = backend()
    return np.asarray(xp.asnumpy(signatures_device(texts, num_perm, ngram, unit, seed, hash)))


def band_hashes_device(sig: Any, bands: int, rows: int) -> Any:
    """:func:`~.lsh.band_hashes` of a device signature array: device ``uint64 [n, bands]``."""
    _, xp = backend()
    return band_hashes(sig, bands, rows, xp)


def candidate_pairs_device(bh: Any, valid: np.ndarray | None = None) -> tuple[Any, Any]:
    """:func:`~.lsh.candidate_pairs` (chain mode) on the device: sorted unique ``(left, right)``."""
    cudf, xp = backend()
    n, bands = bh.shape
    rows = xp.arange(n, dtype=xp.int64) if valid is None else xp.asarray(np.flatnonzero(valid).astype(np.int64))
    lefts, rights = [], []
    for k in range(bands):
        frame = cudf.DataFrame({"h": bh[rows, k], "r": rows}).sort_values(["h", "r"])
        hs, members = xp.asarray(frame["h"].values), xp.asarray(frame["r"].values)
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

    Hook-and-jump: every open edge hooks the larger of its two roots under the smaller (one
    ``groupby(root).min()`` per round), then pointer jumping to a fixpoint.
    """
    cudf, xp = backend()
    labels = xp.arange(n, dtype=xp.int64)
    u, v = xp.asarray(left, dtype=xp.int64), xp.asarray(right, dtype=xp.int64)
    while len(u):
        lu, lv = labels[u], labels[v]
        open_ = lu != lv
        if not bool(open_.any()):
            break
        u, v, lu, lv = u[open_], v[open_], lu[open_], lv[open_]
        hooks = cudf.DataFrame({"hi": xp.maximum(lu, lv), "lo": xp.minimum(lu, lv)}).groupby("hi", sort=True).min()
        hi = xp.asarray(hooks.index.values, dtype=xp.int64)
        labels[hi] = xp.minimum(labels[hi], xp.asarray(hooks["lo"].values, dtype=xp.int64))
        while True:
            nxt = labels[labels]
            if bool((nxt == labels).all()):
                break
            labels = nxt
    return labels


def fuzzy_band_hashes_gpu(texts: pa.Array | pa.ChunkedArray, num_perm: int, ngram: int, unit: Unit, seed: int,
                          hash: HashName, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Host ``(band hashes uint64 [n, bands], valid)`` of a batch, signatures computed on the device."""
    _, xp = backend()
    sig = signatures_device(texts, num_perm, ngram, unit, seed, hash)
    valid = xp.asnumpy(~(sig == MAX_HASH).all(axis=1))
    return np.asarray(xp.asnumpy(band_hashes_device(sig, bands, rows))), np.asarray(valid, dtype=bool)


def candidate_pairs_gpu(band_hashes: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Host ``(left, right)`` of :func:`candidate_pairs_device` for host band hashes."""
    _, xp = backend()
    bh = xp.asarray(band_hashes)
    left, right = candidate_pairs_device(bh, valid)
    return np.asarray(xp.asnumpy(left)), np.asarray(xp.asnumpy(right))


def components_gpu(left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    """Host labels of :func:`connected_components_device`."""
    _, xp = backend()
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
) -> tuple[np.ndarray, np.ndarray]:
    """GPU counterpart of :func:`~.lsh.fuzzy_duplicates`, same result: ``(group, is_kept)``."""
    bands, rows = resolve_bands_rows(threshold, num_perm, bands, rows, weights)
    bh, valid = fuzzy_band_hashes_gpu(texts, num_perm, ngram, unit, seed, hash, bands, rows)
    if texts.null_count:
        valid &= np.asarray(texts.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    left, right = candidate_pairs_gpu(bh, valid)
    if verify:
        left, right = verified_edges(texts, left, right, ngram, unit, hash, threshold)
    group = components_gpu(left, right, len(bh))
    return group, group == np.arange(len(bh))
