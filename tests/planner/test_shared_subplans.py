"""A subplan repeated with different columns is computed once (polars_plan.shared_subplans).

TPC-H Q11's shape: partsupp, supplier and nation joined for the groups and again for the HAVING
subquery's total; projection pushdown leaves the two joins with different columns, so they were
two plans to Polars. Merged, both consumers read one cached frame. Results are compared with
DuckDB on Parquet files with NULL keys, duplicates, an empty filter result and empty tables.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from planner_helpers import rounded_rows

import thresher as th
from thresher import col
from thresher.planner.physical import compile as compile_plan
from thresher.planner.polars_plan import shared_subplans

duckdb = pytest.importorskip("duckdb")

PARTSUPP = pa.table({"ps_partkey": pa.array([1, 1, 2, 2, 3, 3, 4, None, 5], pa.int64()),
                     "ps_suppkey": pa.array([10, 11, 10, 12, 11, None, 12, 10, 13], pa.int64()),
                     "ps_availqty": pa.array([5, 7, 1, 9, 3, 4, None, 2, 8], pa.int64()),
                     "ps_supplycost": [1.5, 2.0, 3.25, 0.5, None, 1.0, 2.0, 4.0, 0.75]})
SUPPLIER = pa.table({"s_suppkey": pa.array([10, 11, 12, 13, None], pa.int64()),
                     "s_nationkey": pa.array([1, 2, 1, None, 1], pa.int64())})
NATION = pa.table({"n_nationkey": pa.array([1, 2, 3], pa.int64()), "n_name": ["GERMANY", "FRANCE", None]})

Q11 = """select ps_partkey, sum(ps_supplycost * ps_availqty) as value from partsupp, supplier, nation
where ps_suppkey = s_suppkey and s_nationkey = n_nationkey and n_name = '{nation}'
group by ps_partkey having sum(ps_supplycost * ps_availqty) > (
  select sum(ps_supplycost * ps_availqty) * {fraction} from partsupp, supplier, nation
  where ps_suppkey = s_suppkey and s_nationkey = n_nationkey and n_name = '{nation}')
