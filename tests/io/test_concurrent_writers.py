"""Several processes writing one Parquet dataset / Lance dataset / Iceberg table, locally and on the s3
server: different job ids lose and duplicate nothing; two processes running the same job id commit
each partition exactly once (including an Iceberg table Thresher did not create, whose pyiceberg
retry loop is on by default); a job killed with SIGKILL and re-run commits each partition once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

WRITER = textwrap.dedent(
    """
    import sys, time, pyarrow as pa
    import thresher as th
    kind, target, job, n, start, delay, endpoint, db = sys.argv[1:9]
    n, start, delay = int(n), int(start), float(delay)
    cfg = th.IOConfig(s3=th.S3Config(endpoint_url=endpoint, key_id="testing", access_key="testing",
                                     region_name="us-east-1")) if endpoint else None
    if kind == "parquet":
        from thresher.io.files_sink import ParquetSink
        sink = ParquetSink(target, job_id=job, io_config=cfg)
    elif kind == "lance":
        from thresher.io.lance import LanceSink
        sink = LanceSink(target, mode="append", io_config=cfg)
    else:
        from thresher.io.iceberg import IcebergSink, default_catalog
        sink = IcebergSink("db.t", catalog=default_catalog(target, database=db or None, io_config=cfg), io_config=cfg)
    done = sink.committed_partitions(job)
    print("started", flush=True)
    for i in range(n):
        pid = f"p{i}"
        if pid in done:
            continue
        t = pa.table({"id": pa.array(range(start + i * 10, start + i * 10 + 10), pa.int64())})
        r = sink.write(pid, t.to_batches(), t.schema)
        time.sleep(delay)
        sink.commit(job, [r])
    print("finished", flush=True)
    """
)

KINDS = ["parquet", "lance", "iceberg"]


def _target(kind: str, where: str, tmp_path, s3) -> tuple[str, str, str, object]:
    """``(target, endpoint, sqlite db, io_config)`` for one sink kind on local disk or the s3 server."""
    if kind == "lance":
        pytest.importorskip("lance")
    if kind == "iceberg":
        pytest.importorskip("pyiceberg")
    db = str(tmp_path / "catalog.db") if kind == "iceberg" else ""
    if where == "local":
        return str(tmp_path / f"{kind}-out"), "", db, None
    server, bucket, cfg = s3
    return f"s3://{bucket}/{kind}-out", server.endpoint, db, cfg


def _read_ids(kind: str, target: str, db: str, cfg) -> list[int]:
    import thresher as th

    if kind == "parquet":
        return sorted(th.read_parquet(target, io_config=cfg).to_pydict()["id"])
    if kind == "lance":
        return sorted(th.read_lance(target, io_config=cfg).to_pydict()["id"])
    from thresher.io.iceberg import default_catalog

    return sorted(th.read_iceberg("db.t", catalog=default_catalog(target, database=db or None, io_config=cfg),
                                  io_config=cfg).to_pydict()["id"])


def _precreate(kind: str, target: str, db: str, cfg) -> None:
    """Create the table outside Thresher (pyiceberg defaults: its own commit retries on)."""
    import pyarrow as pa

    if kind == "iceberg":
        from thresher.io.iceberg import default_catalog

        cat = default_catalog(target, database=db or None, io_config=cfg)
        cat.create_namespace_if_not_exists("db")
        cat.create_table("db.t", schema=pa.schema([pa.field("id", pa.int64())]))


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", WRITER, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


@pytest.mark.parametrize("where", ["local", "s3"])
@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_jobs(kind, where, tmp_path, request):
    s3 = request.getfixturevalue("s3") if where == "s3" else None
    target, endpoint, db, cfg = _target(kind, where, tmp_path, s3)
    _precreate(kind, target, db, cfg)
    n = 4
    # two processes run job "shared" over the same partitions at once; a third appends job "other"
    procs = [_spawn([kind, target, "shared", str(n), "0", "0.02", endpoint, db]) for _ in range(2)]
    procs.append(_spawn([kind, target, "other", str(n), "1000", "0.01", endpoint, db]))
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-3000:]
    want = list(range(n * 10)) + list(range(1000, 1000 + n * 10))
    assert _read_ids(kind, target, db, cfg) == want


def _kill_loop(args: list[str], kills: int, max_delay: float, seed: int) -> int:
    rng = random.Random(seed)
    landed = 0
    for _ in range(kills * 3):
        if landed >= kills:
            break
        p = _spawn(args)
        assert p.stdout is not None
        if not p.stdout.readline():
            raise AssertionError(p.stderr.read().decode()[-3000:] if p.stderr else "writer failed")
        time.sleep(rng.uniform(0.05, max_delay))
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            landed += 1
        p.wait()
        if p.returncode == 0:
            break
    p = _spawn(args)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err.decode()[-3000:]
    return landed


@pytest.mark.parametrize("kind", KINDS)
def test_kill9_resume_on_s3(kind, tmp_path, s3):
    target, endpoint, db, cfg = _target(kind, "s3", tmp_path, s3)
    n = 6
    landed = _kill_loop([kind, target, "job", str(n), "0", "0.15", endpoint, db], kills=2, max_delay=1.5,
                        seed=7)
    assert landed >= 1
    assert _read_ids(kind, target, db, cfg) == list(range(n * 10))
