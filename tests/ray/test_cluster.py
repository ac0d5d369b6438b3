"""A 4-node ``ray.cluster_utils.Cluster``: read -> map -> write_parquet runs on every node, and a
node removed half way loses nothing (issue 18).

Every test compares the Ray output with the local executor's (the reference nobody here tuned
for Ray) and reads the sink's own commit record: each source partition committed exactly once,
one set of files per partition, no row lost or doubled. Where work ran is read from the written
files' metadata (the node id a Ray write task records) and from a map UDF that returns its
worker's node id as a column.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from ray_cluster_helpers import (
    alive_nodes,
    committed,
    data_files,
    file_node_ids,
    ray_cluster,
    read_sorted,
    write_inputs,
)

import thresher as th
from thresher import col

ray = pytest.importorskip("ray")

NODES = 4
FILES = 24
ROWS = 1_000


def node_udf(marks: str | None = None, sleep_s: float = 0.0) -> Any:
    """A batch UDF returning the node id of the worker that ran it (and, when ``marks`` is a folder,
    leaving one marker file per batch there, so a test can see how far the job got)."""

    @th.udf(return_dtype="string", batch=True, batch_size=250)
    def node_of(a: pa.Array) -> pa.Array:
        import ray as r

        nid = r.get_runtime_context().get_node_id()
        if sleep_s:
            time.sleep(sleep_s)
        if marks is not None:
            with open(os.path.join(marks, f"{nid}-{uuid.uuid4().hex}"), "w"):
                pass
        return pa.array([nid] * len(a), pa.large_string())

    return node_of


def pipeline(src: str, udf: Any) -> th.DataFrame:
    return th.read_parquet(src).with_columns(node=udf(col("id")), id3=col("id") * 3, up=col("text").str.upper())


def wait_until_dead(node_id: str, timeout_s: float = 120.0) -> None:
    """The cluster marks a killed node dead after its health checks fail (seconds, more under load)."""
    deadline = time.monotonic() + timeout_s
    while node_id in alive_nodes():
        assert time.monotonic() < deadline, f"node {node_id} is still alive after being removed"
        time.sleep(0.5)


def local_reference(src: str, out: Path) -> pa.Table:
    """The same job on the local executor, read back sorted, without the node column."""
    th.set_runner("local")
    pipeline(src, node_udf()).write_parquet(str(out), job_id="ref", runner="local")
    return read_sorted(str(out), drop=("node",))


def check_exactly_once(out: str, job_id: str, result: pa.Table, partitions: int) -> None:
    """The sink's record: every source partition committed once, its files exist, nothing else is there."""
    record = committed(out, job_id)
    assert len(record) == partitions, sorted(record)
    files = [f for fs in record.values() for f in fs]
    assert len(files) == len(set(files)), "a file was committed for two partitions"
    assert sorted(files) == data_files(out), "the dataset holds files no commit recorded, or lost one"
    statuses = result.to_pydict()["status"]
    assert set(statuses) == {"committed"} and len(statuses) == partitions, statuses


@pytest.fixture(scope="module")
def cluster() -> Any:
    with ray_cluster(NODES) as c:
        yield c


@pytest.mark.slow
def test_read_map_write_runs_on_every_node(cluster: Any, tmp_path: Path) -> None:
    src = write_inputs(tmp_path / "in", FILES, ROWS)
    expected = local_reference(src, tmp_path / "ref")
    nodes = set(alive_nodes())
    assert len(nodes) == NODES
    out = str(tmp_path / "out")
    # a little work per batch, so that tasks overlap and the scheduler spreads them
    result = pipeline(src, node_udf(sleep_s=0.1)).write_parquet(out, job_id="all-nodes", runner="ray")
    check_exactly_once(out, "all-nodes", result, FILES)
    got = read_sorted(out)
    assert set(got.column("node").to_pylist()) == nodes, "the map did not run on every node"
    assert got.drop_columns(["node"]).equals(expected)
    where = file_node_ids(out)
    assert None not in where.values(), f"files without a node id in their metadata: {where}"
    assert set(where.values()) == nodes, "scans/writes did not run on every node"
    # the commit records say the same: each partition's write task ran where its file says
    res = result.to_pydict()
    by_file = {f: n for pid, n in zip(res["partition_id"], res["node_id"]) for f in committed(out, "all-nodes")[pid]}
    assert by_file == where


