"""A subquery in a grouped SELECT's select list (IN, EXISTS, a scalar) or in its HAVING (IN,
EXISTS) is evaluated once per group, as DuckDB does: the grouped query goes into a derived table
(``lift_grouped_subqueries``). These were refused: "column(s) ['y'] must appear in GROUP BY", or
"a correlated EXISTS that could not be decorrelated"."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

import thresher as th
from thresher.errors import UnsupportedError

T = pa.table({"g": [1, 1, 2, None, 3], "x": [1, 2, None, 4, 3]})
U = pa.table({"y": [1, None, 7, 3]})
V = pa.table({"y": [1, 7]})

ORDERED = [
    "SELECT g, g IN (SELECT y FROM u) AS m, count(*) AS c FROM t GROUP BY g ORDER BY c DESC, g NULLS FIRST",
    "SELECT g, g IN (SELECT y FROM u) AS m FROM t GROUP BY g ORDER BY count(*) DESC, m NULLS LAST, g LIMIT 2",
    "SELECT g, g IN (SELECT y FROM u) AS m FROM t GROUP BY g ORDER BY t.g NULLS FIRST LIMIT 2 OFFSET 1",
]
UNORDERED = [
    "SELECT g, g IN (SELECT y FROM u) AS m, count(*) AS c FROM t GROUP BY g",
    "SELECT g, g IN (SELECT y FROM v) AS m, g NOT IN (SELECT y FROM v) AS n FROM t GROUP BY g",
    "SELECT g, sum(x) IN (SELECT y FROM u) AS m FROM t GROUP BY g",
    "SELECT g, EXISTS (SELECT 1 FROM u WHERE y = t.g) AS m FROM t GROUP BY g",
    "SELECT g, EXISTS (SELECT 1 FROM u WHERE y = 7) AS m FROM t GROUP BY g",
    "SELECT g, (SELECT max(y) FROM u) AS m FROM t GROUP BY g",
    "SELECT g, (SELECT max(y) FROM u WHERE y = t.g) AS m FROM t GROUP BY g",
    "SELECT g, sum(CASE WHEN x IN (SELECT y FROM u) THEN 1 ELSE 0 END) AS m FROM t GROUP BY g",
    "SELECT g, count(*) FILTER (WHERE x IN (SELECT y FROM u)) AS c, g IN (SELECT y FROM u) AS m FROM t GROUP BY g",
    "SELECT count(*) AS c, max(x) IN (SELECT y FROM u) AS m FROM t",
    "SELECT count(*) AS c, max(x) IN (SELECT y FROM v) AS m FROM t",
    "SELECT g, count(*) AS c FROM t GROUP BY g HAVING g IN (SELECT y FROM u)",
    "SELECT g, count(*) AS c FROM t GROUP BY g HAVING NOT EXISTS (SELECT 1 FROM u WHERE u.y = t.g) OR count(*) > 1",
    "SELECT DISTINCT g IN (SELECT y FROM u) AS m FROM t",
    "SELECT g, sum(x) AS s, row_number() OVER (ORDER BY g NULLS LAST) AS rn, g IN (SELECT y FROM u) AS m FROM t GROUP BY g",
    "SELECT g, g IN (SELECT y FROM u) OR sum(x) > 2 AS m FROM t GROUP BY g HAVING count(*) > 1",
    "SELECT g, max(x) NOT IN (SELECT y FROM u WHERE y IS NOT NULL) AS m FROM t GROUP BY g",
    "WITH a AS (SELECT g, g IN (SELECT y FROM u) AS m FROM t GROUP BY g) SELECT * FROM a WHERE m",
    "SELECT x, x IN (SELECT y FROM u) AS m FROM t GROUP BY x, g",
    "SELECT s.g, s.m FROM (SELECT g, g IN (SELECT y FROM v) AS m FROM t GROUP BY g) AS s JOIN t ON s.g = t.x",
]


@pytest.fixture()
def tables(monkeypatch: pytest.MonkeyPatch) -> duckdb.DuckDBPyConnection:
    import thresher.sql_frontend as sf

    monkeypatch.setattr(sf, "_CATALOG", dict(sf._CATALOG))
    con = duckdb.connect()
    for name, table in (("t", T), ("u", U), ("v", V)):
        th.register(name, th.from_arrow(table))
        con.register(name, table)
    return con


@pytest.mark.parametrize("query", ORDERED + UNORDERED)
def test_grouped_subqueries_as_duckdb(query: str, tables: duckdb.DuckDBPyConnection) -> None:
    want = tables.sql(query).fetchall()
    got = [tuple(r.values()) for r in th.sql(query).to_arrow().to_pylist()]
    if query not in ORDERED:
        want, got = sorted(want, key=repr), sorted(got, key=repr)
    assert got == want


@pytest.mark.parametrize(("query", "names"), [
    ("SELECT g IN (SELECT y FROM u) AS m, count(*) AS c FROM t GROUP BY 1", "GROUP BY key holding a subquery"),
    ("SELECT g, sum(x) OVER () + (SELECT max(y) FROM u) AS m FROM t GROUP BY g, x", "window function"),
])
def test_grouped_subquery_shapes_left_out_are_refused(query: str, names: str,
                                                      tables: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(UnsupportedError, match=names):
        th.sql(query).to_arrow()
