"""Lance source and sink: round-trips, plain embedding storage, idempotent commits, data evolution."""

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
from thresher.errors import ThresherIOError, ThresherTypeError
from thresher.io.lance import FIELD_TYPE_KEY, LanceSink, LanceSource, add_columns
from thresher.io.predicate import Comparison, Predicate

lance = pytest.importorskip("lance")

# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

EMB = DataType.embedding("float32", 8).to_arrow()
IMG = DataType.image(mode="RGB").to_arrow()


def make_table(n: int = 12, start: int = 0) -> pa.Table:
    ids = list(range(start, start + n))
    imgs = [{"width": 1, "height": 1, "mode": "RGB", "data": bytes([i % 256, 1, 2])} for i in ids]
    vecs = [[float((i * 7 + j) % 13) for j in range(8)] for i in ids]
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": pa.array([f"n{i}" for i in ids], pa.large_string()),
            "emb": pa.ExtensionArray.from_storage(EMB, pa.array(vecs, pa.list_(pa.float32(), 8))),
            "img": pa.ExtensionArray.from_storage(IMG, pa.array(imgs, IMG.storage_type)),
        }
    )


def read_all(src: LanceSource, columns=None, predicate=None) -> pa.Table:
    batches = [b for p in src.partitions(columns, predicate) for b in p.read(columns, predicate, 1024)]
    schema = pa.schema([src.arrow_schema().field(c) for c in columns]) if columns else src.arrow_schema()
    return pa.Table.from_batches(batches, schema=schema)


def data_file_count(uri: str) -> int:
    d = os.path.join(uri, "data")
    return len(os.listdir(d)) if os.path.isdir(d) else 0


# ---------------------------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------------------------


def test_roundtrip_extension_types_and_plain_storage(tmp_path):
    uri = str(tmp_path / "t.lance")
    t = make_table(12)
    sink = LanceSink(uri, mode="create")
    results = [sink.write(f"p{i}", t.slice(4 * i, 4).to_batches(), t.schema) for i in range(3)]
    with pytest.raises((ValueError, OSError)):
        lance.dataset(uri)  # fragments written, nothing committed
    res = sink.commit("job", results)
    assert sorted(res.committed) == ["p0", "p1", "p2"]
    raw = lance.dataset(uri).schema
    assert raw.field("emb").type == pa.list_(pa.float32(), 8)  # plain: indexable
    assert FIELD_TYPE_KEY in raw.field("emb").metadata
    src = LanceSource(uri)
    assert src.arrow_schema().field("emb").type == EMB and src.arrow_schema().field("img").type == IMG
    assert read_all(src).equals(t)
    parts = src.partitions(None, None)
    assert [p.id for p in parts] == [f"{src.version}:{i}" for i in range(3)]
    taken = src.take([11, 0], ["id", "emb"])
    assert taken.column("id").to_pylist() == [11, 0] and taken.schema.field("emb").type == EMB


def test_ivf_pq_index_on_embedding_column(tmp_path):
    uri = str(tmp_path / "v.lance")
    t = make_table(300)
    sink = LanceSink(uri)
    sink.commit("job", [sink.write("p", t.to_batches(), t.schema)])
    ds = lance.dataset(uri)
    ds.create_index("emb", index_type="IVF_PQ", num_partitions=2, num_sub_vectors=2)
    q = [float(j) for j in range(8)]
    hits = ds.to_table(nearest={"column": "emb", "q": q, "k": 3})
    assert hits.num_rows == 3
    assert LanceSource(uri).arrow_schema().field("emb").type == EMB


# ---------------------------------------------------------------------------------------------
# idempotence and resume
# ---------------------------------------------------------------------------------------------


def test_same_job_partition_commits_once(tmp_path):
    uri = str(tmp_path / "t.lance")
    t = make_table(4)
    sink = LanceSink(uri)
    r = sink.write("p0", t.to_batches(), t.schema)
    assert sink.commit("job", [r]).committed == ["p0"]
    res = sink.commit("job", [r, r])  # Lance alone would add the same fragments again
    assert res.skipped == ["p0"] and res.committed == []
    assert lance.dataset(uri).count_rows() == 4


