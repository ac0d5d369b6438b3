"""Scalar subqueries return at most one row, as DuckDB checks: differential tests.

A subquery used as a value that returns two or more rows is an error in SQL (DuckDB: "More
than one row returned by a subquery used as an expression"). Decorrelation used to cross-join
every row of it (the outer rows came back duplicated) or take its first value; now an
uncorrelated one is checked where it runs; a correlated one that is not one row by its shape
is checked per outer row too (``__single_row_value`` of its least value and its row count).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from duckdb_diff import duckdb_rows, thresher_rows
from thresher.errors import ThresherExecutionError, UnsupportedError

duckdb = pytest.importorskip("duckdb")

T = pa.table({"a": pa.array([1, 2, 3, None], pa.int64()), "b": pa.array([10, 20, 30, 40], pa.int64())})
U = pa.table({"x": pa.array([1, 2, 2], pa.int64()), "k": pa.array([1, 1, 2], pa.int64()),
              "s": ["p", "q", "q"]})
ONE = pa.table({"x": pa.array([5], pa.int64())})
TABLES = {"t": T, "u": U, "one": ONE}


def _duckdb(query: str) -> list[tuple[Any, ...]]:
    return duckdb_rows(query, TABLES)


def _thresher(query: str) -> list[tuple[Any, ...]]:
    return thresher_rows(query, TABLES)


@pytest.mark.parametrize("query", [
    "SELECT a FROM t WHERE b > (SELECT x FROM u)",  # was 12 rows: t cross-joined with all of u
    "SELECT a, (SELECT x FROM u) AS v FROM t",  # was the first value of u
    "SELECT a FROM t WHERE b > (SELECT sum(x) FROM u GROUP BY k)",
    "SELECT a FROM t WHERE a = (SELECT DISTINCT x FROM u)",
    "SELECT a, (SELECT x FROM u UNION ALL SELECT x FROM one) AS v FROM t",
    "SELECT count(*) AS n FROM t HAVING count(*) > (SELECT x FROM u WHERE k = 1)",
])
def test_more_than_one_row_is_an_error_as_in_duckdb(query: str) -> None:
    with pytest.raises(duckdb.Error, match="More than one row"):
        _duckdb(query)
    with pytest.raises(ThresherExecutionError, match="scalar subquery returned [234] rows"):
        _thresher(query)


@pytest.mark.parametrize("query", [
    "SELECT a FROM t WHERE b > (SELECT x FROM one)",
    "SELECT a, (SELECT x FROM one) + 1 AS v FROM t",
    "SELECT a FROM t WHERE b > (SELECT x FROM u WHERE x > 100)",  # no row: NULL
    "SELECT a, (SELECT s FROM u WHERE x > 100) AS v FROM t",
    "SELECT a FROM t WHERE a = (SELECT DISTINCT k FROM u WHERE x = 1)",
    "SELECT a FROM t WHERE a = (SELECT DISTINCT k FROM u WHERE x = 1) OR a = 3",
    "SELECT a FROM t WHERE b > (SELECT x FROM u ORDER BY x DESC LIMIT 1)",
    "SELECT a FROM t WHERE b > (SELECT sum(x) FROM u GROUP BY k HAVING k = 2)",
    "SELECT a FROM t WHERE b > 10 * (SELECT max(x) FROM u)",
    "SELECT a FROM t WHERE a = (SELECT max(x) FROM u WHERE u.k = t.a)",
    "SELECT a, (SELECT x FROM one) AS v, (SELECT x FROM u WHERE s = 'p') AS w FROM t",
    "SELECT a FROM t WHERE a IN (SELECT x FROM u) AND b < (SELECT x FROM one) * 5",
])
def test_at_most_one_row_matches_duckdb(query: str) -> None:
    assert _thresher(query) == _duckdb(query)


def test_a_correlated_subquery_that_returns_rows_is_an_error_as_in_duckdb() -> None:
    """(was refused while planning: "a correlated scalar subquery that may return more than one row")"""
    query = "SELECT a FROM t WHERE a = (SELECT x FROM u WHERE u.k = t.a)"
    with pytest.raises(duckdb.Error, match="More than one row"):
        _duckdb(query)
    with pytest.raises(ThresherExecutionError, match="scalar subquery returned 2 rows"):
        _thresher(query)


#: a correlated subquery selecting a row's value: at most one row per outer row (checked where it
#: runs), or the least / greatest by ORDER BY v LIMIT 1 (each was refused while planning)
CORRELATED_ROWS = [
    "SELECT a, (SELECT u.s FROM u WHERE u.x = t.a AND u.k = 1) AS v FROM t",
    "SELECT a, (SELECT u.x FROM u WHERE u.k = t.a AND u.x > 1) AS v FROM t",
    "SELECT a, coalesce((SELECT u.s FROM u WHERE u.x = t.a + 1 AND u.k = 2), 'none') AS v FROM t",
    "SELECT a, (SELECT u.x FROM u WHERE u.k = t.a ORDER BY u.x LIMIT 1) AS v FROM t",
    "SELECT a, (SELECT u.x FROM u WHERE u.k = t.a ORDER BY u.x DESC LIMIT 1) AS v FROM t",
    "SELECT a, (SELECT u.s FROM u WHERE u.x < t.a ORDER BY u.s DESC NULLS LAST LIMIT 1) AS v FROM t",
    "SELECT a FROM t WHERE b > 10 * (SELECT u.x FROM u WHERE u.k = t.a ORDER BY u.x LIMIT 1)",
    "SELECT a FROM t WHERE a = (SELECT u.x FROM u WHERE u.k = t.a AND u.s = 'p')",
]


@pytest.mark.parametrize("query", CORRELATED_ROWS)
def test_correlated_row_subquery_matches_duckdb(query: str) -> None:
    assert _thresher(query) == _duckdb(query)


@pytest.mark.parametrize("query", [
    "SELECT a, (SELECT u.x FROM u WHERE u.k = t.a LIMIT 1) AS v FROM t",  # which row: DuckDB's choice
    "SELECT a, (SELECT u.x FROM u WHERE u.k = t.a ORDER BY u.s LIMIT 1) AS v FROM t",
])
def test_correlated_limit_without_its_value_order_is_refused(query: str) -> None:
    with pytest.raises(UnsupportedError, match="correlated scalar subquery"):
        _thresher(query)
