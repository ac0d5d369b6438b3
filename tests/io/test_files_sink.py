"""Parquet/CSV/JSON sinks and path safety: two-phase commits, idempotence, crash recovery."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pyarrow.dataset as pds
import pytest

from thresher.datatypes import DataType
from thresher.errors import ThresherIOError, ThresherTypeError
from thresher.io.files_sink import CsvSink, JsonSink, ParquetSink, cleanup_orphans, split_by_partition
from thresher.io.safety import (
    UnsafePathError,
    hive_escape,
    hive_partition_dir,
    hive_unescape,
    is_within,
    safe_join,
)

# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------


def make_table(n: int = 8, start: int = 0) -> pa.Table:
    ids = list(range(start, start + n))
    emb = DataType.embedding("float32", 3).to_arrow()
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "year": pa.array([1995 + (i % 3) for i in ids], pa.int32()),
            "name": pa.array([f"n{i}" for i in ids], pa.large_string()),
            "emb": pa.ExtensionArray.from_storage(
                emb, pa.array([[i, i + 0.5, -i] for i in ids], pa.list_(pa.float32(), 3))
            ),
        }
    )


def visible(root: str) -> list[str]:
    out = []
    for dp, dn, fn in os.walk(root):
        dn[:] = [d for d in dn if not d.startswith(("_", "."))]
        out += [os.path.relpath(os.path.join(dp, f), root) for f in fn]
    return sorted(out)


def read_back(root: str, fmt: str = "parquet", partitioning: str | None = None) -> pa.Table:
    return pds.dataset(root, format=fmt, partitioning=partitioning).to_table()


# ---------------------------------------------------------------------------------------------
# safety
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["..", "../x", "a/../../b", "/etc/passwd", "a\x00b", "", "C:\\x"])
def test_safe_join_refuses_traversal(tmp_path, bad):
    with pytest.raises(UnsafePathError):
        safe_join(str(tmp_path), "ok", bad)


def test_safe_join_refuses_symlink_escape(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(UnsafePathError):
        safe_join(str(root), "link", "f.parquet")


def test_hive_escape_roundtrip_and_never_special():
    for v in ["../../etc", "/abs", "a=b", "100%", "x\ny", ".", "..", "ok", "é/ü"]:
        e = hive_escape(v)
        assert "/" not in e and e not in (".", "..")
        assert hive_unescape(e) == v
    assert hive_partition_dir([("y", None), ("c", "../../etc")]) == "y=__HIVE_DEFAULT_PARTITION__/c=..%2F..%2Fetc"


def test_partition_value_cannot_escape_root(tmp_path):
    root = str(tmp_path / "out")
    t = pa.table({"id": [1, 2, 3], "c": ["../../etc", "/abs/path", ".."]})
    sink = ParquetSink(root, partition_by=["c"])
    sink.commit("j", [sink.write("p", t.to_batches(), t.schema)])
    files = visible(root)
    assert len(files) == 3
    for f in files:
        assert is_within(root, os.path.join(root, f))
    assert not (tmp_path / "etc").exists()
    back = read_back(root, partitioning="hive").sort_by("id")
    assert back.column("c").to_pylist() == ["../../etc", "/abs/path", ".."]


def test_split_by_partition_groups_nulls_and_values():
    b = pa.record_batch({"k": pa.array([2, None, 1, 2, None]), "v": [0, 1, 2, 3, 4]})
    groups = {d: p.column("v").to_pylist() for d, p in split_by_partition(b, ["k"])}
    assert groups == {"k=1": [2], "k=2": [0, 3], "k=__HIVE_DEFAULT_PARTITION__": [1, 4]}


# ---------------------------------------------------------------------------------------------
# write -> commit -> read
# ---------------------------------------------------------------------------------------------


def test_parquet_roundtrip_with_extension_types(tmp_path):
    root = str(tmp_path / "out")
    t = make_table(9)
    sink = ParquetSink(root)
    results = [sink.write(f"p{i}", t.slice(3 * i, 3).to_batches(), t.schema) for i in range(3)]
    assert visible(root) == []  # written but invisible
    res = sink.commit("job", results)
    assert sorted(res.committed) == ["p0", "p1", "p2"] and res.num_rows == 9
    back = read_back(root).sort_by("id")
    assert back.equals(t)
    assert back.schema.field("emb").type == DataType.embedding("float32", 3).to_arrow()
    assert not os.path.exists(os.path.join(root, "_staging")) or not os.listdir(os.path.join(root, "_staging"))


def test_partitioned_parquet_hive_layout(tmp_path):
    root = str(tmp_path / "out")
    t = make_table(9)
    sink = ParquetSink(root, partition_by=["year"])
    sink.commit("job", [sink.write("p0", t.to_batches(max_chunksize=2), t.schema)])
    assert {f.split("/")[0] for f in visible(root)} == {"year=1995", "year=1996", "year=1997"}
    back = read_back(root, partitioning="hive").sort_by("id")
    assert back.column("id").equals(t.column("id")) and back.column("year").to_pylist() == t.column("year").to_pylist()


@pytest.mark.parametrize("cls,fmt", [(CsvSink, "csv"), (JsonSink, "json")])
def test_csv_json_roundtrip(tmp_path, cls, fmt):
    root = str(tmp_path / "out")
    t = make_table(6).drop_columns(["emb"])
    sink = cls(root)
    sink.commit("j", [sink.write(f"p{i}", t.slice(2 * i, 2).to_batches(), t.schema) for i in range(3)])
    back = read_back(root, fmt).sort_by("id")
    assert back.column("id").to_pylist() == t.column("id").to_pylist()
    assert back.column("name").to_pylist() == t.column("name").to_pylist()


def test_csv_refuses_nested_before_writing(tmp_path):
    root = str(tmp_path / "out")
    t = make_table(3)
    sink = CsvSink(root)
    with pytest.raises(ThresherTypeError, match="emb"):
        sink.check_schema(t.schema)
    with pytest.raises(ThresherTypeError):
        sink.write("p", t.to_batches(), t.schema)
    assert not os.path.exists(root)


# ---------------------------------------------------------------------------------------------
# idempotence, crash, resume
# ---------------------------------------------------------------------------------------------


def test_same_job_partition_commits_once(tmp_path):
    root = str(tmp_path / "out")
    t = make_table(4)
    sink = ParquetSink(root)
    r1 = sink.write("p0", t.to_batches(), t.schema)
    assert sink.commit("job", [r1]).committed == ["p0"]
    r2 = sink.write("p0", t.to_batches(), t.schema)  # a retried task writes the partition again
    res = sink.commit("job", [r2, r2])
    assert res.committed == [] and res.skipped == ["p0"]
    assert read_back(root).num_rows == 4
    assert sink.committed_partitions("job") == {"p0"}
    assert sink.committed_partitions("other") == set()


def test_crash_between_write_and_commit_then_resume(tmp_path):
    root = str(tmp_path / "out")
    t = make_table(6)
    sink = ParquetSink(root, job_id="job")
    sink.commit("job", [sink.write("p0", t.slice(0, 3).to_batches(), t.schema)])
    sink.write("p1", t.slice(3, 3).to_batches(), t.schema)  # crash: never committed
    assert sink.committed_partitions("job") == {"p0"}
    assert read_back(root).num_rows == 3
    # a new process resumes the job: skips p0, redoes p1
    resumed = ParquetSink(root, job_id="job")
    todo = [p for p in ("p0", "p1") if p not in resumed.committed_partitions("job")]
    assert todo == ["p1"]
    resumed.commit("job", [resumed.write("p1", t.slice(3, 3).to_batches(), t.schema)])
    assert read_back(root).sort_by("id").equals(t)
    removed = cleanup_orphans(root, older_than_s=0)
    assert removed and not os.listdir(os.path.join(root, "_staging"))
    assert read_back(root).num_rows == 6


def test_cleanup_orphans_keeps_a_partition_still_being_written(tmp_path):
    """A live writer streaming a slow partition changes only its own file deep in the staging
    folder: ``_staging/<job>`` keeps the time its first partition folder was made. Cleanup judged
    by that folder's time removed the live writer's file (its commit then failed); a crashed
    writer's partition folder, untouched as long, is still removed."""
    root = str(tmp_path / "out")
    t = make_table(6)
    sink = ParquetSink(root, job_id="job")
    dead = sink.write("p0", t.slice(0, 3).to_batches(), t.schema)  # its writer crashed
    batches = iter(t.slice(3, 3).to_batches(max_chunksize=1))
    hour_ago = time.time() - 7200
    job_dir = os.path.join(root, "_staging", "job")
    dead_dir = os.path.dirname(dead.files[0])
    cleaned: list[list[str]] = []

    def slow_upstream():  # the first batch is written, then an hour passes before the next ones
        yield next(batches)
        for d in (job_dir, dead_dir, dead.files[0]):
            os.utime(d, (hour_ago, hour_ago))
        cleaned.append(cleanup_orphans(root))  # default: older than an hour
        yield from batches

    live = sink.write("p1", slow_upstream(), t.schema)
    assert cleaned == [[dead_dir]]
    assert sink.commit("job", [live]).committed == ["p1"]
    assert read_back(root).sort_by("id").equals(t.slice(3, 3))


