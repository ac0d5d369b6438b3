"""A filter's ``is_in`` of a computed string against a few short strings is lowered as equalities.

``e.is_in(["a", "b"])`` with ``e`` computed (TPC-H Q22's ``c_phone.str.slice(0, 2)``) is tested as
``e == "a" | e == "b"`` in a ``with_columns`` column, where Polars computes ``e`` once
(``planner/polars_plan.py: _is_in_as_equalities``). The results are compared with Polars running
the same DataFrame query and with DuckDB running the same SQL, over strings with NULLs, the empty
string, unicode, duplicate list values, empty inputs, and the test inside NOT, OR and AND.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner_helpers import sorted_rows

import thresher as th
import thresher.planner.polars_plan as polars_plan
from thresher import col
from thresher.planner.physical import compile as compile_plan

duckdb = pytest.importorskip("duckdb")

T = pa.table({"s": ["13-5", "31-x", None, "", "1", "17-", "é3", "13", "99-1", None],
              "k": pa.array([1, 2, 3, 4, 5, 6, 7, 8, 9, None], pa.int64())})


def _program_text(frame: th.DataFrame) -> str:
    physical = compile_plan(frame.plan)
    assert physical.root.kind == "relational" and not physical.root.inputs
    return str(physical.root.spec.program([]).explain(optimized=False))


def _frames(table: pa.Table, codes: list[str], shape: str) -> tuple[th.DataFrame, pl.LazyFrame]:
    """The same query in Thresher's and Polars' API."""
    t, p = th.from_arrow(table), pl.from_arrow(table).lazy()  # type: ignore[union-attr]
    te, pe = col("s").str.slice(0, 2).is_in(codes), pl.col("s").str.slice(0, 2).is_in(codes)
    if shape == "not":
        te, pe = ~te, ~pe
    elif shape == "or":
        te, pe = te | (col("k") > 7), pe | (pl.col("k") > 7)
    elif shape == "and":
        te, pe = te & (col("k") < 8), pe & (pl.col("k") < 8)
    # (sorted: a relational stage, lowered to one Polars program; a bare filter streams)
    return t.filter(te).select("s", "k").sort("k"), p.filter(pe).select("s", "k")


@pytest.mark.parametrize("shape", ["plain", "not", "or", "and"])
@pytest.mark.parametrize("codes", [["13", "31"], ["13", "17", "13", "", "é3"], ["zz", "yy"]])
def test_same_rows_as_polars(shape: str, codes: list[str]) -> None:
    frame, lazy = _frames(T, codes, shape)
    assert sorted_rows(frame.to_arrow()) == sorted_rows(lazy.collect().to_arrow())


def test_empty_input() -> None:
    frame, lazy = _frames(T.slice(0, 0), ["13", "31"], "plain")
    assert frame.to_arrow().num_rows == 0 == lazy.collect().height


def test_program_tests_equalities_once() -> None:
    """The lowered program compares the computed value with each string in a column, and
    (switched off) probes the list as before; a plain column keeps ``is_in`` (Polars estimates
    an ``is_in`` list's rows)."""
    frame, _ = _frames(T, ["13", "31", "17"], "plain")
    text = _program_text(frame)
    assert 'is_in' not in text and '== "31"' in text and "__keep" in text
    polars_plan.IS_IN_AS_EQUALITIES = False
    try:
        assert "is_in" in _program_text(frame)
    finally:
        polars_plan.IS_IN_AS_EQUALITIES = True
    plain = th.from_arrow(T).filter(col("s").is_in(["13", "31"])).sort("k")
    assert "is_in" in _program_text(plain)
    many = th.from_arrow(T).filter(col("s").str.slice(0, 2).is_in([str(i) for i in range(20)])).sort("k")
    assert "is_in" in _program_text(many)
    long = th.from_arrow(T).filter(col("s").str.slice(0, 20).is_in(["a" * 13, "b"])).sort("k")
    assert "is_in" in _program_text(long)


def test_keep_name_taken() -> None:
    """An input column named like the test's column keeps its values."""
    t = T.append_column("__keep", pa.array([False] * T.num_rows))
    got = th.from_arrow(t).filter(col("s").str.slice(0, 2).is_in(["13", "31"])).sort("k").to_arrow()
    assert got.column_names == ["s", "k", "__keep"]
    assert sorted_rows(got) == [("13", 8, False), ("13-5", 1, False), ("31-x", 2, False)]


@pytest.mark.parametrize("where", [
    "substr(s, 1, 2) in ('13', '31', '17')",
    "substr(s, 1, 2) not in ('13', '', 'é3')",
    "upper(s) in ('13-5', '99-1') or k is null",
    "coalesce(substr(s, 1, 2), 'none') in ('none', '13')",
])
def test_sql_same_rows_as_duckdb(where: str) -> None:
    q = f"select s, k from t where {where} order by k"
    con = duckdb.connect()
    con.register("t", T)
    assert sorted_rows(th.sql(q, t=T).to_arrow()) == sorted_rows(con.sql(q).to_arrow_table())


_S = st.one_of(st.none(), st.sampled_from(["", "a", "ab", "abc", "ba", "é", "éa", "日本", "a b"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_S, max_size=12),
       codes=st.lists(st.sampled_from(["", "a", "ab", "b", "é", "日"]), min_size=2, max_size=8),
       length=st.integers(1, 3), shape=st.sampled_from(["plain", "not", "or", "and"]))
def test_fuzz_same_rows_as_polars(values: list[Any], codes: list[str], length: int, shape: str) -> None:
    table = pa.table({"s": pa.array(values, pa.string()), "k": pa.array(range(len(values)), pa.int64())})
    t, p = th.from_arrow(table), pl.from_arrow(table).lazy()  # type: ignore[union-attr]
    te, pe = col("s").str.slice(0, length).is_in(codes), pl.col("s").str.slice(0, length).is_in(codes)
    if shape == "not":
        te, pe = ~te, ~pe
    elif shape == "or":
        te, pe = te | (col("k") > 5), pe | (pl.col("k") > 5)
    elif shape == "and":
        te, pe = te & (col("k") < 5), pe & (pl.col("k") < 5)
    got = t.filter(te).sort("k").to_arrow()
    assert sorted_rows(got) == sorted_rows(p.filter(pe).collect().to_arrow())
