"""Actor pools on Ray: they never deadlock the tasks around them, and never outlive their run.

An actor pool's actors hold their CPUs while their stage runs, and every stage of a plan runs
at once. A pool over batches cut by bookkeeping tasks (into_batches, a row index, a limit) that
holds every CPU must still drain (those tasks reserve no CPU); a plan whose pools would leave no
room for the scan or write tasks around them is rejected before anything starts; and a run that
fails -- in the pool's UDF, or in another stage while the pool waits on a slow actor -- leaves no
actor (pool workers, shared services) behind to hold CPUs in later runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher import col
from thresher.errors import ThresherError, ThresherExecutionError
from thresher.udfs.service import SharedService

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_runtime() -> Any:
    from thresher.engine.ray import ensure_ray

    return ensure_ray(num_cpus=2)


def _cpus(rt: Any) -> float:
    return float(rt.cluster_resources()["CPU"])


def _pool_udf(cpus: float, concurrency: Any, fail_at: int | None = None, slow_at: int | None = None) -> Any:
    """A class UDF (x + 1) whose actors ask ``cpus`` each; raises on ``fail_at``, sleeps on ``slow_at``."""

    @th.udf(return_dtype="int64", batch=True, num_cpus=cpus, concurrency=concurrency, batch_size=5)
    class PlusOne:
        def __call__(self, a: pa.Array) -> pa.Array:
            values = a.to_pylist()
            if fail_at is not None and fail_at in values:
                raise ValueError(f"bad row {fail_at}")
            if slow_at is not None and slow_at in values:
                time.sleep(600)  # killed with its actor when the run ends
            return pc.add(a, 1)

    return PlusOne


class Tally:
    """A stand-in shared service (the prompt router's role): started per pool, stopped with it."""

    def stats(self) -> dict[str, int]:
        return {}


@th.udf(return_dtype="int64", batch=True)
def fails(a: pa.Array) -> pa.Array:
    raise ValueError("downstream stage failed")


def _actors(rt: Any) -> dict[str, tuple[str, str]]:
    """This job's actors: id -> (class name, state)."""
    job = rt.get_runtime_context().get_job_id()
    return {k: (v["ActorClassName"], v["State"]) for k, v in rt._private.state.actors().items() if v["JobID"] == job}


def _alive_after(rt: Any, before: set[str], wait_s: float = 60.0) -> list[str]:
    """Class names of the actors started since ``before`` that are still alive once Ray has had
    ``wait_s`` to process the kills (empty as soon as all are dead)."""
    deadline = time.monotonic() + wait_s
    while True:
        alive = [name for k, (name, state) in _actors(rt).items() if k not in before and state != "DEAD"]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def test_a_pool_holding_every_cpu_drains_over_batches_cut_by_tasks(ray_runtime: Any) -> None:
    # the shape of the two-actor prompt stage that hung: two actors hold every CPU, and their
    # input is cut by bookkeeping tasks (into_batches, a row index, a limit) that must still run
    udf = _pool_udf(_cpus(ray_runtime) / 2, 2)
    df = (th.from_pydict({"x": list(range(60))}).into_batches(7).limit(50).with_row_index("i")
          .select(udf(col("x")).alias("y"), col("i")))
    before = set(_actors(ray_runtime))
    out = df.collect(runner="ray")
    assert out.to_pydict() == df.to_pydict(runner="local") == {"y": list(range(1, 51)), "i": list(range(50))}
    stats = out.stats()
    assert stats is not None and [s.extra["actors"] for s in stats.stages.values() if "actors" in s.extra] == [2]
    assert _alive_after(ray_runtime, before) == []


def test_a_pool_that_would_starve_its_scan_or_write_is_rejected_before_it_starts(ray_runtime: Any,
                                                                                 tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": list(range(40))}), tmp_path / "a.parquet")
    every_cpu = _pool_udf(_cpus(ray_runtime) / 2, 2)
    before = set(_actors(ray_runtime))
    # Parquet scan tasks ask a CPU each: none would be left beside the two actors
    scan_first = th.read_parquet(str(tmp_path / "*.parquet")).select(every_cpu(col("x")).alias("y"))
    with pytest.raises(ThresherExecutionError, match=r"stage 0 \(.*\) runs tasks of 1 CPU each.*deadlock"):
        scan_first.collect(runner="ray")
    # write tasks after the pool: the same
    with pytest.raises(ThresherExecutionError, match=r"runs tasks of 1 CPU each.*deadlock"):
        th.from_pydict({"x": [1, 2, 3]}).select(every_cpu(col("x")).alias("y")).write_parquet(
            str(tmp_path / "out"), runner="ray")
    # two pools that fit one at a time but not together
    half = _pool_udf(_cpus(ray_runtime) / 2, 1)
    other = _pool_udf(_cpus(ray_runtime) / 2 + 0.5, 1)
    both = th.from_pydict({"x": [1, 2, 3]}).select(half(col("x")).alias("y")).with_row_index("i").select(
        other(col("y")).alias("z"))
    with pytest.raises(ThresherExecutionError, match="actor pools need at least .* deadlock"):
        both.collect(runner="ray")
    assert _alive_after(ray_runtime, before, wait_s=0) == []  # rejected before any actor started
    # the way out the error names: a pool that grows only while room is left
    grows = _pool_udf(_cpus(ray_runtime) / 2, (1, 2))
    df = th.read_parquet(str(tmp_path / "*.parquet")).select(grows(col("x")).alias("y"))
    assert df.to_pydict(runner="ray") == {"y": list(range(1, 41))}


def test_an_error_in_a_pool_stage_leaves_no_actor_behind(ray_runtime: Any) -> None:
    cpus = _cpus(ray_runtime)
    udf = _pool_udf(cpus / 2, 2, fail_at=13)
    udf.shared_service = lambda max_replicas: SharedService(Tally, {}, max_concurrency=4)
    df = th.from_pydict({"x": list(range(40))}).select(udf(col("x")).alias("y"))
    before = set(_actors(ray_runtime))
    with pytest.raises(ThresherError, match="bad row 13"):
        df.collect(runner="ray")
    assert _alive_after(ray_runtime, before) == []
    started = sorted(name for k, (name, _) in _actors(ray_runtime).items() if k not in before)
    assert started == ["PipelineActor", "PipelineActor", "Tally"]  # the check saw the pool's actors
    # the CPUs the actors held are free again: the next run gets the whole cluster
    deadline = time.monotonic() + 60
    while ray_runtime.available_resources().get("CPU", 0) < cpus and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray_runtime.available_resources().get("CPU", 0) == cpus


def test_a_failure_elsewhere_stops_a_pool_waiting_on_a_slow_actor(ray_runtime: Any) -> None:
    # the pool's stage waits on an actor busy for minutes when a stage after it fails: the run
    # ends with the error at once, and its actors (and the pool's service) are killed, not left
    # holding their CPUs until the slow call returns
    udf = _pool_udf(1.0, 1, slow_at=7)
    udf.shared_service = lambda max_replicas: SharedService(Tally, {}, max_concurrency=4)
    df = (th.from_pydict({"x": list(range(40))}).select(udf(col("x")).alias("y")).with_row_index("i")
          .select(fails(col("y")).alias("z")))
    before = set(_actors(ray_runtime))
    with pytest.raises(ThresherError, match="downstream stage failed"):
        df.collect(runner="ray")
    assert _alive_after(ray_runtime, before) == []
    assert sorted(name for k, (name, _) in _actors(ray_runtime).items() if k not in before) == ["PipelineActor",
                                                                                                 "Tally"]
