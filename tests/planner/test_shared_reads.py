"""Reads of one table that share a filter, each filtering further, are one cached read in the
Polars program (``polars_plan.shared_reads``): TPC-H Q22's customers with the selected country
codes, once as rows and once for their average positive balance.

Results are compared with DuckDB running the same SQL on the same Parquet files, over NULL keys,
codes and balances, an average over no rows (NULL: the comparison keeps nothing) and a common
filter that keeps nothing.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from planner_helpers import rounded_rows

import thresher as th
import thresher.planner.polars_plan as pp
from thresher.planner.physical import compile as compile_plan

duckdb = pytest.importorskip("duckdb")

N = 3_000
CUST = pa.table({
    "ck": pa.array([None if i % 97 == 0 else i for i in range(N)], pa.int64()),
    "phone": [None if i % 89 == 0 else f"{10 + i % 25}-{i:05d}" for i in range(N)],
    "bal": pa.array([None if i % 53 == 0 else float((i * 37) % 2000 - 500) for i in range(N)]),
})
ORDERS = pa.table({"ok": pa.array([None if i % 71 == 0 else (i * 7) % (2 * N) for i in range(4 * N)], pa.int64())})

Q22 = """select cc, count(*) as n, sum(bal) as total from (
           select substr(phone, 1, 2) as cc, bal from cust
           where substr(phone, 1, 2) in {codes}
             and bal > (select avg(bal) from cust where bal > {floor} and substr(phone, 1, 2) in {codes})
             and not exists (select 1 from orders where ok = ck)) c
         group by cc order by cc"""

CASES = {
    "q22": {"codes": "('13', '31', '23', '29', '30', '18', '17')", "floor": "0.0"},
    # the average over no rows is NULL: nothing compares greater
    "no_positive": {"codes": "('13', '31', '23')", "floor": "1e9"},
    # the common filter keeps nothing
    "no_code": {"codes": "('99', '98')", "floor": "0.0"},
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("shared_reads")
    pq.write_table(CUST, d / "cust.parquet", row_group_size=512)
    pq.write_table(ORDERS, d / "orders.parquet", row_group_size=2048)
    return d


@pytest.fixture
def share_small_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pp, "SHARED_READ_MIN_TABLE_ROWS", 0)


def _rows(table: pa.Table) -> list[tuple]:
    return rounded_rows(table, 6, ordered=True)


def _frames(files: Path) -> dict[str, th.DataFrame]:
    return {"cust": th.read_parquet(str(files / "cust.parquet")), "orders": th.read_parquet(str(files / "orders.parquet"))}


def _program_text(df: th.DataFrame) -> str:
    physical = compile_plan(df.plan)
    assert physical.root.kind == "relational" and not physical.root.inputs
    return str(physical.root.spec.program([]).explain())


def _shared(df: th.DataFrame) -> dict[int, pp.SharedRead]:
    physical = compile_plan(df.plan)
    assert physical.root.kind == "relational"
    return pp.shared_reads(physical.root.spec.program.node)


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_rows_as_duckdb(files: Path, name: str, share_small_tables: None) -> None:
    q = Q22.format(**CASES[name])
    df = th.sql(q, **_frames(files))
    assert len(_shared(df)) == 2  # the customer read is shared
    assert "CACHE" in _program_text(df)
    con = duckdb.connect()
    con.register("cust", CUST)
    con.register("orders", ORDERS)
    expected = con.sql(q).to_arrow_table()
    assert _rows(df.to_arrow()) == _rows(expected)
    if name == "q22":
        assert expected.num_rows > 0


def test_dataframe_api_q22_reads_customer_once(files: Path, share_small_tables: None) -> None:
    col = th.col
    f = _frames(files)
    cust = f["cust"].with_columns(cc=col("phone").str.slice(0, 2)).filter(col("cc").is_in(["13", "31", "23", "29"]))
    avg = cust.filter(col("bal") > 0).agg(col("bal").mean().alias("avg_bal"))
    df = (cust.join(avg, how="cross").filter(col("bal") > col("avg_bal"))
          .join(f["orders"], left_on="ck", right_on="ok", how="anti")
          .group_by("cc").agg(th.count().alias("n"), col("bal").sum().alias("total")).sort("cc"))
    text = _program_text(df)
    assert text.count("cust.parquet") == 1, text
    con = duckdb.connect()
    con.register("cust", CUST)
    con.register("orders", ORDERS)
    expected = con.sql(Q22.format(codes="('13', '31', '23', '29')", floor="0.0")).to_arrow_table()
    assert _rows(df.to_arrow()) == _rows(expected)


def test_a_small_table_is_read_apart(files: Path) -> None:
    q = Q22.format(**CASES["q22"])
    assert not _shared(th.sql(q, **_frames(files)))


def test_the_same_read_twice_is_not_cached(files: Path, share_small_tables: None) -> None:
    q = """select a.ck, b.ck as ck2 from (select ck from cust where bal > 100) a
           join (select ck from cust where bal > 100) b on a.ck = b.ck + 1"""
    df = th.sql(q, **_frames(files))
    assert not _shared(df)
    con = duckdb.connect()
    con.register("cust", CUST)
    assert sorted(_rows(df.to_arrow()), key=repr) == sorted(_rows(con.sql(q).to_arrow_table()), key=repr)


def test_reads_sharing_some_filters_keep_their_own(files: Path, share_small_tables: None) -> None:
    # three reads share only the country code: each keeps its own other filters (scan terms and
    # computed filters of its own) on top of the one cached read
    codes = "('13', '31', '23', '29')"
    q = f"""select a.ck, a.bal, b.bal as bal_b, c.ck as ck_c
            from (select ck, bal from cust where substr(phone, 1, 2) in {codes} and bal > 100 and ck % 2 = 0) a
            join (select ck, bal from cust where substr(phone, 1, 2) in {codes} and bal < -100 and ck % 5 <> 0) b
              on b.ck = a.ck + 25
            left join (select ck from cust where substr(phone, 1, 2) in {codes} and ck % 3 = 0) c
              on c.ck = a.ck + 50"""
    df = th.sql(q, **_frames(files))
    shared = _shared(df)
    assert len(shared) == 3
    assert all(r.terms or r.filters for r in shared.values())  # each read filters further
    # (Polars may push each read's own filters through the cache into copies of the scan: the
    # rows must be right either way)
    con = duckdb.connect()
    con.register("cust", CUST)
    expected = con.sql(q).to_arrow_table()
    assert expected.num_rows > 0
    assert sorted(_rows(df.to_arrow()), key=repr) == sorted(_rows(expected), key=repr)


def _q22_frame(f: dict[str, th.DataFrame], code: th.Expr) -> th.DataFrame:
    col = th.col
    name = "cc"
    cust = f["cust"].with_columns(cc=code).filter(col(name).is_in(["13", "31", "23", "29", "30", "18", "17"]))
    avg = cust.filter(col("bal") > 0).agg(col("bal").mean().alias("avg_bal"))
    return (cust.join(avg, how="cross").filter(col("bal") > col("avg_bal"))
            .join(f["orders"], left_on="ck", right_on="ok", how="anti")
            .group_by(name).agg(th.count().alias("n"), col("bal").sum().alias("total")).sort(name))


def test_the_cached_read_carries_the_value_its_filter_computes(files: Path, share_small_tables: None) -> None:
    # the country code the shared filter computes is a column of the cached read: the program
    # slices the phones once (before: once in the filter and again in the projection above the
    # cache), and the cache no longer holds the phones
    df = _q22_frame(_frames(files), th.col("phone").str.slice(0, 2))
    text = _program_text(df)
    assert text.count("str.slice") == 1, text
    carried = {r.carried for r in _shared(df).values()}
    assert len(carried) == 1 and len(next(iter(carried))) == 1
    con = duckdb.connect()
    con.register("cust", CUST)
    con.register("orders", ORDERS)
    expected = con.sql(Q22.format(**CASES["q22"])).to_arrow_table()
    assert expected.num_rows > 0
    assert _rows(df.to_arrow()) == _rows(expected)


def test_carried_values_under_other_projections(files: Path, share_small_tables: None) -> None:
    # the code read under another name, beside the phone itself and inside a larger expression
    # above the cache: each projection reads what it asks for
    col = th.col
    f = _frames(files)
    code = col("phone").str.slice(0, 2)
    cust = f["cust"].filter(code.is_in(["13", "31", "23", "29"]))
    a = cust.select("ck", "phone", code.alias("x"), (code + "!").alias("y"))
    b = cust.filter(col("bal") > 0).select("ck", code.alias("z"))
    df = a.join(b, on="ck").sort("ck")
    assert any(r.carried for r in _shared(df).values())
    con = duckdb.connect()
    con.register("cust", CUST)
    expected = con.sql("""select a.ck, a.phone, substr(a.phone, 1, 2) as x, substr(a.phone, 1, 2) || '!' as y,
                                 substr(b.phone, 1, 2) as z
                          from cust a join cust b on a.ck = b.ck
                          where substr(a.phone, 1, 2) in ('13', '31', '23', '29') and b.bal > 0
                            and substr(b.phone, 1, 2) in ('13', '31', '23', '29')
                          order by a.ck""").to_arrow_table()
    assert expected.num_rows > 0
    assert _rows(df.to_arrow()) == _rows(expected)
