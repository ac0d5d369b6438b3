"""Parquet/CSV/JSON sources: pushdown, pruning, errors that name the file; Parquet/CSV/JSON sinks."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher import col
from thresher.io.parquet import ParquetSource
from thresher.io.predicate import Comparison, Predicate


@pytest.fixture
def hive_dir(tmp_path: Path) -> Path:
    for year in (2020, 2021, 2022):
        d = tmp_path / f"year={year}"
        d.mkdir()
        t = pa.table({"id": list(range(year * 10, year * 10 + 10)), "v": [float(i) for i in range(10)]})
        pq.write_table(t, d / "part-0.parquet", row_group_size=5)
    return tmp_path


def test_hive_partition_pruning_and_row_group_stats(hive_dir: Path) -> None:
    src = ParquetSource(str(hive_dir))
    assert "year" in src.arrow_schema().names
    all_parts = src.partitions(None, None)
    pruned = src.partitions(None, Predicate((Comparison("year", "==", 2021),)))
    assert len(pruned) < len(all_parts)
    rg_pruned = src.partitions(None, Predicate((Comparison("id", ">=", 20225),)))
    assert len(rg_pruned) == 1  # one row group of one file
    df = th.read_parquet(str(hive_dir)).filter((col("year") == 2021) & (col("v") > 7))
    assert sorted(df.to_pydict()["id"]) == [20218, 20219]
    assert "predicate=[" in df.explain(format="dict")["optimized"]


def test_partition_ids_are_stable(hive_dir: Path) -> None:
    a = [p.id for p in ParquetSource(str(hive_dir)).partitions(None, None)]
    b = [p.id for p in ParquetSource(str(hive_dir)).partitions(None, None)]
    assert a == b and len(set(a)) == len(a)
    assert all("#rg" in p for p in a)


def test_polars_scannable_agrees_with_polars_scan(hive_dir: Path, tmp_path: Path) -> None:
    src = ParquetSource(str(hive_dir))
    pred = Predicate((Comparison("year", "==", 2021), Comparison("v", ">", 7.0)))
    for columns, predicate in ((None, None), (("id",), None), (("v", "id"), pred)):
        assert src.polars_scannable(columns, predicate) is (src.polars_scan(columns, predicate) is not None)
        assert src.polars_scannable(columns, predicate)
    # an extension-typed (image) column: no Polars scan of the file, and the check says so
    image = th.DataType.image().arrow
    pixels = pa.array([{"width": 1, "height": 1, "mode": "L", "data": b"x"}], type=image.storage_type)
    pq.write_table(pa.table({"i": pa.ExtensionArray.from_storage(image, pixels), "n": [1]}), tmp_path / "img.parquet")
    media = ParquetSource(str(tmp_path / "img.parquet"))
    for columns in (None, ("n",)):
        assert media.polars_scan(columns, None) is None
        assert not media.polars_scannable(columns, None)


def test_projection_pushdown_reads_only_used_columns(hive_dir: Path) -> None:
    df = th.read_parquet(str(hive_dir)).select("v")
    plan = df.explain(format="dict")["optimized"]
    assert "columns=[v]" in plan


def test_missing_file_and_empty_glob(tmp_path: Path) -> None:
    with pytest.raises(th.ThresherIOError, match="not found"):
        th.read_parquet(str(tmp_path / "nope.parquet"))
    with pytest.raises(th.ThresherIOError, match="no files match"):
        th.read_parquet(str(tmp_path / "*.parquet"))


def test_schema_mismatch_names_the_file(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"a": ["x", "y"]}), tmp_path / "b.parquet")
    with pytest.raises(th.ThresherIOError, match=r"b\.parquet"):
        th.read_parquet(str(tmp_path / "*.parquet")).collect()


def test_malformed_csv_names_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("a,b\n1,x\n2,y\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,x\nnot-a-number,y\n")
    assert th.read_csv(str(good)).to_pydict() == {"a": [1, 2], "b": ["x", "y"]}
    with pytest.raises(th.ThresherIOError, match=r"bad\.csv"):
        th.read_csv([str(good), str(bad)]).collect()


def test_csv_json_roundtrip(tmp_path: Path) -> None:
    df = th.from_pydict({"k": ["a", "b", "a"], "n": [1, 2, 3], "d": [datetime.date(2020, 1, i) for i in (1, 2, 3)]})
    df.write_csv(str(tmp_path / "csv"))
    back = th.read_csv(str(tmp_path / "csv")).sort("n").to_pydict()
    assert back["k"] == ["a", "b", "a"] and back["n"] == [1, 2, 3]
    df.write_json(str(tmp_path / "json"))
    back = th.read_json(str(tmp_path / "json")).sort("n").to_pydict()
    assert back["n"] == [1, 2, 3]
    assert th.read_csv(str(tmp_path / "csv")).filter(col("n") >= 2).count_rows() == 2


def test_write_parquet_partition_by(tmp_path: Path) -> None:
    df = th.from_pydict({"year": [2020, 2021, 2020, 2022], "v": [1, 2, 3, 4]})
    out = df.write_parquet(str(tmp_path / "out"), partition_by=["year"])
    assert out.schema.names == ["partition_id", "num_rows", "files", "status", "node_id"]
    dirs = sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert dirs == ["year=2020", "year=2021", "year=2022"]
    back = th.read_parquet(str(tmp_path / "out")).sort("v").to_pydict()
    assert back["v"] == [1, 2, 3, 4] and back["year"] == [2020, 2021, 2020, 2022]


def test_write_parquet_job_id_is_idempotent(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        pq.write_table(pa.table({"x": list(range(i * 10, i * 10 + 10))}), src / f"f{i}.parquet")
    df = th.read_parquet(str(src)).with_columns(y=col("x") * 2)
    first = df.write_parquet(str(tmp_path / "out"), job_id="job-1").to_pydict()
    assert first["status"].count("committed") == 3
    second = df.write_parquet(str(tmp_path / "out"), job_id="job-1").to_pydict()
    assert all(s == "already committed" for s in second["status"])
    assert th.read_parquet(str(tmp_path / "out")).count_rows() == 30
    files = [f for _, _, fs in os.walk(tmp_path / "out") for f in fs if f.endswith(".parquet")]
    assert len(files) == 3


def test_finished_job_rerun_does_no_work(tmp_path: Path) -> None:
    calls = {"n": 0}
    base = th.from_pydict({"k": ["a", "b", "a"], "v": [1, 2, 3]})
    agg = base.group_by("k").agg(col("v").sum().alias("s"))
    out = agg.write_parquet(str(tmp_path / "agg"), job_id="daily")
    assert out.to_pydict()["status"] == ["committed"]
    again = agg.write_parquet(str(tmp_path / "agg"), job_id="daily")
    assert again.to_pydict()["status"] == ["already committed"]
    assert again.stats() is None and calls["n"] == 0  # nothing was executed
    assert th.read_parquet(str(tmp_path / "agg")).count_rows() == 2
