"""The optimizer rules over joins whose NULL keys match (``join(nulls_equal=True)``), each compared
with Polars: a plan where the rule would fire over such a join, NULL keys on both sides.

The optimizer used to leave such a join and every node above it unoptimized (the rules assumed
a NULL key never matches). Now each rule that reads join keys keeps the join's NULL semantics
where it rebuilds a join (projection_pushdown, broadcast_join's flip, join_reorder,
semi_join_from_exists' semi joins, semi_join_reduction's semi join), or leaves such a join alone
where its reasoning needs keys that are never NULL (a left join's ``IS NOT NULL`` on the right
key as a semi join, aggregate_to_window, join_order's regions, whose keys are equalities it
closes transitively). The tests asserting that a rule fired fail on the old code (nothing above
the join was optimized); every one compares rows, names and types with Polars.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher.planner.optimizer.runner import optimize


def _table(n: int, keys: int, every_null: int, value: str) -> pa.Table:
    return pa.table({"k": pa.array([None if i % every_null == 0 else i % keys for i in range(n)], pa.int64()),
                     value: pa.array([i * 7 % 13 for i in range(n)], pa.int64())})


A = _table(12, 4, 5, "x")  # small, NULL keys at rows 0, 5, 10
B = _table(300, 30, 7, "y")  # bigger, every 7th key NULL
C = _table(6, 3, 3, "z")

Build = Callable[[Any, Any, Any, Any], Any]


def _fired(frame: th.DataFrame) -> set[str]:
    return {f.rule for f in optimize(frame.plan).log}


def _same(build: Build, frames: tuple[Any, Any, Any], lazy: tuple[Any, Any, Any]) -> set[str]:
    want = build(*lazy, pl).collect()
    frame = build(*frames, th)
    got = pl.from_arrow(frame.to_arrow())
    assert isinstance(got, pl.DataFrame)
    assert got.schema == want.schema
    assert sorted(got.rows(), key=repr) == sorted(want.rows(), key=repr), f"{got}\nvs Polars'\n{want}"
    return _fired(frame)


def _in_memory(build: Build) -> set[str]:
    return _same(build, (th.from_arrow(A), th.from_arrow(B), th.from_arrow(C)),
                 (pl.from_arrow(A).lazy(), pl.from_arrow(B).lazy(), pl.from_arrow(C).lazy()))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A big table and a small one in Parquet (footer statistics: the estimates some rules need)."""
    d = tmp_path_factory.mktemp("nulls_equal")
    pq.write_table(pa.table({"k": pa.array([None if i % 9 == 0 else i % 20 for i in range(2000)], pa.int64()),
                             "y": pa.array(range(2000), pa.int64())}), d / "big.parquet")
    pq.write_table(pa.table({"k": pa.array([None, 1, 2, 3, None, 5], pa.int64()),
                             "z": pa.array([1, 1, 2, 2, 3, 3], pa.int64())}), d / "dim.parquet")
    return d


def _parquet(files: Path, build: Callable[[Any, Any, Any], Any]) -> set[str]:
    big, dim = str(files / "big.parquet"), str(files / "dim.parquet")
    return _same(lambda b, c, _, m: build(b, c, m), (th.read_parquet(big), th.read_parquet(dim), None),
                 (pl.scan_parquet(big), pl.scan_parquet(dim), None))


def test_predicate_pushdown() -> None:
    # the filter goes to both sides (the term on the key copied to the other key: a NULL key
    # matches only a NULL key, for which the term has the same value)
    fired = _in_memory(lambda a, b, c, m: a.join(b, on="k", nulls_equal=True)
                       .filter(m.col("k").is_null() | (m.col("k") > 1)))
    assert "predicate_pushdown" in fired
    assert "predicate_pushdown" in _in_memory(lambda a, b, c, m: a.join(b, on="k", how="anti", nulls_equal=True)
                                              .filter(m.col("k").is_null() | (m.col("x") > 3)))


