"""``quantified_comparisons``: ``x <op> ANY / ALL (subquery)`` as DuckDB answers them (differential
tests). ``= ANY`` / ``<> ALL`` as a value read FALSE where DuckDB reads NULL (a subquery holding a
NULL); the other comparisons were refused ("unsupported SQL construct Any" / "All")."""

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


@pytest.mark.parametrize("query", [
    "SELECT t.k, t.g > ANY (SELECT u.y FROM u WHERE u.k = t.k) AS a FROM t",
    "SELECT t.k FROM t WHERE t.g > ALL (SELECT u.y FROM u WHERE u.k = t.k)",
])
def test_correlated_elsewhere_is_refused(query: str) -> None:
    with pytest.raises(UnsupportedError, match=r"a correlated > (ANY|ALL) \(subquery\) is not supported"):
        thresher_rows(query, TABLES)
