"""Inner, left, semi, anti and cross joins on same-typed columns are lowered as Polars joins of
the columns as they are (polars_plan._direct_join), without renaming every column of both sides.

Each case compares Thresher's result (columns, names, order, rows) with Polars' eager join (the
DataFrame API's reference) or DuckDB (SQL), over Parquet files with NULL keys, duplicate keys,
keys one side lacks, a column both sides have (it takes the suffix: the renaming path) and key
types that differ between the sides (cast: the renaming path). The program checks say which
joins took the direct path.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from planner_helpers import duckdb_over, sorted_rows

import thresher as th
from thresher import col
from thresher.planner import polars_plan
from thresher.planner.physical import compile as compile_plan

LEFT = pa.table({"k": pa.array([1, 1, 2, 3, None, 5, 7], pa.int64()),
                 "k2": pa.array(["a", "b", "a", None, "a", "c", "a"]),
                 "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, None],
                 "k32": pa.array([1, 1, 2, 3, None, 5, 7], pa.int32())})
RIGHT = pa.table({"rk": pa.array([1, 2, 2, None, 5, 6], pa.int64()),
                  "rk2": pa.array(["a", "a", "b", "a", None, "a"]),
                  "y": [10, 20, 30, 40, 50, 60],
                  "x": [0.5, 0.25, None, 1.5, 2.5, 3.5]})


@pytest.fixture
def frames(tmp_path: Path) -> tuple[dict[str, th.DataFrame], dict[str, Path]]:
    paths = {}
    for name, t in (("l", LEFT), ("r", RIGHT)):
        paths[name] = tmp_path / f"{name}.parquet"
        pq.write_table(t, paths[name])
    return {n: th.read_parquet(str(p)) for n, p in paths.items()}, paths


def _program(df: th.DataFrame) -> str:
    physical = compile_plan(df.plan)
    assert physical.root.kind == "relational" and not physical.root.inputs
    return physical.root.spec.program([]).explain(optimized=False)


# left_on, right_on, the right side's columns (name: the right table's column), how, direct?
CASES = {
    "inner one key": (["k"], ["rk"], {"rk": "rk", "y": "y"}, "inner", True),
    "inner two keys": (["k", "k2"], ["rk", "rk2"], {"rk": "rk", "rk2": "rk2", "y": "y"}, "inner", True),
    "inner same name": (["k"], ["k"], {"k": "rk", "y": "y"}, "inner", True),
    "inner suffixed column": (["k"], ["rk"], {"rk": "rk", "y": "y", "x": "x"}, "inner", False),
    "inner cast key": (["k32"], ["rk"], {"rk": "rk", "y": "y"}, "inner", False),
    "semi": (["k"], ["rk"], {"rk": "rk", "y": "y", "x": "x"}, "semi", True),
    "semi two keys": (["k", "k2"], ["rk", "rk2"], {"rk": "rk", "rk2": "rk2", "x": "x"}, "semi", True),
    "anti": (["k"], ["rk"], {"rk": "rk", "y": "y", "x": "x"}, "anti", True),
    "anti same name": (["k"], ["k"], {"k": "rk"}, "anti", True),
    "left": (["k"], ["rk"], {"rk": "rk", "y": "y"}, "left", True),
    "left two keys": (["k", "k2"], ["rk", "rk2"], {"rk": "rk", "rk2": "rk2", "y": "y"}, "left", True),
    "left same name": (["k"], ["k"], {"k": "rk", "y": "y"}, "left", True),
    "left suffixed column": (["k"], ["rk"], {"rk": "rk", "y": "y", "x": "x"}, "left", False),
    "full (renamed)": (["k"], ["rk"], {"rk": "rk", "y": "y"}, "full", False),
}


@pytest.fixture
def checked_direct(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], list[str]]]:
    """Every direct join's Polars columns against its node's schema (a projection above the
    join would hide an extra or missing column from the result)."""
    seen: list[tuple[list[str], list[str]]] = []
    direct = polars_plan._direct_join

    def check(node, left, right):  # type: ignore[no-untyped-def]
        out = direct(node, left, right)
        if out is not None:
            seen.append((out.collect_schema().names(), list(node.schema.names)))
        return out

    monkeypatch.setattr(polars_plan, "_direct_join", check)
    return seen


@pytest.mark.parametrize("name", sorted(CASES))
def test_join_matches_polars(frames, checked_direct, name: str) -> None:  # type: ignore[no-untyped-def]
    (t, _), (left_on, right_on, rcols, how, direct) = frames, CASES[name]
    right = t["r"].select(*[col(src).alias(n) for n, src in rcols.items()])
    df = t["l"].join(right, left_on=left_on, right_on=right_on, how=how)
    got = df.to_arrow()
    pright = pl.from_arrow(RIGHT).select([pl.col(src).alias(n) for n, src in rcols.items()])
    want = pl.from_arrow(LEFT).join(pright, left_on=left_on, right_on=right_on, how=how).to_arrow()  # type: ignore[union-attr]
    assert got.column_names == want.column_names == list(df.columns)
    assert sorted_rows(got) == sorted_rows(want)
    assert ("__l0" not in _program(df)) == direct
    assert len(checked_direct) == 2 * direct  # lowered twice: to run and to explain
    assert all(cols == want_cols for cols, want_cols in checked_direct)


def test_sql_inner_join_keeps_both_key_columns(frames, checked_direct) -> None:  # type: ignore[no-untyped-def]
    # SQL keeps a plain right key column (join_order/translate: col("rk").alias("__key.rk")):
    # joined without coalescing, the right key stays in the output
    t, paths = frames
    q = "select l.k, r.rk, l.x, r.y from l join r on l.k = r.rk and l.k2 = r.rk2 where r.y > 10"
    df = th.sql(q, l=t["l"], r=t["r"])
    assert "__l0" not in _program(df)
    assert checked_direct and all(cols == want_cols for cols, want_cols in checked_direct)
    assert sorted_rows(df.to_arrow()) == sorted_rows(duckdb_over(paths).sql(q).to_arrow_table())


def test_sql_join_chain_and_anti_match_duckdb(frames, checked_direct) -> None:  # type: ignore[no-untyped-def]
    t, paths = frames
    q = """select l.k, l.k2, count(*) as n, sum(r.y) as s from l join r on l.k = r.rk
           where l.k not in (select rk from r where y > 40 and rk is not null)
             and exists (select 1 from r r2 where r2.rk = l.k and r2.rk2 = 'a')
           group by l.k, l.k2"""
    df = th.sql(q, l=t["l"], r=t["r"])
    assert sorted_rows(df.to_arrow()) == sorted_rows(duckdb_over(paths).sql(q).to_arrow_table())
    assert checked_direct and all(cols == want_cols for cols, want_cols in checked_direct)


@pytest.mark.parametrize("rcols,direct", [({"y": "y", "rk2": "rk2"}, True), ({"y": "y", "x": "x"}, False)])
def test_cross_join_matches_polars(frames, checked_direct, rcols: dict[str, str], direct: bool) -> None:  # type: ignore[no-untyped-def]
    t, _ = frames
    df = t["l"].join(t["r"].select(*[col(src).alias(n) for n, src in rcols.items()]), how="cross")
    got = df.to_arrow()
    pright = pl.from_arrow(RIGHT).select([pl.col(src).alias(n) for n, src in rcols.items()])
    want = pl.from_arrow(LEFT).join(pright, how="cross").to_arrow()  # type: ignore[union-attr]
    assert got.column_names == want.column_names == list(df.columns)
    assert sorted_rows(got) == sorted_rows(want)
    assert ("__l0" not in _program(df)) == direct
    assert len(checked_direct) == 2 * direct
    assert all(cols == want_cols for cols, want_cols in checked_direct)


def test_sql_left_join_keeps_the_right_key(frames, checked_direct) -> None:  # type: ignore[no-untyped-def]
    # a LEFT JOIN's right key column is NULL where no right row matched, as DuckDB gives it
    t, paths = frames
    q = "select l.k, l.k2, r.rk, r.y from l left join r on l.k = r.rk and l.k2 = r.rk2"
    df = th.sql(q, l=t["l"], r=t["r"])
    assert "__l0" not in _program(df)
    assert checked_direct and all(cols == want_cols for cols, want_cols in checked_direct)
    assert sorted_rows(df.to_arrow()) == sorted_rows(duckdb_over(paths).sql(q).to_arrow_table())
