"""Filter-before-decode: the media-aware optimizer on vs off, and the same pipeline in Daft and Ray Data.

Workload: ``--n`` small JPEGs (generated with Pillow, cached under ``.data/``), a label column; keep
the cats whose image is at least 512 px wide (10% of rows), make 64×64 thumbnails::

    df.with_columns(img=col("path").url.download().image.decode())
      .filter((col("img").image.width() >= 512) & (col("label") == "cat"))
      .select("path", col("img").image.resize(64, 64).alias("thumb"))

With the optimizer on, the label test runs in the scan, only the cats are downloaded, their width
is read from the JPEG header, and only the 10% that pass are decoded (``header_predicates``,
``predicate_pushdown``, ``common_subexpression_elimination``, ``cheap_predicate_first``). Off
(``collect(optimize=False)``), every image is downloaded and decoded. Prints ratios and writes
``benchmarks/results/optimizer_bench.json``.

Usage: ``python benchmarks/optimizer_bench.py --n 10000 [--skip daft,ray_data] [--repeat 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WIDE, NARROW = (512, 384), (384, 288)


def corpus(n: int) -> tuple[list[str], list[str]]:
    """``n`` JPEGs, every other one wide (50%); every 5th is a cat (20%), so wide cats are 10%."""
    from PIL import Image

    d = ROOT / ".data" / f"optimizer_bench_{n}_{WIDE[0]}"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = {s: rng.integers(0, 255, (s[1] // 8, s[0] // 8, 3), dtype=np.uint8) for s in (WIDE, NARROW)}
    paths, labels = [], []
    for i in range(n):
        size = WIDE if i % 2 == 0 else NARROW
        p = d / f"img_{i:05d}.jpg"
        if not p.exists():
            im = Image.fromarray(np.roll(base[size], i, axis=1)).resize(size, Image.Resampling.BILINEAR)
            im.save(p, quality=85)
        paths.append(str(p))
        labels.append("cat" if i % 5 == 0 else "dog")
    return paths, labels


def thresher_query(paths: list[str], labels: list[str]):
    import thresher as th
    from thresher import col

    df = th.from_pydict({"path": paths, "label": labels})
    return (df.with_columns(img=col("path").url.download().image.decode())
            .filter((col("img").image.width() >= 512) & (col("label") == "cat"))
            .select("path", col("img").image.resize(64, 64).alias("thumb")))


def run_on(paths: list[str], labels: list[str]) -> int:
    return thresher_query(paths, labels).to_arrow().num_rows


def run_off(paths: list[str], labels: list[str]) -> int:
    return thresher_query(paths, labels).to_arrow(optimize=False).num_rows


def run_daft(paths: list[str], labels: list[str]) -> int:
    import daft
    from daft import col
    from daft import functions as F

    df = daft.from_pydict({"path": paths, "label": labels})
    df = df.with_column("img", F.decode_image(F.download(col("path"))))
    df = df.where((F.image_width(col("img")) >= 512) & (col("label") == "cat"))
    df = df.select(col("path"), F.resize(col("img"), 64, 64).alias("thumb"))
    return len(df.to_arrow())


def run_ray(paths: list[str], labels: list[str]) -> int:
    import io

    import ray
    from PIL import Image

    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        def decode(batch: dict) -> dict:
            imgs = []
            for p in batch["path"]:
                with open(p, "rb") as f:
                    im = Image.open(io.BytesIO(f.read()))
                    im.load()
                imgs.append(im)
            batch["width"] = np.array([im.size[0] for im in imgs])
            batch["thumb"] = np.array([np.asarray(im.convert("RGB").resize((64, 64))).tobytes() for im in imgs],
                                      dtype=object)
            return batch

        ds = ray.data.from_items([{"path": p, "label": lab} for p, lab in zip(paths, labels)])
        ds = ds.map_batches(decode, batch_size=64).filter(lambda r: r["width"] >= 512 and r["label"] == "cat")
        return ds.count()
    finally:
        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip", default="")
    args = ap.parse_args()
    paths, labels = corpus(args.n)
    import thresher as th

    explain = thresher_query(paths[:10], labels[:10]).explain(format="dict")
    runs = {"thresher_optimized": run_on, "thresher_unoptimized": run_off, "daft": run_daft, "ray_data": run_ray}
    results: dict[str, dict] = {}
    for name, fn in runs.items():
        if name in args.skip.split(","):
            continue
        times = []
        try:
            for _ in range(args.repeat if name.startswith("thresher") else 1):
                t = time.perf_counter()
                rows = fn(paths, labels)
                times.append(time.perf_counter() - t)
            results[name] = {"seconds": min(times), "all_seconds": times, "rows": rows}
        except Exception as exc:  # noqa: BLE001 - a peer that fails is reported, not fatal
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    base = results.get("thresher_optimized", {}).get("seconds")
    print(f"{'run':24} {'seconds':>9} {'rows':>7} {'x slower than optimized':>24}")
    for name, r in results.items():
        if "error" in r:
            print(f"{name:24} error: {r['error']}")
            continue
        ratio = r["seconds"] / base if base else float("nan")
        r["ratio_vs_optimized"] = round(ratio, 2)
        print(f"{name:24} {r['seconds']:9.2f} {r['rows']:7d} {ratio:24.2f}")
    out = ROOT / "benchmarks" / "results" / "optimizer_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "n": args.n, "cores": os.cpu_count(), "python": platform.python_version(), "thresher": th.__version__,
        "rules_fired": sorted({r["rule"] for r in explain["rules"]}), "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
