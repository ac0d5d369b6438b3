"""What a collect() costs besides running the plan: ``to_arrow()`` returns the table without
building a result frame around it, and executors ask the CPU count once per process."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
import thresher.dataframe as dataframe_module
from thresher import col
from thresher.engine import local


@pytest.fixture
def frame(tmp_path: Path) -> th.DataFrame:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"k": [1, 2, 2, 3], "v": [1.0, 2.0, 3.0, None]}), path)
    return th.read_parquet(str(path)).filter(col("v") > 0).group_by("k").agg(col("v").sum().alias("s")).sort("k")


def test_to_arrow_builds_no_result_frame(frame: th.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []
    real = dataframe_module.InMemorySource

    def counting(table: pa.Table) -> object:
        made.append(table)
        return real(table)

    monkeypatch.setattr(dataframe_module, "InMemorySource", counting)
    got = frame.to_arrow()
    assert made == []
    assert got.to_pydict() == {"k": [1, 2], "s": [1.0, 5.0]}
    assert frame.stats() is not None and frame.stats().executor == "local"  # type: ignore[union-attr]
    # collect() still gives a materialized frame whose to_arrow is its own table
    done = frame.collect()
    assert len(made) == 1 and done.to_arrow() is made[0]


def test_to_arrow_matches_polars_and_takes_the_run_options(frame: th.DataFrame, tmp_path: Path) -> None:
    want = (pl.scan_parquet(str(tmp_path / "t.parquet")).filter(pl.col("v") > 0).group_by("k")
            .agg(pl.col("v").sum().alias("s")).sort("k").collect().to_arrow())
    for kw in ({}, {"optimize": False}, {"runner": "local"}, {"memory_budget": "64MB"}):
        got = frame.to_arrow(**kw)
        assert got.to_pydict() == want.to_pydict(), kw
        assert got.schema.names == ["k", "s"]


def test_to_arrow_of_an_empty_result_has_the_schema(frame: th.DataFrame) -> None:
    got = frame.filter(col("k") > 10).to_arrow()
    assert got.num_rows == 0 and got.schema.names == ["k", "s"]


def test_cpu_count_asked_once(frame: th.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.cpu_count

    def counting() -> int | None:
        calls.append(1)
        return real()

    monkeypatch.setattr(os, "cpu_count", counting)
    local._default_threads.cache_clear()
    try:
        for _ in range(3):
            frame.to_arrow()
        assert len(calls) == 1
        assert local.LocalExecutor().num_threads == max(2, real() or 2)
        assert local.LocalExecutor(num_threads=3).num_threads == 3
    finally:
        local._default_threads.cache_clear()
