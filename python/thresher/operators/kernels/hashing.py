"""The hash mixers every dedup path shares: one copy, so CPU, GPU and Ray results agree bit for bit.

Each function takes the array namespace ``xp`` (``numpy``, the default, or ``cupy``): the same
arithmetic runs on the host and on the device. All arithmetic is unsigned and wraps around
(mod 2**32 or 2**64), which NumPy and CuPy both do for arrays.

* :func:`fmix64` / :func:`fmix32`: MurmurHash3's 64- and 32-bit finalizers (``fmix64`` spreads
  sequential keys over shuffle partitions and finishes the ``poly64`` shingle hash; ``fmix32``
  scrambles 32-bit shingle hashes before the ``affine32`` MinHash permutations).
* :func:`band_hashes`: one 64-bit hash per LSH band of a MinHash signature.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BAND_PRIME = 0x100000001B3
"""The multiplier of the band hash (the 64-bit FNV prime: odd, so every step is a bijection)."""


def fmix64(h: Any, xp: Any = np) -> Any:
    """MurmurHash3's 64-bit finalizer of every value of ``h`` (cast to uint64); a new array.

    Examples
    --------
    >>> hex(int(fmix64(np.array([1], dtype=np.uint64))[0]))
    '0xb456bcfc34c2cb2c'
    """
    h = xp.asarray(h, dtype=xp.uint64)
    with np.errstate(over="ignore"):  # NumPy warns on scalar overflow; the wrap-around is the point
        h = h ^ (h >> xp.uint64(33))  # a new array: the in-place steps below never touch the input
        h *= xp.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> xp.uint64(33)
        h *= xp.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> xp.uint64(33)
    return h


def fmix32(h: Any, xp: Any = np) -> Any:
    """MurmurHash3's 32-bit finalizer of a uint32 array ``h``; a new array.

    Examples
    --------
    >>> hex(int(fmix32(np.array([1], dtype=np.uint32))[0]))
    '0x514e28b7'
    """
    with np.errstate(over="ignore"):
        h = h ^ (h >> xp.uint32(16))
        h *= xp.uint32(0x85EBCA6B)
        h ^= h >> xp.uint32(13)
        h *= xp.uint32(0xC2B2AE35)
        h ^= h >> xp.uint32(16)
    return h


def band_hashes(signatures: Any, bands: int, rows: int, xp: Any = np) -> Any:
    """One 64-bit hash per band: ``uint64 [n, bands]``; band ``k`` covers columns ``k*rows:(k+1)*rows``.

    Equal bands give equal hashes; different bands collide with probability about ``2**-64``.
    The band number is mixed in (the hash starts from ``fmix64(k + 1)``), so equal hashes in
    different bands mean nothing.

    Examples
    --------
    >>> sig = np.array([[1, 2, 3, 4], [1, 2, 3, 5]], dtype=np.uint32)
    >>> bh = band_hashes(sig, 2, 2)
    >>> bh.shape, bool(bh[0, 0] == bh[1, 0]), bool(bh[0, 1] == bh[1, 1])
    ((2, 2), True, False)
    """
    n, num_perm = signatures.shape
    if bands * rows > num_perm or bands < 1 or rows < 1:
        raise ValueError(f"bands * rows = {bands} * {rows} does not fit a signature of {num_perm} values")
    x = signatures[:, : bands * rows].reshape(n, bands, rows)  # copies: a column slice is not contiguous
    h = xp.broadcast_to(fmix64(xp.arange(1, bands + 1, dtype=xp.uint64), xp), (n, bands)).copy()
    p = xp.uint64(BAND_PRIME)
    with np.errstate(over="ignore"):
        for j in range(rows):  # a loop over the band's width, vectorized over documents and bands
            h *= p
            h += x[:, :, j]
    return fmix64(h, xp)
