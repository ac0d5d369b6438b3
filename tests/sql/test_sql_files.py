"""Tables named by a quoted path, and filter-only scans of tpchgen's string_view Parquet files."""

from __future__ import annotations

from pathlib import Path

import pytest

import thresher as th


def test_quoted_paths_are_file_tables(tpch_dir: Path) -> None:
    nation, region = tpch_dir / "nation", tpch_dir / "region"
    out = th.sql(f"select n_name from '{nation}/*.parquet' where n_nationkey = 3").to_pydict()
    assert out == {"n_name": ["CANADA"]}
    q = (f"select r_name, count(*) as n from '{region}' r join '{nation}/part-0.parquet' n "
         "on n.n_regionkey = r.r_regionkey group by r_name order by r_name")
    assert th.sql(q).to_pydict()["n"] == [5, 5, 5, 5, 5]
    # a registered or given name wins over reading a file
    fake = th.from_pydict({"n_name": ["X"], "n_nationkey": [3]})
    assert th.sql(f"select n_name from '{nation}' where n_nationkey = 3", **{str(nation): fake}).to_pydict() == {
        "n_name": ["X"]}
    with pytest.raises(th.ThresherError, match="nope"):
        th.sql("select * from 'nope/x.parquet'").to_pydict()


@pytest.mark.parametrize("predicate", ["n_nationkey = 3", "n_name = 'CANADA'", "n_name in ('CANADA', 'PERU')",
                                       "n_nationkey = 300"])
def test_filter_only_scan_of_string_view_columns(tpch_dir: Path, predicate: str) -> None:
    """No join/aggregate: the scan (with the pushed predicate) is not lowered to Polars, and pyarrow
    has no filter kernel for string_view; the rows must still come back."""
    duckdb = pytest.importorskip("duckdb")
    nation = th.read_parquet(str(tpch_dir / "nation"))
    got = th.sql(f"select n_name, n_regionkey from nation where {predicate}", nation=nation).to_pylist()
    con = duckdb.connect()
    ref = con.sql(f"select n_name, n_regionkey from read_parquet('{tpch_dir}/nation/*.parquet') "
                  f"where {predicate}").to_arrow_table().to_pylist()
    assert sorted(got, key=str) == sorted(ref, key=str)
