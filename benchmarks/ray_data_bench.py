"""Thresher on Ray vs Ray Data: the map-heavy pipeline and the image pipeline, same cluster shape.

Two cases, the pipelines of ``map_pipeline_bench`` and ``image_bench`` (their code is reused, so
the work is exactly theirs):

* ``map``: JPEG (640x480) -> decode -> resize 112x112 -> a small torch CNN in a class UDF (one
  actor, 1 CPU) -> Parquet. Same work: both decode at full size (Thresher's
  ``fuse_decode_resize`` rule is switched off in this case, as Ray Data cannot decode at a
  reduced scale through Pillow's ``open().convert()``). Check: the same paths, labels agree on
  >= 90% of the images (resize filters differ a little between libraries).
* ``image``: JPEG (1024x768) -> decode -> 224x224 bilinear -> JPEG q90 -> Parquet. Both decode at a
  reduced DCT scale (Thresher's optimizer; Ray Data through Pillow's draft mode). Check: rows,
  paths, and thumbnails within 6 grey levels.

Each engine runs in its own process with its own local Ray started with every core in its
``start`` hook (outside the timer, reported as start-up); the same warm-up and interleaved rounds
(``benchmarks/harness.py``). Ratio = Ray Data median / Thresher-on-Ray median (> 1: Thresher faster).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks import image_bench as img
from benchmarks import map_pipeline_bench as mp
from benchmarks.harness import ROOT, Bench, Engine


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    from thresher.testing.media import write_images

    folder = ROOT / ".data" / f"bench_images_{p['width']}x{p['height']}_{p['n_image']}"  # shared with image_bench
    return {"_map_paths": mp.make_jpegs(ROOT / ".data" / "map_bench_jpegs", p["n_map"]),
            "_image_folder": str(folder), "_image_paths": write_images(folder, p["n_image"], p["width"], p["height"])}


def _start(p: dict[str, Any], engine: str) -> dict[str, Any]:
    os.environ.setdefault("THRESHER_PROGRESS", "0")
    from thresher.engine.ray_runtime import ensure_ray

    ensure_ray(num_cpus=os.cpu_count())  # the same quiet local Ray for both engines, before the clock
    return {"engine": engine, "work": p["workdir"], "k": 0, "map_paths": p["_map_paths"],
            "paths": p["_image_paths"], "pattern": os.path.join(p["_image_folder"], "*.jpg"), "cpus": os.cpu_count()}


def _start_thresher(p: dict[str, Any]) -> dict[str, Any]:
    return _start(p, "thresher_ray")


def _start_ray_data(p: dict[str, Any]) -> dict[str, Any]:
    import ray

    s = _start(p, "ray_data")
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    return s


def _out(state: dict[str, Any]) -> str:
    state["k"] += 1
    return os.path.join(state["work"], f"{state['engine']}_{state['k']}")


def _run_thresher(state: dict[str, Any], case: str) -> str:
    import thresher as th
    from thresher import col

    out = _out(state)
    if case == "map":
        th.set_optimizer(disabled=["fuse_decode_resize"])  # full-size decode, like Ray Data's
        mp.run_thresher(state["map_paths"], out, "ray")
    else:
        th.set_optimizer(disabled=[])
        image = (col("path").url.download().image.decode(mode="RGB").image.resize(img.SIZE, img.SIZE)
                 .image.encode("jpeg", img.QUALITY))
        th.from_glob_path(state["pattern"]).with_columns(image=image).select("path", "image").write_parquet(
            out, runner="ray")
    return out


def _run_ray_data(state: dict[str, Any], case: str) -> str:
    if case != "map":
        return str(img._run_ray(state, case))  # image_bench's own Ray Data pipeline and output folder
    out = _out(state)
    mp.run_ray_data(state["map_paths"], out)
    return out


def _check(state: dict[str, Any], case: str, out: str) -> dict[str, Any]:
    if case == "map":
        return {"case": "map", **mp._check(state, case, out)}
    return {"case": "image", **img.check(state, case, out)}


def _compare(ref: dict[str, Any], other: dict[str, Any]) -> bool:
    if ref["case"] != other["case"]:
        return False
    strip = lambda d: {k: v for k, v in d.items() if k != "case"}  # noqa: E731
    return mp._compare(strip(ref), strip(other)) if ref["case"] == "map" else img.compare(strip(ref), strip(other))


BENCH = Bench(
    name="ray_data",
    title="Thresher on Ray vs Ray Data: map-heavy (torch CNN) and image pipelines",
    engines=(
        Engine("thresher_ray", _start_thresher, _run_thresher, _check, requires=("thresher", "ray", "torch"),
               note="runner='ray'; map case: fuse_decode_resize off (full-size decode like Ray Data)"),
        Engine("ray_data", _start_ray_data, _run_ray_data, _check, requires=("ray", "torch"),
               note="map_batches: decode tasks + one model actor (map); Pillow draft decode (image)"),
    ),
    reference="ray_data",
    baseline="ray_data",
    units="images",
    quick={"n_map": 96, "n_image": 96, "width": 1024, "height": 768, "rounds": 2},
    full={"n_map": 600, "n_image": 600, "width": 1024, "height": 768, "rounds": 5},
    prepare=prepare,
    cases=lambda p: ["map", "image"],
    count=lambda p: p["n_map"],
    compare=_compare,
    notes="Ratio = Ray Data median / Thresher-on-Ray median (> 1: Thresher faster). Both engines start their own "
          "local Ray with every core outside the timer.",
)
