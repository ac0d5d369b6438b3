"""AST rewrites between sqlglot's decorrelation and the translation (planner/sql/rewrites.py)."""

from __future__ import annotations

import pytest

import thresher as th

duckdb = pytest.importorskip("duckdb")

LINES = {"ok": [1, 1, 2, 2, 3, 4, 4, 4], "sk": [10, 11, 10, 10, 12, 13, None, 13],
         "late": [True, False, True, True, False, True, True, False]}

# TPC-H Q21's shape: another supplier on the order exists, no other late supplier does
QUERY = """
select l1.ok, l1.sk, count(*) as n from lines l1
where exists (select * from lines l2 where l2.ok = l1.ok and l2.sk <> l1.sk)
  and not exists (select * from lines l3 where l3.ok = l1.ok and l3.sk <> l1.sk and l3.late)
group by l1.ok, l1.sk order by l1.ok, l1.sk
"""


def test_exists_with_inequality_uses_min_max_not_lists():
    lines = th.from_pydict(LINES)
    df = th.sql(QUERY, lines=lines)
    text = df.explain(print_=False)
    assert "agg_list" not in text and "__min" in text and "__max" in text
    import pyarrow as pa

    con = duckdb.connect()
    con.register("lines", pa.table(LINES))
    assert df.to_pylist() == con.sql(QUERY).to_arrow_table().to_pylist()


def test_list_kept_when_used_otherwise():
    import sqlglot

    from thresher.planner.sql.rewrites import array_any_to_min_max

    tree = sqlglot.parse_one(
        "select * from t left join (select k, array_agg(x) as xs from u group by k) as s on s.k = t.k "
        "where array_any(s.xs, _x -> _x = t.v)")
    assert "ARRAY_AGG" in array_any_to_min_max(tree).sql()
