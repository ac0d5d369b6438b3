"""aggregate_to_window: a decorrelated scalar subquery over rows the outer join has becomes a
window. Every query runs through th.sql and DuckDB on the same small tables (NULL keys and
values, duplicate keys on the outer-only side, empty groups); the plan checks say whether the
rule fired."""

from __future__ import annotations

import pyarrow as pa
import pytest
from planner_helpers import assert_rule_equivalent, optimized, rounded_rows

import thresher as th
from thresher.planner.logical import Aggregate, Window

duckdb = pytest.importorskip("duckdb")

TABLES = {
    # the outer-only side: key 2 twice (E(v) of two rows), key 5 matches nothing, a NULL key
    "part": {"pk": [1, 2, 2, 3, 4, 5, None], "brand": ["a", "a", "a", "b", "a", "a", "a"]},
    "lines": {"lp": [1, 1, 2, 2, 2, 3, 4, 4, None, 4], "ls": [10, 11, 10, 12, 11, 10, 13, None, 10, 11],
              "qty": [1.0, 5.0, 2.0, 7.0, None, 3.0, None, None, 4.0, 2.5]},
    "supp": {"sk": [10, 11, 12, 13, None], "nation": ["x", "y", "x", "x", "x"]},
}

FIRES = {
    "min_over_a_subset_of_the_joins": """
        select pk, ls, qty from part, lines, supp
        where pk = lp and ls = sk and brand = 'a' and nation = 'x'
          and qty = (select min(qty) from lines, supp where lp = pk and ls = sk and nation = 'x')
        order by pk, ls, qty""",
    "avg_with_a_duplicated_outer_key": """
        select pk, ls, qty from lines, part
        where lp = pk and brand = 'a' and qty < (select 0.9 * avg(qty) from lines where lp = pk)
        order by pk, ls, qty""",
    "max_and_min_in_one_subquery_projection": """
        select pk, qty from lines, part
        where lp = pk and qty >= (select max(qty) - min(qty) from lines where lp = pk)
        order by pk, qty""",
}

KEPT = {
    "sum_is_not_duplicate_insensitive": """
        select pk, qty from lines, part
        where lp = pk and qty < (select 0.5 * sum(qty) from lines where lp = pk)
        order by pk, qty""",
    "subquery_filters_rows_the_outer_keeps": """
        select pk, qty from lines, part
        where lp = pk and qty = (select max(qty) from lines where lp = pk and ls > 10)
        order by pk, qty""",
    "outer_meets_the_subquery_on_a_non_key_column": """
        select pk, ls, qty from lines, part, supp
        where lp = pk and ls = sk and brand = 'a'
          and qty = (select min(qty) from lines, part where lp = pk and brand = 'a' and ls = 10)
        order by pk, ls, qty""",
    "subquery_over_the_outer_table_itself": """
        select lp, qty from lines l1
        where qty = (select max(qty) from lines l2 where l2.lp = l1.lp)
        order by lp, qty""",
}


def _frames() -> dict[str, th.DataFrame]:
    return {name: th.from_pydict(cols) for name, cols in TABLES.items()}


def _duckdb(query: str) -> pa.Table:
    con = duckdb.connect()
    for name, cols in TABLES.items():
        con.register(name, pa.table(cols))
    return con.sql(query).to_arrow_table()


def _windows(df: th.DataFrame) -> int:
    return sum(isinstance(n, Window) for n in optimized(df).walk())


@pytest.mark.parametrize("name", sorted(FIRES))
def test_fires_and_matches_duckdb(name: str) -> None:
    df = th.sql(FIRES[name], **_frames())
    plan = optimized(df)
    assert _windows(df) == 1 and not any(isinstance(n, Aggregate) for n in plan.walk())
    assert rounded_rows(df.to_arrow(), 9) == rounded_rows(_duckdb(FIRES[name]), 9)
    assert_rule_equivalent(df, "aggregate_to_window")


@pytest.mark.parametrize("name", sorted(KEPT))
def test_left_alone_and_matches_duckdb(name: str) -> None:
    df = th.sql(KEPT[name], **_frames())
    assert _windows(df) == 0
    assert rounded_rows(df.to_arrow(), 9) == rounded_rows(_duckdb(KEPT[name]), 9)


