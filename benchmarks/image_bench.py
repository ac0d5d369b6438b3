"""Image pipeline benchmark: JPEG files → decode → resize 224×224 → JPEG encode → Parquet.

Runs Thresher's kernels (``url.download`` → fused ``image.decode_resize`` → ``image.encode`` on both
cores), a hand-written Pillow multiprocessing draft-mode loop, Daft and Ray Data on the same files,
prints a table with ratios and writes ``benchmarks/results/image_bench.json``. Also reports the PSNR
of the fused draft-mode decode against a full-precision decode → resize.

Usage: ``python benchmarks/image_bench.py --n 1000 [--skip ray,daft]``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import tempfile
import time
from multiprocessing import Pool

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SIZE = 224


def thresher_run(paths: list[str], out: str, batch: int = 64) -> int:
    from thresher.operators.kernels.registry import get_kernel

    download, fused, encode = (get_kernel(n) for n in ("url.download", "image.decode_resize", "image.encode"))
    writer = None
    n = 0
    for s in range(0, len(paths), batch):
        urls = pa.array(paths[s : s + batch], pa.large_string())
        files = download([urls], {}).values
        imgs = fused([files], {"width": SIZE, "height": SIZE, "mode": "RGB"}).values
        enc = encode([imgs], {"format": "jpeg", "quality": 90}).values
        t = pa.table({"path": urls, "image": enc})
        writer = writer or pq.ParquetWriter(out, t.schema)
        writer.write_table(t)
        n += t.num_rows
    if writer:
        writer.close()
    return n


def _pillow_one(path: str) -> bytes:
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (SIZE, SIZE))
        im = im.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=90)
        return buf.getvalue()


def pillow_run(paths: list[str], out: str) -> int:
    with Pool(os.cpu_count() or 2) as pool:
        data = pool.map(_pillow_one, paths, chunksize=16)
    pq.write_table(pa.table({"path": paths, "image": pa.array(data, pa.large_binary())}), out)
    return len(data)


def daft_run(paths: list[str], out: str) -> int:
    import daft

    df = daft.from_pydict({"path": paths})
    df = df.with_column("image", daft.col("path").url.download().image.decode(mode="RGB").image.resize(SIZE, SIZE)
                        .image.encode("JPEG"))
    df.write_parquet(out)
    return len(paths)


def ray_run(paths: list[str], out: str) -> int:
    import ray

    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)

    def fn(batch: dict) -> dict:
        from PIL import Image

        outs = []
        for p in batch["path"]:
            with Image.open(p) as im:
                im = im.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
                buf = io.BytesIO()
                im.save(buf, format="JPEG", quality=90)
                outs.append(buf.getvalue())
        return {"path": batch["path"], "image": np.array(outs, dtype=object)}

    ds = ray.data.from_items([{"path": p} for p in paths]).map_batches(fn, batch_size=64)
    ds.write_parquet(out)
    n = len(paths)
    ray.shutdown()
    return n


def psnr_fused(paths: list[str]) -> float:
    from thresher.operators.kernels.image import image_views, view_to_ndarray
    from thresher.operators.kernels.registry import get_kernel

    files = get_kernel("url.download")([pa.array(paths[:20])], {}).values
    fused = get_kernel("image.decode_resize")([files], {"width": SIZE, "height": SIZE, "mode": "RGB"}).values
    full = get_kernel("image.decode")([files], {"mode": "RGB"}).values
    ref = get_kernel("image.resize")([full], {"width": SIZE, "height": SIZE}).values
    vals = []
    for a, b in zip(image_views(fused), image_views(ref)):
        mse = np.mean((view_to_ndarray(a).astype(float) - view_to_ndarray(b)) ** 2)
        vals.append(10 * np.log10(255**2 / max(mse, 1e-12)))
    return float(np.mean(vals))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--height", type=int, default=768)
    ap.add_argument("--skip", default="")
    ap.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "thresher_bench_images"))
    args = ap.parse_args()
    from thresher.testing.media import write_images

    paths = write_images(os.path.join(args.data, f"{args.width}x{args.height}"), args.n, args.width, args.height)
    skip = set(filter(None, args.skip.split(",")))
    runs = {"thresher": thresher_run, "pillow_draft_mp": pillow_run, "daft": daft_run, "ray_data": ray_run}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in runs.items():
            if name in skip:
                continue
            out = os.path.join(tmp, name + (".parquet" if name in ("thresher", "pillow_draft_mp") else ""))
            t = time.perf_counter()
            try:
                n = fn(paths, out)
                results[name] = {"seconds": time.perf_counter() - t, "rows": n}
            except Exception as exc:  # noqa: BLE001 - a peer failing must not hide the others
                results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    base = results.get("thresher", {}).get("seconds")
    print(f"\nimage pipeline: {args.n} JPEGs {args.width}x{args.height} -> {SIZE}x{SIZE} JPEG -> Parquet "
          f"({os.cpu_count()} cores)")
    print(f"{'engine':<18}{'seconds':>10}{'img/s':>10}{'vs thresher':>14}")
    for name, r in results.items():
        if "error" in r:
            print(f"{name:<18}{'failed: ' + r['error'][:60]}")
            continue
        ratio = r["seconds"] / base if base else float("nan")
        r["thresher_speedup"] = ratio
        print(f"{name:<18}{r['seconds']:>10.2f}{r['rows'] / r['seconds']:>10.1f}{ratio:>13.2f}x")
    p = psnr_fused(paths)
    print(f"fused draft-mode decode vs full decode+resize: PSNR {p:.1f} dB (mean over 20 images)")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "image_bench.json"), "w") as f:
        json.dump({"n": args.n, "size": [args.width, args.height], "cores": os.cpu_count(),
                   "python": platform.python_version(), "psnr_db": p, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
