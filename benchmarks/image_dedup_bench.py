"""Image near-duplicate removal: pHash + Hamming LSH through the DataFrame API vs hand-written loops.

The same JPEG bytes (80% distinct images, 20% recompressed and resized copies of them) are held
in memory by every engine (read from Parquet at start-up). Peers, each its own process:

* ``numpy_bktree``: imagehash-style pHash in a Pillow/NumPy loop, then the same Hamming-LSH
  idea written with NumPy (split the 64-bit hash into ``max_distance + 1`` bands: two hashes
  within ``k`` bits agree on one band exactly; candidate pairs by sorting each band; verified
  with ``bitwise_count``; connected components; keep the first of each) - sub-quadratic, no
  Python loop over pairs.
* ``imagehash_loop``: the same pHash with the ``imagehash`` package when installed.

The check: the number of rows removed must be within 2% of the planted near-duplicates for
every engine, and equal to the reference's within 1% of the rows (pHash implementations
round differently at the threshold).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.harness import Bench, Engine


def make_images(n: int, seed: int = 0) -> tuple[list[bytes], int]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = n * 4 // 5
    blobs: list[bytes] = []
    for _ in range(base):
        blocks = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)  # distinct low-frequency content
        im = Image.fromarray(blocks).resize((128, 96), Image.BILINEAR)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=90)
        blobs.append(buf.getvalue())
    for _ in range(n - base):  # near duplicates: recompressed and resized copies
        im = Image.open(io.BytesIO(blobs[int(rng.integers(base))])).resize((120, 90))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=60)
        blobs.append(buf.getvalue())
    return blobs, base


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    blobs, base = make_images(p["n"])
    pq.write_table(pa.table({"id": np.arange(len(blobs)), "raw": pa.array(blobs, pa.binary())}), work / "img.parquet")
    return {"_planted": len(blobs) - base}


def _start(p: dict[str, Any]) -> dict[str, Any]:
    t = pq.read_table(Path(p["workdir"]) / "img.parquet")
    return {"t": t, "k": p["k"], "planted": p["_planted"]}


def _run_thresher(state: dict[str, Any], case: str) -> int:
    import thresher as th

    df = th.from_arrow(state["t"])
    kept = df.dedup.image("raw", max_distance=state["k"]).count_rows()
    return state["t"].num_rows - int(kept)


def loop_phash(blobs: list[bytes]) -> np.ndarray:
    from PIL import Image

    n = 32
    k = np.arange(n)
    dct = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))
    out = np.empty(len(blobs), dtype=np.uint64)
    for i, b in enumerate(blobs):
        g = np.asarray(Image.open(io.BytesIO(b)).convert("L").resize((n, n), Image.BILINEAR), dtype=np.float64)
        low = (dct @ g @ dct.T)[:8, :8].flatten()
        bits = low > np.median(low[1:])
        out[i] = np.packbits(bits).view(">u8")[0]
    return out


def lsh_removed(hashes: np.ndarray, k: int) -> int:
    """Rows removed by Hamming <= k dedup: band LSH candidates, exact verification, components."""
    n = len(hashes)
    bands = k + 1
    width = 64 // bands
    parent = np.arange(n)

    def find(x: np.ndarray) -> np.ndarray:
        while True:
            px = parent[x]
            if np.array_equal(px, x):
                return x
            parent[x] = parent[px]
            x = parent[x]

    left_all, right_all = [], []
    for b in range(bands):
        lo = b * width
        hi = 64 if b == bands - 1 else lo + width
        key = (hashes >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
        sizes = np.diff(np.r_[starts, n])
        for s, z in zip(starts[sizes > 1], sizes[sizes > 1]):  # loop over buckets, not pairs of rows
            idx = order[s : s + z]
            ii, jj = np.triu_indices(z, 1)
            left_all.append(idx[ii])
            right_all.append(idx[jj])
    if not left_all:
        return 0
    left, right = np.concatenate(left_all), np.concatenate(right_all)
    close = np.bitwise_count(hashes[left] ^ hashes[right]) <= k
    left, right = left[close], right[close]
    # connected components by repeated min-label propagation (vectorized)
    label = np.arange(n)
    while True:
        m = np.minimum(label[left], label[right])
        new = label.copy()
        np.minimum.at(new, left, m)
        np.minimum.at(new, right, m)
        new = new[new]
        if np.array_equal(new, label):
            break
        label = new
    return int(n - len(np.unique(label)))


def _run_numpy(state: dict[str, Any], case: str) -> int:
    blobs = state["t"].column("raw").to_pylist()
    return lsh_removed(loop_phash(blobs), state["k"])


def _run_imagehash(state: dict[str, Any], case: str) -> int:
    import imagehash
    from PIL import Image

    blobs = state["t"].column("raw").to_pylist()
    hs = np.array([int(str(imagehash.phash(Image.open(io.BytesIO(b)))), 16) for b in blobs], dtype=np.uint64)
    return lsh_removed(hs, state["k"])


def _check(state: dict[str, Any], case: str, removed: int) -> dict[str, Any]:
    return {"removed": int(removed), "rows": state["t"].num_rows, "planted": state["planted"]}


def _compare(ref: dict[str, Any], other: dict[str, Any]) -> bool:
    planted_ok = abs(other["removed"] - other["planted"]) <= 0.02 * other["rows"]
    return bool(planted_ok and abs(other["removed"] - ref["removed"]) <= 0.01 * other["rows"])


BENCH = Bench(
    name="image_dedup",
    title="Image near-duplicate removal (pHash, Hamming <= k)",
    engines=(
        Engine("thresher", _start, _run_thresher, _check, requires=("thresher",), note="df.dedup.image"),
        Engine("numpy_band_lsh", _start, _run_numpy, _check, requires=("PIL",),
               note="Pillow/NumPy pHash loop + vectorized band LSH and components"),
        Engine("imagehash_band_lsh", _start, _run_imagehash, _check, requires=("imagehash", "PIL"),
               note="imagehash.phash + the same band LSH"),
    ),
    reference="numpy_band_lsh",
    baseline="numpy_band_lsh",
    units="images",
    quick={"n": 2000, "k": 6, "rounds": 3},
    full={"n": 10000, "k": 6, "rounds": 5},
    prepare=prepare,
    count=lambda p: p["n"],
    compare=_compare,
    notes="Ratio = numpy_band_lsh median / engine median; removed rows checked against the planted copies.",
)
