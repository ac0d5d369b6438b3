"""All 22 TPC-H queries in the DataFrame API (SF 0.1) match DuckDB and the same queries via th.sql."""

from __future__ import annotations

import datetime
import decimal
import math
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

pytest.importorskip("duckdb")
# the SQL texts (DuckDB's reference and th.sql's input) live with the SQL front end
SQL = pytest.importorskip("benchmarks.tpch.sql_queries").QUERIES

from benchmarks.tpch.dataframe_queries import duckdb_connection  # noqa: E402
from benchmarks.tpch.queries_df import QUERIES, tables  # noqa: E402

import thresher as th  # noqa: E402


def _norm(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, datetime.datetime):
        return v.date()
    return v


def _same(a: Any, b: Any) -> bool:
    a, b = _norm(a), _norm(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b)


def assert_same_rows(got: Any, ref: Any, ordered: bool, name: str) -> None:
    """Same column names, row count and values (floats/decimals to 1e-9 relative)."""
    assert got.column_names == ref.column_names, f"{name}: columns {got.column_names} vs {ref.column_names}"
    g, r = got.to_pylist(), ref.to_pylist()
    assert len(g) == len(r), f"{name}: {len(g)} rows vs {len(r)}"
    if not ordered:
        def key(row: dict[str, Any]) -> tuple[str, ...]:
            return tuple(str(_norm(v)) for v in row.values())

        g, r = sorted(g, key=key), sorted(r, key=key)
    for i, (a, b) in enumerate(zip(g, r)):
        bad = {c: (a[c], b[c]) for c in b if not _same(a[c], b[c])}
        assert not bad, f"{name} row {i}: {bad}"


@pytest.fixture(scope="module")
def frames(tpch_dir: Path) -> dict[str, th.DataFrame]:
    return tables(tpch_dir)


@pytest.fixture(scope="module")
def duck(tpch_dir: Path) -> Any:
    return duckdb_connection(tpch_dir)


@pytest.mark.parametrize("q", sorted(QUERIES))
def test_tpch_dataframe_api_matches_duckdb(frames: dict[str, th.DataFrame], duck: Any, q: int) -> None:
    got = QUERIES[q](frames).to_arrow()
    ref = duck.sql(SQL[q]).to_arrow_table()
    assert_same_rows(got, ref, ordered="order by" in SQL[q].lower(), name=f"q{q}")


@pytest.mark.parametrize("q", sorted(QUERIES))
def test_tpch_dataframe_api_matches_sql(frames: dict[str, th.DataFrame], q: int) -> None:
    got = QUERIES[q](frames).to_arrow()
    ref = th.sql(SQL[q], **frames).to_arrow()
    assert_same_rows(got, ref, ordered="order by" in SQL[q].lower(), name=f"q{q}")
