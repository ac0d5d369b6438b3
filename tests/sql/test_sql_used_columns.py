"""The translator renames only the columns a query reads from each table (``TreeFacts.used``):
every query shape that reads a column some other way than ``alias.column`` must still find it.
Each query is checked against DuckDB: a column left out fails the translation or the result."""

from __future__ import annotations

import importlib
import math
from typing import Any

import pyarrow as pa
import pytest

import thresher as th
from thresher.planner.logical import Project, ScanSource

duckdb = pytest.importorskip("duckdb")
translate_mod = importlib.import_module("thresher.planner.sql.translate")

T = pa.table({"k": pa.array([1, 1, 2, 2, 3, None], pa.int64()),
              "v": pa.array([None, 0.5, 1.5, None, 2.0, 4.0], pa.float64()),
              "s": pa.array(["a", None, "b", "b", None, "c"]),
              "w": pa.array([10, 20, 30, 40, 50, 60], pa.int64())})
U = pa.table({"k": pa.array([1, 2, 2, 4], pa.int64()), "x": pa.array([7, 8, 9, 10], pa.int64()),
              "s": pa.array(["a", "b", "z", None])})


def _key(row: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(repr(v) for v in row)


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(zip(*(c.to_pylist() for c in table.columns)), key=_key)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9)
    return bool(a == b) and (a is None) == (b is None)


@pytest.mark.parametrize("query", [
    "SELECT s FROM t",  # the first column (k) is not read
    "SELECT count(*) AS n FROM t",  # no column read at all
    "SELECT count(*) AS n FROM t WHERE w > 20",
    "SELECT * FROM t",
    "SELECT t.* FROM t JOIN u ON t.k = u.k",
    "SELECT k, x, w + 1 AS w1 FROM u JOIN t USING (k)",
    "SELECT k, x FROM t JOIN u USING (k) WHERE w > 10",
    # the same table under the same alias in two scopes, each reading other columns
    "SELECT a.m, b.n FROM (SELECT max(w) AS m FROM t) a, (SELECT min(v) AS n FROM t) b",
    "SELECT * FROM (SELECT count(*) AS c1 FROM t WHERE w > 15) x, (SELECT sum(v) AS c2 FROM t WHERE s = 'b') y",
    # correlated subqueries read the outer table's columns from inside
    "SELECT k, s FROM t WHERE w > (SELECT avg(x) FROM u WHERE u.k = t.k)",
    "SELECT s FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.s = t.s AND u.x <> t.w / 10)",
    "SELECT s FROM t WHERE k IN (SELECT k FROM u WHERE x > 7)",
    "SELECT s FROM t WHERE k NOT IN (SELECT k FROM u WHERE x > 8)",
    "SELECT (SELECT max(w) FROM t) AS m, x FROM u",
    # read only by ORDER BY, GROUP BY, HAVING, a window's PARTITION BY / ORDER BY
    "SELECT s FROM t ORDER BY w DESC LIMIT 3",
    "SELECT s, count(*) AS n FROM t GROUP BY s HAVING max(w) > 20",
    "SELECT s, sum(v) OVER (PARTITION BY k ORDER BY w) AS r FROM t",
    "SELECT k + 1 AS k1 FROM t GROUP BY k + 1",
    # a CTE named like a table, with other columns: the CTE's columns, not the table's
    "WITH t AS (SELECT x AS z, s FROM u) SELECT z, s FROM t",
    "WITH c AS (SELECT k, w FROM t WHERE w > 10) SELECT c.k, sum(c.w) AS sw FROM c JOIN t ON c.k = t.k GROUP BY c.k",
    # unqualified names over a derived table and over a join
    "SELECT m FROM (SELECT k, max(w) AS m FROM t GROUP BY k) ORDER BY m",
    "SELECT x, w FROM t, u WHERE t.k = u.k",
    "SELECT s FROM t UNION SELECT s FROM u",
    "SELECT CASE WHEN w > 20 THEN s ELSE 'none' END AS c FROM t",
])
def test_used_columns_match_duckdb(query: str) -> None:
    ref = duckdb.connect()
    ref.register("t", T)
    ref.register("u", U)
    want = _rows(ref.sql(query).to_arrow_table())
    got = _rows(th.sql(query, t=th.from_arrow(T), u=th.from_arrow(U)).to_arrow())
    assert len(got) == len(want), (query, got, want)
    for g, w in zip(got, want):
        assert len(g) == len(w) and all(_same(x, y) for x, y in zip(g, w)), (query, got, want)


def test_only_read_columns_are_renamed() -> None:
    """The renaming projection over ``t`` holds the columns the query reads (and the first one)."""
    import thresher.sql_frontend as frontend

    frontend.clear_plan_cache()
    plan = th.sql("SELECT s FROM t WHERE w > 1", t=th.from_arrow(T)).plan
    stack, renames = [plan], []
    while stack:
        node = stack.pop()
        if isinstance(node, Project) and isinstance(node.input, ScanSource):
            renames.append(tuple(node.schema.names))
        stack.extend(node.children())
    assert renames == [("t.k", "t.s", "t.w")]


def test_used_columns_gives_up_on_stars_and_using() -> None:
    import sqlglot

    def used(sql: str) -> Any:
        return translate_mod.tree_facts(sqlglot.parse_one(sql, dialect="duckdb")).used

    assert used("SELECT * FROM t") is None
    assert used("SELECT t.* FROM t") is None
    assert used("SELECT k FROM t JOIN u USING (k)") is None
    assert used("SELECT count(*) FROM t") == {}
    assert used("SELECT t.a, b FROM t WHERE t.c > 1") == {"t": {"a", "c"}, "": {"b"}}
