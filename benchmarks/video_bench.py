"""Video frame sampling benchmark: H.264 MP4s → 1 frame per second → 224×224 RGB.

Engines (each in its own process, so peak RSS is its own):

* ``thresher``: ``th.from_glob_path(...)`` → ``url.download()`` →
  ``video.frames(every_seconds=1, width=224, height=224)`` → ``explode`` → count rows.
* ``pyav_seek``: a hand-written loop that seeks to every second (PyAV lands on the keyframe before)
  and decodes forward to the first frame at or after it; one process per core over the videos.
* ``pyav_decode_all``: decodes every frame and keeps the first at or after each second; one process
  per core, ``thread_type="AUTO"``.
* ``pyav_seek_threaded``: the seek loop, one video after another, with FFmpeg frame threading
  (``thread_type="AUTO"``) on all cores.
* ``daft``: ``daft.functions.video_frames(..., sample_interval_seconds=1)`` (Daft 0.7) with explode.

Reports frames/s and peak RSS, and checks every engine returns one frame per second of video.

Usage: ``python benchmarks/video_bench.py [--n 6 --seconds 60] [--reps 3] [--skip daft]``
(``--seconds 20`` for a quick run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool

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


def pyav_seek(paths: list[str]) -> int:
    with Pool(os.cpu_count() or 2) as pool:
        return sum(pool.map(_frames_seek, paths, chunksize=1))


def pyav_decode_all(paths: list[str]) -> int:
    with Pool(os.cpu_count() or 2) as pool:
        return sum(pool.map(_frames_decode_all, paths, chunksize=1))


def pyav_seek_threaded(paths: list[str]) -> int:
    return sum(_frames_seek(p, threaded=True) for p in paths)


def thresher(paths: list[str]) -> int:
    import thresher as th
    from thresher import col

    folder = os.path.dirname(paths[0])
    df = th.from_glob_path(os.path.join(folder, "*.mp4")).select(
        col("path").url.download().video.frames(every_seconds=1, width=SIZE, height=SIZE).alias("frame")
    ).explode("frame")
    return sum(b.num_rows for b in df.iter_batches())


def daft_frames(paths: list[str]) -> int:
    import daft
    import daft.functions as F

    df = daft.from_pydict({"path": paths})
    df = df.with_column("frames", F.video_frames(F.video_file(daft.col("path")), width=SIZE, height=SIZE,
                                                 sample_interval_seconds=1.0))
    df = df.explode("frames").select("frames")
    return int(df.count_rows())


ENGINES = {"thresher": thresher, "pyav_seek": pyav_seek, "pyav_decode_all": pyav_decode_all,
           "pyav_seek_threaded": pyav_seek_threaded, "daft": daft_frames}


def _child(engine: str, paths: list[str]) -> None:
    """Run one engine once in this (fresh) process; print JSON with seconds, frames, peak RSS.

    The engine's imports happen before the clock starts.
    """
    import av  # noqa: F401

    if engine == "thresher":
        import polars  # noqa: F401 - thresher imports it lazily on the first plan

        from thresher.operators.kernels.registry import get_kernel

        get_kernel("video.frames")  # loads the kernel modules
    elif engine == "daft":
        import daft  # noqa: F401
    t = time.perf_counter()
    frames = ENGINES[engine](paths)
    secs = time.perf_counter() - t
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"seconds": secs, "frames": frames, "peak_rss_mb": rss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--reps", type=int, default=3, help="interleaved rounds; the best round counts")
    ap.add_argument("--skip", default="")
    ap.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "thresher_bench_videos"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    folder = os.path.join(args.data, f"{args.height}p_{args.seconds:g}s_{args.n}")
    if args.child:  # a fresh process that imports only what its engine needs
        _child(args.child, sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".mp4")))
        return
    from thresher.testing.media import write_videos

    write_videos(folder, args.n, seconds=args.seconds, width=args.width, height=args.height)
    skip = set(filter(None, args.skip.split(",")))
    engines = [e for e in ENGINES if e not in skip]
    runs: dict[str, list[dict]] = {e: [] for e in engines}
    errors: dict[str, str] = {}
    cmd = [sys.executable, os.path.abspath(__file__), "--n", str(args.n), "--seconds", str(args.seconds),
           "--width", str(args.width), "--height", str(args.height), "--data", args.data]
    for _ in range(args.reps):
        for e in engines:
            if e in errors:
                continue
            p = subprocess.run([*cmd, "--child", e], capture_output=True, text=True)
            lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
            if p.returncode or not lines:
                errors[e] = (p.stderr.strip().splitlines() or ["no output"])[-1][:300]
                continue
            runs[e].append(json.loads(lines[-1]))
    expected = args.n * int(round(args.seconds))
    results: dict[str, dict] = {}
    for e in engines:
        if e in errors:
            results[e] = {"error": errors[e]}
            continue
        secs = [r["seconds"] for r in runs[e]]
        best = min(secs)
        frames = runs[e][0]["frames"]
        results[e] = {"seconds_best": best, "seconds_median": statistics.median(secs), "frames": frames,
                      "frames_per_s": frames / best, "peak_rss_mb": max(r["peak_rss_mb"] for r in runs[e]),
                      "frames_ok": frames == expected}
    peers = [r["seconds_best"] for k, r in results.items() if k.startswith("pyav") and "error" not in r]
    best_loop = min(peers) if peers else None
    print(f"\nvideo frames: {args.n} x {args.seconds:g} s {args.height}p H.264 (GOP 2 s), 1 frame/s -> {SIZE}x{SIZE} RGB "
          f"({os.cpu_count()} cores, best of {args.reps})")
    print(f"{'engine':<20}{'s (best)':>10}{'frames':>8}{'frames/s':>10}{'peak RSS MB':>13}{'vs best loop':>14}")
    for e, r in results.items():
        if "error" in r:
            print(f"{e:<20}failed: {r['error'][:90]}")
            continue
        if best_loop:
            r["speedup_vs_best_loop"] = best_loop / r["seconds_best"]
        flag = "" if r["frames_ok"] else f"  (expected {expected})"
        print(f"{e:<20}{r['seconds_best']:>10.2f}{r['frames']:>8}{r['frames_per_s']:>10.1f}{r['peak_rss_mb']:>13.0f}"
              f"{r.get('speedup_vs_best_loop', float('nan')):>13.2f}x{flag}")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "video_bench.json"), "w") as f:
        json.dump({"n": args.n, "seconds": args.seconds, "size": [args.width, args.height], "cores": os.cpu_count(),
                   "python": platform.python_version(), "reps": args.reps, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