def test_fragments_of_skipped_partitions_are_deleted(tmp_path):
    """The fragments written for a partition the job had committed already (another committer
    of it was first) and for a partition's duplicate in one commit were left in data/ for
    good: no version references them, nothing deleted them."""
    uri = str(tmp_path / "t.lance")
    t = make_table(6)
    sink = LanceSink(uri)
    first = sink.write("p0", t.slice(0, 3).to_batches(), t.schema)
    again = LanceSink(uri).write("p0", t.slice(0, 3).to_batches(), t.schema)  # a second committer's
    assert sink.commit("job", [first]).committed == ["p0"]
    assert data_file_count(uri) == 2
    res = sink.commit("job", [again])
    assert res.skipped == ["p0"] and res.committed == []
    assert data_file_count(uri) == 1
    dup = [sink.write("p1", t.slice(3, 3).to_batches(), t.schema) for _ in range(2)]  # a partition twice
    assert sink.commit("job", dup).committed == ["p1"]
    assert data_file_count(uri) == 2
    assert sink.commit("job", [first, dup[0], dup[1]]).skipped == ["p0", "p1"]  # committed ones stay
    assert data_file_count(uri) == 2
    assert read_all(LanceSource(uri)).sort_by("id").equals(t)


def test_crash_after_write_then_resume(tmp_path):
    uri = str(tmp_path / "t.lance")
    t = make_table(9)
    sink = LanceSink(uri)
    sink.commit("job", [sink.write("p0", t.slice(0, 3).to_batches(), t.schema)])
    lost = sink.write("p1", t.slice(3, 3).to_batches(), t.schema)  # crash before commit
    fresh = LanceSink(uri)
    assert fresh.committed_partitions("job") == {"p0"}
    todo = [p for p in ("p0", "p1", "p2") if p not in fresh.committed_partitions("job")]
    fresh.commit("job", [fresh.write(p, t.slice(3 * int(p[1]), 3).to_batches(), t.schema) for p in todo])
    fresh.abort([lost])
    assert read_all(LanceSource(uri)).sort_by("id").equals(t)


def test_concurrent_commits_of_one_job_do_not_duplicate(tmp_path):
    uri = str(tmp_path / "t.lance")
    t = make_table(10)
    sink = LanceSink(uri)
    sink.commit("seed", [sink.write("s", t.slice(0, 1).to_batches(), t.schema)])
    results = [sink.write(f"p{i}", t.slice(i, 1).to_batches(), t.schema) for i in range(1, 10)]
    errors: list[BaseException] = []

    def run():
        try:
            LanceSink(uri).commit("job", results)  # both threads try to commit everything
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert sorted(lance.dataset(uri).to_table(columns=["id"]).column("id").to_pylist()) == list(range(10))


def test_modes(tmp_path):
    uri = str(tmp_path / "t.lance")
    t = make_table(4)
    s = LanceSink(uri, mode="create")
    s.commit("a", [s.write("p", t.to_batches(), t.schema)])
    c2 = LanceSink(uri, mode="create")
    with pytest.raises(ThresherIOError, match="exists"):
        c2.commit("b", [c2.write("p", t.to_batches(), t.schema)])
    ow = LanceSink(uri, mode="overwrite")
    ow.commit("c", [ow.write("p0", t.slice(0, 1).to_batches(), t.schema)])
    ow.commit("c", [ow.write("p1", t.slice(1, 1).to_batches(), t.schema)])
    assert sorted(lance.dataset(uri).to_table().column("id").to_pylist()) == [0, 1]


# ---------------------------------------------------------------------------------------------
# pushdown
# ---------------------------------------------------------------------------------------------


def test_predicate_prunes_fragments_and_rows(tmp_path):
    uri = str(tmp_path / "t.lance")
    t = make_table(40)
    sink = LanceSink(uri)
    sink.commit("job", [sink.write(f"p{i}", t.slice(10 * i, 10).to_batches(), t.schema) for i in range(4)])
    src = LanceSource(uri)
    assert len(src.partitions(None, None)) == 4
    pred = Predicate((Comparison("id", ">=", 35),))
    parts = src.partitions(["id"], pred)
    assert len(parts) == 1  # fragment min/max statistics
    rows = [b.num_rows for p in parts for b in p.read(["id", "name"], pred, 1024)]
    assert sum(rows) == 5  # scanner filter: exact
    names = Predicate((Comparison("name", "is_in", ("n1", "n39")),))
    assert sorted(read_all(src, ["id"], names).column("id").to_pylist()) == [1, 39]
    assert src.partitions(None, Predicate((Comparison("id", "<", 0),))) == []


# ---------------------------------------------------------------------------------------------
# schema checks
# ---------------------------------------------------------------------------------------------


def test_incompatible_schema_errors_before_any_data_file(tmp_path):
    uri = str(tmp_path / "t.lance")
    t = make_table(4)
    sink = LanceSink(uri)
    sink.commit("job", [sink.write("p0", t.to_batches(), t.schema)])
    before = data_file_count(uri)
    bad = t.set_column(
        2,
        "emb",
        pa.ExtensionArray.from_storage(
            DataType.embedding("float32", 2).to_arrow(), pa.array([[1, 2]] * 4, pa.list_(pa.float32(), 2))
        ),
    )
    with pytest.raises(ThresherTypeError, match="emb"):
        LanceSink(uri).write("p1", bad.to_batches(), bad.schema)
    wrong = t.set_column(0, "id", pa.array(["a", "b", "c", "d"]))
    with pytest.raises(ThresherTypeError):
        LanceSink(uri).write("p1", wrong.to_batches(), wrong.schema)
    assert data_file_count(uri) == before


