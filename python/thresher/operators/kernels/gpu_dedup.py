"""Optional cuDF path for fuzzy dedup: MinHash and LSH buckets on the GPU, components on the host.

Nothing here is imported by ``import thresher``; cuDF and CuPy are imported inside functions, and
:func:`gpu_available` says whether they and a device are present. The CPU kernels in
:mod:`.minhash`, :mod:`.lsh` and :mod:`.components` are the reference path the test suite runs.

Differences from the CPU path: signatures come from cuDF's ``Series.str.minhash`` (MurmurHash3
of character n-grams with cuDF's own permutation scheme), so they are **not** equal to
:func:`~.minhash.minhash_signatures`; the groups agree statistically, not bit for bit. Only
``unit="char"`` is offered. This module is untested in CI (no GPU there).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from thresher.errors import UnsupportedError
from thresher.operators.kernels.components import connected_components
from thresher.operators.kernels.lsh import optimal_bands_rows


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


def _require() -> tuple[Any, Any]:
    if not gpu_available():
        raise UnsupportedError("the GPU dedup path needs cudf, cupy and a CUDA device")
    import cudf
    import cupy

    return cudf, cupy


def minhash_signatures_gpu(texts: pa.Array, num_perm: int = 128, ngram: int = 5, seed: int = 1) -> Any:
    """Character n-gram MinHash on the GPU: a CuPy ``uint32 [n, num_perm]`` array (nulls: all max)."""
    cudf, cupy = _require()
    rng = np.random.RandomState(seed)
    a = cudf.Series(rng.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1))
    b = cudf.Series(rng.randint(0, 1 << 32, num_perm, dtype=np.uint32))
    s = cudf.Series.from_arrow(texts).fillna("")
    try:
        lists = s.str.minhash(seed, a, b, ngram)  # cuDF >= 25.02
    except TypeError as exc:
        raise UnsupportedError(f"this cuDF version has another str.minhash signature: {exc}") from exc
    flat = cupy.asarray(lists.list.leaves.values, dtype=cupy.uint32)
    return flat.reshape(len(s), num_perm)


def fuzzy_duplicates_gpu(
    texts: pa.Array, threshold: float = 0.8, num_perm: int = 128, ngram: int = 5, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """GPU counterpart of :func:`~.lsh.fuzzy_duplicates` (no verification): ``(group, is_kept)``."""
    cudf, cupy = _require()
    sig = minhash_signatures_gpu(texts, num_perm, ngram, seed)
    bands, rows = optimal_bands_rows(threshold, num_perm)
    n = sig.shape[0]
    lefts, rights = [], []
    x = sig[:, : bands * rows].reshape(n, bands, rows).astype(cupy.uint64)
    for k in range(bands):
        h = cupy.full(n, k + 1, dtype=cupy.uint64)
        for j in range(rows):
            h = h * cupy.uint64(0x100000001B3) + x[:, k, j]
        df = cudf.DataFrame({"h": h, "i": cupy.arange(n, dtype=cupy.int64)}).sort_values(["h", "i"])
        hs, idx = df["h"].values, df["i"].values
        same = hs[1:] == hs[:-1]
        lefts.append(cupy.asnumpy(idx[:-1][same]))
        rights.append(cupy.asnumpy(idx[1:][same]))
    group = connected_components(np.concatenate(lefts), np.concatenate(rights), n=n)
    return group, group == np.arange(n)