def test_projection_pushdown_keeps_nulls_equal() -> None:
    assert "projection_pushdown" in _in_memory(lambda a, b, c, m: a.join(b, on="k", nulls_equal=True).select("x"))


def test_broadcast_join_flip_keeps_nulls_equal(monkeypatch: pytest.MonkeyPatch) -> None:
    from thresher.planner.optimizer.rules import broadcast_join

    monkeypatch.setattr(broadcast_join, "BROADCAST_BYTES", 1000)  # A is small, B is not
    frame = th.from_arrow(A).join(th.from_arrow(B), on="k", nulls_equal=True)
    assert "strategy=broadcast" in optimize(frame.plan).plan.pretty()
    _in_memory(lambda a, b, c, m: a.join(b, on="k", nulls_equal=True))


def test_semi_join_from_exists() -> None:
    # a left join whose NULL keys match gives a matched row a NULL right key: IS NOT NULL on it
    # is no test for a match, and the join stays (Polars drops the NULL-keyed matches)
    fired = _in_memory(lambda a, b, c, m: a.join(b.select(m.col("k").alias("rk")).unique(), left_on="k", right_on="rk",
                                                 how="left", nulls_equal=True, coalesce=False)
                       .filter(m.col("rk").is_not_null()).select("k", "x"))
    assert "semi_join_from_exists" not in fired
    # the shape the rule reads (the SQL front end's: a right key the join hands out, an alias
    # that Polars' DataFrame API refuses), built as a plan: optimized as not
    from thresher.expressions.expr import Alias, Call, Column
    from thresher.planner.logical import Filter, Join, Project

    right = th.from_arrow(B).select(th.col("k").alias("rk")).unique().plan
    plan = Project(Filter(Join(th.from_arrow(A).plan, right, (Column("k"),), (Alias(Column("rk"), "rk"),), "left",
                               nulls_equal=True), Call("is_not_null", (Column("rk"),))), (Column("k"), Column("x")))
    assert "semi_join_from_exists" not in {f.rule for f in optimize(plan).log}
    rows = [sorted(th.DataFrame(plan).to_arrow(optimize=o).to_pylist(), key=repr) for o in (True, False)]
    assert rows[0] == rows[1] and all(r["k"] is not None for r in rows[0])
    # a semi join on a group-by's keys: the group-by goes (a NULL group where a key is NULL)
    assert "semi_join_from_exists" in _in_memory(
        lambda a, b, c, m: a.join(b.group_by("k").agg(m.col("y").sum()), on="k", how="semi", nulls_equal=True))
    assert "semi_join_from_exists" in _in_memory(
        lambda a, b, c, m: a.join(b.group_by("k").agg(m.col("y").sum()), on="k", how="anti", nulls_equal=True))
    # an inner join with a one-row side nothing above reads: a semi join (here the one row's key
    # is NULL, and matches the NULL keys)
    for side in ("right", "left"):
        def one_row(a: Any, b: Any, c: Any, m: Any, side: str = side) -> Any:
            one = b.filter(m.col("k").is_null()).select(m.col("k").max().alias("kk"))
            return (a.join(one, left_on="k", right_on="kk", nulls_equal=True) if side == "right"
                    else one.join(a, left_on="kk", right_on="k", nulls_equal=True)).select("x")
        assert "semi_join_from_exists" in _in_memory(one_row)


def test_semi_join_pushdown() -> None:
    assert "semi_join_pushdown" in _in_memory(
        lambda a, b, c, m: a.join(c, on="k").join(b, on="k", how="semi", nulls_equal=True))
    assert "semi_join_pushdown" in _in_memory(
        lambda a, b, c, m: a.join(c.rename({"k": "kc"}), left_on="x", right_on="z", nulls_equal=True)
        .join(b, on="k", how="anti", nulls_equal=True))