# ---------------------------------------------------------------------------------------------
# data evolution
# ---------------------------------------------------------------------------------------------


def test_add_columns_without_rewriting_existing(tmp_path):
    uri = str(tmp_path / "t.lance")
    t = make_table(12)
    sink = LanceSink(uri)
    sink.commit("job", [sink.write(f"p{i}", t.slice(6 * i, 6).to_batches(), t.schema) for i in range(2)])
    old_files = {d.path for f in lance.dataset(uri).get_fragments() for d in f.data_files()}
    cap = DataType.embedding("float32", 2).to_arrow()
    new = pa.table(
        {
            "id": pa.array([0, 5, 11], pa.int64()),
            "caption": ["a", "b", "c"],
            "cap_emb": pa.ExtensionArray.from_storage(
                cap, pa.array([[0, 0], [5, 5], [11, 11]], pa.list_(pa.float32(), 2))
            ),
        }
    )
    res = add_columns(uri, new, on="id", job_id="evolve")
    assert res.committed == ["add_columns"]
    assert add_columns(uri, new, on="id", job_id="evolve").skipped == ["add_columns"]  # idempotent
    ds = lance.dataset(uri)
    files_now = {d.path for f in ds.get_fragments() for d in f.data_files()}
    assert old_files <= files_now  # existing data files untouched, new ones added
    src = LanceSource(uri)
    assert src.arrow_schema().field("cap_emb").type == cap
    got = read_all(src, ["id", "caption", "cap_emb"]).sort_by("id")
    assert got.column("caption").to_pylist() == ["a"] + [None] * 4 + ["b"] + [None] * 5 + ["c"]
    assert got.column("cap_emb").type == cap


def test_merge_columns_sink_incremental_and_resume(tmp_path):
    uri = str(tmp_path / "t.lance")
    t = make_table(9)
    base = LanceSink(uri)
    base.commit("base", [base.write("b", t.to_batches(), t.schema)])
    new = pa.table({"id": pa.array(range(9), pa.int64()), "score": pa.array([i * 1.5 for i in range(9)])})
    sink = LanceSink(uri, mode="merge_columns", on="id")
    sink.commit("job", [sink.write("p0", new.slice(0, 3).to_batches(), new.schema)])  # adds the column
    # crash: p1 written, not committed; resume commits p1 and p2 (fills the existing column)
    resumed = LanceSink(uri, mode="merge_columns", on="id")
    assert resumed.committed_partitions("job") == {"p0"}
    rs = [resumed.write(f"p{i}", new.slice(3 * i, 3).to_batches(), new.schema) for i in (0, 1, 2)]
    res = resumed.commit("job", rs)
    assert res.skipped == ["p0"] and sorted(res.committed) == ["p1", "p2"]
    got = lance.dataset(uri).to_table(columns=["id", "score", "name"]).sort_by("id")
    assert got.column("score").to_pylist() == [i * 1.5 for i in range(9)]
    assert got.column("name").to_pylist() == [f"n{i}" for i in range(9)]


# ---------------------------------------------------------------------------------------------
# kill -9 loop
# ---------------------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time, pyarrow as pa
    import thresher.datatypes
    from thresher.io.lance import LanceSink
    uri, job, n, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    sink = LanceSink(uri)
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
    rng = random.Random(7)
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
    uri = str(tmp_path / "k.lance")
    done = kill_loop(WRITER, [uri, "job-1", str(n), str(delay)], kills, max_delay=max_delay)
    assert done >= min_kills, f"only {done} kills landed before the job finished"
    got = lance.dataset(uri).to_table().sort_by("id")
    assert got.column("id").to_pylist() == list(range(n * 10))  # complete, no duplicates
    assert got.column("k").to_pylist() == [j % 3 for _ in range(n) for j in range(10)]
    assert LanceSink(uri).committed_partitions("job-1") == {f"part-{i}" for i in range(n)}


def test_kill9_resume_small(tmp_path):
    check_kill_loop(tmp_path, kills=3, n=8, delay=0.08, max_delay=0.25, min_kills=1)


@pytest.mark.slow
def test_kill9_resume_many(tmp_path):
    check_kill_loop(tmp_path, kills=25, n=40, delay=0.05, max_delay=0.12, min_kills=20)