def test_crash_during_commit_rolls_back_pending(tmp_path):
    root = str(tmp_path / "out")
    t = make_table(4)
    sink = ParquetSink(root)
    r = sink.write("p0", t.to_batches(), t.schema)
    # simulate: pending recorded, file renamed into place, then the process died
    final = os.path.join(root, "part-dead-00000.parquet")
    os.makedirs(os.path.join(root, "_thresher", "jobs"), exist_ok=True)
    os.replace(r.files[0], final)
    with open(os.path.join(root, "_thresher", "jobs", "job.json"), "w") as fh:
        json.dump({"job_id": "job", "committed": {}, "pending": {"p0": [final]}}, fh)
    assert sink.committed_partitions("job") == set()
    r2 = sink.write("p0", t.to_batches(), t.schema)
    sink.commit("job", [r2])
    assert not os.path.exists(final)
    assert read_back(root).num_rows == 4


class _Killed(BaseException):
    """Stands for SIGKILL at one point of a commit (BaseException: no handler of ours catches it)."""


def test_mode_error_job_killed_after_its_renames_resumes(tmp_path, monkeypatch):
    """A mode="error" job killed after renaming its files into place and before recording them
    could never be resumed: its own renamed files made the re-run refuse the folder ("already
    holds data"), as they were not in the committed record. Its pending record now counts as its
    own claim; the re-run rolls those files back and commits each partition once."""
    import thresher as th
    from thresher.io import fs

    out = str(tmp_path / "out")
    df = th.from_pydict({"id": list(range(40)), "g": [i % 4 for i in range(40)]})
    real = fs.fsync_dir

    def die_after_renames(d):  # the data folders are fsynced after the renames, before the record
        if "_thresher" not in str(d):
            raise _Killed
        return real(d)

    monkeypatch.setattr(fs, "fsync_dir", die_after_renames)
    with pytest.raises(_Killed):
        df.write_parquet(out, partition_by=["g"], mode="error", job_id="job")
    monkeypatch.undo()
    assert ParquetSink(out).committed_partitions("job") == set()
    df.write_parquet(out, partition_by=["g"], mode="error", job_id="job")
    df.write_parquet(out, partition_by=["g"], mode="error", job_id="job")  # finished: nothing to do
    assert sorted(th.read_parquet(out).to_pydict()["id"]) == list(range(40))
    with pytest.raises(ThresherIOError, match="already holds data"):  # another job still may not
        df.write_parquet(out, partition_by=["g"], mode="error", job_id="other")


