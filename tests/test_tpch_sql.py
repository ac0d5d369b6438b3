"""All 22 TPC-H queries through th.sql (SF 0.1) match DuckDB on the same files."""

from __future__ import annotations

import datetime
import decimal
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.tpch.dataframe_queries import QUERIES as DF_QUERIES  # noqa: E402
from benchmarks.tpch.dataframe_queries import duckdb_connection, tables  # noqa: E402
from benchmarks.tpch.sql_queries import QUERIES  # noqa: E402

import thresher as th  # noqa: E402

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
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6)  # type: ignore[arg-type]
    return a == b


def _compare(got: list[dict], ref: list[dict], ordered: bool, name: str) -> None:
    assert len(got) == len(ref), f"{name}: {len(got)} rows vs {len(ref)}"
    if not ordered:
        key = lambda r: tuple(str(_norm(v)) for v in r.values())  # noqa: E731
        got, ref = sorted(got, key=key), sorted(ref, key=key)
    for i, (g, r) in enumerate(zip(got, ref)):
        bad = {k: (g.get(k), r[k]) for k in r if not _same(g.get(k), r[k])}
        assert not bad, f"{name} row {i}: {bad}"


@pytest.fixture(scope="module")
def catalog(tpch_dir: Path) -> dict[str, th.DataFrame]:
    return tables(tpch_dir)


@pytest.mark.parametrize("q", sorted(QUERIES))
def test_tpch_sql_matches_duckdb(tpch_dir: Path, catalog: dict[str, th.DataFrame], q: int) -> None:
    df = th.sql(QUERIES[q], **catalog)
    got = df.to_arrow()
    ref = duckdb_connection(tpch_dir).sql(QUERIES[q]).to_arrow_table()
    assert got.column_names == ref.column_names
    _compare(got.to_pylist(), ref.to_pylist(), ordered="order by" in QUERIES[q].lower(), name=f"q{q}")


@pytest.mark.parametrize("q", [1, 3, 5, 6, 10])
def test_dataframe_and_sql_versions_agree(catalog: dict[str, th.DataFrame], q: int) -> None:
    a = DF_QUERIES[f"q{q}"](catalog).to_arrow()
    b = th.sql(QUERIES[q], **catalog).to_arrow()
    if q == 3:
        b = b.select(a.column_names)
    _compare(a.to_pylist(), b.to_pylist(), ordered=True, name=f"q{q}")


def test_bad_sql_errors_name_the_problem(catalog: dict[str, th.DataFrame]) -> None:
    with pytest.raises(th.ThresherError, match="syntax"):
        th.sql("SELEC x FROM nation", **catalog)
    with pytest.raises(th.ThresherError, match="nope"):
        th.sql("SELECT nope FROM nation", **catalog)
    with pytest.raises(th.ThresherError, match="unknown_table|not found|unknown table"):
        th.sql("SELECT 1 FROM unknown_table", **catalog)
    with pytest.raises(th.ThresherError, match="n_name"):
        th.sql("SELECT n_name + 1 AS x FROM nation", **catalog)
