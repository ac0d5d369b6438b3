"""On Ray, an error Thresher raises inside a Polars batch function reaches the user as on the
local executor: Thresher's message (with the stage and the partition), of its Thresher type,
without the lowered Polars expression Polars appends (tests/test_error_messages.py)."""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pytest

import thresher as th
from thresher.errors import ThresherExecutionError

ray = pytest.importorskip("ray")

T = pa.table({"a": pa.array([1, 0, 2], pa.int64()), "g": pa.array([1, 1, 2], pa.int64()),
              "s": ["2020-01-01", "x", None]})


@pytest.fixture(scope="module")
def ray_runtime() -> Any:
    from thresher.engine.ray_runtime import ensure_ray

    return ensure_ray(num_cpus=2)


@pytest.mark.parametrize(("query", "pattern"), [
    ("SELECT 1 // a AS q FROM t", r'division by zero in 1 // col\("a"\)'),
    ("SELECT g, sum(1 // a) AS q FROM t GROUP BY g", r'division by zero in 1 // col\("t.a"\)'),
    ("SELECT chr(a - 1) AS c FROM t", r"chr\(-1\): not a Unicode code point"),
    ("SELECT strptime(s, '%Y-%m-%d') AS d FROM t", r"strptime\('x', '%Y-%m-%d'\)"),
])
def test_ray_error_has_no_polars_expression(ray_runtime: Any, query: str, pattern: str) -> None:
    with pytest.raises(ThresherExecutionError) as info:
        th.sql(query, t=th.from_arrow(T)).to_arrow(runner="ray")
    text = str(info.value)
    assert "This error occurred" not in text and "python_udf" not in text and "\n" not in text, text
    assert re.search(pattern, text), text


def test_ray_runs_a_batch_function_that_reads_polars(ray_runtime: Any) -> None:
    # chr's check reads the lazily imported polars module: pickling it for a worker raised
    # "cannot pickle 'LazyModule' object" (stage 1 (map) failed)
    df = th.sql("SELECT g, chr(a + 65) AS c FROM t", t=th.from_arrow(T))
    assert df.to_pydict(runner="ray") == df.to_pydict() == {"g": [1, 1, 2], "c": ["B", "A", "C"]}
