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

* ``thresher_list``: the same query with the ``stream_video_frames`` rule off (a list of frames
  per video, then ``explode``), to show what the streaming rewrite changes.

Reports frames/s and memory, and checks every engine returns one frame per second of video.
Memory is sampled every 10 ms over the engine's whole process tree: the footprint is this
process's RSS plus each worker process's USS (pages only it holds: a forked worker shares the
parent's imported libraries, so summing RSS would count them twice). ``baseline`` is the RSS
after the engine's imports and a warm-up on a 1-second clip (every engine loads its lazy modules
and codecs before the clock starts); ``peak`` is the highest footprint (at least the process's
``ru_maxrss``), ``growth`` = peak − baseline: what the run itself needs beyond a loaded engine.

Usage: ``python benchmarks/video_bench.py [--n 6 --seconds 60] [--reps 3] [--skip daft]``
(``--seconds 20`` for a quick run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


def thresher(paths: list[str], stream: bool = True) -> int:
    import thresher as th
    from thresher import col

    th.set_optimizer(disabled=[] if stream else ["stream_video_frames"])
    folder = os.path.dirname(paths[0])
    df = th.from_glob_path(os.path.join(folder, "*.mp4")).select(
        col("path").url.download().video.frames(every_seconds=1, width=SIZE, height=SIZE).alias("frame")
    ).explode("frame")
    return sum(b.num_rows for b in df.iter_batches())


def thresher_list(paths: list[str]) -> int:
    return thresher(paths, stream=False)


def daft_frames(paths: list[str]) -> int:
    import daft
    import daft.functions as F

    df = daft.from_pydict({"path": paths})
    df = df.with_column("frames", F.video_frames(F.video_file(daft.col("path")), width=SIZE, height=SIZE,
                                                 sample_interval_seconds=1.0))
    df = df.explode("frames").select("frames")
    return int(df.count_rows())


ENGINES = {"thresher": thresher, "thresher_list": thresher_list, "pyav_seek": pyav_seek,
           "pyav_decode_all": pyav_decode_all, "pyav_seek_threaded": pyav_seek_threaded, "daft": daft_frames}

MB = 1 << 20


def _rss_self() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _hwm_self() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class _MemorySampler:
    """Peak footprint of this process tree: own RSS + each child's USS, every ``interval`` s."""

    def __init__(self, interval: float = 0.01) -> None:
        import threading

        import psutil

        self._me = psutil.Process()
        self._psutil = psutil
        self._interval = interval
        self._stop = threading.Event()
        self.peak = _rss_self()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> int:
        total = _rss_self()
        for child in self._me.children(recursive=True):
            try:
                total += child.memory_full_info().uss
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied, self._psutil.ZombieProcess):
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self._interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _child(engine: str, paths: list[str], warm: list[str]) -> None:
    """Run one engine once in this (fresh) process; print JSON with seconds, frames and memory.

    The engine's imports and a warm-up run over a 1-second clip happen before the clock starts.
    """
    import av  # noqa: F401

    if engine.startswith("thresher"):
        import thresher  # noqa: F401
    elif engine == "daft":
        import daft  # noqa: F401
    if engine.startswith("pyav"):
        _frames_seek(warm[0]) if engine != "pyav_decode_all" else _frames_decode_all(warm[0])
    else:
        ENGINES[engine](warm)
    base = _rss_self()
    sampler = _MemorySampler()
    t = time.perf_counter()
    frames = ENGINES[engine](paths)
    secs = time.perf_counter() - t
    # VmHWM: this address space's exact RSS high-water mark (ru_maxrss is not: Linux carries the
    # parent's over fork and exec, so a child of a big benchmark driver reads the driver's peak)
    peak = max(sampler.stop(), _hwm_self())
    print(json.dumps({"seconds": secs, "frames": frames, "baseline_mb": base / MB, "peak_mb": peak / MB,
                      "growth_mb": (peak - base) / MB}))


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
    warm_folder = os.path.join(args.data, f"warmup_{args.height}p")
    if args.child:  # a fresh process that imports only what its engine needs
        _child(args.child, sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".mp4")),
               [os.path.join(warm_folder, "vid_000.mp4")])
        return
    from thresher.testing.media import write_videos

    write_videos(folder, args.n, seconds=args.seconds, width=args.width, height=args.height)
    write_videos(warm_folder, 1, seconds=1, width=args.width, height=args.height)
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
        # memory: the median over rounds (one round's spike is not the engine's footprint)
        results[e] = {"seconds_best": best, "seconds_median": statistics.median(secs), "frames": frames,
                      "frames_per_s": frames / best, "frames_ok": frames == expected,
                      **{k: statistics.median(r[k] for r in runs[e])
                         for k in ("baseline_mb", "peak_mb", "growth_mb")},
                      "peak_mb_max": max(r["peak_mb"] for r in runs[e])}
    loops = {k: r for k, r in results.items() if k.startswith("pyav") and "error" not in r}
    best_name = min(loops, key=lambda k: loops[k]["seconds_best"]) if loops else None
    best = loops[best_name] if best_name else None
    print(f"\nvideo frames: {args.n} x {args.seconds:g} s {args.height}p H.264 (GOP 2 s), 1 frame/s -> {SIZE}x{SIZE} RGB "
          f"({os.cpu_count()} cores, best of {args.reps}; memory: median of rounds; ratios vs {best_name})")
    print(f"{'engine':<20}{'s (best)':>9}{'frames':>7}{'frames/s':>9}{'x loop':>7}{'base MB':>9}{'peak MB':>9}"
          f"{'x loop':>7}{'growth MB':>10}{'x loop':>7}")
    for e, r in results.items():
        if "error" in r:
            print(f"{e:<20}failed: {r['error'][:90]}")
            continue
        if best:
            r["speedup_vs_best_loop"] = best["seconds_best"] / r["seconds_best"]
            r["peak_vs_best_loop"] = r["peak_mb"] / best["peak_mb"]
            r["growth_vs_best_loop"] = r["growth_mb"] / best["growth_mb"]
        nan = float("nan")
        flag = "" if r["frames_ok"] else f"  (expected {expected})"
        print(f"{e:<20}{r['seconds_best']:>9.2f}{r['frames']:>7}{r['frames_per_s']:>9.1f}"
              f"{r.get('speedup_vs_best_loop', nan):>6.2f}x{r['baseline_mb']:>9.0f}{r['peak_mb']:>9.0f}"
              f"{r.get('peak_vs_best_loop', nan):>6.2f}x{r['growth_mb']:>10.0f}{r.get('growth_vs_best_loop', nan):>6.2f}x"
              f"{flag}")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "video_bench.json"), "w") as f:
        json.dump({"n": args.n, "seconds": args.seconds, "size": [args.width, args.height], "cores": os.cpu_count(),
                   "python": platform.python_version(), "reps": args.reps, "best_loop": best_name,
                   "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
