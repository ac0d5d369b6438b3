"""A lone NOT EXISTS in a WHERE is an anti join, as a NOT EXISTS next to other terms is: DuckDB
differential tests with NULL keys.

sqlglot decorrelates ``NOT EXISTS (SELECT ... WHERE u.k = t.k)`` into a left join against the
subquery's grouped keys and ``NOT (k IS NOT NULL)``; simplify rewrites that to ``k IS NULL`` only
next to other conjuncts. Alone (over a table or a derived table) it stayed ``~k.is_not_null()``,
which ``semi_join_from_exists`` did not read as the null test: a left join plus a group-by of
the subquery's keys (correct, but slower). ``NOT NOT x`` is now ``x`` in the translation.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

import thresher as th
from duckdb_diff import duckdb_rows, thresher_rows

pytest.importorskip("duckdb")

T = pa.table({"k": pa.array([1, 2, None, 4, 5, 2], pa.int32()), "v": pa.array([10, 20, 30, 40, None, 60], pa.int32())})
U = pa.table({"k": pa.array([1, None, 4, 4, None], pa.int32()), "w": pa.array([1, 2, 3, 9, None], pa.int32())})
TABLES = {"t": T, "u": U}

ANTI = [
    "SELECT k, v FROM t WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.k = t.k)",
    "SELECT k, v FROM t WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.k = t.k AND w < 5)",
    "SELECT k, v FROM t WHERE NOT EXISTS (SELECT 1 FROM (SELECT k FROM u WHERE w < 5) x WHERE x.k = t.k)",
    "SELECT k, v FROM t WHERE NOT EXISTS (SELECT 1 FROM (SELECT k, count(*) AS c FROM u GROUP BY k) x "
    "WHERE x.k = t.k AND x.c > 1)",
    "SELECT d.k FROM (SELECT k, v FROM t WHERE v > 1) d WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.k = d.k)",
    "SELECT d.k, d.s FROM (SELECT k, sum(v) AS s FROM t GROUP BY k) d "
    "WHERE NOT EXISTS (SELECT 1 FROM (SELECT * FROM u) x WHERE x.k = d.k)",
    "SELECT t.k FROM t JOIN u ON u.k = t.k WHERE NOT EXISTS (SELECT 1 FROM (SELECT * FROM u) x WHERE x.w = u.w + 1)",
    "SELECT k FROM t WHERE NOT (EXISTS (SELECT 1 FROM u WHERE u.k = t.k))",
]


@pytest.mark.parametrize("query", ANTI)
def test_a_lone_not_exists_is_an_anti_join_and_matches_duckdb(query: str) -> None:
    assert thresher_rows(query, TABLES) == duckdb_rows(query, TABLES)
    plan = th.sql(query, **{n: th.from_arrow(x) for n, x in TABLES.items()}).explain(format="text", print_=False)
    optimized = plan[plan.index("== Optimized plan =="):plan.index("== Rules fired")]
    assert "Join anti" in optimized and "Join left" not in optimized, optimized


SAME = [
    # NOT NOT x is x, NULL included
    "SELECT k, NOT NOT (k > 1) AS a, NOT (NOT (v IS NULL)) AS b, NOT NOT NOT (k = 2) AS c FROM t",
    "SELECT k FROM t WHERE NOT NOT (k > 1)",
    "SELECT k FROM t WHERE NOT NOT EXISTS (SELECT 1 FROM u WHERE u.k = t.k)",
    "SELECT k FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.k = t.k)",
]


@pytest.mark.parametrize("query", SAME)
def test_double_negation_matches_duckdb(query: str) -> None:
    assert thresher_rows(query, TABLES) == duckdb_rows(query, TABLES)