order by value desc"""


def _write(tmp: Path, tables: dict[str, pa.Table]) -> dict[str, th.DataFrame]:
    out = {}
    for name, t in tables.items():
        pq.write_table(t, tmp / f"{name}.parquet")
        out[name] = th.read_parquet(str(tmp / f"{name}.parquet"))
    return out


def _duckdb(tables: dict[str, pa.Table]):
    con = duckdb.connect()
    for name, t in tables.items():
        con.register(name, t)
    return con


def _rows(table: pa.Table) -> list[tuple]:
    return rounded_rows(table, 6)


def _program_explain(df: th.DataFrame) -> str:
    physical = compile_plan(df.plan)
    assert physical.root.kind == "relational"
    return physical.root.spec.program([]).explain()


@pytest.mark.parametrize("nation,fraction", [("GERMANY", "0.1"), ("GERMANY", "0.0001"), ("NOWHERE", "0.1")])
def test_q11_shape_joins_once_and_matches_duckdb(tmp_path: Path, nation: str, fraction: str) -> None:
    tables = {"partsupp": PARTSUPP, "supplier": SUPPLIER, "nation": NATION}
    frames = _write(tmp_path, tables)
    q = Q11.format(nation=nation, fraction=fraction)
    df = th.sql(q, **frames)
    plan = _program_explain(df)
    # one scan of each table and the two joins once (Polars' own CSE shares the scans and
    # supplier-nation join but not partsupp's join, whose columns differ): 2 joins and the
    # scalar's cross join, not 3 and a cross join
    for t in tables:
        assert sum("SCAN" in line and f"{t}.parquet" in line for line in plan.splitlines()) == 1, plan
    assert plan.count("INNER JOIN:") == 2 and plan.count("CROSS JOIN:") == 1, plan
    assert _rows(df.to_arrow()) == _rows(_duckdb(tables).sql(q).to_arrow_table())


def test_q11_shape_on_empty_tables(tmp_path: Path) -> None:
    tables = {"partsupp": PARTSUPP.slice(0, 0), "supplier": SUPPLIER, "nation": NATION}
    frames = _write(tmp_path, tables)
    q = Q11.format(nation="GERMANY", fraction="0.1")
    assert _rows(th.sql(q, **frames).to_arrow()) == _rows(_duckdb(tables).sql(q).to_arrow_table())


def _joins(tmp_path: Path, right_cols: tuple[str, ...]) -> tuple[th.DataFrame, th.DataFrame, th.DataFrame]:
    a = pa.table({"k": pa.array([1, 2, 2, None, 3], pa.int64()), "x": [1, 2, 3, 4, 5], "y": [10, 20, 30, 40, 50]})
    b = pa.table({"k": pa.array([2, 3, 3, None, 4], pa.int64()), "y": [7, 8, 9, 6, 5], "z": [0.5, 1.5, 2.5, 3.5, 4.5]})
    frames = _write(tmp_path, {"a": a, "b": b})
    fa, fb = frames["a"].filter(col("x") > 1), frames["b"]
    j1 = fa.select("k", "x").join(fb.select(*right_cols), on="k")
    j2 = fa.select("k", "y").join(fb.select("k", "z"), on="k")
    both = j1.select("k").join(j2, on="k")
    return j1, j2, both


def test_merged_join_keeps_every_consumers_columns(tmp_path: Path) -> None:
    # j1 reads b's y: merging j2's left y into the left side would rename it to y_right
    j1, j2, both = _joins(tmp_path, ("k", "y"))
    assert shared_subplans(both.plan) == {}
    j1, j2, both = _joins(tmp_path, ("k", "z"))
    found = shared_subplans(both.plan)
    merged = {id(m) for _, m in found.values()}
    assert len(found) == 2 and len(merged) == 1
    (m,) = {m for _, m in found.values()}
    assert set(m.schema.names) == {"k", "x", "y", "z"}


@pytest.mark.parametrize("right_cols", [("k", "y"), ("k", "z")])
def test_merged_join_results_match_duckdb(tmp_path: Path, right_cols: tuple[str, ...]) -> None:
    _, _, both = _joins(tmp_path, right_cols)
    con = duckdb.connect()
    con.execute(f"create view a as select * from read_parquet('{tmp_path / 'a.parquet'}')")
    con.execute(f"create view b as select * from read_parquet('{tmp_path / 'b.parquet'}')")
    rc = ", ".join(f"b.{c}" for c in right_cols[1:])
    q = f"""with fa as (select * from a where x > 1),
            j1 as (select fa.k, fa.x, {rc} from fa join b on fa.k = b.k),
            j2 as (select fa.k, fa.y, b.z from fa join b on fa.k = b.k)
            select j1.k, j2.y, j2.z from j1 join j2 on j1.k = j2.k"""
    got = both.to_arrow()
    assert got.column_names == ["k", "y", "z"]
    assert _rows(got) == _rows(con.sql(q).to_arrow_table())


ORDERS = pa.table({"o_orderkey": pa.array([1, 2, 3, 4, None], pa.int64()),
                   "o_custkey": pa.array([7, 8, 7, None, 8], pa.int64()),
                   "o_totalprice": [10.0, 20.0, None, 40.0, 50.0]})
LINES = pa.table({"l_orderkey": pa.array([1, 1, 2, 3, 3, 3, None, 4], pa.int64()),
                  "l_quantity": [5.0, 7.0, 1.0, 2.0, None, 9.0, 100.0, 3.0],
                  # a column the query does not read (a read of every column is one plan to Polars
                  # whatever the order of its columns: it is shared)
                  "l_comment": ["a", "b", None, "c", "d", "e", "f", "g"]})

#: TPC-H Q18's shape: the same columns of lines read for the IN subquery's group-by and the join
Q18 = """select o_orderkey, o_totalprice, sum(l_quantity) as q from orders, lines
where o_orderkey in (select l_orderkey from lines group by l_orderkey having sum(l_quantity) > {limit})
  and o_orderkey = l_orderkey
