"""``quantified_comparisons``: ``x <op> ANY / ALL (subquery)`` as DuckDB answers them (differential
tests). ``= ANY`` / ``<> ALL`` as a value read FALSE where DuckDB reads NULL (a subquery holding a
NULL); the other comparisons were refused ("unsupported SQL construct Any" / "All"), and so was a
correlated one other than an ANY that is a WHERE condition."""

from __future__ import annotations

import pyarrow as pa
import pytest

from duckdb_diff import duckdb_rows, thresher_rows
from thresher.errors import UnsupportedError

pytest.importorskip("duckdb")

T = pa.table({"k": pa.array([1, 2, 3, 4, 2], pa.int64()), "g": pa.array([10, 20, 30, None, 12], pa.int64()),
              "x": pa.array([5, 15, 25, 7, None], pa.int64()), "s": ["a", "b", None, "c", "b"]})
U = pa.table({"k": pa.array([1, 1, 2, 2, 3, 5], pa.int64()), "y": pa.array([3, 12, 18, 40, None, 1], pa.int64()),
              "s": ["a", "b", "x", None, "c", "a"]})
TABLES = {"t": T, "u": U}

QUERIES = [
    "SELECT t.k, t.g = ANY (SELECT u.y FROM u) AS a, t.g <> ALL (SELECT u.y FROM u) AS b FROM t",
    "SELECT t.k, t.x = ANY (SELECT u.y FROM u WHERE u.y IS NOT NULL) AS a, "
    "t.x <> ALL (SELECT u.y FROM u WHERE u.y IS NOT NULL) AS b FROM t",
    "SELECT t.k FROM t WHERE t.g <> ALL (SELECT u.y FROM u WHERE u.y IS NOT NULL)",
    "SELECT t.k, t.g = ANY (SELECT u.y FROM u WHERE u.k = t.k) AS a FROM t",
    "SELECT t.k FROM t WHERE t.g > ANY (SELECT u.y FROM u)",
    "SELECT t.k FROM t WHERE t.g < ALL (SELECT u.y FROM u)",
    "SELECT t.k FROM t WHERE t.g < ALL (SELECT u.y FROM u WHERE u.y IS NOT NULL)",
    "SELECT t.k, t.g > ANY (SELECT u.y FROM u) AS a, t.g > ALL (SELECT u.y FROM u) AS b, "
    "t.g <= ANY (SELECT u.y FROM u WHERE u.y IS NOT NULL) AS c, t.g >= ALL (SELECT u.y FROM u WHERE u.y < 15) AS d "
    "FROM t",
    "SELECT t.k, t.g <> ANY (SELECT u.y FROM u) AS a, t.g = ALL (SELECT u.y FROM u WHERE u.y = 12) AS b, "
    "t.g < ANY (SELECT u.y FROM u WHERE u.y > 100) AS c, t.g < ALL (SELECT u.y FROM u WHERE u.y > 100) AS d FROM t",
    "SELECT t.k, t.s >= ANY (SELECT u.s FROM u) AS a, t.s < ALL (SELECT u.s FROM u WHERE u.s IS NOT NULL) AS b FROM t",
    "SELECT t.k, NOT (t.x >= ALL (SELECT u.y FROM u WHERE u.k < 3)) AS a FROM t",
    # correlated: an ANY that is a WHERE condition is an EXISTS
    "SELECT t.k FROM t WHERE t.g > ANY (SELECT u.y FROM u WHERE u.k = t.k)",
    "SELECT t.k FROM t WHERE t.g > ANY (SELECT u.y FROM u WHERE u.y < t.x)",
    "SELECT t.k FROM t WHERE t.x <= ANY (SELECT u.y + 1 FROM u WHERE u.k = t.k) AND t.k > 1",
    "SELECT t.k FROM t WHERE t.g <> ANY (SELECT u.y FROM u WHERE u.k = t.k)",
]


@pytest.mark.parametrize("query", QUERIES)
def test_quantified_comparison_as_duckdb(query: str) -> None:
    assert thresher_rows(query, TABLES) == duckdb_rows(query, TABLES)


