"""Ray executor faults: workers that die are retried and the result is exact; exhausted retries
name the stage and the input partition; pools that can never be scheduled fail fast."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import thresher as th
from thresher import col

pytest.importorskip("ray")


def _die_once(marker: str) -> None:
    """Kill this worker process the first time (the marker file says it happened)."""
    if not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)


def test_task_that_dies_is_retried(tmp_path: Path) -> None:
    marker = str(tmp_path / "task-died")

    @th.udf(return_dtype="int64", batch=True)
    def die_once(a: pa.Array) -> pa.Array:
        _die_once(marker)
        return pc.multiply(a, 2)

    df = th.from_pydict({"x": list(range(100))}).select(die_once(col("x")).alias("y"))
    assert df.to_pydict(runner="ray") == {"y": [2 * i for i in range(100)]}
    assert os.path.exists(marker)


def test_actor_that_dies_is_restarted(tmp_path: Path) -> None:
    marker = str(tmp_path / "actor-died")

    @th.udf(return_dtype="int64", batch=True, concurrency=1, batch_size=10)
    class DiesOnce:
        def __init__(self) -> None:
            self.k = 3

        def __call__(self, a: pa.Array) -> pa.Array:
            _die_once(marker)
            return pc.add(a, self.k)

    df = th.from_pydict({"x": list(range(50))}).select(DiesOnce(col("x")).alias("y"))
    assert df.to_pydict(runner="ray") == {"y": [i + 3 for i in range(50)]}
    assert os.path.exists(marker)


def test_fan_out_generator_that_dies_is_retried(tmp_path: Path) -> None:
    marker = str(tmp_path / "generator-died")

    @th.udf(return_dtype={"i": "int64"}, batch_size=7)
    def frames(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            if i == 15:
                _die_once(marker)
            yield {"i": i}

    df = th.from_pydict({"n": [30, 20]}).flat_map(frames, "n", keep=["n"])
    assert df.to_pydict(runner="ray") == df.to_pydict(runner="local")
    assert os.path.exists(marker)


def test_exhausted_retries_name_stage_and_partition() -> None:
    @th.udf(return_dtype="int64", batch=True)
    def always_dies(a: pa.Array) -> pa.Array:
        os._exit(1)

    df = th.from_pydict({"x": [1, 2]}).select(always_dies(col("x")))
    with pytest.raises(th.ThresherExecutionError, match=r"stage \d+ .*always_dies.*input partition 'memory:.*after 1 retries"):
        df.collect(runner="ray", max_retries=1)


def test_application_error_names_stage_partition_and_udf() -> None:
    @th.udf(return_dtype="int64", batch=True)
    def explodes(a: pa.Array) -> pa.Array:
        raise RuntimeError("model exploded")

    df = th.from_pydict({"x": [1, 2]}).select(explodes(col("x")))
    with pytest.raises(th.ThresherExecutionError, match=r"stage \d+ .*partition.*udf explodes.*model exploded"):
        df.collect(runner="ray")


def test_unschedulable_actor_pool_fails_fast() -> None:
    @th.udf(return_dtype="int64", batch=True, num_cpus=1, concurrency=(64, 64))
    class TooMany:
        def __call__(self, a: pa.Array) -> pa.Array:
            return a

    from thresher.engine.ray_runtime import ensure_ray

    ensure_ray()  # Ray's own start (20-100 s on a loaded machine) is not what is timed
    t0 = time.perf_counter()
    with pytest.raises(th.ThresherExecutionError, match=r"actor pool of at least 64 .*could never be scheduled"):
        th.from_pydict({"x": [1]}).select(TooMany(col("x"))).collect(runner="ray")
    assert time.perf_counter() - t0 < 45  # fails fast instead of waiting forever for resources


def test_gpu_stage_without_gpus_fails_fast() -> None:
    @th.udf(return_dtype="int64", batch=True, num_gpus=1)
    def on_gpu(a: pa.Array) -> pa.Array:
        return a

    with pytest.raises(th.ThresherExecutionError, match="no node of the cluster has that.*could never be scheduled"):
        th.from_pydict({"x": [1]}).select(on_gpu(col("x"))).collect(runner="ray")
