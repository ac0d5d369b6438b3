"""The local and Ray executors give identical results on the same plans — in the same order
wherever the plan defines one (sort, distinct, row-local maps over ordered input).

Barriers fed by a UDF stage are what the Ray executor shuffles (a barrier over a plain scan runs
as one Polars plan); small ``target_batch_bytes`` cut the inputs into many shuffle chunks.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pytest

import thresher as th
from thresher import col

pytest.importorskip("ray")

RAY_OPTIONS = {"target_batch_bytes": 2048, "shuffle_partitions": 3}


@th.udf(return_dtype="int64", cost="scalar")
def plus_ten(x: int) -> int:
    return x + 10


@th.udf(return_dtype="string", cost="model")
def tag(s: str) -> str:
    return f"<{s}>"


@th.udf(return_dtype={"part": "string", "n": "int64"})
def split_words(s: str):  # type: ignore[no-untyped-def]
    for i, w in enumerate(s.split("-")):
        yield {"part": w, "n": i}


def frames() -> tuple[th.DataFrame, th.DataFrame]:
    n = 400
    a = th.from_pydict({
        "id": list(range(n)),
        "k": [f"k{i % 7}" if i % 11 else None for i in range(n)],
        "s": [f"w{i}-x{i % 3}" for i in range(n)],
        "v": [float((i * 37) % 101) / 4 if i % 13 else None for i in range(n)],
    })
    b = th.from_pydict({"k": [f"k{i}" for i in range(5)], "w": [i * 100 for i in range(5)]})
    return a, b


def mapped(a: th.DataFrame) -> th.DataFrame:
    """``a`` after a UDF stage, so barriers above it are shuffled on Ray."""
    return a.with_columns(p=plus_ten(col("id")))


# plans whose row order is defined: compared as lists
ORDERED: dict[str, Callable[[th.DataFrame, th.DataFrame], th.DataFrame]] = {
    "filter_project": lambda a, b: a.filter(col("v") > 5).with_columns(z=col("v") * 2, u=col("k").str.upper()),
    "udf_map": lambda a, b: a.select("id", plus_ten(col("id")).alias("p"), tag(col("k")).alias("t")),
    "sort_asc": lambda a, b: mapped(a).sort("v"),
    "sort_desc_nulls_last": lambda a, b: mapped(a).sort("v", descending=True, nulls_last=True),
    "sort_string_key": lambda a, b: mapped(a).sort("k"),
    "sort_two_keys": lambda a, b: mapped(a).sort(["k", "v"], descending=[False, True]),
    "sort_limit": lambda a, b: mapped(a).sort("v", descending=True).limit(7),
    "distinct_keeps_first": lambda a, b: mapped(a).select("k").unique(),
    "distinct_subset": lambda a, b: mapped(a).unique(subset=["k"], keep="first"),
    "explode": lambda a, b: a.with_columns(parts=col("s").str.split("-")).explode("parts").select("id", "parts"),
    "flat_map": lambda a, b: a.flat_map(split_words, "s", keep=["id"]),
    "union": lambda a, b: mapped(a).select("k").union(b.select("k")),
    "row_index": lambda a, b: mapped(a).filter(col("id") % 2 == 0).with_row_index("i"),
    "limit": lambda a, b: mapped(a).limit(13, offset=5),
}

# plans whose row order is unspecified (hash group-by / join): compared as sorted rows
UNORDERED: dict[str, Callable[[th.DataFrame, th.DataFrame], th.DataFrame]] = {
    "group_by": lambda a, b: mapped(a).group_by("k").agg(col("v").sum().alias("sv"), th.count().alias("n"),
                                                         col("p").max().alias("mp")),
    "group_by_udf_key": lambda a, b: a.with_columns(t=tag(col("k"))).group_by("t").agg(col("v").mean().alias("m")),
    "global_agg": lambda a, b: mapped(a).agg(col("v").sum().alias("s"), col("p").min().alias("mn")),
    "join_inner": lambda a, b: mapped(a).join(b, on="k"),
    "join_left": lambda a, b: mapped(a).join(b.with_columns(q=plus_ten(col("w"))), on="k", how="left"),
    "join_semi": lambda a, b: mapped(a).join(b.with_columns(q=plus_ten(col("w"))), on="k", how="semi"),
    "join_anti": lambda a, b: mapped(a).join(b.with_columns(q=plus_ten(col("w"))), on="k", how="anti"),
    "join_then_group": lambda a, b: mapped(a).join(b, on="k").group_by("w").agg(th.count().alias("n")),
    "union_distinct": lambda a, b: mapped(a).select("k").union(b.select("k")).unique(),
}


def _sorted_rows(t: pa.Table) -> list[tuple[str, ...]]:
    return sorted(tuple(map(repr, r.values())) for r in t.to_pylist())


@pytest.mark.parametrize("name", sorted(ORDERED))
def test_ordered_plans_are_identical(name: str) -> None:
    a, b = frames()
    df = ORDERED[name](a, b)
    local = df.to_arrow(runner="local")
    ray = df.to_arrow(runner="ray", **RAY_OPTIONS)
    assert ray.schema == local.schema
    assert ray.to_pylist() == local.to_pylist()


@pytest.mark.parametrize("name", sorted(UNORDERED))
def test_unordered_plans_have_identical_rows(name: str) -> None:
    a, b = frames()
    df = UNORDERED[name](a, b)
    local = df.to_arrow(runner="local")
    ray = df.to_arrow(runner="ray", **RAY_OPTIONS)
    assert ray.schema == local.schema
    assert _sorted_rows(ray) == _sorted_rows(local)


def test_barriers_were_shuffled_on_ray() -> None:
    a, b = frames()
    for df in (mapped(a).group_by("k").agg(col("p").sum().alias("n")), mapped(a).sort("v"),
               mapped(a).select("k", "p").unique(subset=["k"])):
        out = df.collect(runner="ray", **RAY_OPTIONS)
        stats = out.stats()
        assert stats is not None
        assert any("shuffle_partitions" in s.extra for s in stats.stages.values()), stats
