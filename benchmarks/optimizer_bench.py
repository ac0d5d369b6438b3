"""Filter-before-decode: the media-aware optimizer on vs off, and the same pipeline in Daft and Ray Data.

Workload: ``--n`` small JPEGs (generated with Pillow, cached under ``.data/``), a label column; keep
the cats whose image is at least 512 px wide (10% of rows), make 64×64 thumbnails::

    df.with_columns(img=col("path").url.download().image.decode())
      .filter((col("img").image.width() >= 512) & (col("label") == "cat"))
      .select("path", col("img").image.resize(64, 64).alias("thumb"))

With the optimizer on, the label test runs in the scan, only the cats are downloaded, their width
is read from the JPEG header, and only the 10% that pass are decoded (``header_predicates``,
``predicate_pushdown``, ``common_subexpression_elimination``, ``cheap_predicate_first``). Off
(``collect(optimize=False)``), every image is downloaded and decoded. The kept paths of every
engine are compared with the optimized run's before a time counts; ``ray.init`` is Ray Data's
start-up, reported apart.

Usage: ``python -m benchmarks optimizer [--full] [--engines daft,ray_data]``
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import Bench, Engine

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


def run_on(paths: list[str], labels: list[str]) -> list[str]:
    return thresher_query(paths, labels).to_arrow().column("path").to_pylist()  # type: ignore[no-any-return]


def run_off(paths: list[str], labels: list[str]) -> list[str]:
    return thresher_query(paths, labels).to_arrow(optimize=False).column("path").to_pylist()  # type: ignore[no-any-return]


def run_daft(paths: list[str], labels: list[str]) -> list[str]:
    import daft
    from daft import col
    from daft import functions as F

    df = daft.from_pydict({"path": paths, "label": labels})
    df = df.with_column("img", F.decode_image(F.download(col("path"))))
    df = df.where((F.image_width(col("img")) >= 512) & (col("label") == "cat"))
    df = df.select(col("path"), F.resize(col("img"), 64, 64).alias("thumb"))
    return df.to_arrow().column("path").to_pylist()  # type: ignore[no-any-return]


def run_ray(paths: list[str], labels: list[str]) -> list[str]:
    import io

    import ray
    from PIL import Image

    def decode(batch: dict) -> dict:  # ray.init ran in the engine's start-up
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
    return [r["path"] for r in ds.select_columns(["path"]).take_all()]


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    paths, labels = corpus(p["n"])
    return {"_paths": paths, "_labels": labels}


def _start(p: dict[str, Any]) -> dict[str, Any]:
    return {"paths": p["_paths"], "labels": p["_labels"]}


def _start_ray(p: dict[str, Any]) -> dict[str, Any]:
    import ray

    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray.data.DataContext.get_current().enable_progress_bars = False
    return _start(p)


def _runner(fn: Any) -> Any:
    return lambda state, case: fn(state["paths"], state["labels"])


def _check(state: dict[str, Any], case: str, out: list[str]) -> dict[str, Any]:
    import hashlib

    names = sorted(os.path.basename(x) for x in out)
    return {"rows": len(names), "paths": hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]}


BENCH = Bench(
    name="optimizer",
    title="Filter before decode: optimizer on vs off, Daft, Ray Data",
    engines=(
        Engine("thresher_optimized", _start, _runner(run_on), _check, requires=("thresher",)),
        Engine("thresher_unoptimized", _start, _runner(run_off), _check, requires=("thresher",),
               note="collect(optimize=False)"),
        Engine("daft", _start, _runner(run_daft), _check, requires=("daft",), group="daft"),
        Engine("ray_data", _start_ray, _runner(run_ray), _check, requires=("ray",)),
    ),
    reference="thresher_optimized",
    baseline="thresher_unoptimized",
    units="images",
    quick={"n": 1000, "rounds": 3},
    full={"n": 10000, "rounds": 5},
    prepare=prepare,
    count=lambda p: p["n"],
    notes="Ratio = unoptimized median / engine median; kept paths compared with the optimized run's.",
)
