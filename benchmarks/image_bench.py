"""Image pipeline: JPEG files -> decode -> resize 224x224 (bilinear) -> JPEG q90 -> Parquet.

Every engine reads the same files and writes one Parquet dataset of (path, JPEG bytes); the check
(outside the timer) reads the dataset back: its row count and paths, and an 8x8 grid of mean
pixel values of 24 thumbnails, which must lie within 6 grey levels (mean absolute difference) of
the reference's. Same work on every side: quality 90 everywhere, bilinear 224x224 without keeping
the aspect ratio. The decode size differs by design and is stated per engine: Thresher's optimizer
and the hand-written loops decode at a reduced DCT scale (>= 224 px), Daft and Ray Data as written.

* ``thresher``: the DataFrame as a user writes it (``url.download -> image.decode -> resize ->
  encode -> write_parquet``), optimized by the rules in force.
* ``simplejpeg_mp``: the hand-written limit of Thresher's own codecs, a 2-process
  ``multiprocessing.Pool``: simplejpeg decode with DCT scaling (``min_width/min_height``), Pillow
  bilinear resize, simplejpeg encode; then one ``pq.write_table``.
* ``pillow_draft_mp``: the same loop with Pillow's draft mode for decode and Pillow's encoder.
* ``daft`` (0.7 functions API) and ``ray_data`` (``map_batches`` with Pillow draft). Daft 0.7's
  ``encode_image`` takes no quality and writes JPEG q75 (read back from its quantization tables):
  less work than q90, so its row favours Daft; the ``jpeg_quality`` column shows what each engine
  wrote (read from the output, not assumed). A Daft whose ``encode_image`` takes a quality gets 90.

Pools, ``ray.init`` and imports are start-up (reported apart), never in a round.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.harness import ROOT, Bench, Engine

SIZE = 224
QUALITY = 90
SAMPLE = 24


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    from thresher.testing.media import write_images

    folder = ROOT / ".data" / f"bench_images_{p['width']}x{p['height']}_{p['n']}"  # reused across runs
    paths = write_images(folder, p["n"], p["width"], p["height"])
    return {"_folder": str(folder), "_paths": paths}


def _out(state: dict[str, Any]) -> str:
    state["k"] = state.get("k", 0) + 1
    out = os.path.join(state["work"], f"out_{state['engine']}_{state['k']}")
    shutil.rmtree(out, ignore_errors=True)
    return out


def _base(p: dict[str, Any], engine: str) -> dict[str, Any]:
    return {"paths": p["_paths"], "pattern": os.path.join(p["_folder"], "*.jpg"), "work": p["workdir"],
            "engine": engine, "cpus": p["processes"]}


def check(state: dict[str, Any], case: str, out: str) -> dict[str, Any]:
    from PIL import Image

    t = pq.read_table(out).sort_by("path")
    shutil.rmtree(out, ignore_errors=True)
    paths = [os.path.basename(x) for x in t.column("path").to_pylist()]
    grids = []
    for b in t.column("image").to_pylist()[:SAMPLE]:
        if isinstance(b, dict):
            b = b.get("data")
        arr = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.float32)
        assert arr.shape[:2] == (SIZE, SIZE), arr.shape
        grids.append(arr.reshape(8, SIZE // 8, 8, SIZE // 8, 3).mean(axis=(1, 3)).round(1).tolist())
    state["jpeg_quality"] = _jpeg_quality(t.column("image")[0].as_py())
    return {"rows": t.num_rows, "paths": hash_list(paths), "grid": grids}


_QUALITY_TABLES: dict[tuple[int, ...], int] = {}


def _jpeg_quality(blob: Any) -> int | None:
    """The libjpeg quality whose luma quantization table the JPEG carries (None: not a standard one)."""
    from PIL import Image

    if isinstance(blob, dict):
        blob = blob.get("data")
    if not _QUALITY_TABLES:
        px = Image.new("RGB", (8, 8))
        for q in range(1, 101):
            buf = io.BytesIO()
            px.save(buf, format="JPEG", quality=q)
            _QUALITY_TABLES.setdefault(tuple(Image.open(buf).quantization[0]), q)
    return _QUALITY_TABLES.get(tuple(Image.open(io.BytesIO(blob)).quantization[0]))


def metrics(state: dict[str, Any], case: str, out: str) -> dict[str, Any]:
    return {"jpeg_quality": state.get("jpeg_quality")}


def hash_list(xs: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(xs).encode()).hexdigest()[:16]


def compare(ref: dict[str, Any], other: dict[str, Any]) -> bool:
    if ref["rows"] != other["rows"] or ref["paths"] != other["paths"]:
        return False
    return float(np.mean(np.abs(np.asarray(ref["grid"]) - np.asarray(other["grid"])))) <= 6.0


# --- thresher ------------------------------------------------------------------------------------
def _start_thresher(p: dict[str, Any]) -> dict[str, Any]:
    import thresher as th
    from thresher import col

    s = _base(p, "thresher")
    files = col("path").url.download()
    image = files.image.decode(mode="RGB").image.resize(SIZE, SIZE).image.encode("jpeg", QUALITY)
    s["df"] = th.from_glob_path(s["pattern"]).with_columns(image=image).select("path", "image")
    return s


def _run_thresher(state: dict[str, Any], case: str) -> str:
    out = _out(state)
    state["df"].write_parquet(out)
    return out


# --- hand-written loops --------------------------------------------------------------------------
def _simplejpeg_one(path: str) -> bytes:
    import simplejpeg
    from PIL import Image

    with open(path, "rb") as f:
        data = f.read()
    arr = simplejpeg.decode_jpeg(data, min_width=SIZE, min_height=SIZE)  # DCT scaling, >= 224 px
    im = Image.fromarray(arr).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return simplejpeg.encode_jpeg(np.asarray(im), quality=QUALITY)  # type: ignore[no-any-return]


def _pillow_one(path: str) -> bytes:
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (SIZE, SIZE))
        im = im.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=QUALITY)
        return buf.getvalue()


def _start_pool(p: dict[str, Any], engine: str) -> dict[str, Any]:
    from multiprocessing import get_context

    s = _base(p, engine)
    s["pool"] = get_context("fork").Pool(s["cpus"])
    s["pool"].map(abs, range(s["cpus"] * 4))  # the processes exist before the first round
    return s


def _run_pool(state: dict[str, Any], fn: Any) -> str:
    out = _out(state)
    data = state["pool"].map(fn, state["paths"], chunksize=16)
    os.makedirs(out)
    pq.write_table(pa.table({"path": state["paths"], "image": pa.array(data, pa.large_binary())}),
                   os.path.join(out, "part-0.parquet"))
    return out


def _start_simplejpeg(p: dict[str, Any]) -> dict[str, Any]:
    return _start_pool(p, "simplejpeg_mp")


def _start_pillow(p: dict[str, Any]) -> dict[str, Any]:
    return _start_pool(p, "pillow_draft_mp")


def _run_simplejpeg(state: dict[str, Any], case: str) -> str:
    return _run_pool(state, _simplejpeg_one)


def _run_pillow(state: dict[str, Any], case: str) -> str:
    return _run_pool(state, _pillow_one)


# --- peers ---------------------------------------------------------------------------------------
def _start_daft(p: dict[str, Any]) -> dict[str, Any]:
    import inspect

    import daft.functions as F

    s = _base(p, "daft")
    s["quality_kw"] = {"quality": QUALITY} if "quality" in inspect.signature(F.encode_image).parameters else {}
    return s


def _run_daft(state: dict[str, Any], case: str) -> str:
    import daft
    import daft.functions as F

    out = _out(state)
    df = daft.from_pydict({"path": state["paths"]})
    img = F.decode_image(F.download(daft.col("path")), mode="RGB")
    df = df.with_column("image", F.encode_image(F.resize(img, SIZE, SIZE), "JPEG", **state["quality_kw"]))
    df.select("path", "image").write_parquet(out)
    return out


def _ray_fn(batch: dict[str, Any]) -> dict[str, Any]:
    return {"path": batch["path"], "image": np.array([_pillow_one(p) for p in batch["path"]], dtype=object)}


def _start_ray(p: dict[str, Any]) -> dict[str, Any]:
    import ray

    ray.init(num_cpus=p["processes"], include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    return _base(p, "ray_data")


def _run_ray(state: dict[str, Any], case: str) -> str:
    import ray

    out = _out(state)
    ray.data.from_items([{"path": p} for p in state["paths"]]).map_batches(_ray_fn, batch_size=64).write_parquet(out)
    return out


BENCH = Bench(
    name="image",
    title="Image pipeline: JPEG -> 224x224 bilinear -> JPEG q90 -> Parquet",
    engines=(
        Engine("thresher", _start_thresher, _run_thresher, check, metrics=metrics, requires=("thresher",),
               note="DataFrame API, optimizer on (reduced-scale decode)"),
        Engine("simplejpeg_mp", _start_simplejpeg, _run_simplejpeg, check, metrics=metrics, requires=("simplejpeg", "PIL"),
               note="2-process loop: simplejpeg DCT-scaled decode, Pillow bilinear, simplejpeg q90"),
        Engine("pillow_draft_mp", _start_pillow, _run_pillow, check, metrics=metrics, requires=("PIL",),
               note="2-process loop: Pillow draft decode, bilinear, Pillow q90"),
        Engine("daft", _start_daft, _run_daft, check, metrics=metrics, requires=("daft",), group="daft",
               note="Daft 0.7 functions API, full-size decode, its encoder's fixed quality (see jpeg_quality)"),
        Engine("ray_data", _start_ray, _run_ray, check, metrics=metrics, requires=("ray",),
               note="map_batches with the Pillow draft function"),
    ),
    reference="simplejpeg_mp",
    baseline="simplejpeg_mp",
    units="images",
    quick={"n": 200, "width": 1024, "height": 768, "processes": 2, "rounds": 3},
    full={"n": 1000, "width": 1024, "height": 768, "processes": 2, "rounds": 7},
    prepare=prepare,
    count=lambda p: p["n"],
    compare=compare,
    notes="Ratio = simplejpeg_mp median / engine median (the goal for thresher is >= 1.0x). "
          "Outputs: same rows and paths, thumbnails within 6 grey levels of simplejpeg_mp's.",
)
