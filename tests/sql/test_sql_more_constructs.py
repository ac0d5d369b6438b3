"""Constructs DuckDB users write often, answered as DuckDB answers them (differential tests; each
failed on the code before, refused or answered wrongly): table aliases with column lists."""

from __future__ import annotations

import decimal
from typing import Any

import pyarrow as pa
import pytest

import thresher as th
from thresher.errors import ThresherError

duckdb = pytest.importorskip("duckdb")

T = pa.table({
    "g": pa.array([1, 1, 2, None, 2, 1], pa.int64()),
    "s": pa.array(["a", "b", None, "c", "b", "a"]),
    "x": pa.array([1, 2, None, 4, 2, 2], pa.int64()),
})
U = pa.table({"k": pa.array([1, 2, 2, None], pa.int64()), "v": pa.array(["p", None, "q", "r"])})
TABLES = {"t": T, "u": U}
EMPTY = {"t": T.slice(0, 0), "u": U.slice(0, 0)}


def _normal(table: pa.Table) -> list[Any]:
    names = [f.name for f in table.schema]
    types = [str(f.type).replace("large_", "").replace("<item:", "<l:").replace("decimal128(38, 0)", "int64")
             for f in table.schema]
    rows = [[int(v) if isinstance(v, decimal.Decimal) else v for v in c.to_pylist()] for c in table.columns]
    return [names, types, rows]


def _same(query: str, tables: dict[str, pa.Table] = TABLES) -> None:
    con = duckdb.connect()
    for name, tab in tables.items():
        con.register(name, tab)
    want = con.sql(query).to_arrow_table()
    got = th.sql(query, **{n: th.from_arrow(tab) for n, tab in tables.items()}).to_arrow()
    assert _normal(got) == _normal(want), query


@pytest.mark.parametrize("query", [
    # the table's columns were not renamed: SELECT * kept g, s, x and a WHERE on a read g
    "SELECT * FROM t AS y(a, b) ORDER BY ALL",
    "SELECT a, y.b, x FROM t AS y(a, b) WHERE a > 1 ORDER BY ALL",
    "SELECT y.a, z.b FROM t y(a) JOIN u z(b) ON y.a = z.b ORDER BY ALL",
    "SELECT a, count(*) AS n, sum(c) AS m FROM t AS y(a, b, c) GROUP BY a ORDER BY a",
    "SELECT count(*) AS n FROM t y(a)",
    "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, name) ORDER BY id",
    "WITH c(a, b) AS (SELECT g, s FROM t) SELECT a, b FROM c ORDER BY ALL",
    "SELECT * FROM (SELECT g, s FROM t) AS y(a, b) ORDER BY ALL",
])
def test_alias_column_lists_as_duckdb(query: str) -> None:
    _same(query)
    _same(query, EMPTY)


@pytest.mark.parametrize(("query", "match"), [
    ("SELECT * FROM t AS y(a, b, c, d)", "3 columns available but 4 columns specified"),
    ("SELECT * FROM t AS y(a, x)", "two columns of one name"),
])
def test_alias_column_lists_refused_clearly(query: str, match: str) -> None:
    with pytest.raises(ThresherError, match=match) as err:
        th.sql(query, t=th.from_arrow(T)).to_arrow()
    assert "line 1, column" in str(err.value)
