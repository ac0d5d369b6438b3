"""Image near-duplicate removal: pHash + Hamming LSH through the DataFrame API vs a hand-written
Pillow/NumPy loop (imagehash-style pHash, vectorized all-pairs Hamming) on the same images.

    python benchmarks/image_dedup_bench.py --n 10000
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np

import thresher as th


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


def loop_groups(hashes: np.ndarray, k: int) -> int:
    keep = np.ones(len(hashes), dtype=bool)
    for i in range(len(hashes)):
        if not keep[i]:
            continue
        d = np.bitwise_count(hashes[i + 1:] ^ hashes[i])
        keep[i + 1:][d <= k] = False
    return int((~keep).sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "image_dedup.json"))
    args = ap.parse_args()
    blobs, base = make_images(args.n)
    df = th.from_pydict({"id": list(range(len(blobs))), "raw": blobs})
    t0 = time.perf_counter()
    kept = df.dedup.image("raw", max_distance=args.k).count_rows()  # pHash straight from the encoded bytes
    t_th = time.perf_counter() - t0
    t0 = time.perf_counter()
    removed_loop = loop_groups(loop_phash(blobs), args.k)
    t_loop = time.perf_counter() - t0
    res = {"images": len(blobs), "planted_near_dups": len(blobs) - base,
           "thresher": {"seconds": t_th, "images_per_s": len(blobs) / t_th, "removed": len(blobs) - kept},
           "pillow_numpy_loop": {"seconds": t_loop, "images_per_s": len(blobs) / t_loop, "removed": removed_loop}}
    print(f"{len(blobs)} images ({len(blobs) - base} planted near-duplicates), Hamming <= {args.k}")
    print(f"  thresher   {t_th:7.2f}s  {len(blobs) / t_th:8.0f} img/s  removed {len(blobs) - kept}")
    print(f"  loop       {t_loop:7.2f}s  {len(blobs) / t_loop:8.0f} img/s  removed {removed_loop}")
    print(f"  speed-up {t_loop / t_th:.2f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
