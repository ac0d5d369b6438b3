"""Video frame sampling: H.264 MP4s -> 1 frame per second -> 224x224 RGB.

Engines (each its own process, so the memory is its own; pools are start-up):

* ``thresher``: ``th.from_glob_path(...)`` -> ``url.download()`` ->
  ``video.frames(every_seconds=1, width=224, height=224)`` -> ``explode``, batches consumed.
* ``thresher_list``: the same with the ``stream_video_frames`` rule off (a list per video).
* ``thresher_1thread``: ``thresher`` with ``th.config(kernel_threads=1)``: one video at a time on
  one decoder thread (the default gives a video up to 4 frame threads, here both cores).
* ``pyav_seek_1p``: a hand-written loop that seeks to every second (PyAV lands on the keyframe
  before) and decodes forward to the first frame at or after it, one video after another in one
  process; ``pyav_seek_mp``: the same loop on a 2-process pool; ``pyav_decode_all_mp``: decode
  every frame, keep the first at or after each second, 2 processes.
* ``pyav_seek_1p_same_imports``: ``pyav_seek_1p`` in a process that has first imported what the
  ``thresher`` worker holds before its first round (thresher, hence PyArrow and its compute module)
  and made a first conversion: the control that separates library footprint from working memory.
* ``daft``: ``daft.functions.video_frames(..., sample_interval_seconds=1)`` with explode.

Memory: the worker's RSS plus each child's USS, sampled every 20 ms over the round (the peak and
the growth above the start of the round). The check is the number of frames per video (one per
second of video for every engine). Goals: thresher peak <= 1.5x ``pyav_seek_1p``'s at >= 1.2x
its speed.

Where thresher's memory goes (720p, 2 cores; VmRSS after each import, /proc/self/smaps and
smaps_rollup at the sampled peak, malloc_info, ``MALLOC_ARENA_MAX``/``ARROW_DEFAULT_MEMORY_POOL``/
``MIMALLOC_ALLOW_THP`` runs). The metric is the worker's RSS for every single-process engine, so
shared-library pages count alike on both sides (a page of libarrow or libavcodec counts once it
is mapped, whoever else maps it). The plain loop's 67 MiB: a 13 MiB interpreter with the
harness's modules, NumPy 14, PyAV 18, then ~20 for decoding (decoder buffers, swscale, the H.264
code touched). Thresher's worker adds, over that:

* PyArrow 25 MiB and ``pyarrow.compute`` 9 (mostly library pages: libarrow's text touched at
  load, its relocations, the compute function registry; a fixed cost of any Arrow process);
* ``import thresher`` 4 (28 modules) and the engine, planner and kernel modules a run imports 4.5;
* 4 MiB for the first Arrow allocation (also the consumer's ``pc.value_counts``): mimalloc, the
  default pool, backs its arena with two transparent huge pages (``MIMALLOC_ALLOW_THP=0`` or the
  system pool saves them, process-wide, against TLB misses on big buffers: left as it is);
* a second FFmpeg frame thread, 3 MiB (``thresher_1thread``: 117 vs 120 MiB, ~40% slower);
* the batch being cut (yielded frames and the Arrow column built from them), ~2 MiB.

PyArrow would import pandas (~40 MiB) on its first conversion of a Python value;
``thresher._lazy`` keeps it out until something else imports pandas, and a local-files job loads
neither asyncio (~5 MiB), ``pyarrow.fs`` (~7 MiB) nor hashlib (OpenSSL, ~3.5 MiB). glibc's mmap
threshold is pinned at 128 KiB on the first video and freed pages are trimmed after each: otherwise
freed decoder buffers stayed in per-thread arenas and settled RSS grew ~10 MiB per round.
``pyav_seek_1p_same_imports`` is the plain loop with thresher's libraries loaded (no Arrow
allocation, no engine): 105 MiB, already 1.57x ``pyav_seek_1p``'s peak. With PyArrow, its compute
module and thresher imported (83 MiB) the goal (<= 1.5x, ~100 MiB) leaves ~17 MiB for decoding
and the engine, where the plain loop itself takes ~20 to decode.

Measured (quick settings, interleaved rounds, medians): 188 MiB at first, 128 after the pandas,
asyncio, pyarrow.fs and arena changes (pyav_seek_1p 66-67, same-imports loop 106), 120 after
hashlib and 4 MiB flatmap batches left the path (1 MiB now), at 1.7-2.8x pyav_seek_1p's speed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, Bench, Engine

SIZE = 224


def _frames_seek(path: str, threaded: bool = False) -> int:
    import av

    n = 0
    with av.open(path) as c:
        vs = c.streams.video[0]
        if threaded:
            vs.thread_type = "AUTO"
        tb = vs.time_base
        duration = float(vs.duration * tb) if vs.duration else c.duration / 1e6
        t = 0.0
        while t < duration - 1e-6:
            c.seek(int(t / tb), stream=vs, backward=True, any_frame=False)
            for frame in c.decode(vs):
                if frame.pts is not None and frame.pts * tb >= t - 1e-6:
                    frame.to_ndarray(format="rgb24", width=SIZE, height=SIZE)
                    n += 1
                    break
            t += 1.0
    return n


def _frames_decode_all(path: str) -> int:
    import av

    n = 0
    with av.open(path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        tb = vs.time_base
        nxt = 0.0
        for frame in c.decode(vs):
            if frame.pts is not None and frame.pts * tb >= nxt - 1e-6:
                frame.to_ndarray(format="rgb24", width=SIZE, height=SIZE)
                n += 1
                nxt += 1.0
    return n


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    from thresher.testing.media import write_videos

    folder = ROOT / ".data" / f"bench_videos_{p['height']}p_{p['seconds']:g}s_{p['n']}"
    return {"_paths": write_videos(folder, p["n"], seconds=p["seconds"], width=p["width"], height=p["height"])}


def _start_thresher(p: dict[str, Any], stream: bool = True) -> dict[str, Any]:
    import thresher as th
    from thresher import col

    th.set_optimizer(disabled=[] if stream else ["stream_video_frames"])
    folder = os.path.dirname(p["_paths"][0])
    df = th.from_glob_path(os.path.join(folder, "*.mp4")).select(
        "path", col("path").url.download().video.frames(every_seconds=1, width=SIZE, height=SIZE).alias("frame")
    ).explode("frame").select("path")
    return {"df": df, "paths": p["_paths"]}


def _start_thresher_list(p: dict[str, Any]) -> dict[str, Any]:
    return _start_thresher(p, stream=False)


def _start_thresher_1thread(p: dict[str, Any]) -> dict[str, Any]:
    import thresher as th

    th.config(kernel_threads=1)  # one decoder thread: the trade of the second frame thread, measured
    return _start_thresher(p)


def _run_thresher(state: dict[str, Any], case: str) -> list[int]:
    from collections import Counter

    counts: Counter[str] = Counter()
    for b in state["df"].iter_batches():
        # (a Counter of the path column, not pc.value_counts: the job itself loads no
        # pyarrow.compute, ~9 MiB, and to_numpy of strings would load pandas)
        counts.update(b.column(0).to_pylist())
    return [counts.get(p, 0) for p in state["paths"]]


def _start_plain(p: dict[str, Any]) -> dict[str, Any]:
    return {"paths": p["_paths"]}


def _start_pool(p: dict[str, Any]) -> dict[str, Any]:
    from multiprocessing import get_context

    pool = get_context("fork").Pool(p["processes"])
    pool.map(abs, range(8))
    return {"paths": p["_paths"], "pool": pool}


def _start_same_imports(p: dict[str, Any]) -> dict[str, Any]:
    import thresher  # noqa: F401, I001 - first, as in the thresher worker (it sets PyArrow's allocator options)

    import av  # noqa: F401
    import numpy as np
    import pyarrow as pa

    pa.array(np.arange(1))  # a first conversion (PyArrow's pandas probe), as in the thresher worker
    return {"paths": p["_paths"]}


def _run_seek_1p(state: dict[str, Any], case: str) -> list[int]:
    return [_frames_seek(p) for p in state["paths"]]


def _run_seek_mp(state: dict[str, Any], case: str) -> list[int]:
    return state["pool"].map(_frames_seek, state["paths"], chunksize=1)  # type: ignore[no-any-return]


def _run_decode_all_mp(state: dict[str, Any], case: str) -> list[int]:
    return state["pool"].map(_frames_decode_all, state["paths"], chunksize=1)  # type: ignore[no-any-return]


def _run_daft(state: dict[str, Any], case: str) -> list[int]:
    import daft
    import daft.functions as F

    df = daft.from_pydict({"path": state["paths"]})
    df = df.with_column("frames", F.video_frames(F.video_file(daft.col("path")), width=SIZE, height=SIZE,
                                                 sample_interval_seconds=1.0))
    t = df.explode("frames").select("path").to_arrow()
    names = t.column("path").to_pylist()
    return [names.count(p) for p in state["paths"]]


def _check(state: dict[str, Any], case: str, out: list[int]) -> list[int]:
    return [int(x) for x in out]


BENCH = Bench(
    name="video",
    title="Video: H.264 -> 1 frame/s -> 224x224 RGB",
    engines=(
        Engine("thresher", _start_thresher, _run_thresher, _check, requires=("thresher", "av")),
        Engine("thresher_list", _start_thresher_list, _run_thresher, _check, requires=("thresher", "av"),
               note="stream_video_frames off"),
        Engine("thresher_1thread", _start_thresher_1thread, _run_thresher, _check, requires=("thresher", "av"),
               note="th.config(kernel_threads=1): one decoder thread"),
        Engine("pyav_seek_1p", _start_plain, _run_seek_1p, _check, requires=("av",)),
        Engine("pyav_seek_1p_same_imports", _start_same_imports, _run_seek_1p, _check,
               requires=("av", "thresher"), note="pyav_seek_1p after importing thresher (PyArrow, pandas)"),
        Engine("pyav_seek_mp", _start_pool, _run_seek_mp, _check, requires=("av",)),
        Engine("pyav_decode_all_mp", _start_pool, _run_decode_all_mp, _check, requires=("av",)),
        Engine("daft", _start_plain, _run_daft, _check, requires=("daft",), group="daft"),
    ),
    reference="pyav_seek_1p",
    baseline="pyav_seek_1p",
    units="videos",
    quick={"n": 4, "seconds": 10.0, "width": 1280, "height": 720, "processes": 2, "rounds": 3},
    full={"n": 6, "seconds": 60.0, "width": 1280, "height": 720, "processes": 2, "rounds": 5},
    prepare=prepare,
    count=lambda p: p["n"],
    notes="Ratio = pyav_seek_1p median / engine median; compare peak RSS in the last column (goal: thresher "
          "<= 1.5x pyav_seek_1p's at >= 1.2x its speed).",
)