group by o_orderkey, o_totalprice order by o_totalprice desc nulls last, o_orderkey limit 10"""


@pytest.mark.parametrize("limit", [6, 1000])
def test_a_scan_read_twice_is_read_apart_and_matches_duckdb(tmp_path: Path, limit: int) -> None:
    tables = {"orders": ORDERS, "lines": LINES}
    frames = _write(tmp_path, tables)
    q = Q18.format(limit=limit)
    df = th.sql(q, **frames)
    plan = _program_explain(df)
    # Polars' CSE may still put a cache over the raw file read (its streaming engine then reads
    # the file once per reader), but not over our renamed columns of it: a cached projection is
    # one read whose rows are buffered until the join, waiting for the group-by, takes them
    lines = plan.splitlines()
    depth = [len(line) - len(line.lstrip()) for line in lines]
    cached = [lines[i + 1].strip() for i, line in enumerate(lines)
              if "CACHE[" in line and i + 1 < len(lines) and depth[i + 1] > depth[i]]  # the one with its input
    assert all(c.startswith("Parquet SCAN") for c in cached), plan
    got, want = df.to_arrow(), _duckdb(tables).sql(q).to_arrow_table()
    assert [tuple(r.values()) for r in got.to_pylist()] == [tuple(r.values()) for r in want.to_pylist()]


def _shared(plan: object) -> dict[int, object]:
    return {k: (id(node), merged.key()) for k, (node, merged) in shared_subplans(plan).items()}  # type: ignore[arg-type]


def test_outline_precheck_misses_no_shared_subplan(monkeypatch: pytest.MonkeyPatch, tpch_dir: Path,
                                                   tpcds_generate) -> None:  # type: ignore[no-untyped-def]
    # _may_share answers "nothing to share" from node kinds and sources alone: on every TPC-H and
    # TPC-DS plan, the subplans found with it are those found without it (and some are found)
    import sys

    from thresher.planner import polars_plan

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks import tpcds
    from benchmarks.tpch import dataframe_queries as dq
    from benchmarks.tpch.sql_queries import QUERIES

    plans = [compile_plan(th.sql(QUERIES[q], **dq.tables(tpch_dir)).plan).optimized for q in sorted(QUERIES)]
    frames = tpcds.tables(tpcds_generate(0.01))
    plans += [compile_plan(th.sql(tpcds.query(q), **frames).plan).optimized for q in tpcds.query_numbers()]
    with_check = [_shared(p) for p in plans]
    monkeypatch.setattr(polars_plan, "_may_share", lambda root: True)
    assert [_shared(p) for p in plans] == with_check
    assert sum(bool(s) for s in with_check) >= 5


STORE = pa.table({"s_item": pa.array([1, 1, 2, 3, 3, 4, None, 5, 2], pa.int64()),
                  "s_qty": pa.array([2, 3, 1, 5, None, 4, 6, 1, 7], pa.int64()),
                  "s_price": [1.5, 2.0, 3.0, None, 1.0, 2.5, 4.0, 0.5, 1.25]})
WEB = pa.table({"w_item": pa.array([1, 2, 2, 3, 5, None, 6], pa.int64()),
                "w_qty": pa.array([1, 2, 3, None, 5, 6, 2], pa.int64()),
                "w_price": [3.0, 1.0, 2.0, 2.5, None, 1.5, 0.5]})
ITEM = pa.table({"i_item": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
                 "i_brand": pa.array([10, 10, 20, None, 20, 30], pa.int64()),
                 "i_class": ["x", "y", "x", "y", None, "x"]})

#: TPC-DS Q14's shape: per-channel group-bys, each with a HAVING against one average over both
#: channels and an IN over a CTE of the items both channels sold, under a union, grouped by
#: {grouping}: every grouping set reads the finest aggregate, projection pushdown gives each a
#: copy, and the union under it kept shared_subplans from merging them
Q14 = """with both_items as (select s_item it from store where s_item in (select w_item from web)),
avg_sales as (select avg(q * p) a from (select s_qty q, s_price p from store
                                        union all select w_qty, w_price from web) u)
select channel, i_brand, i_class, sum(sales) sales, sum(n) n from (
  select 'store' channel, i_brand, i_class, sum(s_qty * s_price) sales, count(*) n
  from store, item where s_item = i_item and s_item in (select it from both_items)
  group by i_brand, i_class having sum(s_qty * s_price) > (select a from avg_sales) * {factor}
  union all
  select 'web' channel, i_brand, i_class, sum(w_qty * w_price) sales, count(*) n
  from web, item where w_item = i_item and w_item in (select it from both_items)
  group by i_brand, i_class having sum(w_qty * w_price) > (select a from avg_sales) * {factor}) y
