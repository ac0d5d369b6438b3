"""eager_aggregation below a chain of inner joins (``_eager_deep``), and the Polars lowering's
key-set reduction of a semi/anti join's right side (``polars_plan._key_set_reduced``).

Differential against DuckDB (SQL) and Polars (DataFrame API) on the same Parquet files: NULL
join keys, a dimension whose key is not unique, an all-NULL group, an input the filters empty;
the rewrite asserted where it must and must not be (a filtered dimension, a ``nulls_equal``
join)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from planner_helpers import duckdb_over, optimized, rounded_rows

import thresher as th
import thresher.planner.polars_plan as polars_plan
from thresher.planner.logical import Aggregate, Join
from thresher.planner.physical import compile as compile_plan

duckdb = pytest.importorskip("duckdb")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eager_deep")
    rng = np.random.default_rng(7)
    n = 40_000
    k = rng.integers(0, 120, n)
    fact = pa.table({
        "k": pa.array([None if i % 101 == 0 else int(x) for i, x in enumerate(k)], pa.int64()),
        "o": pa.array(rng.integers(0, 10_000, n), pa.int64()),
        # key 7's values are all NULL
        "v": pa.array([None if (x == 7 or i % 13 == 0) else float(i % 997) for i, x in enumerate(k)], pa.float64()),
        "q": pa.array(rng.integers(0, 30, n), pa.int32()),
    })
    # orders: o -> c (a customer key), flag (filtered on), some o twice, some NULL c
    orders = pa.table({
        "ok": pa.array(list(range(10_000)) + [11, 12], pa.int64()),
        "c": pa.array([None if i % 53 == 0 else i % 3000 for i in range(10_000)] + [3, 4], pa.int64()),
        "flag": pa.array([i % 3 for i in range(10_000)] + [1, 1], pa.int32()),
    })
    # customers: key 5 twice (not unique), keys 2940..2999 missing
    ck = list(range(2940)) + [5]
    cust = pa.table({"ck": pa.array(ck, pa.int64()), "name": [f"c{x}" for x in ck],
                     "nk": pa.array([None if x % 41 == 0 else x % 6 for x in ck], pa.int64())})
    nation = pa.table({"nk2": pa.array(range(6), pa.int64()), "nname": [f"n{x % 4}" for x in range(6)]})
    out = {"fact": root / "fact.parquet", "orders": root / "orders.parquet",
           "cust": root / "cust.parquet", "nation": root / "nation.parquet"}
    for name, table in (("fact", fact), ("orders", orders), ("cust", cust), ("nation", nation)):
        pq.write_table(table, out[name])
    return out


def _frames(files: dict[str, Path]) -> dict[str, th.DataFrame]:
    return {name: th.read_parquet(str(path)) for name, path in files.items()}


def _rows(table: pa.Table) -> list[tuple]:
    return rounded_rows(table, 6)


# TPC-H Q10's shape: facts joined with filtered orders, grouped by customer and nation columns
FIRES = {
    "q10_shape": "select ck, name, nname, sum(v) as s, count(v) as c, count(*) as n, min(q) as lo, max(v) as hi, "
                 "avg(q) as aq from fact join orders on o = ok join cust on c = ck join nation on nk = nk2 "
                 "where flag < 2 group by ck, name, nname",
    "nulls": "select name, nname, sum(v) as s, avg(v) as a, count(v) as c from fact join orders on o = ok "
             "join cust on c = ck join nation on nk = nk2 where flag < 2 group by name, nname",
    "empty": "select name, nname, sum(v) as s, count(*) as n from fact join orders on o = ok "
             "join cust on c = ck join nation on nk = nk2 where flag = 7 group by name, nname",
}
STAYS = {
    # a filtered dimension above the facts: it may drop most rows
    "filtered_dim": "select name, nname, sum(v) as s from fact join orders on o = ok join cust on c = ck "
                    "join nation on nk = nk2 where flag < 2 and nname = 'n1' group by name, nname",
    "distinct": "select name, nname, count(distinct q) as u from fact join orders on o = ok join cust on c = ck "
                "join nation on nk = nk2 where flag < 2 group by name, nname",
}


def _deep(plan: th.DataFrame, disabled: tuple[str, ...] = ()) -> bool:
    """A partial group-by below a join that is itself below another join."""
    def grouped_below(n: object) -> bool:
        return isinstance(n, Join) and any(isinstance(c, Aggregate) for c in n.children())

    return any(isinstance(n, Join) and any(grouped_below(c) for c in n.walk() if c is not n)
               for n in optimized(plan, disabled).walk())


#: the joins stay in the written order (join_order would join these small test tables to the
#: dimensions first, as a star; TPC-H Q10's orders and customers are too big for that)
KEEP_ORDER = ("join_order", "join_reorder")


@pytest.mark.parametrize("name", sorted(FIRES) + sorted(STAYS))
def test_same_rows_as_duckdb_rule_on_and_off(files: dict[str, Path], name: str) -> None:
    sql = {**FIRES, **STAYS}[name]
    expected = _rows(duckdb_over(files).sql(sql).to_arrow_table())
    q = th.sql(sql, **_frames(files))
    assert _rows(q.to_arrow()) == expected
    try:
        th.set_optimizer(disabled=list(KEEP_ORDER))
        assert _deep(q, KEEP_ORDER) == (name in FIRES)
        assert _rows(q.to_arrow()) == expected
        th.set_optimizer(disabled=[*KEEP_ORDER, "eager_aggregation"])
        assert not _deep(q, (*KEEP_ORDER, "eager_aggregation"))
        assert _rows(q.to_arrow()) == expected
    finally:
        th.set_optimizer(disabled=[])


def _chain(m: object, files: dict[str, Path], nulls_equal: bool) -> object:
    read = (lambda n: th.read_parquet(str(files[n]))) if m is th else (lambda n: pl.scan_parquet(str(files[n])))
    j = (read("fact").join(read("orders").filter(m.col("flag") == 1), left_on="o", right_on="ok")  # type: ignore[attr-defined]
         .join(read("cust"), left_on="c", right_on="ck", nulls_equal=nulls_equal)
         .join(read("nation"), left_on="nk", right_on="nk2"))
    return j.group_by("c", "name", "nname").agg(m.col("v").sum().alias("s"), m.col("q").max().alias("hi"),  # type: ignore[attr-defined]
                                               m.col("q").count().alias("n"))  # type: ignore[attr-defined]


@pytest.mark.parametrize("nulls_equal", [False, True])
def test_dataframe_same_rows_as_polars(files: dict[str, Path], nulls_equal: bool) -> None:
    q = _chain(th, files, nulls_equal)
    expected = _rows(_chain(pl, files, nulls_equal).collect().to_arrow())  # type: ignore[attr-defined]
    assert _rows(q.to_arrow()) == expected  # type: ignore[attr-defined]
    try:
        th.set_optimizer(disabled=list(KEEP_ORDER))
        # a nulls_equal join on the way is left alone (NULL customer keys meet there)
        assert _deep(q, KEEP_ORDER) == (not nulls_equal)  # type: ignore[arg-type]
        assert _rows(q.to_arrow()) == expected  # type: ignore[attr-defined]
    finally:
        th.set_optimizer(disabled=[])


# -- the semi/anti join key-set reduction of the Polars lowering --------------------------------

SEMI = {
    "semi": "select ok, c from orders where flag < 2 and ok in (select o from fact where q > 3)",
    "anti": "select ok, c from orders where flag < 2 and ok not in (select o from fact where o is not null)",
    "exists": "select ck, name from cust where ck < 100 and exists (select 1 from orders where c = ck)",
    "not_exists": "select ck, name from cust where ck < 100 and not exists (select 1 from orders where c = ck)",
    "empty_left": "select ok from orders where flag = 9 and ok in (select o from fact)",
}


def _program(q: th.DataFrame) -> str:
    physical = compile_plan(q.plan)
    return physical.root.spec.program([]).explain(optimized=False)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(SEMI))
def test_key_set_reduction_same_rows_as_duckdb(files: dict[str, Path], name: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _rows(duckdb_over(files).sql(SEMI[name]).to_arrow_table())
    q = th.sql(SEMI[name], **_frames(files))
    assert "__sk0" not in _program(q)  # (small inputs: the thresholds keep it off)
    assert _rows(q.to_arrow()) == expected
    monkeypatch.setattr(polars_plan, "SEMI_REDUCE_MIN_KEYS", 0)
    monkeypatch.setattr(polars_plan, "SEMI_REDUCE_MIN_RATIO", 0.0)
    assert "__sk0" in _program(q)
    assert _rows(q.to_arrow()) == expected


@pytest.mark.parametrize("how", ["semi", "anti"])
@pytest.mark.parametrize("nulls_equal", [False, True])
def test_key_set_reduction_dataframe_same_rows_as_polars(files: dict[str, Path], how: str, nulls_equal: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(polars_plan, "SEMI_REDUCE_MIN_KEYS", 0)
    monkeypatch.setattr(polars_plan, "SEMI_REDUCE_MIN_RATIO", 0.0)

    def query(m: object) -> object:
        read = (lambda n: th.read_parquet(str(files[n]))) if m is th else (lambda n: pl.scan_parquet(str(files[n])))
        left = read("orders").filter(m.col("flag") == 2)  # type: ignore[attr-defined]
        # NULL customer keys on both sides
        right = read("cust").select(m.col("nk").alias("c2"))  # type: ignore[attr-defined]
        return left.join(right, left_on="c", right_on="c2", how=how, nulls_equal=nulls_equal)

    q = query(th)
    assert ("__sk0" in _program(q)) == (not nulls_equal)  # type: ignore[arg-type]
    assert _rows(q.to_arrow()) == _rows(query(pl).collect().to_arrow())  # type: ignore[attr-defined]
