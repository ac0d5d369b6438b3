"""Queries over empty tables: the 22 TPC-H DataFrame queries over empty Parquet files answer as
Polars' own queries do (join ordering divided by an empty table's zero rows before)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import thresher as th

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from benchmarks.tpch import queries_polars  # noqa: E402
from benchmarks.tpch.queries_df import QUERIES  # noqa: E402

from test_build_overhead import _TPCH  # noqa: E402


@pytest.fixture(scope="module")
def empty_tpch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tpch_empty")
    for name, cols in _TPCH.items():
        (root / name).mkdir()
        pq.write_table(pa.schema(cols).empty_table(), root / name / "part-0.parquet")
    return root


@pytest.mark.parametrize("q", sorted(QUERIES))
def test_tpch_query_over_empty_tables_matches_polars(empty_tpch: Path, q: int) -> None:
    tables = {name: th.read_parquet(str(empty_tpch / name)) for name in _TPCH}
    got = QUERIES[q](tables).to_arrow()
    want = queries_polars.QUERIES[q](queries_polars.tables(empty_tpch)).collect().to_arrow()
    # values as Polars (NaN equals NaN here); counts are Int64 and decimal sums keep their
    # exact scale, as the non-empty benchmark runs compare them
    assert_frame_equal(pl.from_arrow(got), pl.from_arrow(want), check_dtypes=False)