group by {grouping}
order by channel nulls first, i_brand nulls first, i_class nulls first"""


def _scans(plan: str) -> dict[str, int]:
    return {t: sum("SCAN" in line and f"{t}.parquet" in line for line in plan.splitlines())
            for t in ("store", "web", "item")}


@pytest.mark.parametrize("grouping", ["rollup (channel, i_brand, i_class)", "cube (channel, i_brand, i_class)",
                                      "grouping sets ((channel, i_brand, i_class), (i_brand), ())",
                                      "rollup (channel), i_brand, i_class"])
@pytest.mark.parametrize("factor", ["0", "1", "1000"])
def test_rollup_over_a_union_aggregates_once_and_matches_duckdb(tmp_path: Path, grouping: str, factor: str) -> None:
    tables = {"store": STORE, "web": WEB, "item": ITEM}
    frames = _write(tmp_path, tables)
    q = Q14.format(grouping=grouping, factor=factor)
    df = th.sql(q, **frames)
    # the finest aggregate (and the CTEs within it) once: the sales read as often as by the same
    # query with a plain GROUP BY (unshared, each grouping set's copy read them again: 2-4x).
    # item is read by each channel's join: Polars merges those two equal reads of the file in
    # the plain query but not under the finest aggregate's cache (a second small read)
    plain = th.sql(Q14.format(grouping="channel, i_brand, i_class", factor=factor), **frames)
    got_scans, plain_scans = _scans(_program_explain(df)), _scans(_program_explain(plain))
    assert got_scans["store"] == plain_scans["store"] and got_scans["web"] == plain_scans["web"], got_scans
    assert got_scans["item"] <= 2, got_scans
    got, want = df.to_arrow(), _duckdb(tables).sql(q).to_arrow_table()
    assert _rows(got) == _rows(want)


def test_reads_twice_is_necessary_for_sharing(tmp_path):
    """build_lazy skips shared_subplans and shared_reads for a plan that reads no source twice:
    whenever either finds something, _reads_twice says yes (two scans of one source, or a subplan
    object under two parents)."""
    from thresher.planner.polars_plan import _reads_twice, shared_reads

    frames = _write(tmp_path, {"partsupp": PARTSUPP, "supplier": SUPPLIER, "nation": NATION})
    once = frames["partsupp"].join(frames["supplier"], left_on="ps_suppkey", right_on="s_suppkey")
    assert not _reads_twice(compile_plan(once.plan).optimized)
    q11 = th.sql(Q11.format(nation="GERMANY", fraction=0.0001), **frames)
    plan = compile_plan(q11.plan).optimized
    assert shared_subplans(plan) and _reads_twice(plan)
    # one subplan object under two parents (a self join): read twice, though its scan is one object
    sub = frames["partsupp"].filter(col("ps_availqty") > 1).group_by("ps_partkey").agg(col("ps_availqty").sum())
    joined = sub.join(sub.select(col("ps_partkey").alias("k")), left_on="ps_partkey", right_on="k")
    assert _reads_twice(joined.plan)
    for df in (once, q11, joined):
        p = compile_plan(df.plan).optimized
        if shared_subplans(p) or shared_reads(p):
            assert _reads_twice(p)


def _sales(n: int = 400) -> pa.Table:
    import random

    rnd = random.Random(7)
    return pa.table({
        "cat": [rnd.choice(["a", "b", None]) for _ in range(n)],
        "brand": [rnd.choice(["x", "y", "z"]) for _ in range(n)],
        "yr": pa.array([rnd.choice([1998, 1999, 2000]) for _ in range(n)], pa.int32()),
        "moy": pa.array([rnd.randint(1, 12) for _ in range(n)], pa.int32()),
        "price": [None if rnd.random() < 0.05 else round(rnd.uniform(-5, 100), 2) for _ in range(n)],
    })


BRANDS = pa.table({"b": ["x", "y", "z", "w"], "bname": ["X", "Y", None, "W"]})

# TPC-DS q57's shape: a CTE of a group-by of a join under an AVG and a RANK window, read as itself
# (filtered), its lag and its lead: computed once, with the same rows as DuckDB.
Q57 = """with v1 as (select cat, bname, yr, moy, sum(price) as s,
   avg(sum(price)) over (partition by cat, bname, yr) as avg_s,
   rank() over (partition by cat, bname order by yr, moy) as rn
 from sales, brands where brand = b and (yr = 1999 or (yr = 1998 and moy = 12) or (yr = 2000 and moy = 1))
 group by cat, bname, yr, moy)