def _dataframe_q17(agg: th.Expr) -> th.DataFrame:
    """TPC-H Q17's shape in the DataFrame API: the group-by is over the very rows joined back
    (S is all of L), on the coalesced key, its aggregate inside an expression."""
    f = _frames()
    li = f["part"].filter(th.col("brand") == "a").join(f["lines"], left_on="pk", right_on="lp")
    limit = li.group_by("pk").agg(agg.alias("lim"))
    return li.join(limit, on="pk").filter(th.col("qty") < th.col("lim")).select("pk", "ls", "qty")


def _polars_q17(agg: object) -> list[tuple[object, ...]]:
    pl = pytest.importorskip("polars")
    f = {n: pl.DataFrame(c) for n, c in TABLES.items()}
    li = f["part"].filter(pl.col("brand") == "a").join(f["lines"], left_on="pk", right_on="lp")
    out = li.join(li.group_by("pk").agg(agg.alias("lim")), on="pk").filter(  # type: ignore[attr-defined]
        pl.col("qty") < pl.col("lim")).select("pk", "ls", "qty")
    return sorted(out.rows(), key=repr)


def test_dataframe_api_group_by_of_the_joined_rows_becomes_a_window() -> None:
    pl = pytest.importorskip("polars")
    df = _dataframe_q17(0.9 * th.col("qty").mean().cast("float64"))
    plan = optimized(df)
    assert _windows(df) == 1 and not any(isinstance(n, Aggregate) for n in plan.walk())
    got = assert_rule_equivalent(df, "aggregate_to_window")
    assert sorted(map(tuple, (r.values() for r in got.to_pylist())), key=repr) == \
        _polars_q17(0.9 * pl.col("qty").mean().cast(pl.Float64))


def test_dataframe_api_sum_inside_an_expression_is_left_alone() -> None:
    pl = pytest.importorskip("polars")
    df = _dataframe_q17(0.5 * th.col("qty").sum())
    assert _windows(df) == 0
    got = df.to_arrow()
    assert sorted(map(tuple, (r.values() for r in got.to_pylist())), key=repr) == _polars_q17(0.5 * pl.col("qty").sum())


def _dataframe_q2(how: str = "inner") -> th.DataFrame:
    """TPC-H Q2's shape in the DataFrame API: a group-by of a subset of the outer join's inputs,
    joined back on its key (coalesced away on the outer side) and on the aggregate's value."""
    f = _frames()
    s = f["lines"].join(f["supp"].filter(th.col("nation") == "x"), left_on="ls", right_on="sk")
    cheapest = s.group_by("lp").agg(th.col("qty").min().alias("min_qty"))
    outer = f["part"].filter(th.col("brand") == "a").join(s, left_on="pk", right_on="lp")
    return outer.join(cheapest, left_on=["pk", "qty"], right_on=["lp", "min_qty"], how=how).select("pk", "ls", "qty")


def _polars_q2(how: str = "inner") -> list[tuple[object, ...]]:
    pl = pytest.importorskip("polars")
    f = {n: pl.DataFrame(c) for n, c in TABLES.items()}
    s = f["lines"].join(f["supp"].filter(pl.col("nation") == "x"), left_on="ls", right_on="sk")
    cheapest = s.group_by("lp").agg(pl.col("qty").min().alias("min_qty"))
    outer = f["part"].filter(pl.col("brand") == "a").join(s, left_on="pk", right_on="lp")
    out = outer.join(cheapest, left_on=["pk", "qty"], right_on=["lp", "min_qty"], how=how)  # type: ignore[arg-type]
    return sorted(out.select("pk", "ls", "qty").rows(), key=repr)


def test_dataframe_api_join_on_the_aggregate_value_becomes_a_window_and_filter() -> None:
    df = _dataframe_q2()
    plan = optimized(df)
    assert _windows(df) == 1 and not any(isinstance(n, Aggregate) for n in plan.walk())
    got = assert_rule_equivalent(df, "aggregate_to_window")
    assert sorted(map(tuple, (r.values() for r in got.to_pylist())), key=repr) == _polars_q2()


def test_dataframe_api_left_join_on_the_aggregate_value_is_left_alone() -> None:
    df = _dataframe_q2("left")
    assert _windows(df) == 0
    got = df.to_arrow()
    assert sorted(map(tuple, (r.values() for r in got.to_pylist())), key=repr) == _polars_q2("left")
