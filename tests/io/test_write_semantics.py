"""Write semantics checked before any work: refused targets, create on existing, namespaces, plan fingerprints,
single files and empty frames (local; the s3 cases are in test_object_store.py)."""

from __future__ import annotations

import os

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher.errors import ThresherIOError
from thresher.io.commit import JobPlanMismatchError

CALLS: list[int] = []


@th.udf(return_dtype="int64")
def _counted(x: int) -> int:
    CALLS.append(x)
    return x


def _df(n: int = 6) -> th.DataFrame:
    return th.from_pydict({"a": list(range(n)), "k": [i % 2 for i in range(n)]})


def test_plan_fingerprint_mismatch_is_refused(tmp_path):
    out = str(tmp_path / "ds")
    df = _df()
    df.write_parquet(out, job_id="job")
    changed = df.filter(th.col("a") > 2)
    with pytest.raises(JobPlanMismatchError, match="job 'job' was started with a different plan"):
        changed.write_parquet(out, job_id="job")
    assert sorted(th.read_parquet(out).to_pydict()["a"]) == list(range(6))  # nothing written
    changed.write_parquet(out, job_id="job-2")  # a new job id: appends
    assert sorted(th.read_parquet(out).to_pydict()["a"]) == [0, 1, 2, 3, 3, 4, 4, 5, 5]
    changed.write_parquet(out, job_id="job", mode="overwrite")  # overwrite: replaces what was there
    assert sorted(th.read_parquet(out).to_pydict()["a"]) == [3, 4, 5]
    changed.write_parquet(out, job_id="job", mode="overwrite")  # and is itself resumable
    assert sorted(th.read_parquet(out).to_pydict()["a"]) == [3, 4, 5]


def test_same_plan_resumes(tmp_path):
    out = str(tmp_path / "ds")
    df = _df()
    first = df.write_parquet(out, job_id="job").to_pydict()["status"]
    again = df.write_parquet(out, job_id="job").to_pydict()["status"]
    assert set(first) == {"committed"} and set(again) == {"already committed"}


def test_lance_create_on_existing_fails_before_running(tmp_path):
    pytest.importorskip("lance")
    uri = str(tmp_path / "t.lance")
    _df().write_lance(uri)
    CALLS.clear()
    with pytest.raises(ThresherIOError, match="already exists"):
        _df().with_columns(b=_counted(th.col("a"))).write_lance(uri)  # mode="create"
    assert CALLS == []
    assert th.read_lance(uri).to_arrow().num_rows == 6


def test_iceberg_identifier_needs_namespace(tmp_path):
    pytest.importorskip("pyiceberg")
    cat = th.iceberg_catalog(str(tmp_path / "wh"))
    CALLS.clear()
    with pytest.raises(ThresherIOError, match="needs a namespace"):
        _df().with_columns(b=_counted(th.col("a"))).write_iceberg("events", catalog=cat)
    with pytest.raises(ThresherIOError, match="needs a namespace"):
        th.read_iceberg("events", catalog=cat)
    assert CALLS == []


def test_single_file_like_polars(tmp_path):
    df = _df(10)
    target = str(tmp_path / "out" / "x.parquet")
    df.write_parquet(target)
    assert os.path.isfile(target) and sorted(os.listdir(tmp_path / "out")) == ["_thresher", "x.parquet"]
    ref = str(tmp_path / "polars.parquet")
    pl.from_arrow(df.to_arrow()).write_parquet(ref)
    assert pq.read_table(target).equals(pq.read_table(ref).cast(pq.read_table(target).schema))
    df.write_csv(str(tmp_path / "x.csv"))
    assert pl.read_csv(str(tmp_path / "x.csv")).to_dict(as_series=False) == {"a": list(range(10)),
                                                                            "k": [i % 2 for i in range(10)]}
    # a folder path (no extension) is a dataset
    df.write_parquet(str(tmp_path / "folder"))
    assert os.path.isdir(tmp_path / "folder")


def test_empty_frame_writes_schema_only_file(tmp_path):
    empty = _df().filter(th.col("a") < 0)
    for target in (str(tmp_path / "e.parquet"), str(tmp_path / "eds")):
        empty.write_parquet(target)
        back = th.read_parquet(target).to_arrow()
        assert back.num_rows == 0 and back.schema.names == ["a", "k"]
        assert pl.read_parquet(target if target.endswith(".parquet") else f"{target}/*.parquet").shape == (0, 2)
    zero = th.from_arrow(pa.table({"a": pa.array([], pa.int64())}))
    zero.write_parquet(str(tmp_path / "z.parquet"))
    assert th.read_parquet(str(tmp_path / "z.parquet")).to_arrow().num_rows == 0


def test_mode_error_refuses_before_running(tmp_path):
    out = str(tmp_path / "ds")
    _df().write_parquet(out)
    CALLS.clear()
    with pytest.raises(ThresherIOError, match="already holds data"):
        _df().with_columns(b=_counted(th.col("a"))).write_parquet(out, mode="error")
    assert CALLS == []
