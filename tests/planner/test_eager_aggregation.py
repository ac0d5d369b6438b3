"""eager_aggregation: a group-by over a join groups the join's big side on its join keys first.

Differential against DuckDB on the same Parquet files (keys with NULLs, a dimension whose key
is not unique, all-NULL groups, every aggregate that combines from partials), with the rule on
and off; and where it must not fire (count distinct, a filtered dimension, grouping on the big
side only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from planner_helpers import duckdb_over, optimized, rounded_rows

import thresher as th
from thresher.planner.logical import Aggregate, Join

duckdb = pytest.importorskip("duckdb")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eager")
    rng = np.random.default_rng(1)
    n = 20_000
    k = rng.integers(0, 120, n)
    v = rng.integers(-50, 1000, n).astype(float)
    fact = pa.table({
        "k": pa.array([None if i % 101 == 0 else int(x) for i, x in enumerate(k)], pa.int64()),
        # key 7's values are all NULL: its sum is NULL in SQL, its mean too
        "v": pa.array([None if (x == 7 or i % 13 == 0) else y for i, (x, y) in enumerate(zip(k, v))], pa.float64()),
        "q": pa.array(rng.integers(0, 30, n), pa.int32()),
        # the partial sums of a BIGINT mean leave BIGINT (they wrapped: the mean was wrong)
        "big": pa.array([None if i % 17 == 0 else 2 ** 60 for i in range(n)], pa.int64()),
    })
    # keys 0..99 (100..119 never match), key 5 twice: the dimension's key is not unique
    dk = list(range(100)) + [5]
    dim = pa.table({"dk": pa.array(dk, pa.int64()),
                    "brand": [f"b{x % 7}" for x in dk],
                    "cat": [None if x % 11 == 0 else f"c{x % 3}" for x in dk]})
    # a date dimension on fact.q whose years span two centuries in the footers (TPC-DS's d_year)
    days = pa.table({"d_sk": pa.array(range(30), pa.int32()), "d_year": [1900 + 7 * d for d in range(30)]})
    out = {"fact": root / "fact.parquet", "dim": root / "dim.parquet", "days": root / "days.parquet"}
    pq.write_table(fact, out["fact"])
    pq.write_table(dim, out["dim"])
    pq.write_table(days, out["days"])
    return out


FIRES = {
    "sums": "select brand, sum(v) as s, count(v) as c, count(*) as n, min(q) as lo, max(v) as hi "
            "from fact join dim on k = dk group by brand",
    "mean": "select cat, brand, avg(v) as a, avg(q) as aq, sum(q) as sq from fact, dim where k = dk group by cat, brand",
    "key_expr": "select brand || '-' || cast(k % 3 as varchar) as bq, sum(v) as s from fact join dim on k = dk "
                "group by brand || '-' || cast(k % 3 as varchar)",
    "all_null_group": "select dk, sum(v) as s, avg(v) as a from fact join dim on k = dk group by dk, brand",
    "bigint_mean": "select brand, avg(big) as a, avg(q) as aq from fact join dim on k = dk group by brand",
    # TPC-DS q4: grouped by a year the dates filter to one (not the footers' 204): fact joined
    # with those dates is grouped on (k, d_year) before the unfiltered dim joins
    "one_year": "select brand, d_year, sum(v) as s, count(*) as n from fact, dim, days "
                "where k = dk and q = d_sk and d_year = 1907 group by brand, d_year",
    # TPC-DS q74: the dimension on the join's left side, the aggregated facts on its right
    "facts_on_the_right": "select brand, sum(v) as s, count(v) as c, min(q) as lo, avg(v) as a "
                          "from dim join fact on dk = k group by brand",
    "facts_on_the_right_one_year": "select cat, d_year, sum(v) as s, max(q) as hi from dim join "
                                   "(select * from fact, days where q = d_sk and d_year = 1907) f "
                                   "on dk = k group by cat, d_year",
}
STAYS = {
    "distinct": "select brand, count(distinct q) as u from fact join dim on k = dk group by brand",
    "filtered_dim": "select brand, sum(v) as s from fact join dim on k = dk where cat = 'c1' group by brand",
    "fact_keys_only": "select q, sum(v) as s from fact join dim on k = dk group by q",
}


def _frames(files: dict[str, Path]) -> dict[str, th.DataFrame]:
    return {name: th.read_parquet(str(path)) for name, path in files.items()}


def _rows(table: pa.Table) -> list[tuple]:
    return rounded_rows(table, 6)


def _pushed(plan: th.DataFrame, disabled: tuple[str, ...] = ()) -> bool:
    return any(isinstance(n, Join) and (isinstance(n.left, Aggregate) or isinstance(n.right, Aggregate))
               for n in optimized(plan, disabled).walk())


@pytest.mark.parametrize("name", sorted(FIRES) + sorted(STAYS))
def test_same_rows_as_duckdb_rule_on_and_off(files: dict[str, Path], name: str) -> None:
    sql = {**FIRES, **STAYS}[name]
    con = duckdb_over(files)
    expected = _rows(con.sql(sql).to_arrow_table())
    q = th.sql(sql, **_frames(files))
    assert _pushed(q) == (name in FIRES)
    assert _rows(q.to_arrow()) == expected
    try:
        th.set_optimizer(disabled=["eager_aggregation"])
        assert not _pushed(q, ("eager_aggregation",))
        assert _rows(q.to_arrow()) == expected
    finally:
        th.set_optimizer(disabled=[])


@pytest.mark.parametrize("name", sorted(FIRES))
def test_partial_aggregate_schema_is_the_derived_one(files: dict[str, Path], name: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The partial group-by takes its schema from the aggregate it splits (``_partial``): the
    schema the constructor derives with its checks."""
    import importlib

    rule = importlib.import_module("thresher.planner.optimizer.rules.eager_aggregation")
    built: list[tuple[list[tuple[str, str, bool]], list[tuple[str, str, bool]]]] = []
    real = rule._partial

    def checked(node, left, keys, first):  # type: ignore[no-untyped-def]
        out = real(node, left, keys, first)
        derived = Aggregate(left, keys, first)
        built.append(([(f.name, str(f.dtype), f.nullable) for f in out.schema.fields],
                      [(f.name, str(f.dtype), f.nullable) for f in derived.schema.fields]))
        return out

    monkeypatch.setattr(rule, "_partial", checked)
    assert _pushed(th.sql(FIRES[name], **_frames(files)))
    assert built
    for got, want in built:
        assert got == want


