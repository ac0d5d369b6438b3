"""Iceberg and Lance through the DataFrame API: write with a job id, re-run is a no-op, read back
with pushdown, extension types round-trip, Lance data evolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher import col

pytest.importorskip("pyiceberg")
pytest.importorskip("lance")


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        emb = pa.FixedSizeListArray.from_arrays(pa.array(rng.random(10 * 8, dtype=np.float32)), 8)
        pq.write_table(pa.table({"id": list(range(i * 10, i * 10 + 10)), "g": [i] * 10, "e": emb}), d / f"f{i}.parquet")
    return d


def _frame(source_dir: Path) -> th.DataFrame:
    return th.read_parquet(str(source_dir)).with_columns(
        e=col("e").cast(th.DataType.embedding("float32", 8)), twice=col("id") * 2)


def test_iceberg_write_rerun_read(tmp_path: Path, source_dir: Path) -> None:
    catalog = th.iceberg_catalog(str(tmp_path / "wh"))
    df = _frame(source_dir)
    first = df.write_iceberg("db.t", catalog=catalog, job_id="j1").to_pydict()
    assert first["status"].count("committed") == 4
    again = df.write_iceberg("db.t", catalog=catalog, job_id="j1").to_pydict()
    assert set(again["status"]) == {"already committed"}
    back = th.read_iceberg("db.t", catalog=catalog)
    assert back.count_rows() == 40
    assert str(back.schema["e"]) == "embedding[float32, 8]"
    sel = back.filter(col("g") == 2).select("id", "twice").sort("id").to_pydict()
    assert sel["id"] == list(range(20, 30)) and sel["twice"] == [2 * i for i in range(20, 30)]
    plan = back.filter(col("g") == 2).explain(format="dict")["optimized"]
    assert "predicate=[g == 2]" in plan


def test_lance_write_rerun_read_and_merge_columns(tmp_path: Path, source_dir: Path) -> None:
    uri = str(tmp_path / "ds.lance")
    df = _frame(source_dir)
    df.write_lance(uri, mode="create", job_id="j1")
    again = df.write_lance(uri, mode="append", job_id="j1").to_pydict()
    assert set(again["status"]) == {"already committed"}
    back = th.read_lance(uri)
    assert back.count_rows() == 40
    assert str(back.schema["e"]) == "embedding[float32, 8]"
    assert back.filter(col("id") >= 35).count_rows() == 5
    extra = th.read_lance(uri).select("id", (col("id") + 1000).alias("extra"))
    extra.write_lance(uri, mode="merge_columns", on="id", job_id="add-extra")
    merged = th.read_lance(uri).select("id", "extra", "twice").sort("id").to_pydict()
    assert merged["extra"] == [i + 1000 for i in range(40)]
    assert merged["twice"] == [2 * i for i in range(40)]
