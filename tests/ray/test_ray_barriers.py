"""Relational barriers on Ray in tasks (global aggregates, multi-key sorts, windows, shuffles):
results equal the local executor's, in the same order wherever the plan defines one."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import thresher as th
from thresher import col

ray = pytest.importorskip("ray")

# small chunks, several partitions: every task sees a part of the input
OPTS: dict[str, Any] = {"shuffle_partitions": 3, "target_batch_bytes": 400}


@pytest.fixture(scope="module")
def ray_runtime() -> Any:
    from thresher.engine.ray import ensure_ray

    return ensure_ray(num_cpus=2)


def _frame(n: int = 300, seed: int = 0) -> th.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, n).astype(object)
    a[rng.random(n) < 0.15] = None
    b = rng.choice(["x", "y", "z", None], n)
    c = rng.integers(-50, 50, n).astype(object)
    c[rng.random(n) < 0.1] = None
    t = pa.table({"i": np.arange(n), "a": pa.array(list(a), pa.int64()), "b": pa.array(list(b), pa.string()),
                  "c": pa.array(list(c), pa.int64()), "f": rng.normal(size=n), "nul": pa.nulls(n, pa.int64())})
    # into_batches: the relational stage has an input stage (its batches arrive from tasks)
    return th.from_arrow(t).into_batches(37)


def _stage_kinds(out: Any) -> dict[str, Any]:
    return {k: v for s in out.stats().stages.values() for k, v in s.extra.items()}


def _close(x: dict[str, list[Any]], y: dict[str, list[Any]]) -> None:
    assert x.keys() == y.keys()
    for k in x:
        for u, v in zip(x[k], y[k], strict=True):
            if isinstance(u, float) and isinstance(v, float):
                assert math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(u) and math.isnan(v)), (k, u, v)
            else:
                assert u == v, (k, u, v)


def test_global_aggregate_partial_and_final(ray_runtime: Any) -> None:
    df = _frame()
    q = df.filter(col("i") % 7 != 3).select(
        col("a").sum().alias("s"), col("a").count().alias("n"), th.count().alias("rows"), col("c").min().alias("lo"),
        col("c").max().alias("hi"), col("a").mean().alias("m"), col("f").sum().alias("fs"),
        (col("c").sum() + col("a").max() * 2).alias("expr"),
        col("nul").sum().alias("ns"), col("nul").min().alias("nmin"), col("nul").mean().alias("nmean"),
        col("nul").count().alias("ncount"))
    out = q.collect(runner="ray", **OPTS)
    _close(out.to_pydict(), q.to_pydict())
    assert _stage_kinds(out)["partial_aggregates"] > 3


def test_global_aggregate_of_empty_input(ray_runtime: Any) -> None:
    q = _frame().filter(col("i") < 0).select(col("a").sum().alias("s"), col("a").mean().alias("m"),
                                               th.count().alias("n"), col("c").max().alias("hi"))
    assert q.to_pydict(runner="ray", **OPTS) == q.to_pydict()


def test_global_aggregate_not_decomposable_runs_in_one_task(ray_runtime: Any) -> None:
    q = _frame().select(col("c").median().alias("med"), col("b").n_unique().alias("u"),
                        col("c").quantile(0.3).alias("q"), col("a").sum().alias("s"))
    out = q.collect(runner="ray", **OPTS)
    assert out.to_pydict() == q.to_pydict()
    assert "partial_aggregates" not in _stage_kinds(out)


@pytest.mark.parametrize("descending,nulls_last", [([False, True], [False, True]), ([True, False], [True, False]),
                                                   ([True, True], [False, False])])
def test_multi_key_sort_mixed_directions_nulls_and_ties(ray_runtime: Any, descending: list[bool],
                                                        nulls_last: list[bool]) -> None:
    # many ties on (a, b): the sort is stable, so the order of "i" within ties is the input order
    q = _frame().sort(["a", "b"], descending=descending, nulls_last=nulls_last)
    local = q.to_pydict()
    out = q.collect(runner="ray", **OPTS)
    assert out.to_pydict() == local
    assert _stage_kinds(out)["shuffle_partitions"] >= 2


def test_one_key_and_expression_sorts(ray_runtime: Any) -> None:
    df = _frame()
    for q in (df.sort("c", descending=True, nulls_last=True), df.sort([col("c") % 3, "b", "i"], descending=[False, True, True])):
        assert q.to_pydict(runner="ray", **OPTS) == q.to_pydict()


def test_windows_partitioned_by_their_keys(ray_runtime: Any) -> None:
    df = _frame()
    q = df.with_columns(s=col("c").sum().over("b"), cum=col("c").cum_sum().over("b"), mx=col("f").max().over("b"))
    out = q.collect(runner="ray", **OPTS)
    _close(out.to_pydict(), q.to_pydict())
    assert _stage_kinds(out)["shuffle_partitions"] == 3
    # windows over different keys (stacked windows): shuffled by each one's keys in turn
    q = df.with_columns(s=col("c").sum().over("b"), mx=col("f").max().over(["a", "b"]), cum=col("c").cum_sum().over("a"))
    out = q.collect(runner="ray", **OPTS)
    _close(out.to_pydict(), q.to_pydict())
    assert _stage_kinds(out)["window_levels"] >= 2


def test_sql_windows_with_frames(ray_runtime: Any) -> None:
    df = _frame()
    q = th.sql("""SELECT i, b, c,
                    row_number() OVER (PARTITION BY b ORDER BY c DESC NULLS LAST, i) AS rn,
                    sum(c) OVER (PARTITION BY a ORDER BY i ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s3,
                    sum(c) OVER () AS total
                  FROM t""", t=df)
    out = q.collect(runner="ray", **OPTS)
    assert out.to_pydict() == q.to_pydict()
    assert _stage_kinds(out)["window_levels"] == 3  # by b, by a, and OVER () in one partition


def test_window_of_an_empty_input(ray_runtime: Any) -> None:
    df = _frame().filter(col("i") < 0)
    q = df.with_columns(s=col("c").sum().over("b"), r=col("c").cum_sum())
    assert q.to_pydict(runner="ray", **OPTS) == q.to_pydict()


def test_window_without_partition_by_and_groupby_join_distinct(ray_runtime: Any) -> None:
    df = _frame()
    other = th.from_pydict({"b": ["x", "y", "w"], "w": [1, 2, 3]}).into_batches(1)
    queries = [
        df.with_columns(r=col("c").cum_sum()),
        df.group_by("a", "b").agg(col("c").sum().alias("s"), col("f").count().alias("n")).sort(["a", "b"]),
        df.join(other, on="b", how="left").sort(["i"]),
        df.unique(subset=["a", "b"], keep="first"),
        df.unique(subset=["a"], keep="last"),
    ]
    for q in queries:
        _close(q.to_pydict(runner="ray", **OPTS), q.to_pydict())


def test_relational_stage_without_inputs_runs_in_a_task(ray_runtime: Any) -> None:
    t = pa.table({"k": [3, 1, None, 2, 1], "v": [1.0, 2.0, 3.0, None, 5.0]})
    q = th.from_arrow(t).sort(["k", "v"], descending=[True, False], nulls_last=[True, False])
    assert q.to_pydict(runner="ray") == q.to_pydict()


@pytest.mark.parametrize("kind", ["aggregate", "sort", "window", "distinct"])
def test_barrier_sends_no_data_to_the_driver(ray_runtime: Any, kind: str) -> None:
    """The stage fed object references (as Ray scans and maps hand them on) and handing on
    references: ``ray.get`` in the driver returns metadata only, and the rows equal the local ones."""
    from thresher.engine.ray_dedup import RayShuffleRuntime
    from thresher.engine.ray_relational import run_relational
    from thresher.engine.ray_runtime import count_driver_bytes
    from thresher.engine.stats import StageStats
    from thresher.engine.stream import Morsel
    from thresher.errors import ThresherExecutionError
    from thresher.planner.physical import compile

    rng = np.random.default_rng(1)
    n = 6000
    table = pa.table({"i": np.arange(n), "a": rng.integers(0, 20, n), "b": rng.choice(["x", "y", "z"], n),
                      "pad": pa.array([b"p" * 400] * n)})
    df = th.from_arrow(table).into_batches(500)
    table = df.to_arrow()  # the batches as the input stage hands them on (conformed to its schema)
    q = {"aggregate": df.select(col("a").sum().alias("s"), col("a").mean().alias("m"), th.count().alias("n")),
         "sort": df.sort(["a", "b"], descending=[True, False]),
         "window": df.with_columns(s=col("a").sum().over("b")),
         "distinct": df.unique(subset=["a", "b"], keep="first")}[kind]
    stage = compile(q._plan).root
    assert stage.kind == "relational"
    morsels = [Morsel("p0", None, ref=ray.put(b), rows=b.num_rows, nbytes=b.nbytes)
               for b in table.to_batches(max_chunksize=500)] + [Morsel("p0", None)]

    def fail(exc: BaseException, label: str) -> ThresherExecutionError:
        return ThresherExecutionError(f"{label}: {exc}")

    rt = RayShuffleRuntime(ray, 3, 4, 1, 256 << 10, fail, emit_refs=True)
    with count_driver_bytes() as got:
        out = list(run_relational(rt, stage, stage.spec.distribution, [iter(morsels)], StageStats(0, kind)))
    print(f"\n{kind}: the driver received {got.bytes:,} bytes in {got.calls} calls for {table.nbytes:,} input bytes")
    assert got.bytes < 0.01 * table.nbytes
    assert out[-1].is_end and all(m.ref is not None and m.batch is None for m in out[:-1])
    result = pa.Table.from_batches([ray.get(m.ref) for m in out[:-1]])
    assert result.to_pydict() == q.to_arrow().to_pydict()


def test_scalar_subquery_row_check_on_ray(ray_runtime: Any) -> None:
    df = _frame()
    one = th.sql("SELECT i, c FROM t WHERE c > (SELECT max(c) FROM t WHERE b = 'x') - 5 "
                 "AND i >= (SELECT DISTINCT i FROM t WHERE i = 7)", t=df)
    assert sorted(one.to_pydict(runner="ray", **OPTS)["i"]) == sorted(one.to_pydict()["i"])
    many = th.sql("SELECT i FROM t WHERE i > (SELECT i FROM t WHERE i < 3)", t=df)
    from thresher.errors import ThresherError

    with pytest.raises(ThresherError, match="scalar subquery returned 3 rows"):
        many.to_pydict(runner="ray", **OPTS)
