"""The Ray executor: one shared Ray runtime, scans across partitions, actor pools, stats,
progress, extension types through workers, and (slow) a two-node cluster."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher import col

ray = pytest.importorskip("ray")


@pytest.fixture(scope="session")
def ray_runtime() -> Any:
    """One Ray for the whole test session (the executor reuses an initialized Ray)."""
    from thresher.engine.ray import ensure_ray

    return ensure_ray(num_cpus=2)


@th.udf(return_dtype="int64", batch=True, concurrency=(1, 2), batch_size=8)
class SlowModel:
    def __init__(self) -> None:
        self.pid = os.getpid()

    def __call__(self, a: pa.Array) -> pa.Array:
        import time

        time.sleep(0.05)
        return pc.add(a, 1)


@th.udf(return_dtype="int64", batch=True)
def pid_of(a: pa.Array) -> pa.Array:
    return pa.array([os.getpid()] * len(a), pa.int64())


def test_one_runtime_is_reused(ray_runtime: Any) -> None:
    from thresher.engine.ray import RayExecutor, ensure_ray

    assert ensure_ray() is ray_runtime and ray_runtime.is_initialized()
    assert RayExecutor().cluster_cpus == int(ray_runtime.cluster_resources()["CPU"])


def test_partitioned_scan_keeps_partition_order(ray_runtime: Any, tmp_path: Path) -> None:
    for i in range(5):
        pq.write_table(pa.table({"part": [i] * 30, "x": list(range(i * 30, i * 30 + 30))}), tmp_path / f"f{i}.parquet")
    df = th.read_parquet(str(tmp_path / "*.parquet")).with_columns(pid=pid_of(col("x")))
    out = df.collect(runner="ray")
    assert out.to_pydict()["x"] == list(range(150))
    assert os.getpid() not in set(out.to_pydict()["pid"])  # the map ran in workers
    stats = out.stats()
    assert stats is not None and stats.executor == "ray"
    scan = min(stats.stages.values(), key=lambda s: s.stage_id)
    assert scan.extra.get("partitions") == 5 and scan.rows_out == 150


def test_actor_pool_grows_to_its_max_and_keeps_order(ray_runtime: Any) -> None:
    df = th.from_pydict({"x": list(range(200))}).select(SlowModel(col("x")).alias("y"))
    out = df.collect(runner="ray")
    assert out.to_pydict() == {"y": [i + 1 for i in range(200)]}
    stats = out.stats()
    assert stats is not None
    actors = [s.extra["actors"] for s in stats.stages.values() if "actors" in s.extra]
    assert actors and 1 <= actors[0] <= 2


def test_stats_on_both_executors(ray_runtime: Any) -> None:
    df = th.from_pydict({"x": list(range(1000))}).with_columns(y=pid_of(col("x"))).filter(col("x") % 2 == 0)
    shapes = {}
    for runner in ("local", "ray"):
        stats = df.collect(runner=runner).stats()
        assert stats is not None and stats.executor == runner
        rows = stats.to_dicts()
        for d in rows:
            assert {"rows_in", "rows_out", "bytes_out", "wall_s", "busy_s"} <= set(d)
        mapped = [d for d in rows if d["rows_in"] == 1000]
        assert mapped and mapped[0]["rows_out"] == 500 and mapped[0]["busy_s"] > 0
        shapes[runner] = [(d["rows_in"], d["rows_out"]) for d in rows]
    assert shapes["local"] == shapes["ray"]


def test_extension_types_travel_through_workers(ray_runtime: Any) -> None:
    @th.udf(return_dtype=th.DataType.embedding("float32", 4), batch=True)
    def embed(x: np.ndarray) -> np.ndarray:
        return np.stack([x, x + 1, x + 2, x + 3], axis=1).astype(np.float32)

    @th.udf(return_dtype="float64", batch=True)
    def first(e: pa.Array) -> pa.Array:
        return pc.list_element(e.storage, 0).cast(pa.float64())

    df = th.from_pydict({"x": [1.0, 2.0, 3.0]}).with_columns(e=embed(col("x"))).with_columns(f=first(col("e")))
    local, remote = df.to_arrow(runner="local"), df.to_arrow(runner="ray")
    assert remote.equals(local)
    assert str(remote.schema.field("e").type) == str(local.schema.field("e").type)


def test_progress_bars_report_rows_per_stage(ray_runtime: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from thresher.engine.progress import ProgressReporter
    from thresher.engine.stats import RunStats
    from thresher.planner.physical import plan_physical

    df = th.from_pydict({"x": list(range(10))}).with_columns(y=pid_of(col("x")))
    plan = plan_physical(df._plan)
    stats = RunStats()
    bars = ProgressReporter(plan, stats, enabled=True)
    stage = plan.stages()[-1]
    stats.stage(stage.id, "map").add_in(10)
    bars.update(stage.id, 10)
    assert bars.rows(stage.id) == 10
    bars.close()
    assert ProgressReporter(plan, stats).enabled is False  # THRESHER_PROGRESS=0 in tests
    # a run with progress on completes and leaves no bars behind
    assert df.collect(runner="ray", progress=True).count_rows() == 10


@pytest.mark.slow
def test_two_node_cluster(tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        from thresher.engine.ray import ensure_ray

        ensure_ray(address=cluster.address)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        for i in range(4):
            pq.write_table(pa.table({"k": [j % 5 for j in range(100)], "v": list(range(i * 100, i * 100 + 100))}),
                           tmp_path / f"f{i}.parquet")
        df = (th.read_parquet(str(tmp_path / "*.parquet")).with_columns(p=pid_of(col("v")))
              .group_by("k").agg(col("v").sum().alias("s"), col("p").count().alias("n")).sort("k"))
        expected = {"k": [0, 1, 2, 3, 4], "s": [sum(v for v in range(400) if v % 100 % 5 == k) for k in range(5)],
                    "n": [80] * 5}
        assert df.to_pydict(runner="ray") == expected
        with pytest.raises(th.ThresherExecutionError, match="could never be scheduled"):
            th.from_pydict({"x": [1]}).select(SlowModel.with_options(num_cpus=2)(col("x"))).collect(runner="ray")
    finally:
        ray.shutdown()
        cluster.shutdown()