# a left join whose aggregates read only its right side: the right side is grouped on its join
# keys first (dim's keys 0..59 meet no fact row through the filter, key 5 is on two dim rows,
# key 7's values are all NULL)
LEFT_FIRES = {
    "left_aggs": "select dk, count(v) as c, sum(v) as s, min(q) as lo, max(v) as hi, avg(v) as a, sum(q) as sq "
                 "from dim left join (select * from fact where k >= 60 or k = 7) f on dk = k group by dk",
    "left_by_brand": "select brand, cat, count(v) as c, sum(q) as sq, avg(q) as aq "
                     "from dim left join (select * from fact where k >= 60 or k = 7) f on dk = k group by brand, cat",
    "left_q13": "select c, count(*) as n from (select dk, count(v) as c from dim left join "
                "(select * from fact where q <> 3 and k >= 40) f on dk = k group by dk) t group by c",
}
LEFT_STAYS = {
    "left_count_star": "select dk, count(*) as n, sum(v) as s from dim left join "
                       "(select * from fact where k >= 60) f on dk = k group by dk",
    "left_filtered_left": "select dk, count(v) as c from dim left join fact on dk = k where cat = 'c1' group by dk",
    "left_left_columns": "select dk, count(v) as c, max(brand) as b from dim left join fact on dk = k group by dk",
}


def _right_grouped(plan: th.DataFrame, disabled: tuple[str, ...] = ()) -> bool:
    return any(isinstance(n, Join) and n.how == "left" and isinstance(n.right, Aggregate)
               for n in optimized(plan, disabled).walk())


@pytest.mark.parametrize("name", sorted(LEFT_FIRES) + sorted(LEFT_STAYS))
def test_left_join_same_rows_as_duckdb_rule_on_and_off(files: dict[str, Path], name: str) -> None:
    sql = {**LEFT_FIRES, **LEFT_STAYS}[name]
    con = duckdb_over(files)
    expected = _rows(con.sql(sql).to_arrow_table())
    q = th.sql(sql, **_frames(files))
    assert _right_grouped(q) == (name in LEFT_FIRES)
    assert _rows(q.to_arrow()) == expected
    try:
        th.set_optimizer(disabled=["eager_aggregation"])
        assert not _right_grouped(q, ("eager_aggregation",))
        assert _rows(q.to_arrow()) == expected
    finally:
        th.set_optimizer(disabled=[])
