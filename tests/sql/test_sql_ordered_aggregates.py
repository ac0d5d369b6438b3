"""Aggregates with an ORDER BY inside answered as DuckDB (differential tests): string_agg ordered
by other columns (ASC / DESC, NULLS FIRST / LAST, with FILTER), string_agg(DISTINCT ...),
list / array_agg (x ORDER BY y, ...) and first(x ORDER BY y, ...), grouped and not, over no rows,
by one key or more. Each was refused before ("supported only when the key is the aggregated value
itself", "string_agg(DISTINCT ...) is not supported", "unsupported SQL construct Order"). The keys
hold no ties within a group (DuckDB's order among ties is unspecified)."""

from __future__ import annotations

import datetime

import pyarrow as pa
import pytest

import thresher as th
from duckdb_diff import duckdb_rows, thresher_rows
from thresher.errors import ThresherError

pytest.importorskip("duckdb")

T = pa.table({
    "g": pa.array([1, 1, 1, 2, 2, 3, 3, 3, None, 1], pa.int64()),
    "i": pa.array([5, 3, None, 8, -1, 0, 2, 7, 4, 9], pa.int64()),
    "f": pa.array([0.5, float("nan"), -1.0, None, 2.0, 3.5, float("inf"), -0.25, 1.0, 9.0]),
    "s": pa.array(["b", "a", "c", None, "z", "y", "y", "q", "r", None]),
    "d": pa.array([datetime.date(2024, 1, d) for d in (9, 3, 5, 1, 2, 7, 4, 8, 6, 10)]),
})
TABLES = {"t": T}

QUERIES = [
    "SELECT g, string_agg(s, ',' ORDER BY i) AS a FROM t GROUP BY g",
    "SELECT g, string_agg(s, '|' ORDER BY i DESC) AS a, string_agg(s ORDER BY d) AS b FROM t GROUP BY g",
    "SELECT g, string_agg(s, ',' ORDER BY i NULLS FIRST) AS a, string_agg(s, ',' ORDER BY i DESC NULLS FIRST) AS b "
    "FROM t GROUP BY g",
    "SELECT string_agg(s, ',' ORDER BY f) AS a, string_agg(i, ';' ORDER BY d DESC) AS b FROM t",
    "SELECT g, string_agg(s, ',' ORDER BY i) FILTER (WHERE i > 1) AS a FROM t GROUP BY g",
    "SELECT g, string_agg(DISTINCT s, ',' ORDER BY s) AS a, string_agg(DISTINCT s, ',' ORDER BY s DESC) AS b "
    "FROM t GROUP BY g",
    "SELECT string_agg(DISTINCT s, ',' ORDER BY s) AS a FROM t",
    "SELECT g, list(i ORDER BY d) AS a, array_agg(s ORDER BY i DESC) AS b, list(d ORDER BY i NULLS FIRST) AS c "
    "FROM t GROUP BY g",
    "SELECT list(s ORDER BY f) AS a, list(d ORDER BY s DESC) AS b FROM t",
    "SELECT g, first(s ORDER BY i) AS a, first(i ORDER BY d DESC) AS b, first(s ORDER BY f DESC) AS c "
    "FROM t GROUP BY g",
    "SELECT list(s ORDER BY i) AS a, first(s ORDER BY i) AS b, string_agg(s, ',' ORDER BY i) AS c FROM t WHERE i > 100",
    "SELECT g, list(s ORDER BY i) AS a, count(*) AS n FROM t WHERE i > 100 GROUP BY g",
    # more than one key: ties on the first broken by the next
    "SELECT g, list(i ORDER BY s, d DESC) AS a, string_agg(s, ',' ORDER BY g, s DESC NULLS FIRST, i) AS b, "
    "first(d ORDER BY s DESC, i) AS c FROM t GROUP BY g",
    "SELECT string_agg(s, '' ORDER BY s, i) AS a, list(s ORDER BY g NULLS FIRST, d) AS b FROM t",
]


@pytest.mark.parametrize("query", QUERIES)
def test_as_duckdb(query: str) -> None:
    assert thresher_rows(query, TABLES) == duckdb_rows(query, TABLES)


@pytest.mark.parametrize(("query", "names"), [
    ("SELECT string_agg(DISTINCT s, ',' ORDER BY i) FROM t", "string_agg(DISTINCT x ... ORDER BY <key>)"),
    ("SELECT list(DISTINCT i ORDER BY i) FROM t", "DISTINCT ... ORDER BY"),
])
def test_refused_with_construct_and_position(query: str, names: str) -> None:
    with pytest.raises(ThresherError, match="line 1, column") as err:
        th.sql(query, t=th.from_arrow(T)).to_arrow()
    assert names in str(err.value)


@pytest.mark.parametrize("query", [
    "SELECT g, list(s ORDER BY i) AS a, first(s ORDER BY i DESC) AS b, string_agg(s, ',' ORDER BY i, s) AS c, "
    "list(g ORDER BY s, i) AS e FROM n GROUP BY g",
    "SELECT list(s ORDER BY i) AS a, first(g ORDER BY s) AS b FROM n WHERE g > 5",
])
def test_null_typed_values_and_keys_as_duckdb(query: str) -> None:
    """Columns of NULLs (as an empty Arrow array reads: type null) as values and keys."""
    n = pa.table({"g": pa.array([1, 1, 2], pa.int64()), "s": pa.array([None, None, None]), "i": pa.array([None] * 3)})
    assert thresher_rows(query, {"n": n}) == duckdb_rows(query, {"n": n})
