"""SQL habits from DuckDB (issue 17 item 7), checked against DuckDB itself: frames of other
libraries as tables, read_parquet()/read_csv()/read_json() table functions, unnest, output names."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th

duckdb = pytest.importorskip("duckdb")

T = pa.table({"a": [1, 2, 2, 3], "b": ["x", "y", "z", "x"], "l": [[1, 2], [], None, [None, 5]]})


def _duck(query: str, **tables: object) -> pa.Table:
    con = duckdb.connect()
    for name, t in tables.items():
        con.register(name, t)
    return con.sql(query).to_arrow_table()


def _rows(t: pa.Table) -> list[tuple[object, ...]]:
    return [tuple(r.values()) for r in t.to_pylist()]


def test_polars_pandas_arrow_tables() -> None:
    # was: AttributeError: 'DataFrame' object has no attribute 'plan'
    pl = pytest.importorskip("polars")
    pd = pytest.importorskip("pandas")
    q = "SELECT b, sum(a) AS s FROM t GROUP BY b ORDER BY b"
    want = {"b": ["x", "y", "z"], "s": [4, 2, 2]}
    t2 = T.select(["a", "b"])
    for t in (pl.from_arrow(t2), t2.to_pandas(), t2, th.from_arrow(t2), pl.from_arrow(t2).lazy()):
        assert th.sql(q, t=t).to_pydict() == want, type(t)
    th.register("habits_t", pd.DataFrame({"a": [1, 2]}))
    try:
        assert th.sql("SELECT count(*) AS n FROM habits_t").to_pydict() == {"n": [2]}
    finally:
        th.unregister("habits_t")
    with pytest.raises(th.ThresherError, match="'t' is a list"):
        th.sql("SELECT * FROM t", t=[1, 2])


def test_table_functions_match_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # was: unknown table '' in "READ_PARQUET('x.parquet') AS _0"
    monkeypatch.chdir(tmp_path)
    flat = T.select(["a", "b"])
    pq.write_table(flat, "x.parquet")
    pq.write_table(flat.slice(0, 2), "y.parquet")
    flat.to_pandas().to_csv("x.csv", index=False)
    Path("x.json").write_text(json.dumps(flat.to_pylist()))
    Path("x.jsonl").write_text("\n".join(json.dumps(r) for r in flat.to_pylist()))
    queries = [
        "SELECT a, b FROM read_parquet('x.parquet') ORDER BY a, b",
        "SELECT p.a, count(*) AS n FROM read_parquet('x.parquet') AS p GROUP BY p.a ORDER BY p.a",
        "SELECT a FROM read_parquet(['x.parquet', 'y.parquet']) ORDER BY a",
        "SELECT b, a FROM read_csv('x.csv') ORDER BY a, b",
        "SELECT a, b FROM read_json('x.json') ORDER BY a, b",
        "SELECT a, b FROM read_json_auto('x.jsonl') ORDER BY a, b",
        "SELECT x.a, y.b FROM read_parquet('x.parquet') x JOIN read_parquet('y.parquet') y ON x.a = y.a ORDER BY 1, 2",
    ]
    for q in queries:
        assert _rows(th.sql(q).to_arrow()) == _rows(duckdb.sql(q).to_arrow_table()), q
    with pytest.raises(th.UnsupportedError, match="read_xml"):
        th.sql("SELECT * FROM read_xml('x.xml')")


def test_unnest_matches_duckdb() -> None:
    # was: unknown function 'explode'
    for q in (
        "SELECT a, unnest(l) AS v FROM t ORDER BY a, v NULLS FIRST",
        "SELECT a, b, unnest(l) FROM t WHERE a > 1 ORDER BY 1, 3 NULLS FIRST",
    ):
        got, ref = th.sql(q, t=T).to_arrow(), duckdb.sql(q.replace("FROM t", "FROM T")).to_arrow_table()
        assert got.column_names == ref.column_names
        assert _rows(got) == _rows(ref), q


NAMED = ["a + 1", "sum(a)", "count(*)", "count(DISTINCT a)", "avg(a + 1)", "upper(b)", "a * 2 + 1", "a > 1",
         "coalesce(a, 0)", "'x'", "1", "1.5", "CASE WHEN a > 1 THEN 1 ELSE 0 END", "b || 'x'", "-a", "a % 2",
         "lower(b) = 'x'", "sum(a) / count(*)", "a IS NULL", "a IS NOT NULL", "NOT a > 1", "a BETWEEN 1 AND 2",
         "a IN (1, 2)", "length(b)", "round(avg(a), 2)", "max(a) - min(a)", "count(1)", "true", "NULL",
         "abs(a)", "cast(a AS double)", "min(a) + max(a) * 2", "a <> 1", "b LIKE 'x%'"]


@pytest.mark.parametrize("item", NAMED)
def test_output_names_match_duckdb(item: str) -> None:
    # was: _col_0, _col_1, ...
    grouped = any(f in item for f in ("sum(", "count(", "avg(", "max(", "min("))
    q = f"SELECT {item} FROM t" + ("" if grouped else " ORDER BY a")
    flat = T.select(["a", "b"])
    got = th.sql(q, t=flat).to_arrow()
    ref = duckdb.sql(q.replace("FROM t", "FROM flat")).to_arrow_table()
    assert got.column_names == ref.column_names
    assert got.column(0).to_pylist() == pytest.approx(ref.column(0).to_pylist()) if item != "NULL" else True


@pytest.mark.parametrize("query", [
    # a subquery item is named as DuckDB prints it: an uncorrelated scalar one was 'value', IN
    # (subquery) 'g IN (SELECT y FROM u)' (DuckDB: '(g = ANY(SELECT y FROM u))'), EXISTS 'exists(...)'
    "SELECT g IN (SELECT y FROM u), g NOT IN (SELECT y FROM u), EXISTS (SELECT 1 FROM u), (SELECT max(y) FROM u) FROM t",
    "SELECT (SELECT max(y) FROM u WHERE u.k = t.k AND y > 1) FROM t",
    "SELECT (SELECT max(y) AS m FROM u AS v WHERE v.k = t.k) FROM t",
    "SELECT g IN (SELECT y + 1 FROM u WHERE y IS NOT NULL), NOT EXISTS (SELECT 1 FROM u WHERE u.y = t.g) FROM t",
    "SELECT (SELECT y FROM u ORDER BY y LIMIT 1), (SELECT DISTINCT y FROM u WHERE y = 2) FROM t",
    "SELECT (SELECT max(y) FROM u WHERE y IN (1, 2) OR k = 3) FROM t",
    "SELECT CASE WHEN g IN (SELECT y FROM u) THEN 1 ELSE 0 END, count(*) FROM t GROUP BY 1",
    "SELECT g, g IN (SELECT y FROM u) FROM t GROUP BY g",
])
def test_subquery_item_names_match_duckdb(query: str) -> None:
    t = pa.table({"g": [1, 2, None], "x": [1, 2, 3], "k": [1, None, 2]})
    u = pa.table({"y": [1, 2, None], "k": [1, 2, 2]})
    con = duckdb.connect()
    con.register("t", t)
    con.register("u", u)
    got = th.sql(query, t=th.from_arrow(t), u=th.from_arrow(u)).to_arrow()
    assert got.column_names == con.sql(query).columns


def test_repeated_names_stay_unique_and_count_star() -> None:
    got = th.sql("SELECT b, count(*), sum(a), sum(a) FROM t GROUP BY b ORDER BY b", t=T.select(["a", "b"]))
    assert got.schema.names == ["b", "count_star()", "sum(a)", "sum(a)_1"]


def test_unknown_column_lists_the_columns() -> None:
    # was: "Column 'c' could not be resolved. Line: 1, Col: 8"
    with pytest.raises(th.ThresherError, match=r"unknown column 'bb'.*did you mean 'b'.*columns: a, b, l"):
        th.sql("SELECT bb FROM t", t=T)
    u = th.from_pydict({"a": [1], "k": [2]})
    with pytest.raises(th.ThresherError, match=r"unknown column 'zz'.*columns: t\.a, t\.b, t\.l, u\.a, u\.k"):
        th.sql("SELECT zz FROM t JOIN u ON t.a = u.a", t=T, u=u)


MIXED = pa.table({"Name": [1, 2, None, 2], "x": [3, 4, 5, 6], "CamelCase": ["a", "b", "a", None]})


@pytest.mark.parametrize("query", [
    "SELECT name FROM t",
    'SELECT "Name" FROM t',
    "SELECT * FROM t",
    "SELECT NAME, camelcase FROM t WHERE Name > 1 ORDER BY x",
    "SELECT name AS Foo FROM t",
    "SELECT x AS NAME FROM t",
    "SELECT Name AS name FROM t",
    "SELECT camelcase, count(*) FROM t GROUP BY CamelCase ORDER BY 1",
    "SELECT * FROM (SELECT x AS Foo FROM t)",
    "SELECT Foo FROM (SELECT x AS Foo FROM t)",
    "SELECT foo AS foo FROM (SELECT x AS Foo FROM t)",
    "WITH c AS (SELECT x AS Foo, camelCase FROM t) SELECT foo, CAMELCASE FROM c ORDER BY 1",
    "SELECT a.Name, b.x FROM t a JOIN t b ON a.name = b.NAME ORDER BY 1, 2",
    "SELECT max(CamelCase), sum(x) FROM t",
])
def test_column_names_match_case_insensitively(query: str) -> None:
    # was: any table with a column that is not lowercase failed ("unknown column t.name"), even SELECT *
    want = _duck(query, t=MIXED)
    got = th.sql(query, t=th.from_arrow(MIXED)).to_arrow()
    assert got.column_names == want.column_names
    assert _rows(got) == _rows(want)


def test_columns_differing_only_in_case_are_refused() -> None:
    t = pa.table({"a": [1], "A": [2]})
    with pytest.raises(th.ThresherError, match="differ only in case"):
        th.sql("SELECT a FROM t", t=th.from_arrow(t)).to_arrow()
