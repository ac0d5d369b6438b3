"""What one Ray task costs the driver, and whether the driver's memory grows with the input.

The measured inputs of the scale model in ``docs/guide/scale.md``:

1. **Per-task driver overhead** of plain Ray tasks, in the shape the Thresher executor uses them:
   ``empty`` (submit a no-op, get its ``None``), ``meta`` (a task that takes a batch *ref* and
   returns a new batch ref plus a small metadata record: the driver gets only the record), and
   ``batch`` (the same, but the driver gets the batch back — the pre-issue-18 shape). For each:
   the driver's CPU time per task (``time.process_time`` of the driver process, which includes
   Ray's core-worker threads in it: the cost that caps one driver) and the wall-clock tasks/s
   with ``--inflight`` tasks kept in flight (capped on this machine by its 2 cores).
2. **Thresher on Ray per batch**: a read -> map -> write_parquet job of B map batches; the
   driver's CPU time per batch (scheduling, bookkeeping, commit) and the job's wall time.
3. **Driver peak RSS vs input size**: a read -> map (a batch UDF) -> filter -> write_parquet job
   over each input size (``--sizes-mb``, e.g. 50,200,800), each in a fresh process (a fresh
   Ray), the driver process's own RSS sampled every 20 ms in a thread during the job (workers
   and Ray daemons are not the driver), plus ``getrusage`` of the driver process (its lifetime
   peak, Ray start-up included), and the bytes the driver received (``stats().driver_bytes_received``).
   The written row count is checked against the input (half of the ids pass the filter). A child
   whose Ray fails to start (a loaded machine) is retried.

    python -m benchmarks.ray_overhead                 # quick sizes
    python -m benchmarks.ray_overhead --skip-tasks --sizes-mb 50,200,800

Writes ``benchmarks/results/ray_overhead.json`` and prints a table. Wall-clock numbers taken on
a loaded machine are upper bounds of the overhead; the CPU-time numbers are less distorted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def _quiet_ray(num_cpus: int) -> Any:
    sys.path.insert(0, str(ROOT / "python"))
    from thresher.engine.ray_runtime import ensure_ray

    return ensure_ray(num_cpus=num_cpus)


def _batch(rows: int) -> Any:
    import pyarrow as pa

    return pa.record_batch({"id": np.arange(rows, dtype=np.int64), "x": np.random.default_rng(0).random(rows)})


def _noop() -> None:
    return None


def _map_meta(batch: Any) -> tuple[Any, tuple[int, int]]:
    import pyarrow.compute as pc
    import ray

    out = batch.set_column(1, "x", pc.multiply(batch.column(1), 2.0))
    return ray.put(out), (out.num_rows, out.nbytes)


def _map_batch(batch: Any) -> Any:
    import pyarrow.compute as pc

    return batch.set_column(1, "x", pc.multiply(batch.column(1), 2.0))


def per_task(tasks: int, inflight: int, rows: int) -> dict[str, Any]:
    """Driver CPU per task and tasks/s for the three task shapes."""
    ray = _quiet_ray(2)
    noop = ray.remote(num_cpus=0.01)(_noop)  # no CPU wait: the driver, not the cores, is measured
    meta = ray.remote(num_cpus=0.01)(_map_meta)
    full = ray.remote(num_cpus=0.01)(_map_batch)
    batch_ref = ray.put(_batch(rows))
    out: dict[str, Any] = {"tasks": tasks, "inflight": inflight, "batch_rows": rows,
                           "batch_bytes": int(_batch(rows).nbytes)}

    def run(submit: Any, n: int) -> tuple[float, float]:
        pending: list[Any] = []
        keep: list[Any] = []  # the meta shape's output refs stay alive like a stage's would
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            pending.append(submit())
            if len(pending) >= inflight:
                ready, pending = ray.wait(pending, num_returns=1)
                for r in ready:
                    v = ray.get(r)
                    if isinstance(v, tuple):
                        keep.append(v[0])
                        if len(keep) > inflight:
                            keep.pop(0)
        for r in pending:
            ray.get(r)
        return time.process_time() - c0, time.perf_counter() - t0

    for name, submit in (("empty", lambda: noop.remote()), ("meta", lambda: meta.remote(batch_ref)),
                         ("batch", lambda: full.remote(batch_ref))):
        run(submit, min(200, tasks))  # warm-up: workers started, functions exported
        cpu, wall = run(submit, tasks)
        out[name] = {"driver_cpu_us_per_task": 1e6 * cpu / tasks, "wall_us_per_task": 1e6 * wall / tasks,
                     "tasks_per_s": tasks / wall, "driver_cpu_bound_tasks_per_s": tasks / cpu if cpu else None}
    # the two halves of the driver's cost apart, without waiting in between (waiting burns CPU in
    # Ray's polling threads on a starved machine): a tight submit loop, then gets of finished refs
    c0, t0 = time.process_time(), time.perf_counter()
    refs = [meta.remote(batch_ref) for _ in range(tasks)]
    sub_cpu, sub_wall = time.process_time() - c0, time.perf_counter() - t0
    ray.wait(refs, num_returns=len(refs), fetch_local=False)
    c0, t0 = time.process_time(), time.perf_counter()
    for r in refs:
        ray.get(r)
    get_cpu, get_wall = time.process_time() - c0, time.perf_counter() - t0
    out["split"] = {"submit_cpu_us": 1e6 * sub_cpu / tasks, "submit_wall_us": 1e6 * sub_wall / tasks,
                    "get_meta_cpu_us": 1e6 * get_cpu / tasks, "get_meta_wall_us": 1e6 * get_wall / tasks}
    del refs
    out["owned_ref"] = owned_ref_bytes(ray)
    ray.shutdown()
    return out


def owned_ref_bytes(ray: Any, n: int = 20_000) -> dict[str, float]:
    """Driver RSS per object ref it owns (Ray's ownership table entry plus the ref), from ``n`` small puts."""
    import gc

    import psutil

    proc = psutil.Process()
    gc.collect()
    before = proc.memory_info().rss
    c0 = time.process_time()
    refs = [ray.put(i) for i in range(n)]
    cpu = time.process_time() - c0
    after = proc.memory_info().rss
    del refs
    return {"refs": n, "driver_rss_bytes_per_ref": (after - before) / n, "driver_cpu_us_per_put": 1e6 * cpu / n}


def _write_input(folder: Path, total_bytes: int, files: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rows = max(1, total_bytes // (256 + 16) // files)
    rng = np.random.default_rng(1)
    for i in range(files):
        offsets = pa.py_buffer((np.arange(rows + 1, dtype=np.int32) * 256).tobytes())
        payload = pa.Array.from_buffers(pa.binary(), rows, [None, offsets, pa.py_buffer(rng.bytes(256 * rows))])
        pq.write_table(pa.table({"id": np.arange(i * rows, (i + 1) * rows, dtype=np.int64),
                                 "x": rng.random(rows), "payload": payload}),
                       folder / f"part-{i:03d}.parquet", compression="none", row_group_size=max(1, rows // 4))
    return sum(f.stat().st_size for f in folder.iterdir())


def _job_child(src: str, out: str, batch_rows: int) -> dict[str, Any]:
    """In a fresh process: one read -> map -> filter -> write job on Ray; the driver's CPU, wall, peak RSS."""
    import resource

    import psutil

    ray = _quiet_ray(2)
    import thresher as th
    from thresher import col

    @th.udf(return_dtype="float64", batch=True, batch_size=batch_rows)
    def double(a: Any) -> Any:
        import pyarrow.compute as pc

        return pc.multiply(a, 2.0)

    proc = psutil.Process()
    peak = [proc.memory_info().rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], proc.memory_info().rss)

    th.from_pydict({"a": [1.0]}).with_columns(b=double(col("a"))).collect(runner="ray")  # warm the workers
    rss0 = proc.memory_info().rss
    peak[0] = rss0
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    c0, t0 = time.process_time(), time.perf_counter()
    df = th.read_parquet(src).with_columns(y=double(col("x"))).filter(col("id") % 2 == 0)
    res = df.write_parquet(out, runner="ray")
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    stop.set()
    t.join()
    rss_after = proc.memory_info().rss
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    stats = res.stats()
    batches = None
    if stats is not None:
        batches = max((int(s.batches_out) for s in stats.stages.values()), default=None)
    received = getattr(stats, "driver_bytes_received", None) if stats is not None else None
    ray.shutdown()
    return {"driver_cpu_s": cpu, "wall_s": wall, "rss_before": rss0, "rss_peak": peak[0], "rss_after": rss_after,
            "ru_maxrss": maxrss, "batches": batches, "rows": int(sum(res.to_pydict()["num_rows"])),
            "driver_bytes_received": received}


def _run_child(src: Path, out: Path, batch_rows: int, attempts: int = 3) -> dict[str, Any]:
    """The job in a fresh process; a child whose Ray did not start (a loaded machine) is retried."""
    cmd = [sys.executable, "-m", "benchmarks.ray_overhead", "--child", str(src / "*.parquet"), str(out),
           str(batch_rows)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python") + os.pathsep + str(ROOT), "THRESHER_PROGRESS": "0"}
    err = ""
    for attempt in range(attempts):
        shutil_rm(out)
        try:
            p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
        except subprocess.TimeoutExpired as exc:
            err = f"timed out after {exc.timeout} s"
            continue
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
        if not p.returncode and line:
            r: dict[str, Any] = json.loads(line[-1])
            r["attempts"] = attempt + 1
            return r
        err = f"child failed ({p.returncode}): {p.stderr[-2000:]}"
        print(f"  attempt {attempt + 1} failed, retrying: {err.splitlines()[-1] if err else ''}", file=sys.stderr)
        time.sleep(10)
    raise RuntimeError(err)


def rss_vs_input(sizes_mb: list[int], batch_rows: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="thresher-ray-overhead-") as tmp:
        for mb in sizes_mb:
            src = Path(tmp) / f"in{mb}"
            files = max(4, mb // 12)  # ~12 MiB files: the partition count grows with the input
            size = _write_input(src, mb << 20, files=files)
            import pyarrow.parquet as pq

            n_in = sum(pq.read_metadata(f).num_rows for f in src.iterdir())
            r = _run_child(src, Path(tmp) / f"out{mb}", batch_rows)
            r.update(input_bytes=size, input_rows=n_in, files=files, expected_rows=(n_in + 1) // 2)
            if r["rows"] != r["expected_rows"]:
                raise RuntimeError(f"wrong output at {mb} MB: {r['rows']} rows written, expected {r['expected_rows']}")
            if r.get("driver_bytes_received") is not None:
                r["driver_bytes_received_share"] = r["driver_bytes_received"] / size
            if r.get("batches"):
                r["driver_cpu_ms_per_batch"] = 1e3 * r["driver_cpu_s"] / r["batches"]
            rows.append(r)
            shutil_rm(Path(tmp) / f"out{mb}")
            shutil_rm(src)
    return rows


def shutil_rm(p: Path) -> None:
    import shutil

    shutil.rmtree(p, ignore_errors=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ray_overhead", description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--batch-rows", type=int, default=4096)
    ap.add_argument("--sizes-mb", default="32,64,128,256", help="input sizes of the RSS sweep (MiB of Parquet)")
    ap.add_argument("--skip-tasks", action="store_true")
    ap.add_argument("--child", nargs=3, metavar=("SRC", "OUT", "BATCH_ROWS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_job_child(args.child[0], args.child[1], int(args.child[2]))), flush=True)
        return 0
    load0 = os.getloadavg()
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                          "load_before": load0}}
    if not args.skip_tasks:
        result["per_task"] = per_task(args.tasks, args.inflight, args.batch_rows)
        pt = result["per_task"]
        print(f"per task ({pt['tasks']} tasks, {pt['inflight']} in flight, batch {pt['batch_bytes']:,} B):")
        for k in ("empty", "meta", "batch"):
            r = pt[k]
            print(f"  {k:6s} driver CPU {r['driver_cpu_us_per_task']:8.0f} us/task   wall {r['wall_us_per_task']:8.0f} "
                  f"us/task   {r['tasks_per_s']:8.0f} tasks/s   (driver-CPU bound: "
                  f"{r['driver_cpu_bound_tasks_per_s']:.0f} tasks/s)")
        sp = pt["split"]
        print(f"  split: submit {sp['submit_cpu_us']:.0f} us CPU ({sp['submit_wall_us']:.0f} wall) per task, "
              f"get of a finished metadata record {sp['get_meta_cpu_us']:.0f} us CPU ({sp['get_meta_wall_us']:.0f} wall)")
        o = pt["owned_ref"]
        print(f"  owned refs: {o['driver_rss_bytes_per_ref']:.0f} B of driver RSS per ref held, "
              f"{o['driver_cpu_us_per_put']:.0f} us driver CPU per put")
    sizes = [int(f) for f in args.sizes_mb.split(",") if f]
    if sizes:
        result["rss"] = rss_vs_input(sizes, args.batch_rows)
        print("driver RSS vs input (read -> map -> filter -> write_parquet on Ray, fresh process each):")
        for r in result["rss"]:
            print(f"  input {r['input_bytes'] / 2**20:7.0f} MiB  driver peak RSS {r['rss_peak'] / 2**20:7.0f} MiB "
                  f"(+{(r['rss_peak'] - r['rss_before']) / 2**20:5.0f} over idle; getrusage {r['ru_maxrss'] / 2**20:.0f} MiB)"
                  f"  batches {r.get('batches')}  driver CPU {r['driver_cpu_s']:.2f}s  wall {r['wall_s']:.1f}s  "
                  f"received {r.get('driver_bytes_received')} B  attempts {r['attempts']}")
    result["machine"]["load_after"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "ray_overhead.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {path} (load average {load0[0]:.1f} -> {result['machine']['load_after'][0]:.1f}: "
          "a loaded machine inflates wall times)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
