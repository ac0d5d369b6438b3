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


@th.udf(return_dtype="float64", batch=True)
def twice(a: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    return pc.multiply(a, 2.0)


@th.udf(return_dtype="int64", batch=True, concurrency=(1, 1))
class AddOne:
    def __call__(self, a: pa.Array) -> pa.Array:
        import pyarrow.compute as pc

        return pc.add(a, 1)


def _read_dir(path: Path) -> pa.Table:
    files = sorted(path.rglob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]).sort_by("id")


def test_read_map_write_sends_no_batch_to_the_driver(ray_runtime: Any, tmp_path: Path) -> None:
    from thresher.engine.ray_runtime import count_driver_bytes

    (tmp_path / "in").mkdir()
    path, input_bytes = _parquet(tmp_path / "in", files=4)
    assert input_bytes > 4 << 20
    df = th.read_parquet(path).with_columns(y=twice(col("x"))).filter(col("x") > 0.25)
    with count_driver_bytes() as got:
        result = df.write_parquet(str(tmp_path / "ray"), runner="ray")
    # metadata only: row counts, task reports, write results (and nothing close to a batch)
    assert got.bytes < 0.01 * input_bytes, got
    assert got.largest < 64 << 10, got
    res = result.to_pydict()
    assert set(res["status"]) == {"committed"} and sum(res["num_rows"]) > 0
    node = ray.get_runtime_context().get_node_id()
    assert set(res["node_id"]) == {node}
    # every file says which node wrote it; the local writer leaves no node id
    files = sorted((tmp_path / "ray").rglob("*.parquet"))
    assert len(files) == len(res["partition_id"])
    assert all(pq.read_metadata(f).metadata[b"thresher.node_id"].decode() == node for f in files)
    local = df.write_parquet(str(tmp_path / "local"), runner="local").to_pydict()
    assert set(local["node_id"]) == {None}
    assert not any(b"thresher.node_id" in (pq.read_metadata(f).metadata or {})
                   for f in (tmp_path / "local").rglob("*.parquet"))
    assert _read_dir(tmp_path / "ray").equals(_read_dir(tmp_path / "local"))
    stats = result.stats()
    assert stats is not None and stats.driver_bytes_received <= got.bytes


