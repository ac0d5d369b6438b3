"""A group-by joined on its keys with a filtered table first semi-joins its input with that table.

TPC-DS q2: ``wswscs`` sums web and catalog sales per week, then each use of it is joined with
the weeks of one year (``date_dim.d_week_seq = wswscs.d_week_seq AND d_year = 2001``). The group-by
is the join's left input and the key source is the whole other side (a filtered scan, cheap to read
twice), which semi_join_reduction took neither of: now the sales meet only that year's weeks before
they are summed. Results are compared with DuckDB over Parquet files (NULL keys, a week in two
years, a key the filter keeps twice), with the rule on and off.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher.planner.logical import Aggregate, Join, LogicalPlan
from thresher.planner.optimizer.runner import optimize

duckdb = pytest.importorskip("duckdb")

QUERIES = {
    "left_group_by": """
        with g as (select d.w as w, sum(f.v) as s, count(*) as n from f, d where f.dk = d.dk group by d.w)
        select g.w, g.s, g.n from g, d2 where g.w = d2.w and d2.y = 2001""",
    "two_uses": """
        with g as (select d.w as w, sum(f.v) as s from f, d where f.dk = d.dk group by d.w)
        select a.w, a.s, b.s as s2 from
          (select g.w, g.s from g, d2 where g.w = d2.w and d2.y = 2001) a,
          (select g.w, g.s from g, d2 where g.w = d2.w and d2.y = 2002) b
        where a.w = b.w - 1""",
    "right_group_by": """
        with g as (select d.w as w, sum(f.v) as s from f, d where f.dk = d.dk group by d.w)
        select d2.y, g.s from d2, g where d2.w = g.w and d2.y = 2002""",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sjr")
    n_days = 400
    days = list(range(n_days))
    weeks = [None if d % 97 == 5 else d // 7 for d in days]
    d = pa.table({"dk": pa.array(days, pa.int64()), "w": pa.array(weeks, pa.int64())})
    # d2: one row per (week, year); week 52 is in both years, week 60 twice in 2002
    d2_w = [w for w in range(0, 52)] + [w for w in range(52, 104)] + [52, 60, None]
    d2_y = [2001] * 52 + [2002] * 52 + [2001, 2002, 2001]
    d2 = pa.table({"w": pa.array(d2_w, pa.int64()), "y": pa.array(d2_y, pa.int64())})
    n = 6000
    f = pa.table({"dk": pa.array([None if i % 211 == 0 else (i * 37) % (n_days + 20) for i in range(n)], pa.int64()),
                  "v": pa.array([(i * 13) % 101 for i in range(n)], pa.int64())})
    out = {}
    for name, t in (("d", d), ("d2", d2), ("f", f)):
        out[name] = root / f"{name}.parquet"
        pq.write_table(t, out[name])
    return out


def _rows(t: pa.Table) -> list[tuple]:
    return sorted((tuple(r.values()) for r in t.to_pylist()), key=repr)


def _reduced_group_bys(plan: LogicalPlan) -> int:
    return sum(1 for n in plan.walk() if isinstance(n, Aggregate) and any(
        isinstance(j, Join) and j.how == "semi" for j in n.input.walk()))


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_same_rows_as_duckdb(name: str, files: dict[str, Path]) -> None:
    sql = QUERIES[name]
    con = duckdb.connect()
    for t, path in files.items():
        con.execute(f"create view {t} as select * from read_parquet('{path}')")
    expected = _rows(con.sql(sql).to_arrow_table())
    q = th.sql(sql, **{t: th.read_parquet(str(p)) for t, p in files.items()})
    assert _rows(q.to_arrow()) == expected
    assert expected  # (the data meet)
    assert _reduced_group_bys(optimize(q.plan, validate=True).plan) >= 1
    try:
        th.set_optimizer(disabled=["semi_join_reduction"])
        assert _reduced_group_bys(optimize(q.plan, disabled=("semi_join_reduction",)).plan) == 0
        assert _rows(q.to_arrow()) == expected
    finally:
        th.set_optimizer(disabled=[])
