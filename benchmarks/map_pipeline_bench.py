"""Map-heavy pipeline: decode -> resize 112x112 -> a class UDF running a small torch CNN -> Parquet.

Thresher (local and Ray executors) vs Ray Data and Daft on the same JPEGs (640x480). Each engine
is its own process (a Ray engine starts its own local Ray with every core during start-up); the
peak RSS is that process tree's (driver, Ray daemons and workers).

Same work: Thresher's optimizer decodes at a reduced DCT scale (``fuse_decode_resize``) while
the peers decode at full size, so Thresher is reported both ways: ``thresher_local`` (rules in
force) and ``thresher_local_fullsize`` (that rule off: full-size decode like the peers). The
check reads each written dataset back: the same paths, and the CNN's labels must agree on at least
90% of the images with the full-size Thresher run (resize filters differ slightly between
libraries, which can flip a label of this random-weight model).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import ROOT, Bench, Engine


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

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    # one file per read task is Ray Data's default for binary files; 64 images per block downstream
    ds = ray.data.read_binary_files(paths, include_paths=True, override_num_blocks=max(1, len(paths) // 64))

    def decode(batch: dict[str, Any]) -> dict[str, Any]:
        imgs = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB").resize((112, 112))) for b in batch["bytes"]]
        return {"path": batch["path"], "img": np.stack(imgs)}

    class RayClassify:
        def __init__(self) -> None:
            self.c = Classifier()

        def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
            return {"path": batch["path"], "label": self.c.run(batch["img"])}

    # the same shape as the Thresher plan: stateless decode tasks (1 CPU each) feeding ONE model
    # actor (1 CPU), so on a 2-CPU box one CPU decodes while the other classifies
    ds = (ds.map_batches(decode, batch_size=64, num_cpus=1)
          .map_batches(RayClassify, batch_size=64, concurrency=1, num_cpus=1))
    ds.write_parquet(out)


def run_daft(paths: list[str], out: str) -> None:
    import daft
    import daft.functions as F

    # Daft's native download, decode and resize (Rust), the model in a class UDF with one replica
    @daft.udf(return_dtype=daft.DataType.int64(), batch_size=64, concurrency=1)
    class DaftClassify:
        def __init__(self) -> None:
            self.c = Classifier()

        def __call__(self, images: Any) -> list[int]:
            arr = np.stack([np.asarray(im) for im in images.to_pylist()])
            return self.c.run(arr).tolist()

    df = daft.from_pydict({"path": paths})
    img = F.resize(F.decode_image(F.download(daft.col("path")), mode="RGB"), 112, 112)
    df = df.with_column("img", img.cast(daft.DataType.tensor(daft.DataType.uint8(), (112, 112, 3))))
    df = df.with_column("label", DaftClassify(daft.col("img"))).select("path", "label")
    df.write_parquet(out)


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    return {"_paths": make_jpegs(ROOT / ".data" / "map_bench_jpegs", p["n"])}


def _start(p: dict[str, Any], name: str) -> dict[str, Any]:
    os.environ.setdefault("THRESHER_PROGRESS", "0")
    return {"paths": p["_paths"], "work": p["workdir"], "name": name, "k": 0}


def _out(state: dict[str, Any]) -> str:
    state["k"] += 1
    out = os.path.join(state["work"], f"{state['name']}_{state['k']}")
    shutil.rmtree(out, ignore_errors=True)
    return out


def _start_local(p: dict[str, Any]) -> dict[str, Any]:
    return _start(p, "thresher_local")


def _start_local_full(p: dict[str, Any]) -> dict[str, Any]:
    import thresher as th

    th.set_optimizer(disabled=["fuse_decode_resize"])
    return _start(p, "thresher_local_fullsize")


def _start_ray(p: dict[str, Any], name: str) -> dict[str, Any]:
    from thresher.engine.ray import ensure_ray

    ensure_ray(num_cpus=os.cpu_count())  # the same local Ray for both Ray engines, before the clock
    return _start(p, name)


def _start_thresher_ray(p: dict[str, Any]) -> dict[str, Any]:
    return _start_ray(p, "thresher_ray")


def _start_ray_data(p: dict[str, Any]) -> dict[str, Any]:
    return _start_ray(p, "ray_data")


def _start_daft(p: dict[str, Any]) -> dict[str, Any]:
    return _start(p, "daft")


def _run_local(state: dict[str, Any], case: str) -> str:
    out = _out(state)
    run_thresher(state["paths"], out, "local")
    return out


def _run_thresher_ray(state: dict[str, Any], case: str) -> str:
    out = _out(state)
    run_thresher(state["paths"], out, "ray")
    return out


def _run_ray_data(state: dict[str, Any], case: str) -> str:
    out = _out(state)
    run_ray_data(state["paths"], out)
    return out


def _run_daft(state: dict[str, Any], case: str) -> str:
    out = _out(state)
    run_daft(state["paths"], out)
    return out


def _check(state: dict[str, Any], case: str, out: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    t = pq.read_table(out).sort_by("path")
    shutil.rmtree(out, ignore_errors=True)
    return {"paths": [os.path.basename(x) for x in t.column("path").to_pylist()],
            "labels": [int(x) for x in t.column("label").to_pylist()]}


def _compare(ref: dict[str, Any], other: dict[str, Any]) -> bool:
    if ref["paths"] != other["paths"]:
        return False
    agree = np.mean(np.asarray(ref["labels"]) == np.asarray(other["labels"])) if ref["labels"] else 1.0
    return bool(agree >= 0.9)


TH = ("thresher", "torch")
BENCH = Bench(
    name="map_pipeline",
    title="Map pipeline: decode -> 112x112 -> torch CNN class UDF -> Parquet",
    engines=(
        Engine("thresher_local", _start_local, _run_local, _check, requires=TH,
               note="rules in force: reduced-scale decode"),
        Engine("thresher_local_fullsize", _start_local_full, _run_local, _check, requires=TH,
               note="fuse_decode_resize off: full-size decode like the peers"),
        Engine("thresher_ray", _start_thresher_ray, _run_thresher_ray, _check, requires=(*TH, "ray")),
        Engine("ray_data", _start_ray_data, _run_ray_data, _check, requires=("ray", "torch")),
        Engine("daft", _start_daft, _run_daft, _check, requires=("daft", "torch"), group="daft"),
    ),
    reference="thresher_local_fullsize",
    baseline="ray_data",
    units="images",
    quick={"n": 96, "rounds": 2},
    full={"n": 600, "rounds": 3},
    prepare=prepare,
    count=lambda p: p["n"],
    compare=_compare,
    notes="Ratio = Ray Data median / engine median.",
)
