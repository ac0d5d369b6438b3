"""Iceberg source and sink: round-trips, extension types, idempotent commits, pushdown, concurrency."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pyarrow as pa
import pytest

from thresher.datatypes import DataType
from thresher.errors import ThresherTypeError
from thresher.io.iceberg import (
    TYPE_PROP_PREFIX,
    IcebergSink,
    IcebergSource,
    decode_partition_ids,
    default_catalog,
    encode_partition_ids,
)
from thresher.io.predicate import Comparison, Predicate
from thresher.io.safety import is_within

pytest.importorskip("pyiceberg")

# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

EMB = DataType.embedding("float32", 4).to_arrow()
IMG = DataType.image(mode="RGB").to_arrow()


def make_table(n: int = 12, start: int = 0) -> pa.Table:
    ids = list(range(start, start + n))
    imgs = [{"width": 1, "height": 1, "mode": "RGB", "data": bytes([i % 256, 0, 0])} for i in ids]
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "year": pa.array([1995 + (i % 3) for i in ids], pa.int32()),
            "name": pa.array([f"n{i}" for i in ids], pa.large_string()),
            "emb": pa.ExtensionArray.from_storage(
                EMB, pa.array([[i, 1, 2, 3] for i in ids], pa.list_(pa.float32(), 4))
            ),
            "img": pa.ExtensionArray.from_storage(IMG, pa.array(imgs, IMG.storage_type)),
        }
    )


@pytest.fixture
def catalog(tmp_path):
    return default_catalog(tmp_path / "wh")


def read_all(src: IcebergSource, columns=None, predicate=None) -> pa.Table:
    batches = [b for p in src.partitions(columns, predicate) for b in p.read(columns, predicate, 1024)]
    schema = pa.schema([src.arrow_schema().field(c) for c in columns]) if columns else src.arrow_schema()
    return pa.Table.from_batches(batches, schema=schema)


def data_files(catalog, ident: str) -> list[str]:
    loc = catalog.load_table(ident).metadata.location.removeprefix("file://")
    out = []
    for dp, _, fn in os.walk(os.path.join(loc, "data")):
        out += [os.path.join(dp, f) for f in fn if f.endswith(".parquet")]
    return sorted(out)


# ---------------------------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------------------------


def test_roundtrip_extension_types(catalog):
    t = make_table(12)
    sink = IcebergSink("db.t", catalog)
    results = [sink.write(f"p{i}", t.slice(4 * i, 4).to_batches(), t.schema) for i in range(3)]
    assert catalog.load_table("db.t").current_snapshot() is None  # files written, nothing visible
    res = sink.commit("job", results)
    assert sorted(res.committed) == ["p0", "p1", "p2"] and res.num_rows == 12
    src = IcebergSource("db.t", catalog)
    assert src.arrow_schema().field("emb").type == EMB
    assert src.arrow_schema().field("img").type == IMG
    back = read_all(src).sort_by("id")
    assert back.equals(t)
    table = catalog.load_table("db.t")
    assert TYPE_PROP_PREFIX + "emb" in table.metadata.properties
    assert table.metadata.properties["commit.retry.num-retries"] == "0"
    assert table.schema().find_field("emb").doc.startswith("thresher:embedding")
    assert src.statistics().num_rows == 12
    assert len(src.partitions(None, None)) == 3
    assert all(p.id.startswith(f"{src.snapshot_id}:") for p in src.partitions(None, None))


def test_partition_ids_are_stable_and_snapshot_pinned(catalog):
    t = make_table(6)
    sink = IcebergSink("db.t", catalog)
    sink.commit("a", [sink.write("p0", t.to_batches(), t.schema)])
    src = IcebergSource("db.t", catalog)
    ids = [p.id for p in src.partitions(None, None)]
    sink.commit("b", [sink.write("p0", t.to_batches(), t.schema)])  # a new snapshot
    assert [p.id for p in IcebergSource("db.t", catalog, snapshot_id=src.snapshot_id).partitions(None, None)] == ids
    assert read_all(src).num_rows == 6  # still pinned
    assert read_all(IcebergSource("db.t", catalog)).num_rows == 12


def test_partition_id_chunking_roundtrip():
    pids = [f"s3://bucket/some/long/path/file-{i}.parquet#rg0-3" for i in range(2000)]
    props = encode_partition_ids("job", pids)
    assert all(len(v) <= 8000 for v in props.values())
    assert decode_partition_ids(props, "job") == pids
    assert decode_partition_ids(props, "other") is None


# ---------------------------------------------------------------------------------------------
# idempotence and resume
# ---------------------------------------------------------------------------------------------


def test_same_job_partition_commits_once(catalog):
    t = make_table(4)
    sink = IcebergSink("db.t", catalog)
    r = sink.write("p0", t.to_batches(), t.schema)
    assert sink.commit("job", [r]).committed == ["p0"]
    r2 = sink.write("p0", t.to_batches(), t.schema)
    assert len(data_files(catalog, "db.t")) == 2
    res = sink.commit("job", [r2])
    assert res.skipped == ["p0"] and res.committed == []
    # the skipped copy's files are deleted by the commit itself (the engine calls no abort() for
    # a skipped partition: they were left behind for good)
    assert len(data_files(catalog, "db.t")) == 1
    assert read_all(IcebergSource("db.t", catalog)).num_rows == 4
    dup = [sink.write("p1", t.to_batches(), t.schema) for _ in range(2)]  # a partition twice
    assert sink.commit("job", dup).committed == ["p1"]
    assert len(data_files(catalog, "db.t")) == 2
    assert sink.commit("job", [r, *dup]).skipped == ["p0", "p1"]  # committed ones stay
    assert len(data_files(catalog, "db.t")) == 2
    assert read_all(IcebergSource("db.t", catalog)).num_rows == 8


def test_crash_after_write_then_resume(catalog):
    t = make_table(9)
    sink = IcebergSink("db.t", catalog)
    sink.commit("job", [sink.write("p0", t.slice(0, 3).to_batches(), t.schema)])
    sink.write("p1", t.slice(3, 3).to_batches(), t.schema)  # crash before commit
    fresh = IcebergSink("db.t", catalog)
    assert fresh.committed_partitions("job") == {"p0"}
    todo = [p for p in ("p0", "p1", "p2") if p not in fresh.committed_partitions("job")]
    results = [fresh.write(p, t.slice(3 * int(p[1]), 3).to_batches(), t.schema) for p in todo]
    fresh.commit("job", results)
    assert read_all(IcebergSource("db.t", catalog)).sort_by("id").equals(t)
    assert fresh.committed_partitions("job") == {"p0", "p1", "p2"}


def test_overwrite_first_commit_of_job_then_append(catalog):
    t = make_table(6)
    a = IcebergSink("db.t", catalog)
    a.commit("old", [a.write("p", t.to_batches(), t.schema)])
    ow = IcebergSink("db.t", catalog, mode="overwrite")
    ow.commit("new", [ow.write("p0", t.slice(0, 2).to_batches(), t.schema)])
    ow.commit("new", [ow.write("p1", t.slice(2, 2).to_batches(), t.schema)])
    assert sorted(read_all(IcebergSource("db.t", catalog)).column("id").to_pylist()) == [0, 1, 2, 3]


# ---------------------------------------------------------------------------------------------
# pushdown
# ---------------------------------------------------------------------------------------------


def test_predicate_prunes_partitions_and_files(catalog):
    t = make_table(30)
    sink = IcebergSink("db.t", catalog, partition_by=["year"])
    sink.commit("job", [sink.write(f"p{i}", t.slice(10 * i, 10).to_batches(), t.schema) for i in range(3)])
    src = IcebergSource("db.t", catalog)
    all_parts = src.partitions(None, None)
    assert len(all_parts) == 9  # 3 writes x 3 years
    by_year = Predicate((Comparison("year", "==", 1996),))
    parts = src.partitions(None, by_year)
    assert len(parts) == 3  # partition pruning
    by_id = Predicate((Comparison("id", ">=", 25),))
    parts = src.partitions(["id"], by_id)
    assert len(parts) == 3  # file min/max stats: only the third write's files
    got = read_all(src, ["id", "emb"], by_id)
    assert sorted(got.column("id").to_pylist()) == list(range(25, 30))  # exact
    both = Predicate((Comparison("id", ">=", 25), Comparison("year", "is_in", (1995,))))
    assert sorted(read_all(src, ["id"], both).column("id").to_pylist()) == [i for i in range(25, 30) if i % 3 == 0]
    assert src.partitions(None, Predicate((Comparison("id", ">", 1000),))) == []


# ---------------------------------------------------------------------------------------------
# schema checks and path safety
# ---------------------------------------------------------------------------------------------


def test_incompatible_schema_errors_before_any_data_file(catalog):
    t = make_table(4)
    sink = IcebergSink("db.t", catalog)
    sink.commit("job", [sink.write("p0", t.to_batches(), t.schema)])
    before = data_files(catalog, "db.t")
    bad = t.set_column(
        3,
        "emb",
        pa.ExtensionArray.from_storage(
            DataType.embedding("float32", 2).to_arrow(), pa.array([[1, 2]] * 4, pa.list_(pa.float32(), 2))
        ),
    )
    other = IcebergSink("db.t", catalog)
    with pytest.raises(ThresherTypeError, match="emb"):
        other.write("p1", bad.to_batches(), bad.schema)
    wrong = t.set_column(0, "id", pa.array(["a", "b", "c", "d"]))
    with pytest.raises(ThresherTypeError):
        IcebergSink("db.t", catalog).write("p1", wrong.to_batches(), wrong.schema)
    extra = t.append_column("more", pa.array([1, 2, 3, 4]))
    with pytest.raises(ThresherTypeError, match="more"):
        IcebergSink("db.t", catalog).check_schema(extra.schema)
    assert data_files(catalog, "db.t") == before


def test_partition_value_traversal_stays_in_table(catalog):
    t = pa.table({"id": [1, 2], "c": ["../../../../etc", "/abs"]})
    sink = IcebergSink("db.t", catalog, partition_by=["c"])
    r = sink.write("p", t.to_batches(), t.schema)
    loc = catalog.load_table("db.t").metadata.location.removeprefix("file://")
    assert all(is_within(loc, f.removeprefix("file://")) for f in r.files)
    sink.commit("j", [r])
    assert sorted(read_all(IcebergSource("db.t", catalog)).column("c").to_pylist()) == ["../../../../etc", "/abs"]


# ---------------------------------------------------------------------------------------------
# concurrency
# ---------------------------------------------------------------------------------------------


def test_two_concurrent_writers_nothing_lost(catalog):
    t = make_table(40)
    errors: list[BaseException] = []
    outcomes: list[str] = []

    def writer(k: int) -> None:
        sink = IcebergSink("db.t", catalog)
        try:
            for i in range(5):
                part = t.slice(20 * k + 4 * i, 4)
                sink.commit(f"job-{k}", [sink.write(f"p{i}", part.to_batches(), t.schema)])
            outcomes.append(f"job-{k}")
        except Exception as e:  # a clear error is acceptable, silent loss is not
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    got = sorted(read_all(IcebergSource("db.t", catalog)).column("id").to_pylist())
    expected = sorted(i for k in range(2) if f"job-{k}" in outcomes for i in range(20 * k, 20 * k + 20))
    for e in errors:
        assert "commit" in str(e).lower()
    assert len(got) == len(set(got))
    assert set(expected) <= set(got)
    assert not errors, errors  # with the retry loop both should land
    assert got == list(range(40))


# ---------------------------------------------------------------------------------------------
# kill -9 loop
# ---------------------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time, pyarrow as pa
    import thresher.datatypes
    from thresher.io.iceberg import IcebergSink, default_catalog
    wh, job, n, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    sink = IcebergSink("db.t", default_catalog(wh), partition_by=["k"])
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
    rng = random.Random(99)
    done_kills = 0
    while done_kills < kills:
        p = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.stdout is not None
        if not p.stdout.readline():
            raise AssertionError(p.stderr.read().decode() if p.stderr else "writer failed")
        time.sleep(rng.uniform(0, max_delay))
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            done_kills += 1
        p.wait()
        if p.returncode == 0:
            break
    p2 = subprocess.run([sys.executable, "-c", script, *args], capture_output=True)
    assert p2.returncode == 0, p2.stderr.decode()
    return done_kills


def check_kill_loop(tmp_path, kills: int, n: int, delay: float, max_delay: float, min_kills: int) -> None:
    wh = str(tmp_path / "wh")
    done = kill_loop(WRITER, [wh, "job-1", str(n), str(delay)], kills, max_delay=max_delay)
    assert done >= min_kills, f"only {done} kills landed before the job finished"
    got = read_all(IcebergSource("db.t", default_catalog(wh))).sort_by("id")
    assert got.column("id").to_pylist() == list(range(n * 10))  # complete, no duplicates
    assert got.column("k").to_pylist() == [j % 3 for _ in range(n) for j in range(10)]
    assert IcebergSink("db.t", default_catalog(wh)).committed_partitions("job-1") == {f"part-{i}" for i in range(n)}


def test_kill9_resume_small(tmp_path):
    check_kill_loop(tmp_path, kills=3, n=8, delay=0.08, max_delay=0.25, min_kills=1)


@pytest.mark.slow
def test_kill9_resume_many(tmp_path):
    check_kill_loop(tmp_path, kills=25, n=40, delay=0.05, max_delay=0.12, min_kills=20)


# ---------------------------------------------------------------------------------------------
# the sink travels to another process (a Ray write task) and re-opens its catalog there
# ---------------------------------------------------------------------------------------------

_WRITE_ELSEWHERE = textwrap.dedent("""
    import pickle, sys
    sink, pid, table = pickle.loads(sys.stdin.buffer.read())
    assert sink._catalog_obj is None  # nothing of the parent's catalog came along
    sys.stdout.buffer.write(pickle.dumps(sink.write(pid, table.to_batches(), table.schema)))
