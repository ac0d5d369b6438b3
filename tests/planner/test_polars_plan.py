"""The Polars program of a relational stage: the left side's keys reach a grouped right side.

A join whose right side groups on the join keys (a decorrelated subquery) semi-joins the
group-by's input with the left side's frame (Polars computes that frame once). The results are
compared with DuckDB running the same SQL, over keys with NULLs, duplicates, groups the left side
never has and a key type that differs between the sides.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from planner_helpers import rounded_rows

import thresher as th
from thresher.planner.physical import compile as compile_plan

duckdb = pytest.importorskip("duckdb")

PART = pa.table({"pk": pa.array([1, 2, 3, 4, 5, None], pa.int32()),
                 "brand": ["a", "b", "a", "c", "a", "a"]})
LINES = pa.table({"lp": pa.array([1, 1, 2, 3, 3, 3, 4, 6, None, 5], pa.int64()),
                  "qty": [1.0, 5.0, 2.0, 1.0, 2.0, 9.0, 4.0, 3.0, 7.0, None]})

QUERIES = {
    # TPC-H Q17's shape: a scalar subquery correlated on the key (a left join after decorrelation)
    "scalar": """select lp, qty from lines, part where lp = pk and brand = 'a'
                 and qty < (select 2 * avg(qty) from lines l2 where l2.lp = part.pk)""",
    # an inner join with a derived table grouped on the key
    "derived": """select pk, brand, s from part join
                    (select lp, sum(qty) as s, count(*) as c from lines group by lp) g on g.lp = pk
                  where brand = 'a'""",
    # the group-by filtered (HAVING) above the grouping, joined on the key
    "having": """select pk, s from part left join
                   (select lp, sum(qty) as s from lines group by lp having sum(qty) > 2) g on g.lp = pk
                 where brand <> 'b'""",
}


def _program(q: str):
    physical = compile_plan(th.sql(q, lines=LINES, part=PART).plan)
    assert physical.root.kind == "relational" and not physical.root.inputs
    return physical.root.spec.program([])


def _rows(table: pa.Table) -> list[tuple]:
    return rounded_rows(table, 9)


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_same_rows_as_duckdb(name: str) -> None:
    q = QUERIES[name]
    con = duckdb.connect()
    con.register("lines", LINES)
    con.register("part", PART)
    expected = con.sql(q).to_arrow_table()
    got = th.sql(q, lines=LINES, part=PART).to_arrow()
    assert _rows(got) == _rows(expected)


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_group_by_input_is_semi_joined_with_the_left_side(name: str) -> None:
    plan = _program(QUERIES[name]).explain()
    assert "SEMI JOIN" in plan
    # the left frame is computed once; "scalar"'s comparison makes its join an inner one, which
    # join_order puts between the group-by and the filtered parts first: those are its key source
    # (a filtered scan, read again rather than cached)
    assert ("CACHE" in plan) == (name != "scalar")


def test_not_when_the_left_side_filters_nothing() -> None:
    q = "select pk, s from part join (select lp, sum(qty) as s from lines group by lp) g on g.lp = pk"
    assert "SEMI JOIN" not in _program(q).explain()


def test_the_left_side_is_computed_once_for_tpch_q21(tpch_dir) -> None:
    # Q21's EXISTS and NOT EXISTS both semi-join lineitem with the outer side (l1 with orders,
    # supplier and nation); that side feeds the joins and the key sets: lineitem is read once
    # for it and once per subquery (l2, l3), not again for a key set whose projection differs
    from benchmarks.tpch.canon import TABLES
    from benchmarks.tpch.sql_queries import QUERIES

    frames = {t: th.read_parquet(str(tpch_dir / t)) for t in TABLES}
    physical = compile_plan(th.sql(QUERIES[21], **frames).plan)
    plan = physical.root.spec.program([]).explain()
    assert sum("SCAN" in line and "lineitem" in line for line in plan.splitlines()) == 3, plan


@pytest.mark.parametrize("q", [
    "select pk, brand from part where pk > (select avg(qty) from lines where qty > 1)",
    # the average over no rows is NULL: nothing compares greater
    "select pk from part where pk > (select avg(qty) from lines where qty > 100)",
    "select pk, brand from part where pk < (select max(lp) from lines where lp < 4) and brand = 'a'",
    # and a NOT EXISTS above the comparison (TPC-H Q22)
    """select pk, brand from part where pk > (select avg(qty) from lines where qty > 1)
       and not exists (select 1 from lines where lp = pk and qty > 4)""",
])
def test_a_scalar_subquery_row_is_a_cross_join_not_an_inequality_join(q: str) -> None:
    # compared with one aggregated row: Polars would fuse the comparison straight over the cross
    # join into an inequality join (sorting the left side, bounding no rows for a join above)
    plan = _program(q).explain()
    assert "IEJOIN" not in plan and "CROSS JOIN" in plan, plan
    con = duckdb.connect()
    con.register("lines", LINES)
    con.register("part", PART)
    assert _rows(th.sql(q, lines=LINES, part=PART).to_arrow()) == _rows(con.sql(q).to_arrow_table())


ORDERS = pa.table({"ok": pa.array([1, 2, 3, 4, 5, None, 7], pa.int64()),
                   "status": ["F", "O", "F", "F", "O", "F", None]})
ITEMS = pa.table({"lk": pa.array([1, 1, 2, 3, 3, 4, 4, 5, None, 6, 7], pa.int64()),
                  "sk": pa.array([10, 11, 10, 12, 12, 13, None, 10, 10, 11, 12], pa.int64())})

#: TPC-H Q21's shape with the semi join semi_join_reduction adds spelled out: the grouped side's
#: input is semi-joined with the outer side's orders of status 'F' ({status} = 'F': implied by the
#: outer side's keys, dropped; 'O': not implied, kept)
IMPLIED = """select l.lk, l.sk, g.mn, g.mx from items l join orders o on l.lk = o.ok
             left join (select lk as gk, min(sk) as mn, max(sk) as mx from items
                        where lk in (select ok from orders where status = '{status}') group by lk) g on l.lk = g.gk
             where o.status = 'F' and l.sk <> 11"""


def _semi_joins(q: str, **tables: pa.Table) -> int:
    physical = compile_plan(th.sql(q, **tables).plan)
    plan = physical.root.spec.program([]).explain()
    return sum(line.strip() == "SEMI JOIN:" for line in plan.splitlines())


@pytest.mark.parametrize("status", ["F", "O"])
def test_a_semi_join_the_outer_keys_imply_is_dropped(status: str) -> None:
    q = IMPLIED.format(status=status)
    tables = {"items": ITEMS, "orders": th.from_arrow(ORDERS)}
    # the outer keys' semi join, plus the IN subquery's own only where it is not implied
    assert _semi_joins(q, **tables) == (1 if status == "F" else 2)
    con = duckdb.connect()
    con.register("items", ITEMS)
    con.register("orders", ORDERS)
    assert _rows(th.sql(q, **tables).to_arrow()) == _rows(con.sql(q).to_arrow_table())
    # no outer row at all: an empty key set
    empty = q.replace("l.sk <> 11", "l.sk > 100")
    assert _rows(th.sql(empty, **tables).to_arrow()) == _rows(con.sql(empty).to_arrow_table())


def test_select_fast_path_is_polars_select() -> None:
    # _select, _with_columns and _filter hand Polars the parsed expressions themselves: the same
    # plans as the LazyFrame methods; anything not a Polars expression goes through the method
    import polars as pl

    from thresher._polars import select_columns
    from thresher.planner.polars_plan import _filter, _select, _with_columns

    lf = pl.LazyFrame({"a": [1, 2, None], "b": ["x", "y", "z"]})
    exprs = [pl.col("a").alias("c"), (pl.col("a") * 2).alias("d"), pl.col("b")]
    pred = (pl.col("a") > 1) | pl.col("b").is_in(["x"])
    pairs = [(_select(lf, exprs), lf.select(exprs)), (_with_columns(lf, exprs), lf.with_columns(exprs)),
             (_filter(lf, pred), lf.filter(pred)),
             (_select(lf, ["b", "a"]), lf.select(["b", "a"])),  # type: ignore[list-item]
             (select_columns(lf, ["b", "a"]), lf.select(["b", "a"])), (select_columns(lf, ["a"]), lf.select(["a"]))]
    for fast, slow in pairs:
        assert fast.explain(optimized=False) == slow.explain(optimized=False)
        assert fast.collect().equals(slow.collect())



def test_select_fast_path_falls_back_when_polars_internals_differ() -> None:
    # a Polars whose internal methods take other arguments (a TypeError) gets the public methods
    import polars as pl

    from thresher._polars import filter_, select, with_columns

    class Internals:
        def __init__(self, ldf: object) -> None:
            self._real = ldf

        def select(self, *a: object) -> object:
            raise TypeError("select() takes 3 positional arguments")

        with_columns = filter = select

    lf = pl.LazyFrame({"a": [1, 2, None]})
    odd = pl.LazyFrame._from_pyldf(lf._ldf)
    odd._ldf = Internals(lf._ldf)  # type: ignore[assignment]
    odd.select = lf.select  # type: ignore[method-assign]
    odd.with_columns = lf.with_columns  # type: ignore[method-assign]
    odd.filter = lf.filter  # type: ignore[method-assign]
    e = (pl.col("a") + 1).alias("b")
    assert select(odd, [e]).collect().equals(lf.select(e).collect())
    assert with_columns(odd, [e]).collect().equals(lf.with_columns(e).collect())
    assert filter_(odd, pl.col("a") > 1).collect().equals(lf.filter(pl.col("a") > 1).collect())

def test_scan_key_is_the_node_key() -> None:
    # the lowering counts reads of a scan by a plain tuple (see _SCANS, _count_scan): the same
    # scan where key() is equal
    from thresher.io.predicate import Comparison, Predicate
    from thresher.planner.logical import ScanSource
    from thresher.planner.polars_plan import _count_scan

    def same(a: ScanSource, b: ScanSource) -> bool:
        scans: dict[object, int] = {}
        _count_scan(scans, a)
        return _count_scan(scans, b) == 1

    src = th.from_arrow(PART).plan.source  # type: ignore[attr-defined]
    p1, p2 = Predicate((Comparison("pk", ">", 1),)), Predicate((Comparison("pk", ">", 2),))
    nodes = [ScanSource(src, cols, pred, lim) for cols in (None, ("pk",), ("brand", "pk"))
             for pred in (None, p1, p2) for lim in (None, 3)]
    again = [ScanSource(n.source, n.columns, Predicate(n.predicate.terms) if n.predicate else None, n.limit)
             for n in nodes]
    for a in nodes:
        for b in nodes + again:
            assert same(a, b) == (a.key() == b.key())
    listed = ScanSource(src, None, Predicate((Comparison("pk", "is_in", ([1], [2])),)))  # (unhashable: the key)
    other = ScanSource(src, None, Predicate((Comparison("pk", "is_in", ([1], [2])),)))
    assert same(listed, listed) and same(listed, other) == (listed.key() == other.key())
    assert not same(listed, nodes[0])


SALES = pa.table({"k1": pa.array([1, 1, 2, 2, 3, None, 4, 4, 5], pa.int64()),
                  "k2": pa.array([1, 1, 2, None, 3, 1, 4, 5, 5], pa.int32()),
                  "yr": [2000, 2000, 2000, 2000, 2001, 2000, 2000, 1999, 2000],
                  "q": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, None, 8.0, 9.0]})
WEB = pa.table({"k1": pa.array([1, 1, 2, 2, 3, None, 4, 4, 6, 5], pa.int64()),
                "k2": pa.array([1, 1, 2, None, 3, 1, 4, 5, 6, 5], pa.int64()),
                "yr": [2000, 2001, 2000, 2000, 2001, 2000, 2000, 1999, 2000, 1998],
                "q": [1.5, 2.5, 3.5, None, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5]})

#: TPC-DS Q78's shape: one side's sales of one year grouped on (k1, k2, yr), joined with the other
#: side's sales of every year grouped on the same keys (NULL and duplicate keys, int32 vs int64)
APART = """select a.k1, a.k2, a.yr, a.s, b.s2 from
             (select k1, k2, yr, sum(q) s from sales where yr = {year} group by k1, k2, yr) a
             {how} join (select k1, k2, yr, sum(q) s2, count(*) c from web group by k1, k2, yr) b
             on a.k1 = b.k1 and a.k2 = b.k2 and a.yr = b.yr"""


def _apart_rows(q: str) -> tuple[str, list[tuple], list[tuple]]:
    con = duckdb.connect()
    con.register("sales", SALES)
    con.register("web", WEB)
    frame = th.sql(q, sales=SALES, web=WEB)
    program = compile_plan(frame.plan).root.spec.program([]).explain()
    return program, _rows(frame.to_arrow()), _rows(con.sql(q).to_arrow_table())


@pytest.mark.parametrize("how", ["left", "inner"])
@pytest.mark.parametrize("year", [2000, 1900])
def test_a_left_side_filtered_below_its_group_by_reduces_the_right_one(monkeypatch, how: str, year: int) -> None:
    import thresher.planner.polars_plan as polars_plan

    monkeypatch.setattr(polars_plan, "REDUCE_APART_MIN_ROWS", 0)
    program, got, expected = _apart_rows(APART.format(how=how, year=year))
    assert "SEMI JOIN" in program and "CACHE" in program, program
    assert got == expected


def test_not_when_the_grouped_input_is_estimated_small() -> None:
    program, got, expected = _apart_rows(APART.format(how="left", year=2000))
    assert "SEMI JOIN" not in program
    assert got == expected


def test_a_filter_both_sides_hold_does_not_count() -> None:
    # TPC-DS Q30/Q81's shape: a CTE's rows next to its own per-state average; the left side's
    # filter is the right side's too, so it holds the same keys and reducing would only cost
    from thresher.planner.polars_plan import _filtered_apart

    filtered = th.from_arrow(SALES).filter(th.col("yr") == 2000)
    left = filtered.group_by("k1", "k2").agg(th.col("q").sum().alias("s"))
    assert not _filtered_apart(left.plan, filtered.select("k1", "q").plan)
    assert not _filtered_apart(left.plan, filtered.plan)
    assert _filtered_apart(left.plan, th.from_arrow(WEB).plan)
    assert _filtered_apart(left.plan, th.from_arrow(SALES).filter(th.col("yr") == 1999).plan)


def _grouped_keys(lines: th.DataFrame) -> th.DataFrame:
    return (lines.group_by("lp").agg(th.col("qty").sum().alias("s"), th.count().alias("c"))
            .filter((th.col("s") > 2) | (th.col("c") > 1)).select("lp"))


#: DuckDB's text of each DataFrame query below (the group-by's HAVING as a derived table)
_GROUPED_SQL = "(select lp from lines group by lp having sum(qty) > 2 or count(*) > 1)"


@pytest.mark.parametrize("how", ["semi", "anti"])
@pytest.mark.parametrize("brand", ["a", "b", "z"])
def test_a_semi_or_anti_join_reduces_its_grouped_right_side(how: str, brand: str) -> None:
    # TPC-H Q21's shape in the DataFrame API: the order semi (anti) joined with a group-by on the
    # key. The group-by's input is semi-joined with the left side's keys first (its other groups
    # cannot match a left row): Q21 grouped all of lineitem twice, 6M and 3.8M rows. The left
    # side's key is int32, the group-by's int64; NULL keys on both sides
    lines, part = th.from_arrow(LINES), th.from_arrow(PART)
    df = part.filter(th.col("brand") == brand).join(_grouped_keys(lines), left_on="pk", right_on="lp", how=how)
    plan = compile_plan(df.plan).root.spec.program([]).explain()
    assert plan.count("SEMI JOIN:") == 1 + (how == "semi") and "CACHE" in plan, plan
    con = duckdb.connect()
    con.register("lines", LINES)
    con.register("part", PART)
    neg = "not " if how == "anti" else ""
    want = con.sql(f"select * from part where brand = '{brand}' and {neg}exists "
                   f"(select 1 from {_GROUPED_SQL} g where g.lp = part.pk)").to_arrow_table()
    assert _rows(df.to_arrow()) == _rows(want)
