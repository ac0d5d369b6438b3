"""A memory budget of about one batch (or less) never deadlocks: batches read ahead or queued
further down may hold the whole budget, but the queue a consumer waits on always gets its next
batch. Plans with several partitions, stages and a barrier complete with the right result."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher import col


@pytest.fixture(scope="module")
def six_files(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("tiny")
    for i in range(6):
        pq.write_table(pa.table({"x": list(range(i * 1000, i * 1000 + 1000))}), Path(d) / f"f{i}.parquet",
                       row_group_size=100)
    return str(Path(d) / "*.parquet")


# a hang limit for the run itself: Ray's start (the runner fixture's setup) is not in it
@pytest.mark.timeout(120, func_only=True)
@pytest.mark.parametrize("budget", [1, 800, 1600, 8000])  # nothing, ~one 100-row batch, two, ten
def test_tiny_budget_completes(six_files: str, budget: int, runner: str) -> None:
    df = (th.read_parquet(six_files)
          .with_columns(y=col("x") * 2)
          .filter(col("x") % 3 == 0)
          .with_columns(k=col("x") % 7))
    th.set_memory_budget(budget)
    try:
        mapped = df.select("x", "y").collect(runner=runner)
        grouped = df.group_by("k").agg(col("y").sum().alias("s")).sort("k").to_pydict(runner=runner)
    finally:
        th.set_memory_budget(None)
    xs = [x for x in range(6000) if x % 3 == 0]
    assert mapped.to_pydict() == {"x": xs, "y": [2 * x for x in xs]}
    assert grouped == {"k": list(range(7)), "s": [sum(2 * x for x in xs if x % 7 == k) for k in range(7)]}
    stats = mapped.stats()
    assert stats is not None
    # the budget (or one batch held when nothing else was), plus about one batch per stage whose
    # consumer waits on an empty queue (scan partition, scan, map); a batch is at most 100 rows
    # of 2 int64 columns
    batch = 100 * 16 + 64
    assert stats.peak_buffered_bytes <= max(budget, batch) + 3 * batch