""")


def test_sink_pickles_writes_in_another_process_and_commits_once(catalog):
    import pickle

    t = make_table(6)
    sink = IcebergSink("db.t", catalog, partition_by=["year"])
    sink.prepare(t.schema)  # the driver creates the table before the tasks run
    results = []
    for pid, part in (("p0", t.slice(0, 3)), ("p1", t.slice(3))):
        out = subprocess.run([sys.executable, "-c", _WRITE_ELSEWHERE], input=pickle.dumps((sink, pid, part)),
                             capture_output=True, check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        results.append(pickle.loads(out.stdout))
    assert [r.num_rows for r in results] == [3, 3]
    assert all(is_within(str(catalog.properties["warehouse"]).removeprefix("file://"), f.removeprefix("file://"))
               for r in results for f in r.files)
    assert sink.commit("job", results).committed == ["p0", "p1"]
    assert sink.commit("job", results).skipped == ["p0", "p1"]  # exactly once: a re-run commits nothing
    got = read_all(IcebergSource("db.t", catalog)).sort_by("id")
    assert got.column("id").to_pylist() == t.column("id").to_pylist()
    assert got.column("emb").equals(t.column("emb"))


def test_sink_with_an_in_memory_catalog_refuses_to_pickle(tmp_path):
    import pickle

    from pyiceberg.catalog.sql import SqlCatalog

    mem = SqlCatalog("mem", uri="sqlite:///:memory:", warehouse=f"file://{tmp_path}")
    with pytest.raises(TypeError, match="in-memory SQLite"):
        pickle.dumps(IcebergSink("db.t", mem))


def test_default_catalog_opened_by_writers_at_once_on_a_new_file(tmp_path, monkeypatch):
    """Writers opening a new SQLite catalog at once all find its tables missing and all create
    them; every CREATE TABLE but the first fails ("table iceberg_tables already exists": 2 of
    20 processes, 4 at a time, on a fresh file). Injected here: another writer creates the
    tables between this one's check and its CREATE."""
    from pyiceberg.catalog.sql import SqlCatalog, SqlCatalogBaseTable

    real = SqlCatalog.create_tables
    lost = []

    def create_after_another_writer(self):
        if not lost:
            lost.append(True)
            real(self)  # the other writer, first
            SqlCatalogBaseTable.metadata.create_all(self.engine, checkfirst=False)  # this one's stale CREATE
        real(self)

    monkeypatch.setattr(SqlCatalog, "create_tables", create_after_another_writer)
    cat = default_catalog(tmp_path / "wh")
    assert lost
    cat.create_namespace_if_not_exists("db")
    assert default_catalog(tmp_path / "wh").list_namespaces() == [("db",)]
