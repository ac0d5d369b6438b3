"""The local and Ray executors run the same plans to the same results; Ray-only failure cases."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

import thresher as th
from thresher import col


@th.udf(return_dtype="int64")
def plus_ten(x: int) -> int:
    return x + 10


@th.udf(return_dtype={"part": "string"})
def split_words(s: str):  # type: ignore[no-untyped-def]
    yield from ({"part": w} for w in s.split("-"))


@th.udf(return_dtype="string", cost="model")
def tag(s: str) -> str:
    return f"<{s}>"


def frames() -> tuple[th.DataFrame, th.DataFrame]:
    a = th.from_pydict({"id": list(range(300)), "k": [f"k{i % 7}" for i in range(300)],
                        "s": [f"w{i}-x{i % 3}" for i in range(300)], "v": [float(i) / 4 for i in range(300)]})
    b = th.from_pydict({"k": [f"k{i}" for i in range(5)], "w": [i * 100 for i in range(5)]})
    return a, b


PLANS = {
    "filter_project": lambda a, b: a.filter(col("v") > 20).with_columns(z=col("v") * 2, u=col("k").str.upper()),
    "udf_map": lambda a, b: a.select("id", plus_ten(col("id")).alias("p")),
    "group_after_udf": lambda a, b: a.with_columns(t=tag(col("k"))).group_by("t").agg(col("v").sum().alias("sv"),
                                                                                      th.count().alias("n")),
    "join_after_udf": lambda a, b: a.with_columns(t=tag(col("k"))).join(b.with_columns(t=tag(col("k"))), on="t"),
    "join": lambda a, b: a.join(b, on="k", how="left"),
    "sort_limit": lambda a, b: a.sort("v", descending=True).limit(7),
    "explode": lambda a, b: a.with_columns(parts=col("s").str.split("-")).explode("parts").select("id", "parts"),
    "flat_map": lambda a, b: a.flat_map(split_words, "s", keep=["id"]),
    "union_distinct": lambda a, b: a.select("k").union(b.select("k")).unique(),
    "dedup": lambda a, b: a.with_columns(x=col("s").str.slice(0, 2)).dedup.exact("x"),
    "sample": lambda a, b: a.sample(0.3, seed=3),
    "row_index": lambda a, b: a.filter(col("id") % 2 == 0).with_row_index("i"),
}


def _rows(df: th.DataFrame, runner: str) -> list[tuple]:
    t = df.to_arrow(runner=runner)
    return sorted(tuple(map(repr, r.values())) for r in t.to_pylist())


@pytest.mark.parametrize("name", sorted(PLANS))
def test_same_results_on_both_executors(name: str) -> None:
    pytest.importorskip("ray")
    a, b = frames()
    df = PLANS[name](a, b)
    assert _rows(df, "local") == _rows(df, "ray")


def test_ordered_plans_keep_their_order_on_ray() -> None:
    pytest.importorskip("ray")
    a, _ = frames()
    df = a.filter(col("id") % 3 == 0).with_columns(p=plus_ten(col("id")))
    assert df.to_pydict(runner="ray") == df.to_pydict(runner="local")


def test_crashed_worker_is_retried_and_result_is_exact(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    marker = str(tmp_path / "died-once")

    @th.udf(return_dtype="int64", batch=True)
    def die_once(a: pa.Array) -> pa.Array:
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # the worker process dies mid-task
        import pyarrow.compute as pc

        return pc.multiply(a, 2)

    df = th.from_pydict({"x": list(range(50))}).select(die_once(col("x")).alias("y"))
    assert df.to_pydict(runner="ray") == {"y": [2 * i for i in range(50)]}
    assert os.path.exists(marker)


def test_exhausted_retries_name_the_stage_and_partition() -> None:
    pytest.importorskip("ray")

    @th.udf(return_dtype="int64", batch=True)
    def always_fails(a: pa.Array) -> pa.Array:
        raise RuntimeError("model exploded")

    df = th.from_pydict({"x": [1, 2]}).select(always_fails(col("x")))
    with pytest.raises(th.ThresherExecutionError, match=r"stage \d+.*partition.*model exploded"):
        df.collect(runner="ray")


def test_unschedulable_actor_pool_fails_fast() -> None:
    pytest.importorskip("ray")

    @th.udf(return_dtype="int64", batch=True, num_cpus=64, concurrency=4)
    class Huge:
        def __call__(self, a: pa.Array) -> pa.Array:
            return a

    df = th.from_pydict({"x": [1]}).select(Huge(col("x")))
    with pytest.raises(th.ThresherExecutionError, match="could never be scheduled"):
        df.collect(runner="ray")


@th.udf(return_dtype="int64")
def _plus_one(a: int) -> int:
    return a + 1


def test_distinct_of_an_empty_input(runner: str) -> None:
    # a UDF filter that keeps nothing: the distinct's shuffle gets no chunk at all
    df = th.from_pydict({"a": [1, 2, 2], "b": ["x", "y", "y"]}).filter(_plus_one(col("a")) > 5).distinct()
    assert df.to_pydict(runner=runner) == {"a": [], "b": []}