select v1.cat, v1.bname, v1.yr, v1.moy, v1.s, v1.avg_s, lag.s as ps, lead.s as ns
from v1, v1 lag, v1 lead
where v1.cat = lag.cat and v1.cat = lead.cat and v1.bname = lag.bname and v1.bname = lead.bname
  and v1.rn = lag.rn + 1 and v1.rn = lead.rn - 1 and v1.yr = 1999 {extra}"""


@pytest.mark.parametrize("extra", ["and v1.avg_s > 0 and abs(v1.s - v1.avg_s) / v1.avg_s > 0.1",
                                   "and v1.avg_s > 0 and lead.avg_s > 10"])
def test_a_window_read_three_times_runs_once_and_matches_duckdb(tmp_path: Path, extra: str) -> None:
    tables = {"sales": _sales(), "brands": BRANDS}
    q = Q57.format(extra=extra)
    df = th.sql(q, **_write(tmp_path, tables))
    plan = _program_explain(df)
    assert plan.count(".mean().over(") == 1, plan
    assert _rows(df.to_arrow()) == _rows(_duckdb(tables).sql(q).to_arrow_table())


@pytest.mark.parametrize("extra", ["", "and lead.avg_s > 10"])
def test_one_window_object_read_in_and_out_of_a_merged_subplan_runs_once(tmp_path: Path, extra: str) -> None:
    """Without the date filter the three reads are one window object: the lag and lead reads are
    merged (a cached subplan), the third reads the object outside that cache, so it is cached
    too, and computed once."""
    tables = {"sales": _sales(), "brands": BRANDS}
    q = Q57.replace(" and (yr = 1999 or (yr = 1998 and moy = 12) or (yr = 2000 and moy = 1))", "").format(extra=extra)
    df = th.sql(q, **_write(tmp_path, tables))
    plan = _program_explain(df)
    assert plan.count(".mean().over(") == 1, plan
    assert _rows(df.to_arrow()) == _rows(_duckdb(tables).sql(q).to_arrow_table())


def test_copies_of_a_window_with_different_outputs_share_one(tmp_path: Path) -> None:
    """One read keeps only the AVG, the other only the RANK (projection pushdown cut the rest):
    the merged window computes both, each read selects its own."""
    tables = {"sales": _sales()}
    q = """with v as (select cat, brand, yr, price,
       avg(price) over (partition by cat, brand) as a, rank() over (partition by cat, brand order by yr) as r
     from sales where price > 0)
    select x.cat, x.brand, x.a, y.r from (select distinct cat, brand, a from v) x
    join (select cat, brand, max(r) as r from v group by cat, brand) y on x.cat = y.cat and x.brand = y.brand"""
    df = th.sql(q, **_write(tmp_path, tables))
    assert _rows(df.to_arrow()) == _rows(_duckdb(tables).sql(q).to_arrow_table())


@pytest.mark.parametrize("q", [47, 57])
def test_tpcds_window_ctes_read_three_times_compute_their_windows_once(tpcds_generate, q: int) -> None:
    """TPC-DS q47/q57 read a CTE (a group-by under an AVG and a RANK window) as itself, its lag and
    its lead. The three copies of the windows (distinct objects over one merged group-by) are
    merged into one cached subplan: Polars ran the windows twice (its common-subplan elimination
    found two of the three copies)."""
    import sys

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root))
    from benchmarks import tpcds

    tables = tpcds.tables(tpcds_generate(0.01))
    plan = _program_explain(th.sql(tpcds.query(q), **tables))
    assert plan.count(".mean().over(") == 1, plan