def test_writes_placed_near_their_data_run(ray_runtime: Any, tmp_path: Path, monkeypatch: Any) -> None:
    # on a cluster (several nodes) each write task is placed on the node holding its batches; the
    # same code path on this one node, forced: the placed task runs and writes what it should
    from thresher.engine.ray import RayExecutor

    init = RayExecutor.__init__

    def spreading(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.spread = True

    monkeypatch.setattr(RayExecutor, "__init__", spreading)
    (tmp_path / "in").mkdir()
    path, _ = _parquet(tmp_path / "in", files=3, rows=2_000)
    df = th.read_parquet(path).with_columns(y=twice(col("x")))
    res = df.write_parquet(str(tmp_path / "ray"), runner="ray").to_pydict()
    assert res["status"] == ["committed"] * 3
    assert set(res["node_id"]) == {ray.get_runtime_context().get_node_id()}
    df.write_parquet(str(tmp_path / "local"), runner="local")
    assert _read_dir(tmp_path / "ray").equals(_read_dir(tmp_path / "local"))


def test_scan_and_maps_fuse_into_one_task_and_a_pool_breaks_fusion(ray_runtime: Any, tmp_path: Path) -> None:
    path, _ = _parquet(tmp_path, files=3, rows=1_000)
    df = th.read_parquet(path).with_columns(y=twice(col("x"))).filter(col("id") % 2 == 0)
    out = df.collect(runner="ray")
    assert out.to_pydict() == df.to_pydict(runner="local")
    stats = out.stats()
    assert stats is not None
    top = max(stats.stages.values(), key=lambda s: s.stage_id)
    assert top.extra["fused"] == "scan 0 + map 1"
    scan = stats.stages[0]
    assert scan.extra["fused_into"] == top.stage_id and scan.rows_out == 3_000 and top.rows_out == 1_500
    pooled = th.read_parquet(path).with_columns(z=AddOne(col("id"))).with_columns(w=col("z") * 3)
    out = pooled.collect(runner="ray")
    assert out.to_pydict() == pooled.to_pydict(runner="local")
    stats = out.stats()
    assert stats is not None
    assert not any("fused" in s.extra for s in stats.stages.values() if s.extra.get("actors"))


def test_limit_union_row_index_rebatch_plan_from_metadata(ray_runtime: Any, tmp_path: Path) -> None:
    from thresher.engine.ray_runtime import count_driver_bytes

    path, input_bytes = _parquet(tmp_path, files=4, rows=20_000)
    base = th.read_parquet(path).with_columns(y=col("x") * 2)
    frames = {
        "limit": base.filter(col("id") % 3 == 0).limit(2500, offset=1234),
        "scan_limit": th.read_parquet(path).limit(3_000),
        "union": base.filter(col("id") < 3_000).union(base.filter(col("id") > 77_000)),
        "row_index": base.filter(col("id") % 20 == 1).with_row_index("n", offset=5),
        "rebatch": base.filter(col("id") % 20 == 1).into_batches(77).with_columns(z=col("y") + 1),
    }
    for name, df in frames.items():
        with count_driver_bytes() as got:
            table = df.to_arrow(runner="ray")
        assert table.equals(df.to_arrow(runner="local")), name
        # the driver got the result it asked for, and metadata: no other batch
        assert got.bytes < table.nbytes + 0.01 * input_bytes, (name, got)


@pytest.mark.parametrize("fmt", ["iceberg", "lance"])
def test_table_sinks_write_in_tasks(ray_runtime: Any, tmp_path: Path, fmt: str) -> None:
    pytest.importorskip("pyiceberg" if fmt == "iceberg" else "lance")
    path, _ = _parquet(tmp_path, files=3, rows=500)
    df = th.read_parquet(path).with_columns(y=col("x") * 2)
    if fmt == "iceberg":
        catalog = th.iceberg_catalog(str(tmp_path / "wh"))
        written = df.write_iceberg("db.t", catalog=catalog, job_id="j1", runner="ray")
        again = df.write_iceberg("db.t", catalog=catalog, job_id="j1", runner="ray").to_pydict()
        back = th.read_iceberg("db.t", catalog=catalog)
        df.write_iceberg("db.local", catalog=catalog, job_id="j1", runner="local")
        local = th.read_iceberg("db.local", catalog=catalog)
    else:
        uri = str(tmp_path / "ds.lance")
        written = df.write_lance(uri, mode="create", job_id="j1", runner="ray")
        again = df.write_lance(uri, mode="append", job_id="j1", runner="ray").to_pydict()
        back = th.read_lance(uri)
        local = df
    first = written.to_pydict()
    stats = written.stats()
    assert stats is not None
    assert not any("writes_on_driver" in s.extra for s in stats.stages.values())
    # the files were written in tasks on the worker node (the Iceberg sink re-opens its catalog there)
    node = ray.get_runtime_context().get_node_id()
    assert first["status"] == ["committed"] * 3 and set(first["node_id"]) == {node}
    assert set(again["status"]) == {"already committed"}  # exactly once across runs
    assert back.sort("id").to_pydict() == local.sort("id").to_pydict(runner="local")
    if fmt == "iceberg":
        from pyiceberg.catalog.sql import SqlCatalog

        from thresher.io.commit import JOB_ID_KEY

        table = SqlCatalog("thresher", **catalog.properties).load_table("db.t")
        jobs = [s.summary.additional_properties.get(JOB_ID_KEY) for s in table.snapshots() if s.summary]
        assert jobs.count("j1") == len(jobs) >= 1  # the re-run added no snapshot


def test_a_sink_that_does_not_pickle_writes_on_the_driver(ray_runtime: Any, tmp_path: Path) -> None:
    """A sink no worker can receive is not shipped: the driver writes, and the stats say so."""
    import threading

    from thresher.io.files_sink import ParquetSink

    class LockedSink(ParquetSink):
        def __init__(self, uri: str) -> None:
            super().__init__(uri)
            self.lock = threading.Lock()  # does not pickle

    path, _ = _parquet(tmp_path, files=2, rows=300)
    df = th.read_parquet(path).with_columns(y=col("x") * 2)
    written = df.write(LockedSink(str(tmp_path / "out")), job_id="j1", runner="ray")
    res = written.to_pydict()
    stats = written.stats()
    assert stats is not None
    assert any("does not pickle" in s.extra.get("writes_on_driver", "") for s in stats.stages.values())
    assert res["status"] == ["committed"] * 2 and set(res["node_id"]) == {None}
    assert _read_dir(tmp_path / "out").sort_by("id").equals(df.sort("id").to_arrow(runner="local"))