def test_recommit_after_lost_manifest_update_replaces(tmp_path):
    """Deterministic names: committing the same (job, partition) again replaces the file."""
    root = str(tmp_path / "out")
    t = make_table(4)
    sink = ParquetSink(root)
    sink.commit("job", [sink.write("p0", t.to_batches(), t.schema)])
    os.remove(os.path.join(root, "_thresher", "jobs", "job.json"))  # manifest update lost
    sink.commit("job", [sink.write("p0", t.to_batches(), t.schema)])
    assert read_back(root).num_rows == 4


def test_modes_overwrite_and_error(tmp_path):
    root = str(tmp_path / "out")
    t = make_table(4)
    s = ParquetSink(root)
    s.commit("a", [s.write("p", t.to_batches(), t.schema)])
    with pytest.raises(ThresherIOError, match="already holds data"):
        ParquetSink(root, mode="error").check_schema(t.schema)
    ow = ParquetSink(root, mode="overwrite")
    ow.commit("b", [ow.write("p0", t.slice(0, 1).to_batches(), t.schema)])
    ow.commit("b", [ow.write("p1", t.slice(1, 1).to_batches(), t.schema)])  # later commits of the job append
    assert sorted(read_back(root).column("id").to_pylist()) == [0, 1]


def test_concurrent_commits_one_job_threads(tmp_path):
    import threading

    root = str(tmp_path / "out")
    t = make_table(20)
    sink = ParquetSink(root)
    results = [sink.write(f"p{i}", t.slice(i, 1).to_batches(), t.schema) for i in range(20)]
    errors: list[BaseException] = []

    def run(rs):
        try:
            sink.commit("job", rs)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(results[i::2],)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert sorted(read_back(root).column("id").to_pylist()) == list(range(20))


