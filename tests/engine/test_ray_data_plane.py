"""The Ray executor's data plane: what reaches the driver, ref morsels, fusion, writes in tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher import col

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_runtime() -> Any:
    from thresher.engine.ray import ensure_ray

    return ensure_ray(num_cpus=2)


def _parquet(tmp_path: Path, files: int = 4, rows: int = 20_000) -> tuple[str, int]:
    rng = np.random.default_rng(0)
    total = 0
    for i in range(files):
        t = pa.table({"id": np.arange(i * rows, (i + 1) * rows), "x": rng.random(rows),
                      "s": pa.array([f"row-{j:08d}-" + "p" * 40 for j in range(i * rows, (i + 1) * rows)])})
        pq.write_table(t, tmp_path / f"f{i}.parquet", row_group_size=rows // 2)
        total += t.nbytes
    return str(tmp_path / "*.parquet"), total


def test_driver_bytes_counter_sees_every_get(ray_runtime: Any) -> None:
    from thresher.engine.ray_runtime import count_driver_bytes, object_size

    batch = pa.record_batch({"a": np.arange(1000, dtype=np.int64)})
    assert object_size(batch) == batch.nbytes == 8000
    assert object_size([batch, (batch, np.zeros(10))]) == 16080
    ref = ray.put(batch)
    with count_driver_bytes() as got:
        ray.get(ref)
        ray.get([ref, ref])
    assert (got.bytes, got.objects, got.calls, got.largest) == (24000, 3, 2, 8000)
    ray.get(ref)  # outside the block: not counted, ray.get restored
    assert got.calls == 2


def test_a_collect_receives_its_result_and_stats_say_so(ray_runtime: Any, tmp_path: Path) -> None:
    from thresher.engine.ray_runtime import count_driver_bytes

    path, _ = _parquet(tmp_path, files=2, rows=2_000)
    df = th.read_parquet(path).with_columns(y=col("x") * 2)
    with count_driver_bytes() as got:
        out = df.collect(runner="ray")
    result = out.to_arrow()
    stats = out.stats()
    assert stats is not None and stats.executor == "ray"
    # the user asked for the data: it came to the driver, and the executor counted what it got
    assert got.bytes >= stats.driver_bytes_received >= result.nbytes
