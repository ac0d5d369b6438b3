"""SQL's arg_max / max_by and arg_min / min_by answered as DuckDB (differential tests): the value
at the first row with the greatest / least key among the rows where neither is NULL, NULL where
there is none (an empty group, a group of NULLs); a float key orders NaN greatest. Grouped,
ungrouped, under ROLLUP, with FILTER, in HAVING and inside expressions; each was refused before
("unsupported function arg_max")."""

from __future__ import annotations

import decimal

import pyarrow as pa
import pytest

from duckdb_diff import column_types, duckdb_rows, thresher_rows
from thresher.errors import ThresherError

pytest.importorskip("duckdb")

D = decimal.Decimal
T = pa.table({
    "g": pa.array([1, 1, 1, 2, 3, 3, 4, 4, None, 5, 5], pa.int64()),
    "x": pa.array([10, None, 30, None, 5, 6, None, 8, 1, 2, 3], pa.int64()),
    "y": pa.array([1, 5, None, None, 2, 2, 7, 3, 4, 9, 9], pa.int32()),
    "f": pa.array([1.0, float("nan"), 2.0, None, 0.5, float("nan"), 1.5, -1.0, 0.0, float("nan"), 3.0]),
    "s": pa.array(["b", "a", "c", None, "z", "y", "q", "r", None, "k", "k"]),
    "m": pa.array([D("1.50"), D("2.25"), None, D("0.10"), D("0.10"), D("9.99"), None, D("-1.00"), D("3.00"),
                   D("2.00"), D("1.00")], pa.decimal128(9, 2)),
    "b": pa.array([True, False, None, True, True, False, None, False, True, None, True]),
})
TABLES = {"t": T}

QUERIES = [
    # grouped: NULL keys and NULL values skipped, ties (g = 3, 5) take the first row
    "SELECT g, arg_max(x, y) AS a, arg_min(x, y) AS b, max_by(s, y) AS c, min_by(s, y) AS d FROM t GROUP BY g",
    "SELECT g, arg_max(x, s) AS a, arg_min(x, s) AS b, arg_max(s, m) AS c, arg_min(m, x) AS d, "
    "arg_max(x, b) AS e, arg_min(b, x) AS h FROM t GROUP BY g",
    # a float key: NaN is the greatest (Polars' arg_max skips it)
    "SELECT g, arg_max(x, f) AS a, arg_min(x, f) AS b, arg_max(f, x) AS c FROM t GROUP BY g",
    # ungrouped, and over no rows
    "SELECT arg_max(x, y) AS a, arg_min(x, y) AS b, max_by(s, f) AS c, min_by(m, s) AS d FROM t",
    "SELECT arg_max(x, y) AS a, min_by(s, f) AS b FROM t WHERE g > 100",
    "SELECT g, arg_max(x, y) AS a FROM t WHERE g > 100 GROUP BY g",
    # expressions inside and around, FILTER, HAVING, ROLLUP, beside other aggregates
    "SELECT g, arg_max(x + 1, y * 2) + 1 AS a, sum(x) AS b, count(*) AS c FROM t GROUP BY g",
    "SELECT g, arg_max(x, y) FILTER (WHERE y < 5) AS a, arg_min(s, f) FILTER (WHERE x > 1) AS b FROM t GROUP BY g",
    "SELECT g, arg_max(x, y) AS a FROM t GROUP BY g HAVING arg_min(x, y) > 5",
    "SELECT g, arg_max(x, y) AS a, sum(x) AS b FROM t GROUP BY ROLLUP (g)",
    "SELECT g % 2 AS p, max_by(s, m) AS a FROM t GROUP BY ALL",
]


#: over a window: each whole partition (no ORDER BY, or a frame from UNBOUNDED PRECEDING to
#: UNBOUNDED FOLLOWING), as DuckDB; these were refused ("over a window is not supported")
WINDOWS = [
    "SELECT g, x, arg_max(x, y) OVER (PARTITION BY g) AS a, arg_min(s, f) OVER (PARTITION BY g) AS b FROM t",
    "SELECT g, x, max_by(s, m) OVER () AS a, min_by(m, x) OVER (PARTITION BY g % 2) AS b FROM t",
    "SELECT g, x, arg_max(s, y) OVER (PARTITION BY g ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED "
    "FOLLOWING) AS a FROM t",
    "SELECT g, sum(x) AS sx, arg_max(g, sum(x)) OVER () AS a FROM t GROUP BY g",
    "SELECT g, x, first(s ORDER BY x DESC) OVER (PARTITION BY g) AS a FROM t",
]


@pytest.mark.parametrize("query", QUERIES + WINDOWS)
def test_as_duckdb(query: str) -> None:
    assert thresher_rows(query, TABLES) == duckdb_rows(query, TABLES)


def test_types_as_duckdb() -> None:
    query = "SELECT arg_max(x, y) AS a, arg_min(m, s) AS b, max_by(s, m) AS c, min_by(f, x) AS d, arg_max(b, f) AS e FROM t"
    got, want = column_types(query, {"t": T})
    assert got == want


@pytest.mark.parametrize(("query", "match"), [
    ("SELECT arg_max(x, y, 2) AS a FROM t", "a list of n values"),
    # (over windows it is answered: WINDOWS below and test_sql_window_aggregates.py)
    ("SELECT arg_min(NULL, y) AS a FROM t", "of NULL"),
])
def test_refused_clearly(query: str, match: str) -> None:
    with pytest.raises(ThresherError, match=match):
        thresher_rows(query, TABLES)
