"""Audio decode: FLAC 44.1 kHz stereo -> 16 kHz mono float32 tensors in memory.

* ``thresher``: ``th.from_glob_path(...)`` -> ``url.download()`` ->
  ``audio.decode(sample_rate=16000, channels=1)``, the tensors collected to NumPy.
* ``pyav_mp``: a hand-written PyAV loop (decode + ``AudioResampler`` to fltp/mono/16 kHz, chunks
  concatenated) on a ``multiprocessing.Pool`` with one process per core (the pool is start-up),
  arrays returned to the parent; ``pyav_1p``: the same loop in one process.

The check compares every file's samples: same length, and a 256-point subsample, the sum and the
sum of absolute values within 1e-4 of the reference (the 2-process loop). Goal: thresher >= 0.9x
``pyav_mp``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import ROOT, Bench, Engine

RATE = 16_000


def _pyav_one(path: str) -> np.ndarray:
    import av

    with av.open(path) as c:
        s = c.streams.audio[0]
        res = av.AudioResampler(format="fltp", layout="mono", rate=RATE)
        chunks = [o.to_ndarray() for f in c.decode(s) for o in res.resample(f)]
        chunks += [o.to_ndarray() for o in res.resample(None)]
    return np.concatenate(chunks, axis=1)


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    from thresher.testing.media import write_audio_files

    folder = ROOT / ".data" / f"bench_audio_flac_{p['seconds']:g}s_{p['n']}"
    return {"_paths": write_audio_files(folder, p["n"], p["seconds"])}


def _start_thresher(p: dict[str, Any]) -> dict[str, Any]:
    import thresher as th
    from thresher import col

    folder = os.path.dirname(p["_paths"][0])
    df = th.from_glob_path(os.path.join(folder, "*.flac")).select(
        "path", col("path").url.download().audio.decode(sample_rate=RATE, channels=1).alias("audio"))
    return {"df": df, "paths": p["_paths"]}


def _run_thresher(state: dict[str, Any], case: str) -> list[np.ndarray]:
    from thresher.operators.kernels.tensor import tensor_to_numpy

    out: dict[str, Any] = {}
    for b in state["df"].iter_batches():
        arrs = tensor_to_numpy(b.column(b.schema.get_field_index("audio")))
        for p, a in zip(b.column(0).to_pylist(), arrs):
            out[p] = a
    return [out[p] for p in state["paths"]]


def _start_pool(p: dict[str, Any]) -> dict[str, Any]:
    from multiprocessing import get_context

    pool = get_context("fork").Pool(p["processes"])
    pool.map(abs, range(8))
    return {"pool": pool, "paths": p["_paths"]}


def _run_pool(state: dict[str, Any], case: str) -> list[np.ndarray]:
    return state["pool"].map(_pyav_one, state["paths"], chunksize=1)  # type: ignore[no-any-return]


def _start_1p(p: dict[str, Any]) -> dict[str, Any]:
    return {"paths": p["_paths"]}


def _run_1p(state: dict[str, Any], case: str) -> list[np.ndarray]:
    return [_pyav_one(x) for x in state["paths"]]


def _check(state: dict[str, Any], case: str, out: list[np.ndarray]) -> list[dict[str, Any]]:
    res = []
    for a in out:
        a = np.asarray(a, dtype=np.float32).reshape(-1)
        idx = np.linspace(0, max(len(a) - 1, 0), 256).astype(np.int64)
        res.append({"n": len(a), "sum": float(a.sum(dtype=np.float64)), "abs": float(np.abs(a).sum(dtype=np.float64)),
                    "sub": a[idx].tolist() if len(a) else []})
    return res


def _compare(ref: list[dict[str, Any]], other: list[dict[str, Any]]) -> bool:
    if len(ref) != len(other):
        return False
    for r, o in zip(ref, other):
        if r["n"] != o["n"] or abs(r["sum"] - o["sum"]) > 1e-4 * max(1.0, r["n"] / 1e3):
            return False
        if abs(r["abs"] - o["abs"]) > 1e-4 * max(1.0, r["n"] / 1e3):
            return False
        if np.max(np.abs(np.asarray(r["sub"]) - np.asarray(o["sub"])), initial=0.0) > 1e-4:
            return False
    return True


BENCH = Bench(
    name="audio",
    title="Audio decode: FLAC 44.1 kHz stereo -> 16 kHz mono float32",
    engines=(
        Engine("thresher", _start_thresher, _run_thresher, _check, requires=("thresher", "av")),
        Engine("pyav_mp", _start_pool, _run_pool, _check, requires=("av",), note="PyAV loop, 2-process pool"),
        Engine("pyav_1p", _start_1p, _run_1p, _check, requires=("av",), note="PyAV loop, one process"),
    ),
    reference="pyav_mp",
    baseline="pyav_mp",
    units="files",
    quick={"n": 8, "seconds": 20.0, "processes": 2, "rounds": 3},
    full={"n": 20, "seconds": 60.0, "processes": 2, "rounds": 5},
    prepare=prepare,
    count=lambda p: p["n"],
    compare=_compare,
    notes="Ratio = pyav_mp median / engine median (goal for thresher: >= 0.9x).",
)
