"""TPC-H Q1, Q3, Q5, Q6, Q10 (SF 0.1, tpchgen-cli: decimal128 money, string_view text) through
the DataFrame API, checked row by row against DuckDB on the same files, optimizer on and off; and
the 22 Polars lazy queries ``tpch_df_bench`` measures Thresher against, checked the same way."""

from __future__ import annotations

import datetime
import decimal
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.tpch.dataframe_queries import QUERIES, SQL, duckdb_connection, tables  # noqa: E402

pytest.importorskip("duckdb")


def _norm(v: object) -> object:
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, datetime.datetime):
        return v.date()
    return v


def _same(a: object, b: object) -> bool:
    a, b = _norm(a), _norm(b)
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6)  # type: ignore[arg-type]
    return a == b


@pytest.mark.parametrize("name", sorted(QUERIES, key=lambda q: int(q[1:])))
@pytest.mark.parametrize("optimize", [True, False])
def test_tpch_matches_duckdb(tpch_dir: Path, name: str, optimize: bool) -> None:
    got = QUERIES[name](tables(tpch_dir)).collect(optimize=optimize).to_arrow()
    con = duckdb_connection(tpch_dir)
    ref = con.sql(SQL[name]).to_arrow_table()
    assert got.column_names == ref.column_names
    assert got.num_rows == ref.num_rows and got.num_rows > 0
    g_rows, r_rows = got.to_pylist(), ref.to_pylist()
    for i, (g, r) in enumerate(zip(g_rows, r_rows)):
        bad = {k: (g[k], r[k]) for k in g if not _same(g[k], r[k])}
        assert not bad, f"{name} row {i}: {bad}"


def test_tpch_whole_query_runs_as_one_polars_stage(tpch_dir: Path) -> None:
    plan = QUERIES["q5"](tables(tpch_dir)).explain(format="dict")
    kinds = [s["kind"] for s in plan["physical"]]
    assert kinds == ["relational"], kinds


@pytest.mark.parametrize("q", range(1, 23))
def test_polars_lazy_peer_queries_match_duckdb(tpch_dir: Path, q: int) -> None:
    """The Polars lazy versions ``tpch_df_bench`` times Thresher against return DuckDB's result:
    same column names, same rows (in order where the SQL text has ORDER BY)."""
    pytest.importorskip("polars")
    from benchmarks.tpch import queries_polars
    from benchmarks.tpch.sql_queries import QUERIES as SQL_TEXTS

    got = queries_polars.QUERIES[q](queries_polars.tables(tpch_dir)).collect().to_arrow()
    ref = duckdb_connection(tpch_dir).sql(SQL_TEXTS[q]).to_arrow_table()
    assert got.column_names == ref.column_names
    assert got.num_rows == ref.num_rows and got.num_rows > 0
    g_rows, r_rows = got.to_pylist(), ref.to_pylist()
    if "order by" not in SQL_TEXTS[q].lower():
        g_rows, r_rows = (sorted(rows, key=lambda r: repr([str(_norm(v)) for v in r.values()])) for rows in (g_rows, r_rows))
    for i, (g, r) in enumerate(zip(g_rows, r_rows)):
        bad = {k: (g[k], r[k]) for k in r if not _same(g[k], r[k])}
        assert not bad, f"q{q} row {i}: {bad}"
