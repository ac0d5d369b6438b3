"""Audio decode benchmark: FLAC 44.1 kHz stereo → 16 kHz mono float32.

* ``thresher``: ``th.from_glob_path(...)`` → ``url.download()`` →
  ``audio.decode(sample_rate=16000, channels=1)``, the tensors collected to NumPy.
* ``pyav_mp``: a hand-written PyAV loop (decode + ``AudioResampler`` to fltp/mono/16 kHz, chunks
  concatenated) on a ``multiprocessing.Pool`` with one process per core, arrays returned to the
  parent.

Reports audio-seconds decoded per wall second (best of interleaved rounds) and checks that
Thresher's samples equal the loop's.

Usage: ``python benchmarks/audio_bench.py [--n 24 --seconds 60] [--reps 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from multiprocessing import Pool

import numpy as np

RATE = 16_000


def _pyav_one(path: str) -> np.ndarray:
    import av

    with av.open(path) as c:
        s = c.streams.audio[0]
        res = av.AudioResampler(format="fltp", layout="mono", rate=RATE)
        chunks = [o.to_ndarray() for f in c.decode(s) for o in res.resample(f)]
        chunks += [o.to_ndarray() for o in res.resample(None)]
    return np.concatenate(chunks, axis=1)


def pyav_mp(paths: list[str]) -> list[np.ndarray]:
    with Pool(os.cpu_count() or 2) as pool:
        return pool.map(_pyav_one, paths, chunksize=1)


def thresher_run(paths: list[str]) -> list[np.ndarray]:
    import thresher as th
    from thresher import col
    from thresher.operators.kernels.tensor import tensor_to_numpy

    folder = os.path.dirname(paths[0])
    df = th.from_glob_path(os.path.join(folder, "*.flac")).select(
        "path", col("path").url.download().audio.decode(sample_rate=RATE, channels=1).alias("audio"))
    out: dict[str, np.ndarray] = {}
    for b in df.iter_batches():
        arrs = tensor_to_numpy(b.column(b.schema.get_field_index("audio")))
        for p, a in zip(b.column(0).to_pylist(), arrs):
            out[p] = a  # type: ignore[assignment]
    return [out[p] for p in paths]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "thresher_bench_audio"))
    args = ap.parse_args()
    from thresher.operators.kernels.registry import get_kernel
    from thresher.testing.media import write_audio_files

    paths = write_audio_files(os.path.join(args.data, f"flac_{args.seconds:g}s_{args.n}"), args.n, args.seconds)
    get_kernel("audio.decode")  # imports before the clock
    import polars  # noqa: F401
    runs = {"thresher": thresher_run, "pyav_mp": pyav_mp}
    times: dict[str, list[float]] = {k: [] for k in runs}
    outputs: dict[str, list[np.ndarray]] = {}
    for _ in range(args.reps):
        for name, fn in runs.items():
            t = time.perf_counter()
            outputs[name] = fn(paths)
            times[name].append(time.perf_counter() - t)
    audio_s = args.n * args.seconds
    diffs = [float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
             for a, b in zip(outputs["thresher"], outputs["pyav_mp"])]
    results = {}
    for name in runs:
        best = min(times[name])
        results[name] = {"seconds_best": best, "seconds_median": statistics.median(times[name]),
                         "audio_s_per_s": audio_s / best}
    ratio = results["pyav_mp"]["seconds_best"] / results["thresher"]["seconds_best"]
    print(f"\naudio decode: {args.n} FLAC x {args.seconds:g} s 44.1 kHz stereo -> {RATE} Hz mono float32 "
          f"({os.cpu_count()} cores, best of {args.reps})")
    print(f"{'engine':<12}{'s (best)':>10}{'audio-s/s':>12}{'s (median)':>12}")
    for name, r in results.items():
        print(f"{name:<12}{r['seconds_best']:>10.2f}{r['audio_s_per_s']:>12.0f}{r['seconds_median']:>12.2f}")
    print(f"thresher vs pyav_mp: {ratio:.2f}x; max |thresher - pyav| over all samples: {max(diffs):.2e} "
          f"(shapes equal: {all(d != float('inf') for d in diffs)})")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "audio_bench.json"), "w") as f:
        json.dump({"n": args.n, "seconds": args.seconds, "cores": os.cpu_count(), "python": platform.python_version(),
                   "results": results, "speedup_vs_pyav_mp": ratio, "max_abs_diff": max(diffs)}, f, indent=2)


if __name__ == "__main__":
    main()
