"""collect() pauses the cyclic garbage collector from planning to the end of a run that is one
relational stage run locally (Polars computes it; no user code runs), and only then."""

from __future__ import annotations

import gc
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher import col


@pytest.fixture
def parquet(tmp_path: Path) -> str:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"k": [1, 2, 2, 3], "v": [1.0, 2.0, 3.0, None]}), path)
    return str(path)


def _relational(path: str) -> th.DataFrame:
    return th.read_parquet(path).filter(col("v") > 0).group_by("k").agg(col("v").sum().alias("s")).sort("k")


@pytest.fixture
def gc_at_collect(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the cyclic collector was on at each Polars collect, in order."""
    seen: list[bool] = []
    collect = pl.LazyFrame.collect

    def recording(self: pl.LazyFrame, *a: object, **k: object) -> pl.DataFrame:
        seen.append(gc.isenabled())
        return collect(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.LazyFrame, "collect", recording)
    return seen


def test_paused_while_polars_runs_a_relational_plan(parquet: str, gc_at_collect: list[bool]) -> None:
    assert gc.isenabled()
    got = _relational(parquet).to_arrow()
    assert gc_at_collect == [False] and gc.isenabled()
    assert got.to_pydict() == {"k": [1, 2], "s": [1.0, 5.0]}


def test_on_while_user_code_runs(parquet: str) -> None:
    seen: list[bool] = []

    @th.udf(return_dtype="int64")
    def f(x: int) -> int:
        seen.append(gc.isenabled())
        return x * 10

    got = th.read_parquet(parquet).with_columns(w=f(col("k"))).to_arrow()
    assert got["w"].to_pylist() == [10, 20, 20, 30]
    assert seen and all(seen) and gc.isenabled()


def test_a_collector_the_user_turned_off_stays_off(parquet: str) -> None:
    gc.disable()
    try:
        _relational(parquet).to_arrow()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_on_again_after_a_failed_run(tmp_path: Path, gc_at_collect: list[bool]) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"s": ["1", "x", "2"]}), path)
    df = th.read_parquet(str(path)).select(col("s").cast(th.DataType.int64()).alias("i")).sort("i")
    with pytest.raises(th.errors.ThresherExecutionError):  # "x" is no int64: Polars fails in the run
        df.to_arrow()
    assert gc_at_collect == [False] and gc.isenabled()