@pytest.mark.slow
def test_node_removed_half_way_loses_nothing(cluster: Any, tmp_path: Path) -> None:
    src = write_inputs(tmp_path / "in", FILES, ROWS)
    expected = local_reference(src, tmp_path / "ref")
    head = ray.get_runtime_context().get_node_id()  # the driver's node stays
    marks = tmp_path / "marks"
    marks.mkdir()
    batches = FILES * ROWS // 250
    out = str(tmp_path / "out")
    box: dict[str, Any] = {}

    def job() -> None:
        try:
            box["result"] = pipeline(src, node_udf(str(marks), sleep_s=0.2)).write_parquet(
                out, job_id="node-loss", runner="ray")
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    t = threading.Thread(target=job)
    t.start()
    deadline = time.monotonic() + 300
    while len(os.listdir(marks)) < batches // 2:
        assert t.is_alive(), f"the job ended before half its batches were seen: {box}"
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.05)
    # a worker node that has run map tasks dies without warning (its raylet is killed)
    done_on = {m.split("-")[0] for m in os.listdir(marks)} - {head}
    victim = next(n for n in cluster.worker_nodes if n.node_id in done_on) if done_on else next(iter(cluster.worker_nodes))
    at_removal = len(os.listdir(marks))
    cluster.remove_node(victim, allow_graceful=False)
    t.join(timeout=600)
    assert not t.is_alive(), "the job hung after a node died"
    if "error" in box:
        raise box["error"]
    assert at_removal < batches, "the node was removed only after the job's map work was done"
    wait_until_dead(victim.node_id)
    check_exactly_once(out, "node-loss", box["result"], FILES)
    got = read_sorted(out, drop=("node",))
    assert got.equals(expected), "output differs from the local executor's after a node died"


@pytest.mark.slow
def test_lance_sink_on_the_cluster_commits_each_partition_once(cluster: Any, tmp_path: Path) -> None:
    """The same job into a Lance dataset, a node killed half way: the dataset equals the local
    executor's, and re-running the job id commits nothing twice."""
    pytest.importorskip("lance")
    src = write_inputs(tmp_path / "in", FILES, ROWS)
    local = pipeline(src, node_udf()).drop("node")
    expected = local.sort("id").to_arrow(runner="local")
    marks = tmp_path / "marks"
    marks.mkdir()
    uri = str(tmp_path / "ds.lance")
    df = pipeline(src, node_udf(str(marks), sleep_s=0.2))  # the node column keeps the UDF in the plan
    box: dict[str, Any] = {}

    def job() -> None:
        try:
            box["result"] = df.write_lance(uri, mode="create", job_id="lance-node-loss", runner="ray")
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    t = threading.Thread(target=job)
    t.start()
    deadline = time.monotonic() + 300
    while len(os.listdir(marks)) < FILES * ROWS // 250 // 2:
        assert t.is_alive(), f"the job ended before half its batches were seen: {box}"
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.05)
    victim = list(cluster.worker_nodes)[-1]
    cluster.remove_node(victim, allow_graceful=False)
    t.join(timeout=600)
    assert not t.is_alive(), "the job hung after a node died"
    if "error" in box:
        raise box["error"]
    first = box["result"].to_pydict()
    assert first["status"] == ["committed"] * FILES and len(set(first["partition_id"])) == FILES
    again = df.write_lance(uri, mode="append", job_id="lance-node-loss", runner="ray").to_pydict()
    assert set(again["status"]) == {"already committed"}
    back = th.read_lance(uri).drop("node").sort("id").to_arrow(runner="local")
    assert back.select(expected.column_names).equals(expected)
