"""Helpers of the multi-node Ray tests: a throw-away ``ray.cluster_utils.Cluster``, generated
Parquet inputs, and what a written dataset says about where it was written.

No ``__init__.py`` in this folder on purpose: a package named ``ray`` here would shadow Ray.
"""

from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

#: the Parquet key-value metadata key a Ray write task records its node id under
NODE_ID_KEY = b"thresher.node_id"


@contextmanager
def ray_cluster(nodes: int, cpus_per_node: int = 1, object_store_mb: int = 80,
                timeout_s: float = 300.0) -> Iterator[Any]:
    """A ``nodes``-node local Ray cluster with the driver connected to it, torn down on exit.

    Start-up on a loaded 2-core machine can take tens of seconds: the wait is generous.
    """
    import ray
    from ray.cluster_utils import Cluster

    from thresher.engine.ray_runtime import ensure_ray

    if ray.is_initialized():  # a session-wide local Ray of other tests: this module needs its own
        ray.shutdown()
    store = object_store_mb << 20
    # a killed node is noticed after 10 missed 1 s health checks (not the default ~30 s), generous
    # enough that a loaded machine does not declare a slow node dead
    system = {"health_check_period_ms": 1000, "health_check_failure_threshold": 10}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus_per_node, "object_store_memory": store,
                                                            "_system_config": system})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=cpus_per_node, object_store_memory=store)
        cluster.wait_for_nodes(timeout=timeout_s)
        ensure_ray(address=cluster.address)
        deadline = time.monotonic() + timeout_s
        while len(alive_nodes()) < nodes:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(alive_nodes())} of {nodes} Ray nodes came up in {timeout_s:g}s")
            time.sleep(0.5)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def alive_nodes() -> list[str]:
    import ray

    return [n["NodeID"] for n in ray.nodes() if n.get("Alive")]


def write_inputs(folder: Path, files: int, rows: int, payload: int = 64) -> str:
    """``files`` Parquet files of ``rows`` rows (id, key, text payload); returns their glob."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        ids = pa.array(range(i * rows, (i + 1) * rows), pa.int64())
        text = pa.array([f"{j:08d}" * (payload // 8) for j in range(i * rows, (i + 1) * rows)], pa.large_string())
        pq.write_table(pa.table({"id": ids, "k": pa.compute.bit_wise_and(ids, 7), "text": text}),
                       folder / f"part-{i:03d}.parquet")
    return str(folder / "*.parquet")


def data_files(out: str) -> list[str]:
    """The committed data files of a Parquet dataset written by Thresher (not its metadata folder)."""
    return sorted(glob.glob(os.path.join(out, "*.parquet")))


def read_sorted(out: str, drop: tuple[str, ...] = ()) -> pa.Table:
    t = pa.concat_tables([pq.read_table(f) for f in data_files(out)])
    t = t.drop_columns([c for c in drop if c in t.column_names])
    return t.sort_by([(c, "ascending") for c in t.column_names if not pa.types.is_nested(t.schema.field(c).type)])


def committed(out: str, job_id: str) -> dict[str, list[str]]:
    """The sink's commit record of ``job_id``: partition id -> the files committed for it."""
    with open(os.path.join(out, "_thresher", "jobs", f"{job_id}.json")) as f:
        m = json.load(f)
    assert not m.get("pending"), f"a commit of {job_id} was left half done: {m['pending']}"
    return {str(k): list(v) for k, v in m["committed"].items()}


def file_node_ids(out: str) -> dict[str, str | None]:
    """Each data file -> the Ray node id recorded in its key-value metadata (None: none recorded)."""
    out_ids: dict[str, str | None] = {}
    for f in data_files(out):
        meta = pq.read_metadata(f).metadata or {}
        v = meta.get(NODE_ID_KEY)
        out_ids[f] = v.decode() if v is not None else None
    return out_ids

