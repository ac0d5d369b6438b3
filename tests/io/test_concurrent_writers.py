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


class _Killed(BaseException):
    """Stands for SIGKILL at one point of a commit (BaseException: no handler of ours catches it)."""


def _die_at_copy(monkeypatch, die_at: int) -> None:
    """A ParquetSink committer on an object store dies at its ``die_at``-th server-side copy of a
    staged object to its final name (after the partition's marker claimed it)."""
    from thresher.io import fs

    real = fs.copy
    calls = {"n": 0}

    def copy(src, dst, io_config=None):
        calls["n"] += 1
        if calls["n"] == die_at:
            raise _Killed
        return real(src, dst, io_config)

    monkeypatch.setattr(fs, "copy", copy)


def test_s3_commit_killed_between_claim_and_copies_is_finished_by_the_rerun(s3, monkeypatch):
    """The CI failure of test_kill9_resume_on_s3[parquet]: a committer killed after its partition
    marker was created and before the copies lost that partition, because the re-run took the
    marker for a finished commit and skipped the partition."""
    import pyarrow as pa

    from thresher.io.files_sink import ParquetSink

    _, bucket, cfg = s3
    target = f"s3://{bucket}/claimed"
    tables = {f"p{i}": pa.table({"id": pa.array(range(i * 10, i * 10 + 10), pa.int64())}) for i in range(3)}

    def run() -> None:
        sink = ParquetSink(target, job_id="job", io_config=cfg)
        done = sink.committed_partitions("job")
        for pid, t in tables.items():
            if pid not in done:
                sink.commit("job", [sink.write(pid, t.to_batches(), t.schema)])

    _die_at_copy(monkeypatch, die_at=2)  # p0 is in, p1 claimed
    with pytest.raises(_Killed):
        run()
    monkeypatch.undo()
    sink = ParquetSink(target, job_id="job", io_config=cfg)
    assert sink.committed_partitions("job") == {"p0"}  # p1 is claimed, its data not visible
    run()
    assert _read_ids("parquet", target, "", cfg) == list(range(30))
    assert sink.committed_partitions("job") == {"p0", "p1", "p2"}
    run()  # a third run writes nothing
    assert _read_ids("parquet", target, "", cfg) == list(range(30))


def test_dataframe_write_on_s3_killed_between_claim_and_copies_resumes_exactly_once(s3, monkeypatch):
    import thresher as th

    _, bucket, cfg = s3
    target = f"s3://{bucket}/df-claimed"
    df = th.from_pydict({"id": list(range(40)), "g": [i % 4 for i in range(40)]})
    _die_at_copy(monkeypatch, die_at=3)  # one partition, four Hive folders: two copied, two not
    with pytest.raises(_Killed):
        df.write_parquet(target, partition_by=["g"], job_id="job", io_config=cfg)
    monkeypatch.undo()
    df.write_parquet(target, partition_by=["g"], job_id="job", io_config=cfg)
    df.write_parquet(target, partition_by=["g"], job_id="job", io_config=cfg)
    assert _read_ids("parquet", target, "", cfg) == list(range(40))


def test_mode_error_job_on_s3_killed_between_claim_and_copies_resumes(s3, monkeypatch):
    """mode="error": the re-run of a job killed amid its copies saw some of the job's own final
    objects, counted no committed partition (the claim is not finished) and refused the folder."""
    import thresher as th
    from thresher.errors import ThresherIOError

    _, bucket, cfg = s3
    target = f"s3://{bucket}/err-claimed"
    df = th.from_pydict({"id": list(range(40)), "g": [i % 4 for i in range(40)]})
    _die_at_copy(monkeypatch, die_at=3)  # two of four Hive folders visible
    with pytest.raises(_Killed):
        df.write_parquet(target, partition_by=["g"], mode="error", job_id="job", io_config=cfg)
    monkeypatch.undo()
    df.write_parquet(target, partition_by=["g"], mode="error", job_id="job", io_config=cfg)
    assert _read_ids("parquet", target, "", cfg) == list(range(40))
    with pytest.raises(ThresherIOError, match="already holds data"):
        df.write_parquet(target, partition_by=["g"], mode="error", job_id="other", io_config=cfg)


def test_s3_overwrite_first_commit_keeps_what_a_concurrent_committer_of_the_job_claimed(s3):
    """Two committers of one mode="overwrite" job on an object store: the job's first commit
    deletes the folder's old data. A committer that found no marker of the job and listed the
    folder after the other one had claimed and copied a partition deleted that partition's final
    object too: the partition was lost, while its marker said committed."""
    import pyarrow as pa

    from thresher.io.files_sink import ParquetSink

    _, bucket, cfg = s3
    target = f"s3://{bucket}/ow-race"

    def table(i: int) -> pa.Table:
        return pa.table({"id": pa.array(range(i * 10, i * 10 + 10), pa.int64())})

    old = ParquetSink(target, job_id="old", io_config=cfg)
    old.commit("old", [old.write("p9", table(9).to_batches(), table(9).schema)])
    a = ParquetSink(target, mode="overwrite", job_id="job", io_config=cfg)
    b = ParquetSink(target, mode="overwrite", job_id="job", io_config=cfg)
    ra = a.write("p0", table(0).to_batches(), table(0).schema)
    rb = b.write("p1", table(1).to_batches(), table(1).schema)
    listing = b._data_files

    def a_commits_first() -> list[str]:  # b read no marker; a's whole commit runs before b lists
        b._data_files = listing
        assert a.commit("job", [ra]).committed == ["p0"]
        return listing()

    b._data_files = a_commits_first
    assert b.commit("job", [rb]).committed == ["p1"]
    assert _read_ids("parquet", target, "", cfg) == list(range(20))
    assert b.committed_partitions("job") == {"p0", "p1"}


def test_s3_marker_of_a_committer_that_finished_its_copies_but_not_the_flag_counts(s3):
    """A marker without the completion flag (written by a committer killed after its copies, or by
    an older Thresher) counts as committed when every final object is there: no rewrite."""
    import pyarrow as pa

    from thresher.io import fs
    from thresher.io.commit import read_json
    from thresher.io.files_sink import ParquetSink

    _, bucket, cfg = s3
    target = f"s3://{bucket}/noflag"
    sink = ParquetSink(target, job_id="job", io_config=cfg)
    t = pa.table({"id": pa.array(range(10), pa.int64())})
    sink.commit("job", [sink.write("p0", t.to_batches(), t.schema)])
    [entry] = fs.glob(fs.join(target, "_thresher", "jobs", "job", "*.json"), cfg)
    rec = read_json(entry.uri, cfg)
    assert rec["complete"] is True
    del rec["complete"]
    fs.write_bytes(entry.uri, __import__("json").dumps(rec).encode(), cfg)
    assert sink.committed_partitions("job") == {"p0"}
    fs.delete(rec["moves"][0][1], cfg)  # its data gone: not committed, the writer must write it again
    assert sink.committed_partitions("job") == set()
