"""semi_join_pushdown's placement of a semi/anti join by estimated rows (TPC-H Q21 and Q16 shapes).

Parquet inputs, so the estimates come from the file footers as in the benchmarks: a semi join on
the order key stays above (or moves up to) an inner join that keeps a small part of the lineitems,
and moves below one that keeps them all. Results are compared with DuckDB, with NULL keys and
duplicates on both sides.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from planner_helpers import assert_rule_equivalent, optimized, sorted_rows

import thresher as th
from thresher import col
from thresher.planner.logical import Join, LogicalPlan
from thresher.planner.optimizer.rules import semi_join_pushdown
from thresher.planner.optimizer.rules.join_order import estimated_rows

duckdb = pytest.importorskip("duckdb")

N_LINES, N_SUPP, N_NATIONS, N_ORDERS = 20_000, 1_000, 25, 5_000


def _tables() -> dict[str, pa.Table]:
    i = pa.array(range(N_LINES))
    # every 97th line has no order key (NULL), keys repeat (4 lines per order)
    okey = [None if k % 97 == 0 else k // 4 for k in range(N_LINES)]
    lineitem = pa.table({"l_orderkey": pa.array(okey, pa.int64()), "l_suppkey": pa.array([k % N_SUPP for k in range(N_LINES)]),
                         "l_qty": i})
    supplier = pa.table({"s_suppkey": pa.array(range(N_SUPP)),
                         "s_nationkey": pa.array([k % N_NATIONS for k in range(N_SUPP)]),
                         "s_name": pa.array([f"S{k % 50}" for k in range(N_SUPP)])})  # names repeat
    nation = pa.table({"n_nationkey": pa.array(range(N_NATIONS)), "n_name": [f"N{k}" for k in range(N_NATIONS)]})
    # status 'F' on a third of the orders; the semi join's other side has duplicate and NULL keys
    ok = [k for k in range(N_ORDERS)] + [k for k in range(0, N_ORDERS, 3)] + [None] * 5
    orders = pa.table({"o_orderkey": pa.array(ok, pa.int64()),
                       "o_status": ["F" if k is None or k % 3 == 0 else "O" for k in ok]})
    return {"lineitem": lineitem, "supplier": supplier, "nation": nation, "orders": orders}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, th.DataFrame], dict[str, pa.Table]]:
    root: Path = tmp_path_factory.mktemp("semi_placement")
    tables = _tables()
    frames = {}
    for name, t in tables.items():
        (root / name).mkdir()
        pq.write_table(t, root / name / "part-0.parquet")
        frames[name] = th.read_parquet(str(root / name))
    return frames, tables


def _query(t: dict[str, th.DataFrame], how: str, one_nation: bool, lifted: bool) -> th.DataFrame:
    """Q21's shape: late lines of one nation's suppliers whose order is (not) failed. ``lifted``:
    written with the semi join on lineitem, below the inner join (Q16's shape)."""
    nation = t["nation"].filter(col("n_name") == "N3") if one_nation else t["nation"]
    supp = t["supplier"].join(nation, left_on="s_nationkey", right_on="n_nationkey")
    failed = t["orders"].filter(col("o_status") == "F").select("o_orderkey")
    if lifted:
        q = (t["lineitem"].join(failed, left_on="l_orderkey", right_on="o_orderkey", how=how)
             .join(supp, left_on="l_suppkey", right_on="s_suppkey"))
    else:
        q = (t["lineitem"].join(supp, left_on="l_suppkey", right_on="s_suppkey")
             .join(failed, left_on="l_orderkey", right_on="o_orderkey", how=how))
    return q.group_by("s_name").agg(th.count().alias("n"), col("l_qty").sum().alias("q"))


def _semi(plan: LogicalPlan) -> Join:
    return next(n for n in plan.walk() if isinstance(n, Join) and n.how in ("semi", "anti"))


def _inner_below(plan: LogicalPlan) -> bool:
    """The semi/anti join has the lineitem-supplier inner join below it."""
    return any(isinstance(n, Join) and n.how == "inner" and "s_name" in n.schema.names for n in _semi(plan).walk())


def _duckdb(tables: dict[str, pa.Table], how: str, one_nation: bool) -> pa.Table:
    con = duckdb.connect()
    for k, v in tables.items():
        con.register(k, v)
    nation = "and n_name = 'N3'" if one_nation else ""
    exists = "exists" if how == "semi" else "not exists"
    return con.sql(f"""select s_name, count(*) as n, sum(l_qty) as q
        from lineitem join supplier on l_suppkey = s_suppkey join nation on s_nationkey = n_nationkey {nation}
        where {exists} (select 1 from orders where o_status = 'F' and o_orderkey = l_orderkey)
        group by s_name""").to_arrow_table()


@pytest.mark.parametrize("lifted", [False, True])
@pytest.mark.parametrize("how", ["semi", "anti"])
def test_stays_above_a_join_that_keeps_few_lines(data, how: str, lifted: bool) -> None:
    """One nation's suppliers keep a 25th of the lines: the semi join tests the join's output
    (written above: stays; written below, on lineitem: moves up)."""
    frames, tables = data
    df = _query(frames, how, one_nation=True, lifted=lifted)
    assert _inner_below(optimized(df))
    assert sorted_rows(df.to_arrow()) == sorted_rows(_duckdb(tables, how, one_nation=True))
    assert_rule_equivalent(df, "semi_join_pushdown")


@pytest.mark.parametrize("lifted", [False, True])
@pytest.mark.parametrize("how", ["semi", "anti"])
def test_below_a_join_that_keeps_every_line(data, how: str, lifted: bool) -> None:
    """All suppliers: the join keeps every line, so the semi join tests lineitem before it."""
    frames, tables = data
    df = _query(frames, how, one_nation=False, lifted=lifted)
    assert not _inner_below(optimized(df))
    assert sorted_rows(df.to_arrow()) == sorted_rows(_duckdb(tables, how, one_nation=False))
    assert_rule_equivalent(df, "semi_join_pushdown")


def test_placement_follows_the_estimates(data) -> None:
    """The decision is the rows test of the module docstring: the semi join's input estimated
    at more than twice the inner join's output keeps it above."""
    frames, _ = data
    for one_nation in (True, False):
        df = _query(frames, "semi", one_nation, lifted=False)
        plan = optimized(df, disabled=("semi_join_pushdown",))
        inner = next(n for n in plan.walk() if isinstance(n, Join) and n.how == "inner" and "s_name" in n.schema.names)
        line_side = inner.left if "l_orderkey" in inner.left.schema.names else inner.right
        s, j = estimated_rows(line_side), estimated_rows(inner)
        assert s is not None and j is not None
        assert (s / 2 > j) == one_nation
        assert _inner_below(optimized(df)) == (s / 2 > j)


def test_own_output_is_a_fixpoint(data) -> None:
    frames, _ = data
    for one_nation in (True, False):
        for lifted in (True, False):
            out = optimized(_query(frames, "anti", one_nation, lifted))
            assert semi_join_pushdown.apply(out) is None