#: correlated, anywhere else (each was refused: "a correlated > ALL (subquery) is not supported here")
CORRELATED = [
    "SELECT t.k, t.g > ANY (SELECT u.y FROM u WHERE u.k = t.k) AS a FROM t",
    "SELECT t.k FROM t WHERE t.g > ALL (SELECT u.y FROM u WHERE u.k = t.k)",
    "SELECT t.k, t.g > ALL (SELECT u.y FROM u WHERE u.k = t.k) AS a, t.x <= ALL (SELECT u.y FROM u WHERE u.y > t.x) AS b, "
    "t.g = ALL (SELECT u.y FROM u WHERE u.k = t.k) AS c, t.g <> ANY (SELECT u.y FROM u WHERE u.k = t.k) AS d FROM t",
    "SELECT t.k, NOT (t.g < ANY (SELECT u.y FROM u WHERE u.k = t.k)) AS a, "
    "(t.x >= ALL (SELECT u.y FROM u WHERE u.k = t.k AND u.y IS NOT NULL)) IS NULL AS b FROM t",
    "SELECT t.k, CASE WHEN t.g >= ANY (SELECT u.y FROM u WHERE u.s = t.s) THEN 'y' ELSE 'n' END AS a FROM t",
    "SELECT t.k FROM t WHERE NOT (t.x < ANY (SELECT u.y FROM u WHERE u.k = t.k)) OR t.g IS NULL",
    "SELECT t.k, t.s >= ALL (SELECT u.s FROM u WHERE u.k = t.k) AS a FROM t",
    # DISTINCT and ORDER BY do not change the compared set; one aggregate is one value
    "SELECT t.k, t.g > ALL (SELECT DISTINCT u.y FROM u WHERE u.k = t.k ORDER BY u.y) AS a, "
    "t.g > ALL (SELECT max(u.y) FROM u WHERE u.k = t.k) AS b, t.x < ANY (SELECT count(*) FROM u WHERE u.y < t.g) AS c "
    "FROM t",
    # grouped: in the select list and in HAVING
    "SELECT t.k, max(t.g) > ALL (SELECT u.y FROM u WHERE u.k = t.k) AS a FROM t GROUP BY t.k",
    "SELECT t.k, count(*) AS n FROM t GROUP BY t.k HAVING count(*) >= ANY (SELECT u.y - 10 FROM u WHERE u.k = t.k)",
    "SELECT t.s, max(t.g) AS m FROM t GROUP BY t.s HAVING max(t.g) > ALL (SELECT u.y FROM u WHERE u.s = t.s)",
    "SELECT t.k, max(t.g) AS m FROM t GROUP BY t.k HAVING max(t.g) > ANY (SELECT u.y FROM u)",
]


@pytest.mark.parametrize("query", CORRELATED)
def test_correlated_quantified_comparison_as_duckdb(query: str) -> None:
    assert thresher_rows(query, TABLES) == duckdb_rows(query, TABLES)


def test_correlated_over_no_rows_and_nulls() -> None:
    """ALL over no rows is TRUE, ANY FALSE, also for a NULL x; a NULL in the set (or a NULL x over
    some rows) gives NULL where no row decides."""
    t = pa.table({"k": pa.array([1, 2, 3, 4, 5], pa.int64()), "g": pa.array([None, None, 5, 5, 5], pa.int64())})
    u = pa.table({"k": pa.array([2, 3, 3, 4], pa.int64()), "y": pa.array([1, None, 1, 9], pa.int64())})
    query = ("SELECT t.k, t.g > ALL (SELECT u.y FROM u WHERE u.k = t.k) AS a, "
             "t.g > ANY (SELECT u.y FROM u WHERE u.k = t.k) AS b FROM t")
    rows = thresher_rows(query, {"t": t, "u": u})
    assert rows == duckdb_rows(query, {"t": t, "u": u})
    assert sorted(rows, key=lambda r: r[0]) == [(1, True, False), (2, None, None), (3, None, True), (4, False, False),
                                                (5, True, False)]


@pytest.mark.parametrize("query", [
    "SELECT t.k, t.g > ALL (SELECT u.y FROM u WHERE u.k = t.k GROUP BY u.y) AS a FROM t",
    "SELECT t.k, t.g > ANY (SELECT u.y FROM u WHERE u.k = t.k LIMIT 1) AS a FROM t",
])
def test_correlated_over_groups_or_limit_is_refused(query: str) -> None:
    with pytest.raises(UnsupportedError, match=r"a correlated > (ANY|ALL) \(subquery\) over an aggregate, GROUP BY"):
        thresher_rows(query, TABLES)
