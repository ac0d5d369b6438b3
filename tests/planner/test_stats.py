from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import thresher as th
from thresher import col
from thresher.expressions.cost import cost_class, expr_cost
from thresher.expressions.expr import split_conjunction
from thresher.planner.stats import estimate


def test_rows_from_parquet_footers_and_selectivity(tmp_path):
    pq.write_table(pa.table({"a": list(range(1000)), "b": ["x"] * 1000}), tmp_path / "t.parquet")
    df = th.read_parquet(str(tmp_path / "t.parquet"))
    assert estimate(df.plan).rows == 1000
    assert estimate(df.filter(col("a") == 3).plan).rows == 100
    assert estimate(df.limit(7).plan).rows == 7
    assert estimate(df.group_by("b").agg(col("a").sum()).plan).rows == 100
    assert estimate(df.union(df).plan).rows == 2000
    assert estimate(df.select("a").plan).bytes < estimate(df.plan).bytes


def test_costs_order_classes():
    e_scalar, e_io = col("a") > 1, col("b").image.width() > 1
    e_dec = col("b").image.decode().image.phash() > 1
    assert expr_cost(e_scalar) < expr_cost(e_io) < expr_cost(e_dec)
    assert [cost_class(e) for e in (e_scalar, e_io, e_dec)] == ["scalar", "io", "decode"]


def test_text_equality_keeps_one_dictionary_value(tmp_path):
    # a text column's Parquet dictionary page tells about how many values it holds: an equality
    # with a 3-valued status column keeps about a third, with a 40-valued one fewer than the 10%
    # guessed without it (snappy shrinks the page of repetitive names: about 16 values read)
    import pyarrow as pa
    import pyarrow.parquet as pq

    import thresher as th
    from thresher.planner.logical import ScanSource
    from thresher.planner.stats import estimate

    n = 40_000
    pq.write_table(pa.table({"status": [("F", "O", "P")[i % 3] for i in range(n)],
                             "city": [f"city-{i % 40:02d}" for i in range(n)]}), tmp_path / "t.parquet")
    df = th.read_parquet(str(tmp_path / "t.parquet"))

    def rows(pred) -> float:
        plan = df.filter(pred).plan
        from thresher.planner.optimizer.runner import optimize

        scan = next(x for x in optimize(plan).plan.walk() if isinstance(x, ScanSource))
        assert scan.predicate is not None
        return estimate(scan).rows

    assert 0.2 * n < rows(th.col("status") == "F") < 0.5 * n
    assert 1 / 40 * n <= rows(th.col("city") == "city-07") < 0.1 * n
    assert 0.5 * n < rows(th.col("status") != "F") < 0.8 * n


def _demographics(tmp_path, n: int = 35_000):
    """A demographics-like table: marital status (5 values) and education (7 values) independent
    and uniform, as TPC-DS customer_demographics; a 0/1 flag column that is always 'N'."""
    ms, es = ["M", "S", "D", "W", "U"], ["Primary", "Secondary", "College", "2 yr", "4 yr", "Advanced", "Unknown"]
    pq.write_table(pa.table({"id": list(range(n)), "ms": [ms[i % 5] for i in range(n)],
                             "es": [es[(i // 5) % 7] for i in range(n)], "flag": ["N"] * n,
                             "qty": [i % 100 + 1 for i in range(n)]}), tmp_path / "cd.parquet")
    return th.read_parquet(str(tmp_path / "cd.parquet"))


def _filter_estimate(plan) -> tuple[float, Any]:
    from thresher.planner.logical import Filter
    from thresher.planner.optimizer.runner import optimize

    f = next(x for x in optimize(plan).plan.walk() if isinstance(x, Filter))
    return estimate(f).rows, f


def test_or_of_ands_in_normal_form_is_estimated_as_one_or(tmp_path):
    # TPC-DS q91: the SQL front end writes an OR of two ANDs as four CNF clauses; multiplied as if
    # independent they kept 0.19^4 of the rows (2.5k of customer_demographics' 1.9M, 110k real)
    cd = _demographics(tmp_path)
    df = th.sql("SELECT id FROM cd WHERE (ms = 'M' AND es = 'Unknown') OR (ms = 'W' AND es = 'Advanced')", cd=cd)
    rows, f = _filter_estimate(df.plan)
    assert sum(1 for _ in split_conjunction(f.predicate)) == 4  # still the normal form here
    real = df.to_arrow().num_rows
    assert real == 2000
    assert real / 3 <= rows <= real * 3


def test_or_of_ands_as_written_is_estimated_from_its_branches(tmp_path):
    # the DataFrame API keeps the OR as written: an AND under an OR was guessed to keep half
    cd = _demographics(tmp_path)
    df = cd.filter(((col("ms") == "M") & (col("es") == "Unknown")) | ((col("ms") == "W") & col("es").is_in(["4 yr", "Advanced"])))
    rows, _ = _filter_estimate(df.plan)
    real = df.to_arrow().num_rows
    assert real == 3000
    assert real / 3 <= rows <= real * 3
    # ranges under an OR read the column's smallest and largest values
    df = cd.filter(((col("ms") == "M") & (col("qty") >= 1) & (col("qty") <= 50)) | ((col("ms") == "S") & (col("qty") > 90)))
    rows, _ = _filter_estimate(df.plan)
    real = df.to_arrow().num_rows
    assert real / 3 <= rows <= real * 3


def test_or_branch_outside_the_column_range_keeps_nothing(tmp_path):
    # TPC-DS q61: p_channel_email = 'Y' where the file's min and max are both 'N'
    cd = _demographics(tmp_path)
    df = cd.filter((col("flag") == "Y") | ((col("ms") == "M") & (col("es") == "Unknown")))
    rows, _ = _filter_estimate(df.plan)
    assert df.to_arrow().num_rows == 1000
    assert 1000 / 3 <= rows <= 3000