# ---------------------------------------------------------------------------------------------
# kill -9 loop
# ---------------------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time, pyarrow as pa
    import thresher.datatypes
    from thresher.io.files_sink import ParquetSink
    root, job, n, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    sink = ParquetSink(root, partition_by=["k"], job_id=job)
    done = sink.committed_partitions(job)
    print("started", flush=True)
    for i in range(n):
        pid = f"part-{i}"
        if pid in done:
            continue
        t = pa.table({"id": pa.array(range(i * 10, i * 10 + 10), pa.int64()), "k": pa.array([j % 3 for j in range(10)], pa.int64())})
        r = sink.write(pid, t.to_batches(max_chunksize=4), t.schema)
        time.sleep(delay)  # widen the window between write and commit
        sink.commit(job, [r])
    print("finished", flush=True)
    """
)


def kill_loop(script: str, args: list[str], kills: int, max_delay: float) -> int:
    """Run ``script`` repeatedly, SIGKILLing it at random points ``kills`` times, then to completion."""
    rng = random.Random(1234)
    done_kills = 0
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    while done_kills < kills:
        p = subprocess.Popen(
            [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        assert p.stdout is not None
        line = p.stdout.readline()
        if not line:  # failed before starting
            raise AssertionError(p.stderr.read().decode() if p.stderr else "writer failed")
        time.sleep(rng.uniform(0, max_delay))
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            done_kills += 1
        p.wait()
        if p.returncode == 0:
            break  # finished before we could kill: the job is complete
    p = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, env=env)
    assert p.returncode == 0, p.stderr.decode()
    return done_kills


def check_kill_loop(tmp_path, kills: int, n: int, delay: float, max_delay: float, min_kills: int) -> None:
    root = str(tmp_path / "out")
    done = kill_loop(WRITER, [root, "job-1", str(n), str(delay)], kills, max_delay=max_delay)
    assert done >= min_kills, f"only {done} kills landed before the job finished"
    clean = str(tmp_path / "clean")
    subprocess.run([sys.executable, "-c", WRITER, clean, "job-1", str(n), "0"], check=True, capture_output=True)
    got = read_back(root, partitioning="hive").sort_by("id")
    want = read_back(clean, partitioning="hive").sort_by("id")
    assert got.column("id").to_pylist() == list(range(n * 10))
    assert got.equals(want)
    assert ParquetSink(root).committed_partitions("job-1") == {f"part-{i}" for i in range(n)}


def test_kill9_resume_small(tmp_path):
    check_kill_loop(tmp_path, kills=3, n=8, delay=0.08, max_delay=0.25, min_kills=1)


@pytest.mark.slow
def test_kill9_resume_many(tmp_path):
    check_kill_loop(tmp_path, kills=25, n=40, delay=0.05, max_delay=0.12, min_kills=20)


def _encodings(path: str) -> dict[str, tuple[str, ...]]:
    import pyarrow.parquet as pq

    md = pq.read_metadata(path)
    out: dict[str, tuple[str, ...]] = {}
    for g in range(md.num_row_groups):
        for i in range(md.num_columns):
            c = md.row_group(g).column(i)
            out[c.path_in_schema] = tuple(sorted(set(out.get(c.path_in_schema, ())) | set(c.encodings)))
    return out


def test_parquet_sink_row_groups_and_float_list_dictionary(tmp_path):
    """Many small batches become one row group; float lists are written plain unless asked."""
    import pyarrow.parquet as pq

    n = 3000
    t = pa.table({
        "id": pa.array(range(n), pa.int64()),
        "name": pa.array([f"n{i % 7}" for i in range(n)]),
        "price": pa.array([float(i % 5) for i in range(n)]),
        "emb": pa.FixedSizeListArray.from_arrays(pa.array([float(i % 3) for i in range(n * 4)], pa.float32()), 4),
    })
    for opts, emb_dict in (({}, False), ({"use_dictionary": True}, True)):
        root = str(tmp_path / f"out{len(opts)}")
        sink = ParquetSink(root, **opts)
        r = sink.write("p0", t.to_batches(max_chunksize=100), t.schema)
        sink.commit("job", [r])
        (f,) = [os.path.join(root, x) for x in os.listdir(root) if x.endswith(".parquet")]
        assert pq.read_metadata(f).num_row_groups == 1
        enc = _encodings(f)
        assert "RLE_DICTIONARY" in enc["name"] and "RLE_DICTIONARY" in enc["price"]
        assert ("RLE_DICTIONARY" in enc["emb.list.element"]) is emb_dict
        assert pq.read_table(f).equals(t)
    root = str(tmp_path / "small_groups")
    sink = ParquetSink(root, row_group_size=1000)
    sink.commit("job", [sink.write("p0", t.to_batches(max_chunksize=100), t.schema)])
    (f,) = [os.path.join(root, x) for x in os.listdir(root) if x.endswith(".parquet")]
    assert pq.read_metadata(f).num_row_groups == 3
    assert pq.read_table(f).equals(t)
