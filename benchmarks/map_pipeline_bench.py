"""Map-heavy pipeline: decode -> resize -> a class UDF running a small torch CNN on CPU -> Parquet.

Thresher (local and Ray executors) vs Ray Data and Daft on the same JPEGs, one run; prints
images/s, ratios and peak RSS of the process tree.

    python benchmarks/map_pipeline_bench.py --n 600
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil


def make_jpegs(d: Path, n: int) -> list[str]:
    from PIL import Image

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = d / f"img_{i:05d}.jpg"
        if not p.exists():
            small = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
            Image.fromarray(small).resize((640, 480), Image.BILINEAR).save(p, quality=90)
        paths.append(str(p))
    return paths


def tiny_cnn() -> Any:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3, stride=2), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 10),
    ).eval()


class Classifier:
    """Loads the model once per worker; classifies a batch of 112x112 RGB images."""

    def __init__(self) -> None:
        self.model = tiny_cnn()

    def run(self, arr: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0
            return self.model(x).argmax(1).numpy().astype(np.int64)


class PeakRSS:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> PeakRSS:
        self._t.start()
        return self

    def __exit__(self, *a: Any) -> None:
        self._stop.set()
        self._t.join()


def run_thresher(paths: list[str], out: str, runner: str) -> None:
    import thresher as th
    from thresher import col

    @th.udf(return_dtype="int64", batch=True, batch_format="python", concurrency=1, batch_size=64)
    class Classify:
        def __init__(self) -> None:
            self.c = Classifier()

        def __call__(self, images: list[Any]) -> list[int]:
            arr = np.stack([np.frombuffer(im["data"], np.uint8).reshape(im["height"], im["width"], 3) for im in images])
            return self.c.run(arr).tolist()

    df = (th.from_pydict({"path": paths})
          .with_columns(img=col("path").url.download().image.decode(mode="RGB").image.resize(112, 112))
          .with_columns(label=Classify(col("img")))
          .select("path", "label"))
    df.write_parquet(out, runner=runner)


def run_ray_data(paths: list[str], out: str) -> None:
    import ray
    from PIL import Image

    ds = ray.data.read_binary_files(paths, include_paths=True)

    def decode(batch: dict[str, Any]) -> dict[str, Any]:
        imgs = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB").resize((112, 112))) for b in batch["bytes"]]
        return {"path": batch["path"], "img": np.stack(imgs)}

    class RayClassify:
        def __init__(self) -> None:
            self.c = Classifier()

        def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
            return {"path": batch["path"], "label": self.c.run(batch["img"])}

    ds = ds.map_batches(decode, batch_size=64).map_batches(RayClassify, batch_size=64, concurrency=2)
    ds.write_parquet(out)


def run_daft(paths: list[str], out: str) -> None:
    import daft
    from PIL import Image

    @daft.udf(return_dtype=daft.DataType.int64(), batch_size=64, concurrency=1)
    class DaftClassify:
        def __init__(self) -> None:
            self.c = Classifier()

        def __call__(self, data: Any) -> list[int]:
            arr = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB").resize((112, 112)))
                            for b in data.to_pylist()])
            return self.c.run(arr).tolist()

    df = daft.from_pydict({"path": paths})
    df = df.with_column("bytes", daft.col("path").url.download() if hasattr(daft.col("path"), "url")
                        else daft.functions.download(daft.col("path")))
    df = df.with_column("label", DaftClassify(daft.col("bytes"))).select("path", "label")
    df.write_parquet(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--skip", default="")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "map_pipeline.json"))
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    os.environ.setdefault("THRESHER_PROGRESS", "0")
    paths = make_jpegs(Path(tempfile.gettempdir()) / "thresher_map_bench", args.n)
    runs = {"thresher-local": lambda o: run_thresher(paths, o, "local"),
            "thresher-ray": lambda o: run_thresher(paths, o, "ray"),
            "ray-data": lambda o: run_ray_data(paths, o), "daft": lambda o: run_daft(paths, o)}
    if any(k.startswith("ray") or k == "thresher-ray" for k in runs):
        from thresher.engine.ray import ensure_ray

        ensure_ray(num_cpus=os.cpu_count())
    res: dict[str, dict[str, float]] = {}
    for name, fn in runs.items():
        if name in skip:
            continue
        out = tempfile.mkdtemp()
        try:
            with PeakRSS() as rss:
                t0 = time.perf_counter()
                fn(out)
                dt = time.perf_counter() - t0
            res[name] = {"seconds": dt, "images_per_s": args.n / dt, "peak_rss_mb": rss.peak / 2**20}
            print(f"  {name}: {dt:.2f}s", flush=True)
        except Exception as exc:  # noqa: BLE001
            print(f"{name} failed: {str(exc).splitlines()[0][:120]}")
        finally:
            shutil.rmtree(out, ignore_errors=True)
    print(f"\n{args.n} JPEGs 640x480 -> decode -> 112x112 -> torch CNN (class UDF, 1 replica) -> Parquet")
    for name, r in res.items():
        print(f"  {name:<15}{r['seconds']:8.2f}s {r['images_per_s']:8.1f} img/s  peak RSS {r['peak_rss_mb']:7.0f} MB")
    for a, b in (("thresher-ray", "ray-data"), ("thresher-local", "daft"), ("thresher-local", "ray-data")):
        if a in res and b in res:
            print(f"  {a} / {b}: {res[a]['images_per_s'] / res[b]['images_per_s']:.2f}x throughput")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
