"""semi_join_key_set: the right side of a semi or anti join computes only its set of keys.

Differential against DuckDB on the same Parquet files, with the rule on and off: TPC-DS q95's
shape (IN a self-join on the order number filtered on differing warehouses, and IN that set
joined with the returns), over NULL keys, NULL warehouses, orders from one warehouse, two or
three, a join of two different tables on an inequality, NOT IN; and where it must leave the
plan alone (a float inequality, a second filter term)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from planner_helpers import duckdb_over, optimized, rounded_rows

import thresher as th
from thresher.planner.logical import Aggregate, Join

duckdb = pytest.importorskip("duckdb")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("keyset")
    n = 3_000
    order = [None if i % 97 == 0 else i // 4 for i in range(n)]  # ~4 lines an order
    # most orders ship from one warehouse; every 5th from two, every 11th from three; NULLs in between
    wh = [None if i % 23 == 0 else ((i // 4) % 7 if (i // 4) % 5 and (i // 4) % 11 else (i % 3 if (i // 4) % 11 == 0 else i % 2))
          for i in range(n)]
    sales = pa.table({"o": pa.array(order, pa.int64()), "w": pa.array(wh, pa.int32()),
                      "f": pa.array([None if x is None else x + 0.5 for x in wh], pa.float64()),
                      "v": pa.array([float(i % 37) for i in range(n)])})
    returns = pa.table({"ro": pa.array([None if i % 19 == 0 else (i * 7) % 800 for i in range(500)], pa.int64()),
                        "rw": pa.array([None if i % 13 == 0 else i % 4 for i in range(500)], pa.int32())})
    out = {"sales": root / "sales.parquet", "returns": root / "returns.parquet"}
    pq.write_table(sales, out["sales"])
    pq.write_table(returns, out["returns"])
    return out


WH = "with wh as (select s1.o from sales s1, sales s2 where s1.o = s2.o and s1.w <> s2.w) "
FIRES = {
    "q95": WH + "select count(distinct o) as n, sum(v) as s from sales where o in (select o from wh) "
                "and o in (select ro from returns, wh where ro = wh.o)",
    "two_tables": "select o, count(*) as n from sales where o in (select s.o from sales s, returns r "
                  "where s.o = r.ro and s.w <> r.rw) group by o",
    "not_in": WH + "select count(*) as n, count(o) as c from sales where o not in (select o from wh)",
    "join_to_semi": "select count(*) as n from returns where ro in (select s.o from sales s, returns r where s.o = r.ro)",
    # a lone NOT EXISTS over a derived table is an anti join too (it was a left join filtered on
    # NOT (key IS NOT NULL), which the rule left alone)
    "not_exists": "select count(*) as n from sales s where not exists (select 1 from "
                  "(select s1.o from sales s1, sales s2 where s1.o = s2.o and s1.w <> s2.w) t where t.o = s.o)",
}
STAYS = {
    "float": "select count(*) as n from sales where o in (select s1.o from sales s1, sales s2 "
             "where s1.o = s2.o and s1.f <> s2.f)",
    "second_term": "select count(*) as n from sales where o in (select s1.o from sales s1, sales s2 "
                   "where s1.o = s2.o and s1.w <> s2.w and s1.v + s2.v > 30)",
}


def _frames(files: dict[str, Path]) -> dict[str, th.DataFrame]:
    return {name: th.read_parquet(str(path)) for name, path in files.items()}


def _changed(plan: th.DataFrame, disabled: tuple[str, ...] = ()) -> bool:
    """Is some semi/anti join's right side a group-by or a semi join (the rule's output)?"""
    def reduced(node: object) -> bool:
        return isinstance(node, Aggregate) or (isinstance(node, Join) and node.how == "semi")

    return any(isinstance(n, Join) and n.how in ("semi", "anti") and any(reduced(m) for m in n.right.walk())
               for n in optimized(plan, disabled).walk())


@pytest.mark.parametrize("name", sorted(FIRES) + sorted(STAYS))
def test_same_rows_as_duckdb_rule_on_and_off(files: dict[str, Path], name: str) -> None:
    sql = {**FIRES, **STAYS}[name]
    con = duckdb_over(files)
    expected = rounded_rows(con.sql(sql).to_arrow_table(), 6)
    q = th.sql(sql, **_frames(files))
    assert _changed(q) == (name in FIRES)
    assert rounded_rows(q.to_arrow(), 6) == expected
    try:
        th.set_optimizer(disabled=["semi_join_key_set"])
        assert not _changed(q, ("semi_join_key_set",))
        assert rounded_rows(q.to_arrow(), 6) == expected
    finally:
        th.set_optimizer(disabled=[])


def test_the_answers_are_not_trivial(files: dict[str, Path]) -> None:
    """The data has orders from one, two and three warehouses (so the sets are proper subsets)."""
    con = duckdb.connect()
    con.execute(f"create view sales as select * from read_parquet('{files['sales']}')")
    counts = dict(con.sql("select k, count(*) from (select o, count(distinct w) as k from sales "
                          "where o is not null group by o) group by k").fetchall())
    assert set(counts) >= {1, 2, 3}
