"""An inner join with a one-row side that nothing above reads is a semi join.

semi_join_from_exists turns ``x JOIN u ON x.k = u.k`` into ``x SEMI JOIN u`` when no column of
``u`` is read above the join and ``u`` has at most one row: an uncorrelated scalar subquery
compared by equality (one checked row: TPC-DS q6's ``d_month_seq = (SELECT DISTINCT ...)``), or
a LIMIT 1. Each row of ``x`` then matches at most once, so the inner join kept it at most once,
as the semi join does. Results are compared with DuckDB, for joins that convert and for those
that must not (a side read above, several rows; unique by a GROUP BY or DISTINCT, left as an
inner join); a scalar subquery of several rows still raises (the check is the key the semi join
tests).
"""

from __future__ import annotations

import pyarrow as pa
import pytest

import thresher as th
from thresher.errors import ThresherExecutionError
from thresher.planner.logical import Join, LogicalPlan
from thresher.planner.optimizer.runner import optimize

duckdb = pytest.importorskip("duckdb")

A = pa.table({"k": pa.array([1, 1, 2, 3, 4, 5, None], pa.int64()),
              "y": pa.array([10, 10, 20, None, 40, 50, 60], pa.int64())})
B = pa.table({"k": pa.array([1, 1, 3, 5, 5, 7, None], pa.int64()), "x": pa.array([1, 2, None, 4, 4, 0, 6], pa.int64()),
              "z": pa.array([5, 15, 25, None, 45, 55, 65], pa.int64())})
ONE = pa.table({"v": pa.array([40], pa.int64())})
EMPTY = pa.table({"v": pa.array([], pa.int64())})

CONVERTS = {
    "scalar_eq": "select a.k, a.y from a where a.y = (select max(b.z) - 25 from b)",
    "scalar_eq_distinct": "select a.k from a where a.y = (select distinct v from one)",
    "scalar_eq_empty": "select a.k from a where a.y = (select distinct v from empty)",
    "scalar_eq_null": "select a.k from a where a.k = (select max(b.k) from b where b.z > 1000)",
    "limit_1": "select a.k from a where a.y = (select b.z - 5 from b order by b.z limit 1)",
    "one_row_left": "select b.x, b.z from (select max(k) m from a) s join b on s.m = b.k",
    "two_keys": "select a.y from a join (select max(k) m, min(x) x from b) s on a.k = s.m and a.y - 9 = s.x",
}
KEEPS = {
    "group_by_key": "select a.k, a.y from a join (select k from b group by k) g on a.k = g.k",
    "distinct_key": "select a.k, a.y from a join (select distinct k from b) d on a.k = d.k",
    "scalar_read_above": "select a.k, s.m from a join (select max(k) m from b) s on a.y = s.m * 10",
    "read_above": "select a.k, g.n from a join (select k, count(*) n from b group by k) g on a.k = g.k",
    "not_unique": "select a.k, a.y from a join b on a.k = b.k",
    "group_by_more_keys": "select a.y from a join (select k, x from b group by k, x) g on a.k = g.k",
    "distinct_more_columns": "select a.y from a join (select distinct k, x from b) d on a.k = d.k",
}


def optimized(q: th.DataFrame) -> LogicalPlan:
    return optimize(q.plan, validate=True).plan


def _rows(t: pa.Table) -> list[tuple]:
    return sorted((tuple(r.values()) for r in t.to_pylist()), key=repr)


def _frames() -> dict[str, th.DataFrame]:
    return {"a": th.from_arrow(A), "b": th.from_arrow(B), "one": th.from_arrow(ONE), "empty": th.from_arrow(EMPTY)}


def _expected(sql: str) -> list[tuple]:
    con = duckdb.connect()
    for name, t in (("a", A), ("b", B), ("one", ONE), ("empty", EMPTY)):
        con.register(name, t)
    return _rows(con.sql(sql).to_arrow_table())


@pytest.mark.parametrize("name", sorted(CONVERTS) + sorted(KEEPS))
def test_same_rows_as_duckdb(name: str) -> None:
    sql = {**CONVERTS, **KEEPS}[name]
    q = th.sql(sql, **_frames())
    assert _rows(q.to_arrow()) == _expected(sql)
    hows = [n.how for n in optimized(q).walk() if isinstance(n, Join)]
    if name in CONVERTS:
        assert "semi" in hows and "inner" not in hows, hows
    else:
        assert "semi" not in hows, hows


def test_rule_off_same_rows() -> None:
    for sql in CONVERTS.values():
        q = th.sql(sql, **_frames())
        on = q.to_arrow()
        try:
            th.set_optimizer(disabled=["semi_join_from_exists"])
            off = q.to_arrow()
        finally:
            th.set_optimizer(disabled=[])
        assert _rows(on) == _rows(off)


def test_scalar_subquery_of_several_rows_still_raises() -> None:
    """The one-row check is the semi join's key: it still runs (its group-by is not dropped)."""
    q = th.sql("select a.k from a where a.y = (select b.z from b where b.k = 5)", **_frames())
    assert "semi" in [n.how for n in optimized(q).walk() if isinstance(n, Join)]
    with pytest.raises(ThresherExecutionError, match="scalar subquery returned 2 rows"):
        q.to_arrow()