def test_semi_join_reduction_keeps_the_null_group() -> None:
    # the group-by's input is semi-joined with the outer keys: with NULL keys matching, its NULL
    # group must stay where the outer side has a NULL key
    assert "semi_join_reduction" in _in_memory(
        lambda a, b, c, m: a.filter(m.col("x") < 5).join(b.group_by("k").agg(m.col("y").sum()), on="k", nulls_equal=True))
    assert "semi_join_reduction" in _in_memory(
        lambda a, b, c, m: a.filter(m.col("x") < 5).join(b.group_by("k").agg(m.col("y").sum()), on="k", how="left",
                                                          nulls_equal=True))


def test_semi_join_key_set() -> None:
    assert "semi_join_key_set" in _in_memory(
        lambda a, b, c, m: a.join(b.join(c.rename({"k": "kc"}), left_on="k", right_on="kc", nulls_equal=True).select("k"),
                                  on="k", how="semi", nulls_equal=True))
    assert "semi_join_key_set" in _in_memory(
        lambda a, b, c, m: a.join(b.join(c.rename({"k": "kc"}), left_on="k", right_on="kc", nulls_equal=True)
                                  .filter(m.col("y") != m.col("z")).select("k"), on="k", how="anti"))


def test_join_order_takes_a_nulls_equal_join_as_a_leaf() -> None:
    fired = _in_memory(lambda a, b, c, m: a.join(b, on="k", nulls_equal=True)
                       .join(c.rename({"k": "kc"}), left_on="x", right_on="z")
                       .join(b.select(m.col("y").alias("y2"), m.col("k").alias("k3")), left_on="kc", right_on="k3"))
    assert "join_order" in fired


def test_join_reorder_keeps_each_joins_semantics(files: Path) -> None:
    assert "join_reorder" in _parquet(files, lambda b, c, m: b.join(b.select("k", m.col("y").alias("y2")), on="k",
                                                                     nulls_equal=True).join(c, on="k", nulls_equal=True))
    assert "join_reorder" in _parquet(files, lambda b, c, m: b.join(b.select("k", m.col("y").alias("y2")), on="k")
                                      .join(c, on="k", nulls_equal=True))


def test_eager_aggregation(files: Path) -> None:
    assert "eager_aggregation" in _parquet(files, lambda b, c, m: b.join(
        c.rename({"k": "kc"}), left_on="k", right_on="kc", nulls_equal=True).group_by("z").agg(m.col("y").sum()))
    assert "eager_aggregation" in _parquet(files, lambda b, c, m: c.rename({"k": "kc"}).join(
        b, left_on="kc", right_on="k", how="left", nulls_equal=True).group_by("kc", "z").agg(m.col("y").sum()))


def test_aggregate_to_window_leaves_nulls_equal_alone(files: Path) -> None:
    # a join of L with a group-by of L's rows on its keys: with NULL keys matching (at the top, or
    # inside L) the keys may be NULL; the rule keeps off
    fired = _parquet(files, lambda b, c, m: b.join(c.rename({"k": "kc"}), left_on="k", right_on="kc")
                     .join(b.group_by("k").agg(m.col("y").mean().alias("a")), on="k", nulls_equal=True))
    assert "aggregate_to_window" not in fired
    fired = _parquet(files, lambda b, c, m: b.join(c.rename({"k": "kc"}), left_on="k", right_on="kc", nulls_equal=True)
                     .join(b.group_by("k").agg(m.col("y").mean().alias("a")), on="k"))
    assert "aggregate_to_window" not in fired
    # (the same plans without nulls_equal are rewritten)
    assert "aggregate_to_window" in _parquet(files, lambda b, c, m: b.join(c.rename({"k": "kc"}), left_on="k",
                                                                           right_on="kc")
                                             .join(b.group_by("k").agg(m.col("y").mean().alias("a")), on="k"))


def test_the_plan_above_a_nulls_equal_join_is_optimized() -> None:
    # it was left as written: the filter above the join ran on the joined rows
    frame = th.from_arrow(A).join(th.from_arrow(B), on="k", nulls_equal=True).filter(th.col("x") > 3)
    plan = optimize(frame.plan).plan
    assert type(plan).__name__ == "Join" and "nulls_equal" in plan.describe()
