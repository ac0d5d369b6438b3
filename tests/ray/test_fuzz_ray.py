"""The plan fuzzer on Ray: every random pipeline gives the same rows on the Ray executor as on the
local executor (issue 18).

The pipelines are the plan fuzzer's own (``tests/planner/test_fuzz.py``: filters, projections,
joins, group-bys, explodes, unions, distincts, UDF maps, sort+limit over nullable ints, floats,
strings, dates and lists), but their inputs are Parquet files cut into several partitions, so
that on Ray the scans are tasks, the maps run per batch in workers and the joins/group-bys
shuffle. Each pipeline runs optimized on both executors and unoptimized on Ray (with a random
subset of rules off); rows are compared as multisets. One Ray for the module; a bounded number
of examples in the default suite, many more under ``slow``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import thresher as th
from thresher.planner.optimizer.runner import rule_names

ray = pytest.importorskip("ray")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "planner"))
import test_fuzz as fuzz  # noqa: E402 - the plan fuzzer's strategies, shared (its folder is not a package)


@pytest.fixture(scope="module")
def ray_runtime() -> Any:
    from thresher.engine.ray_runtime import ensure_ray

    return ensure_ray(num_cpus=2)


def _parquet(data: dict[str, list[Any]], types: dict[str, Any], folder: Path, parts: int) -> th.DataFrame:
    """The table as ``parts`` Parquet files (some may be empty), read back as one frame."""
    folder.mkdir(parents=True)
    t = pa.table({k: pa.array(v, type=types[k]) for k, v in data.items()})
    step = -(-t.num_rows // parts) if t.num_rows else 0
    for i in range(parts):
        pq.write_table(t.slice(i * step, step) if step else t, folder / f"p{i}.parquet")
    return th.read_parquet(str(folder / "*.parquet"))


@st.composite
def partitioned_pipelines(draw: Any) -> tuple[Any, list[str], int, int]:
    """The data of a pipeline, the rules to switch off, and how many files each input is cut into
    (the pipeline's steps are drawn later, over the frames read from those files)."""
    left, right = draw(fuzz.tables())
    disabled = draw(st.lists(st.sampled_from(rule_names()), max_size=3, unique=True))
    return (left, right), disabled, draw(st.integers(1, 4)), draw(st.integers(1, 2))


def build(draw: Any, left: th.DataFrame, right: th.DataFrame) -> th.DataFrame:
    counter = [0]
    df = left
    for _ in range(draw(st.integers(2, 7))):
        df = fuzz._step(draw, df, right, counter)
    return df


def check_on_ray(data: Any, steps: st.DataObject, disabled: list[str], left_parts: int, right_parts: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="thresher-fuzz-ray-"))
    try:
        types = fuzz._types()
        left = _parquet(data[0], types, folder / "left", left_parts)
        right = _parquet(data[1], types, folder / "right", right_parts)
        df = build(steps.draw, left, right)
        expected = fuzz._rows(df, runner="local")
        plan = df.explain(format="text", print_=False)
        assert fuzz._rows(df, runner="ray") == expected, plan
        try:
            th.set_optimizer(disabled=disabled)
            assert fuzz._rows(df, runner="ray") == expected, (disabled, plan)
        finally:
            th.set_optimizer(disabled=[])
        assert fuzz._rows(df, optimize=False, runner="ray") == expected, plan
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(max_examples=12, **fuzz._SETTINGS)
@given(partitioned_pipelines(), st.data())
def test_ray_equals_local(ray_runtime: Any, case: Any, steps: st.DataObject) -> None:
    data, disabled, lp, rp = case
    check_on_ray(data, steps, disabled, lp, rp)


@pytest.mark.slow
@settings(max_examples=300, **{**fuzz._SETTINGS, "derandomize": False})
@given(partitioned_pipelines(), st.data())
def test_ray_equals_local_many(ray_runtime: Any, case: Any, steps: st.DataObject) -> None:
    data, disabled, lp, rp = case
    check_on_ray(data, steps, disabled, lp, rp)
