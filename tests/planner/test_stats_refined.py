"""stats.refined_estimate: comparisons with constants read the columns' statistics, inner and
semi joins are estimated by key containment (a fact table joined with a filtered dimension keeps
the dimension's share of its rows)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher.planner.stats import estimate, refined_estimate


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> dict[str, th.DataFrame]:
    root = tmp_path_factory.mktemp("refined")
    rng = np.random.default_rng(3)
    # dates over 200 years (1900..2099), 60,000 sales on 20 of them (1990..2009)
    sk = np.arange(200 * 365)
    dates = pa.table({"d_date_sk": pa.array(sk, pa.int64()), "d_year": pa.array(1900 + sk // 365, pa.int32())})
    sales = pa.table({"date_sk": pa.array(rng.integers(90 * 365, 110 * 365, 60_000), pa.int64()),
                      "amt": pa.array(rng.random(60_000))})
    out = {}
    for name, table in (("dates", dates), ("sales", sales)):
        pq.write_table(table, root / f"{name}.parquet")
        out[name] = th.read_parquet(str(root / f"{name}.parquet"))
    return out


def test_comparisons_read_column_statistics(frames: dict[str, th.DataFrame]) -> None:
    dates, col = frames["dates"], th.col
    year = dates.filter(col("d_year") == 2001)
    assert estimate(year.plan).rows == pytest.approx(7300)  # a tenth, guessed
    assert refined_estimate(year.plan).rows == pytest.approx(365)  # one year of 200
    # (1800 is outside the footers' range)
    assert refined_estimate(dates.filter(col("d_year").is_in([2001, 2002, 1800])).plan).rows == pytest.approx(730)
    decade = dates.filter((col("d_year") >= 1990) & (col("d_year") <= 1999))
    assert refined_estimate(decade.plan).rows == pytest.approx(3650)
    assert refined_estimate(dates.filter(col("d_year") != 2001).plan).rows == pytest.approx(73_000 - 365)


def test_joins_by_key_containment(frames: dict[str, th.DataFrame]) -> None:
    dates, sales, col = frames["dates"], frames["sales"], th.col
    year = dates.filter(col("d_year") == 2001)
    joined = sales.join(year, left_on="date_sk", right_on="d_date_sk")
    # 60,000 sales over 7,300 dates, 365 of them kept: a year's share
    assert estimate(joined.plan).rows == pytest.approx(60_000)
    assert refined_estimate(joined.plan).rows == pytest.approx(60_000 * 365 / 7300, rel=0.01)
    semi = sales.join(year, left_on="date_sk", right_on="d_date_sk", how="semi")
    assert estimate(semi.plan).rows == pytest.approx(30_000)  # half, guessed
    assert refined_estimate(semi.plan).rows == pytest.approx(60_000 * 365 / 7300, rel=0.01)
    # a key join with an unfiltered dimension keeps the fact rows
    assert refined_estimate(sales.join(dates, left_on="date_sk", right_on="d_date_sk").plan).rows == \
        pytest.approx(60_000, rel=0.01)
