"""The one hashing module (``operators/kernels/hashing.py``) against references nobody here wrote.

Three kinds of reference:

* published MurmurHash3 vectors (``fmix64`` pinned outputs; ``MurmurHash3_x86_32("", seed)``,
  which is ``fmix32(seed)`` for the empty key);
* the ``mmh3`` C library on random seeds (its empty-key hashes are made of ``fmix32`` and
  ``fmix64`` alone);
* frozen copies of the implementations the module replaced (kernels/minhash.py, kernels/lsh.py,
  operators/dedup_shuffle.py, kernels/gpu_dedup.py as of the commit before it), on random inputs:
  the new code must be bit-identical, or every stored dedup result would be re-keyed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from thresher.operators.dedup_shuffle import fmix64 as shuffle_fmix64
from thresher.operators.kernels import lsh, minhash
from thresher.operators.kernels.hashing import band_hashes, fmix32, fmix64

_U64 = np.uint64
_M64 = (1 << 64) - 1


# ---------------------------------------------------------------- frozen copies of the replaced code
def _old_fmix64(h: np.ndarray) -> np.ndarray:  # kernels/minhash.py, kernels/lsh.py
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


def _old_mix(x: np.ndarray) -> np.ndarray:  # operators/dedup_shuffle.py
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x ^ (x >> _U64(33))
        x = x * _U64(0xFF51AFD7ED558CCD)
        x = x ^ (x >> _U64(33))
        x = x * _U64(0xC4CEB9FE1A85EC53)
        return x ^ (x >> _U64(33))


def _old_fmix32(h: np.ndarray) -> np.ndarray:  # kernels/minhash.py
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _old_band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:  # kernels/lsh.py
    n, num_perm = signatures.shape
    x = np.ascontiguousarray(signatures[:, : bands * rows]).reshape(n, bands, rows)
    with np.errstate(over="ignore"):
        h = np.broadcast_to(_old_fmix64(np.arange(1, bands + 1, dtype=np.uint64)), (n, bands)).copy()
        for j in range(rows):
            h *= _U64(0x100000001B3)
            h += x[:, :, j]
        return _old_fmix64(h)


def _old_band_hashes_device(xp: Any, sig: Any, bands: int, rows: int) -> Any:  # kernels/gpu_dedup.py
    def mix(h: Any) -> Any:
        h = h ^ (h >> xp.uint64(33))
        h = h * xp.uint64(0xFF51AFD7ED558CCD)
        h = h ^ (h >> xp.uint64(33))
        h = h * xp.uint64(0xC4CEB9FE1A85EC53)
        return h ^ (h >> xp.uint64(33))

    n, _ = sig.shape
    x = sig[:, : bands * rows].reshape(n, bands, rows).astype(xp.uint64)
    h = xp.broadcast_to(mix(xp.arange(1, bands + 1, dtype=xp.uint64)), (n, bands)).copy()
    for j in range(rows):
        h = h * xp.uint64(0x100000001B3) + x[:, :, j]
    return mix(h)


# ------------------------------------------------------------------------------------------ vectors
@pytest.mark.parametrize(
    ("x", "want"),
    [
        (0, 0),
        (1, 0xB456BCFC34C2CB2C),
        (0xFFFFFFFFFFFFFFFF, 0x64B5720B4B825F21),
        (0xCBF29CE484222325, 0xEFD01F60BA992926),
        (0x1234567890ABCDEF, 0x0CAE996FEE6BD396),
        (0xDEADBEEFCAFEBABE, 0x7082995008F0C48C),
    ],
)
def test_fmix64_known_vectors(x: int, want: int) -> None:
    assert int(fmix64(np.array([x], dtype=np.uint64))[0]) == want


@pytest.mark.parametrize(("seed", "want"), [(0, 0), (1, 0x514E28B7), (0xFFFFFFFF, 0x81F16F39)])
def test_fmix32_known_vectors(seed: int, want: int) -> None:
    # SMHasher's MurmurHash3_x86_32 of the empty key: h = seed, h ^= len (0), fmix32(h)
    assert int(fmix32(np.array([seed], dtype=np.uint32))[0]) == want


def test_mixers_match_the_mmh3_library_on_random_seeds() -> None:
    mmh3 = pytest.importorskip("mmh3")
    seeds = np.random.default_rng(11).integers(0, 2**32, 300, dtype=np.uint64)
    got32 = fmix32(seeds.astype(np.uint32))
    want32 = [mmh3.hash(b"", int(s), signed=False) for s in seeds]
    assert got32.tolist() == want32
    # MurmurHash3_x64_128 of the empty key: h1 = h2 = seed; h1 += h2; h2 += h1; both through fmix64;
    # h1 += h2; h2 += h1. mmh3.hash64 returns (h1, h2).
    f2, f3 = (fmix64(seeds * _U64(k)).astype(object) for k in (2, 3))
    for s, a, b in zip(seeds.tolist(), f2, f3):
        h1 = (a + b) & _M64
        assert mmh3.hash64(b"", s, signed=False) == (h1, (b + h1) & _M64)


# ------------------------------------------------------------------- the replaced code, bit for bit
def test_fmix_bit_identical_to_the_replaced_copies() -> None:
    rng = np.random.default_rng(5)
    x64 = rng.integers(0, 2**64 - 1, 20_000, dtype=np.uint64, endpoint=True)
    x64[:4] = [0, 1, 2**63, 2**64 - 1]
    with np.errstate(over="ignore"):
        want64 = _old_fmix64(x64)
    assert np.array_equal(fmix64(x64), want64)
    assert np.array_equal(shuffle_fmix64(x64), _old_mix(x64))
    rows = rng.integers(-(2**40), 2**40, 1000, dtype=np.int64)  # the shuffle also mixes int64 row ids
    assert np.array_equal(fmix64(rows), _old_mix(rows))
    before = x64.copy()
    fmix64(x64)
    assert np.array_equal(x64, before), "fmix64 must not write into its input"
    x32 = rng.integers(0, 2**32, 20_000, dtype=np.uint64).astype(np.uint32)
    with np.errstate(over="ignore"):
        want32 = _old_fmix32(x32)
    assert np.array_equal(fmix32(x32), want32)
    # minhash's finalizer of poly64 goes through the shared fmix64
    data = b"shingle"
    h = 0
    for byte in data:
        h = (h * 0x9E3779B97F4A7C15 + byte + 1) & _M64
    assert minhash.poly64(data) == int(_old_fmix64(np.array([h], dtype=np.uint64))[0] >> _U64(32))


@pytest.mark.parametrize(("bands", "rows", "num_perm"), [(1, 1, 1), (16, 8, 128), (9, 13, 128), (20, 5, 100)])
def test_band_hashes_bit_identical_to_the_replaced_cpu_and_gpu_code(bands: int, rows: int, num_perm: int) -> None:
    sig = np.random.default_rng(bands * rows).integers(0, 2**32, (257, num_perm), dtype=np.uint64).astype(np.uint32)
    sig[7] = sig[3]
    want = _old_band_hashes(sig, bands, rows)
    assert np.array_equal(band_hashes(sig, bands, rows), want)
    assert np.array_equal(lsh.band_hashes(sig, bands, rows), want)
    with np.errstate(over="ignore"):
        assert np.array_equal(_old_band_hashes_device(np, sig, bands, rows), want)  # the GPU copy agreed
    assert np.array_equal(band_hashes(sig, bands, rows, xp=np), want)


def test_band_hashes_rejects_a_band_layout_that_does_not_fit() -> None:
    sig = np.zeros((2, 8), np.uint32)
    with pytest.raises(ValueError, match="does not fit"):
        band_hashes(sig, 3, 3)
    with pytest.raises(ValueError, match="does not fit"):
        band_hashes(sig, 0, 3)
