"""SQL NULL semantics, set operations and implicit literal casts, each checked against DuckDB."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pyarrow as pa
import pytest

import thresher as th

duckdb = pytest.importorskip("duckdb")

T = pa.table({
    "k": pa.array([1, 1, 2, 2, 3, None], pa.int64()),
    "v": pa.array([None, None, 1.5, None, 2.0, 4.0], pa.float64()),
    "i": pa.array([None, None, 1, None, 2, 7], pa.int64()),
    "d": pa.array([datetime.date(2000, 1, 1), datetime.date(2000, 3, 1), None, datetime.date(1999, 12, 31),
                   datetime.date(2000, 2, 29), datetime.date(2001, 1, 1)]),
    "s": pa.array(["a", None, "b", "b", None, "c"]),
})
A = pa.table({"x": pa.array([1, None, 2, 2, 2, None, None, 3], pa.int64()),
              "y": ["a", None, "b", "b", "b", None, None, "c"]})
B = pa.table({"x": pa.array([None, 2, 3, 3, 2, None], pa.int64()), "y": [None, "b", "c", "c", "b", "z"]})
EMPTY = T.slice(0, 0)


def _key(row: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(repr(v) for v in row)


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(zip(*(c.to_pylist() for c in table.columns)), key=_key) if table.num_columns else []


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9)
    return bool(a == b) and (a is None) == (b is None)


def check(query: str) -> None:
    tables = {"t": T, "a": A, "b": B, "e": EMPTY}
    ref = duckdb.connect()
    for name, tab in tables.items():
        ref.register(name, tab)
    want = _rows(ref.sql(query).to_arrow_table())
    got = _rows(th.sql(query, **{n: th.from_arrow(tab) for n, tab in tables.items()}).to_arrow())
    assert len(got) == len(want), (query, got, want)
    for g, w in zip(got, want):
        assert len(g) == len(w) and all(_same(x, y) for x, y in zip(g, w)), (query, got, want)


@pytest.mark.parametrize("query", [
    "SELECT k, sum(v) AS s, sum(i) AS si, sum(i) * 2 AS x FROM t GROUP BY k",
    "SELECT sum(v) AS s, sum(i) AS si, count(*) AS n FROM e",
    "SELECT sum(i) AS s FROM t WHERE k > 5",
    "SELECT k FROM t GROUP BY k HAVING sum(i) IS NULL",
    "SELECT k, sum(i) / sum(v) AS r FROM t GROUP BY k",
    "SELECT k, avg(v) AS a, min(i) AS lo, max(i) AS hi, count(i) AS n FROM t GROUP BY k",
])
def test_aggregates_over_all_null_groups_are_null(query: str) -> None:
    check(query)


@pytest.mark.parametrize("op", ["UNION", "UNION ALL", "UNION DISTINCT", "INTERSECT", "INTERSECT ALL",
                                "INTERSECT DISTINCT", "EXCEPT", "EXCEPT ALL", "EXCEPT DISTINCT"])
def test_set_operations_treat_nulls_as_not_distinct(op: str) -> None:
    check(f"SELECT x, y FROM a {op} SELECT x, y FROM b")
    check(f"SELECT x FROM b {op} SELECT x FROM a")
    check(f"SELECT x, y FROM a {op} SELECT x, y FROM a WHERE x > 100")


def test_set_operation_from_the_issue() -> None:
    q = ("SELECT * FROM (VALUES (1), (NULL), (2)) AS l(v) EXCEPT SELECT * FROM (VALUES (NULL), (2), (3)) AS r(v)")
    assert th.sql("SELECT v FROM l EXCEPT SELECT v FROM r",
                  l=th.from_pydict({"v": [1, None, 2]}), r=th.from_pydict({"v": [None, 2, 3]})).to_pydict() == {"v": [1]}
    assert duckdb.sql(q).fetchall() == [(1,)]


@pytest.mark.parametrize("query", [
    "SELECT * FROM t WHERE d >= '2000-02-01'",
    "SELECT * FROM t WHERE '2000-02-01' < d",
    "SELECT * FROM t WHERE d BETWEEN '1999-01-01' AND '2000-01-05'",
    "SELECT * FROM t WHERE d NOT BETWEEN '1999-01-01' AND '2000-01-05'",
    "SELECT * FROM t WHERE d IN ('2000-03-01', '2001-01-01')",
    "SELECT * FROM t WHERE d NOT IN ('2000-03-01', '2001-01-01')",
    "SELECT * FROM t WHERE i > '1'",
    "SELECT * FROM t WHERE v <= '2.0'",
    "SELECT * FROM t WHERE CAST(d AS TIMESTAMP) < '2000-02-01 12:00:00'",
    "SELECT d + 5 AS a, d - 3 AS b, 2 + d AS c FROM t",
    "SELECT * FROM t WHERE d + 30 > '2000-03-15'",
    "SELECT * FROM t WHERE d > CAST('2000-01-15' AS DATE) - INTERVAL 30 DAY",
])
def test_string_literals_take_the_other_sides_type(query: str) -> None:
    check(query)


@pytest.mark.parametrize("query", [
    "SELECT s, k, sum(i) AS x, count(*) AS n, grouping(s) AS gs, grouping(s, k) AS gsk FROM t GROUP BY ROLLUP (s, k)",
    "SELECT s, k, sum(v) AS x FROM t GROUP BY CUBE (s, k)",
    "SELECT s, k, sum(i) AS x, grouping(k) AS g FROM t GROUP BY GROUPING SETS ((s, k), (s), ())",
    "SELECT s, k, sum(i) AS x FROM t GROUP BY s, ROLLUP (k)",
    "SELECT s, sum(i) AS x FROM e GROUP BY ROLLUP (s)",
    "SELECT s, k, grouping(s) + grouping(k) AS lh FROM t GROUP BY ROLLUP (s, k) HAVING grouping(k) = 1",
    "SELECT s, k, grouping(s) AS g FROM t GROUP BY s, k",
    "SELECT s, k, avg(v) AS a, avg(i) AS ai, min(v) AS lo, max(s) AS hi, count(v) AS n, sum(v) AS x "
    "FROM t GROUP BY ROLLUP (s, k)",
    "SELECT k % 2 AS m, s, avg(i) AS a, count(*) AS n, min(d) AS d0 FROM t GROUP BY CUBE (k % 2, s)",
    "SELECT s, avg(v) AS a, count(*) AS n, min(i) AS lo FROM e GROUP BY ROLLUP (s)",
    "SELECT s, k, count(DISTINCT i) AS u, sum(i) AS x FROM t GROUP BY ROLLUP (s, k)",
    "SELECT s, k, avg(v) AS a FROM t GROUP BY GROUPING SETS ((s), (s), (k), ())",
])
def test_rollup_cube_grouping_sets(query: str) -> None:
    check(query)


def test_grouping_sets_share_one_aggregate_of_the_input() -> None:
    """Decomposable aggregates: every grouping set re-aggregates one shared aggregate of the
    input (on all the keys), so the input is read and grouped once, not once per set."""
    from thresher.planner.logical import Aggregate, LogicalPlan, Union

    def find(node: LogicalPlan, kind: type) -> list[Any]:
        found = [node] if isinstance(node, kind) else []
        return found + [x for c in node.children() for x in find(c, kind)]

    plan = th.sql("SELECT s, k, avg(v) AS a, count(*) AS n FROM t GROUP BY ROLLUP (s, k)", t=th.from_arrow(T)).plan
    union = find(plan, Union)[0]
    inputs = {id(a.input) for branch in union.inputs for a in find(branch, Aggregate)[:1]}
    assert len(inputs) == 1 and isinstance(find(union.inputs[0], Aggregate)[0].input, Aggregate)
    # count(DISTINCT) cannot be combined from partial counts: each set aggregates the input
    plan = th.sql("SELECT s, k, count(DISTINCT i) AS u FROM t GROUP BY ROLLUP (s, k)", t=th.from_arrow(T)).plan
    assert not any(isinstance(a.input, Aggregate) for a in find(plan, Aggregate))


def test_unconvertible_literal_is_an_error_naming_it() -> None:
    with pytest.raises(th.ThresherError, match="'abc'.*date"):
        th.sql("SELECT * FROM t WHERE d > 'abc'", t=th.from_arrow(T)).collect()
    with pytest.raises(th.ThresherError, match="'1.5'"):
        th.sql("SELECT * FROM t WHERE i = '1.5'", t=th.from_arrow(T)).collect()


@pytest.mark.parametrize("query", [
    "SELECT k, v > 1 AND i > 1 AS a, v > 1 OR i > 1 AS o, NOT (v > 1) AS n FROM t",
    "SELECT * FROM t WHERE NOT (v > 1.6)",
    "SELECT * FROM t WHERE k NOT IN (1, 3)",
    "SELECT k, CASE WHEN v > 1 THEN 'big' WHEN v IS NULL THEN 'none' ELSE 'small' END AS c FROM t",
    "SELECT k, coalesce(v, i, 0) AS c FROM t",
])
def test_three_valued_logic(query: str) -> None:
    check(query)


def test_dataframe_sum_keeps_polars_semantics() -> None:
    """The DataFrame API follows Polars: the sum of no values is 0 (SQL: NULL)."""
    out = th.from_arrow(T).group_by("k").agg(th.col("i").sum().alias("s")).to_pydict()
    assert dict(zip(out["k"], out["s"]))[1] == 0
    assert th.sql("SELECT k, sum(i) AS s FROM t GROUP BY k", t=th.from_arrow(T)).to_pydict()["s"].count(None) == 1


U = pa.table({"k": pa.array([1, 1, 2, None, 4], pa.int64()), "c": pa.array([5, None, -3, 2, 0], pa.int64())})


@pytest.mark.parametrize("query", [
    # q41's form: a correlated COUNT(*) compared with 0, the correlation inside OR branches
    "SELECT k FROM t WHERE (SELECT count(*) FROM u WHERE (u.k = t.k AND u.c > 1) OR (u.k = t.k AND u.c < 0)) > 0",
    "SELECT k FROM t WHERE (SELECT count(*) FROM u WHERE u.k = t.k AND (u.c > 1 OR u.c IS NULL)) = 0",
    "SELECT k FROM t WHERE (SELECT count(*) FROM u WHERE u.k = t.k) >= 1",
    "SELECT k FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.k = t.k AND (u.c > 1 OR u.c < -1))",
    "SELECT k FROM t WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.k = t.k AND (u.c > 1 OR u.c < -1))",
    # q13/q48's form: join keys repeated in every OR branch
    "SELECT t.k, u.c FROM t, u WHERE (t.k = u.k AND u.c > 1) OR (t.k = u.k AND t.i IS NULL)",
    "SELECT t.k, u.c FROM t, u WHERE (t.k = u.k AND u.c > 1) OR (u.k = t.k AND t.k = u.k)",
    "SELECT t.k FROM t WHERE (i > 1 AND v > 1) OR (i > 1 AND v IS NULL) OR (i > 1)",
])
def test_subquery_and_or_forms(query: str) -> None:
    tables = {"t": T, "u": U}
    ref = duckdb.connect()
    for name, tab in tables.items():
        ref.register(name, tab)
    want = _rows(ref.sql(query).to_arrow_table())
    got = _rows(th.sql(query, **{n: th.from_arrow(tab) for n, tab in tables.items()}).to_arrow())
    assert got == want


def test_or_factored_join_keys_make_a_hash_join() -> None:
    plan = th.sql("SELECT t.k, u.c FROM t, u WHERE (t.k = u.k AND u.c > 1) OR (t.k = u.k AND t.i IS NULL)",
                  t=th.from_arrow(T), u=th.from_arrow(U)).explain(print_=False)
    assert "Join inner" in plan and "Join cross" not in plan
