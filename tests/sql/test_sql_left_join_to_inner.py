"""A LEFT JOIN whose right columns a WHERE comparison rejects where NULL is translated as an inner join.

TPC-DS q93 (``store_sales LEFT JOIN store_returns ..., reason WHERE sr_reason_sk = r_reason_sk``)
and the scalar subqueries sqlglot decorrelates into LEFT JOINs compared in the WHERE (q1, q30,
q81): the rows the join adds for a left row without a match are filtered out anyway, and as
an inner join the optimizer may reorder it. Results are compared with DuckDB on the same data,
for the terms that convert and for those that must not (IS NULL, COALESCE, an OR, a RIGHT or
FULL join beside it).
"""

from __future__ import annotations

import pyarrow as pa
import pytest

import thresher as th
from thresher.planner.logical import Join

duckdb = pytest.importorskip("duckdb")

A = pa.table({"k": pa.array([1, 2, 3, 4, 5, None], pa.int64()), "y": pa.array([10, 20, None, 40, 50, 60], pa.int64())})
B = pa.table({"k": pa.array([1, 1, 3, 5, 7, None], pa.int64()), "x": pa.array([1, 2, None, 4, 0, 6], pa.int64()),
              "z": pa.array([5, 15, 25, None, 45, 55], pa.int64())})
C = pa.table({"k": pa.array([1, 2, 9], pa.int64()), "w": pa.array([100, 200, 900], pa.int64())})

CONVERTS = {
    "eq_const": "select a.k, a.y, b.x from a left join b on a.k = b.k where b.x = 1",
    "gt_other_side": "select a.k, b.z from a left join b on a.k = b.k where b.z > a.y",
    "neq": "select a.k, b.x from a left join b on a.k = b.k where b.x <> 2 and a.y > 0",
    "on_non_equi": "select a.k, b.z from a left join b on a.k = b.k and a.y < b.z where b.x >= 0",
    "scalar_subquery": "select a.k from a where a.y > (select avg(b.z) from b where b.k = a.k)",
    "two_left_joins": "select a.k, b.x, c.w from a left join b on a.k = b.k left join c on a.k = c.k where c.w > 0",
}
KEEPS = {
    "is_null": "select a.k, a.y from a left join b on a.k = b.k where b.x is null",
    "coalesce": "select a.k, b.x from a left join b on a.k = b.k where coalesce(b.x, 0) = 0",
    "or": "select a.k, b.x from a left join b on a.k = b.k where b.x = 1 or a.y = 20",
    "left_side_only": "select a.k, b.x from a left join b on a.k = b.k where a.y > 15",
    "beside_full_join": "select a.k, b.x, c.w from a left join b on a.k = b.k full join c on a.k = c.k where b.x > 0",
}


def _rows(t: pa.Table) -> list[tuple]:
    return sorted((tuple(r.values()) for r in t.to_pylist()), key=repr)


def _expected(sql: str) -> list[tuple]:
    con = duckdb.connect()
    for name, t in (("a", A), ("b", B), ("c", C)):
        con.register(name, t)
    return _rows(con.sql(sql).to_arrow_table())


@pytest.mark.parametrize("name", sorted(CONVERTS) + sorted(KEEPS))
def test_same_rows_as_duckdb(name: str) -> None:
    sql = {**CONVERTS, **KEEPS}[name]
    frames = {"a": th.from_arrow(A), "b": th.from_arrow(B), "c": th.from_arrow(C)}
    q = th.sql(sql, **frames)
    assert _rows(q.to_arrow()) == _expected(sql)
    hows = {n.how for n in q.plan.walk() if isinstance(n, Join)}
    if name in KEEPS:
        assert hows & {"left", "outer"}, hows
    elif name != "two_left_joins":
        assert "left" not in hows, hows


def test_only_the_rejected_side_converts() -> None:
    """Of two LEFT JOINs, the one whose columns the WHERE compares becomes inner."""
    frames = {"a": th.from_arrow(A), "b": th.from_arrow(B), "c": th.from_arrow(C)}
    q = th.sql(CONVERTS["two_left_joins"], **frames)
    joins = [n for n in q.plan.walk() if isinstance(n, Join)]
    assert sorted(j.how for j in joins) == ["inner", "left"]
    inner = next(j for j in joins if j.how == "inner")
    assert any(name.startswith("c.") for name in inner.right.schema.names)
