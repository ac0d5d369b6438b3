"""Video frame sampling: H.264 MP4s -> 1 frame per second -> 224x224 RGB.

Engines (each its own process, so the memory is its own; pools are start-up):

* ``thresher``: ``th.from_glob_path(...)`` -> ``url.download()`` ->
  ``video.frames(every_seconds=1, width=224, height=224)`` -> ``explode``, batches consumed.
* ``thresher_list``: the same with the ``stream_video_frames`` rule off (a list per video).
* ``thresher_1thread``: ``thresher`` with ``th.config(kernel_threads=1)``: one video at a time on
  one decoder thread (the default gives a video up to 4 decoder threads, here both cores: slice
  threads, as these videos have 2 slices per frame, frame threads on a one-slice stream).
* ``pyav_seek_1p``: a hand-written loop that seeks to every second (PyAV lands on the keyframe
  before) and decodes forward to the first frame at or after it, one video after another in one
  process; ``pyav_seek_mp``: the same loop on a 2-process pool; ``pyav_decode_all_mp``: decode
  every frame, keep the first at or after each second, 2 processes.
* ``pyav_seek_1p_same_imports``: ``pyav_seek_1p`` in a process that has first imported what the
  ``thresher`` worker holds before its first round (thresher, hence PyArrow) and made a first
  conversion: the control that separates library footprint from working memory.
* ``daft``: ``daft.functions.video_frames(..., sample_interval_seconds=1)`` with explode.

Memory: the worker's RSS plus each child's USS, sampled every 20 ms over the round (the peak and
the growth above the start of the round). The check is the number of frames per video (one per
second of video for every engine). Goals: thresher peak <= 1.5x ``pyav_seek_1p``'s at >= 1.2x
its speed.

Where thresher's memory goes (720p, 2 cores; RSS split into anonymous and file-backed pages from
/proc/self/smaps after each step and at the sampled peak, tracemalloc for the modules, A/B runs
of the worker under ``MIMALLOC_ALLOW_THP``/``MALLOC_ARENA_MAX``/batch-size settings). The metric
is the worker's RSS for every single-process engine, so shared-library pages count alike on both
sides (a page of libarrow or libavcodec counts once it is mapped, whoever else maps it). Step by
step, in one process without the harness's threads (MiB):

==============================  ==============  ==============
step                            pyav_seek_1p    thresher
==============================  ==============  ==============
interpreter, harness, psutil    17.6            17.6
NumPy                           +12.0           +12.0
PyAV                            +16.6           +16.6
PyArrow                                         +25.1
``import thresher``                             +3.3
engine, first (tiny) video      +7.2            +11.2
720p decoding, to the peak      +12.6           +16.2
peak                            66.0            102.1
==============================  ==============  ==============

* PyArrow 25.1: 22.9 of it file-backed pages of its libraries, mapped on import (libarrow 11.9,
  libparquet 2.9, pyarrow.lib 2.4, libarrow_substrait 2.1, libarrow_compute 1.6, libarrow_python
  1.0, libarrow_dataset 0.7, libarrow_acero 0.6: pyarrow.lib links them all; libarrow's text
  alone is 6.8, touched by its static initializers), the rest its Python objects;
* ``import thresher`` 3.3 (~1.9 MiB of Python objects, tracemalloc);
* the engine 4.0 over the plain loop's first video (the decoder's code pages, 5.3, count on both
  sides): ~2.3 of modules (112 planner, optimizer, engine and operator modules) and ~2.2 of
  Arrow code pages touched by building batches (libarrow, pyarrow.lib, libarrow_python);
* decoding 3.6 more than the plain loop: a second FFmpeg frame thread (``thresher_1thread``:
  ~3-4 MiB less, and the speed of one core) and the batch being cut. (The table is from before
  the changes below that took 104 -> 99.5 MiB.)

The corpus is written by PyAV's default (slice-threaded) x264, one slice per encoder thread: 2
per frame on 2 cores, more on a bigger machine. Both sides decode the same files: the plain loop
with FFmpeg's default slice threads (one per core), thresher with two slice threads when a frame
has at least two slices (frame threads otherwise, as on the usual one-slice x264 stream).

Taken out of this path (before -> after, peak in the harness): ``pyarrow.compute`` and its
function registry, 9 MiB (imported lazily; the fan-out repeats its input columns by slicing, not
``take``; this consumer counts paths with a Counter, not ``pc.value_counts``); ``numpy.ma``, 1 MiB
(``pa.array(ndarray)`` imports it: image columns are built with ``Array.from_buffers``); mimalloc's
arena on transparent huge pages, 2-4 MiB (a 2 MiB page is resident whole: ``import thresher``
sets ``MIMALLOC_ALLOW_THP=0`` before PyArrow loads; TPC-H SF 1 CPU time 0.99x); fan-out batches cut
at 256 KiB instead of 1 MiB, ~1 MiB; the dedup and window operators, random and difflib imported
where used, ~0.5. Then (harness peaks, ``--rounds 5``/``7``): slice threads instead of frame
threads on a stream with enough slices per frame (a frame thread holds a decoder context and a
frame of delay: 104 -> 101); one swscale context per video on the decoding thread instead of a
context per frame, each starting a thread per core (101 -> 100.0); join-only optimizer rules
skipped (not imported) on a join-free plan, the Polars lowering imported where a relational stage
is lowered, no difflib behind ``from thresher.config import ...`` (~0.5 MiB of modules, 100.0 ->
99.5-99.9); the decoder drained after a target's packet when the next target is past a keyframe
(no memory change: 40 fewer packets decoded per run, decode CPU -7%); freed pages trimmed before
each video too, not only after (what planning freed stayed resident under the first video's
pictures: -0.3 to -1); glibc's arenas capped at two per core on ``import thresher`` (each run's
threads spread over ~6 arenas on 2 cores, each keeping scattered live blocks: 99.4 -> 97.5).
Earlier: pandas (~40 MiB, ``thresher._lazy``), asyncio (~5), ``pyarrow.fs`` (~7), hashlib
(OpenSSL, ~3.5); glibc's mmap threshold pinned at 128 KiB on the first video and freed pages
trimmed after each (otherwise settled RSS grew ~10 MiB per round).

Tried and left: capping glibc's arenas harder (``mallopt(M_ARENA_MAX)`` at import, 1-2 arenas:
-2 MiB here, but the image benchmark ran ~10% slower on contended arenas; two per core, kept
above, left the image and audio benchmarks' speed as it was; set at the first video: -0.5); the
system allocator for Arrow (same as mimalloc without huge pages, again within noise after the
changes above, as is ``MIMALLOC_PURGE_DELAY=0``); a gc.collect() after planning (within noise);
error concealment off (``ec=0``: the same decoder memory). Measured and left as they are: the
decoder's own pictures (heaptrack at the peak: 7.1 MiB in 5 pictures of the frame pool, 2.3 in
their per-picture tables, re-made after every seek) are what the plain loop holds too; Python's
allocator (15 arenas, 0.6 MiB free in them); xxhash for glob partition ids (0.18 MiB; the ids are
part of a checkpoint's identity); the jemalloc background thread PyArrow starts (no RSS).

What is left: 1.5x the plain loop's 66-67 MiB is 33 MiB above it, and PyArrow plus ``import
thresher`` take 28.4 of them before any work. ``pyav_seek_1p_same_imports`` (the plain loop with
those imports, arena cap included) peaks at 96.4-97 MiB, 1.43-1.45x, by itself; thresher is
~1-2.5 MiB above it at the peak: ~1.9 of file-backed pages that running the engine touches
(libarrow 0.9, pyarrow.lib 0.4, libarrow_python 0.25, NumPy 0.25, xxhash 0.16) and ~0.5 of
Python (the engine's modules), less the decode memory it saves by skipping non-reference frames.

Measured (quick settings, interleaved rounds, medians; the harness's peak is the largest of the
rounds): 188 MiB at first; 128 after the pandas, asyncio, pyarrow.fs and arena changes; 119-120
after hashlib and 4 MiB batches left the path, at 1.7-2.8x pyav_seek_1p's speed; 104 (1.55x) in
two runs of ``--rounds 7`` on a machine at load 14, at 1.85x and 2.21x its speed (paired 1.81x
and 2.35x), with pyav_seek_1p at 67, the same-imports loop at 98 and thresher_1thread at 100-101
MiB. After the changes above (``--rounds 7``, load 2-5): 97.5 and 97.8 MiB in two runs, with
pyav_seek_1p at 67.2 and 68.3 (1.45x and 1.43x; its own peak moves 66.3-68.3 MiB between runs)
at 2.08x and 1.83x its speed (paired 2.06x and 1.76x); the same-imports loop 96.4-96.5,
thresher_1thread 97.2.
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
               requires=("av", "thresher"), note="pyav_seek_1p after importing thresher (PyArrow)"),
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
