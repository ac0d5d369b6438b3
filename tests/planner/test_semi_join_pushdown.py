from __future__ import annotations

import pyarrow as pa
import pytest
from planner_helpers import assert_rule_equivalent, optimized

import thresher as th
from thresher import col
from thresher.planner.logical import Join
from thresher.planner.optimizer.rules import semi_join_pushdown

duckdb = pytest.importorskip("duckdb")


def _frames():
    cust = th.from_pydict({"ck": [1, 2, 3], "name": ["x", "y", "z"]})
    orders = th.from_pydict({"ok": [10, 11, 12, 13], "oc": [1, 1, 2, 3]})
    lines = th.from_pydict({"lo": [10, 10, 11, 12, 13, 13], "q": [5, 6, 1, 9, 2, 2]})
    big = th.from_pydict({"bo": [10, 12]})
    return cust, orders, lines, big


def test_semi_join_moves_to_the_side_with_its_keys():
    cust, orders, lines, big = _frames()
    q = (cust.join(orders, left_on="ck", right_on="oc").join(lines, left_on="ok", right_on="lo")
         .join(big, left_on="ok", right_on="bo", how="semi"))
    out = semi_join_pushdown.apply(q.plan)
    assert out is not None and out.schema == q.plan.schema
    assert isinstance(out, Join) and out.how == "inner"
    inner = out.left
    assert isinstance(inner, Join) and inner.how == "inner"
    assert isinstance(inner.right, Join) and inner.right.how == "semi" and inner.right.left is orders.plan
    assert semi_join_pushdown.apply(out) is None


def test_kept_above_when_keys_span_both_sides():
    cust, orders, lines, big = _frames()
    pairs = th.from_pydict({"a": [1], "b": [10]})
    q = cust.join(orders, left_on="ck", right_on="oc").join(pairs, left_on=["ck", "ok"], right_on=["a", "b"],
                                                           how="anti")
    assert semi_join_pushdown.apply(q.plan) is None


def test_not_into_the_null_side_of_a_left_join():
    cust, orders, lines, big = _frames()
    q = cust.join(orders, left_on="ck", right_on="oc", how="left").join(big, left_on="ok", right_on="bo", how="semi")
    assert semi_join_pushdown.apply(q.plan) is None


def test_same_rows():
    cust, orders, lines, big = _frames()
    for how in ("semi", "anti"):
        q = (cust.join(orders, left_on="ck", right_on="oc").join(lines, left_on="ok", right_on="lo")
             .join(big, left_on="ok", right_on="bo", how=how).filter(col("q") > 1))
        assert_rule_equivalent(q, "semi_join_pushdown")


SCALAR = {
    "cust": {"ck": [1, 2, 3, 4, 5, None], "bal": [5.0, 1.0, None, 9.0, 7.0, 8.0], "ph": ["1", "2", "1", "1", "2", "1"]},
    "orders": {"oc": [1, 1, 4, None, 9]},
}


@pytest.mark.parametrize("exists", ["not exists", "exists"])
def test_below_a_scalar_subquery_filter_matches_duckdb(exists: str) -> None:
    """TPC-H Q22's shape: a comparison with an uncorrelated aggregate and a (NOT) EXISTS."""
    query = f"""select ph, count(*) as n, sum(bal) as s from cust
        where bal > (select avg(bal) from cust where bal > 1.0 and ph = '1')
          and {exists} (select * from orders where oc = ck)
        group by ph order by ph"""
    frames = {k: th.from_pydict(v) for k, v in SCALAR.items()}
    df = th.sql(query, **frames)
    plan = optimized(df)
    cross = next(n for n in plan.walk() if isinstance(n, Join) and n.how == "cross")
    # stays above the filter: it tests the rows the comparison keeps
    assert not any(isinstance(n, Join) and n.how in ("semi", "anti") for n in cross.walk())
    con = duckdb.connect()
    for k, v in SCALAR.items():
        con.register(k, pa.table(v))
    assert df.to_arrow().to_pylist() == con.sql(query).to_arrow_table().to_pylist()
    assert_rule_equivalent(df, "semi_join_pushdown", ordered=True)


def test_its_output_is_its_own_fixpoint_so_the_runner_runs_it_once(tpch_dir, monkeypatch):
    """The rule walks what it made again until no join moves (IDEMPOTENT): TPC-H q16 (DataFrame)
    runs it once, not again in a second pass over projection_pushdown's narrowing of its output;
    the plan is the one the rule rerun by the fixpoint gives."""
    from benchmarks.tpch.queries_df import QUERIES, tables

    from thresher.planner.optimizer import runner

    plan = QUERIES[16](tables(tpch_dir)).plan
    ran: list[str] = []
    load = runner._load
    monkeypatch.setattr(runner, "_load", lambda name: (lambda p, f=load(name), n=name: ran.append(n) or f(p)))
    res = runner.optimize(plan)
    assert ran.count("semi_join_pushdown") == 1 and res.rule_runs <= 14
    runner.optimize(plan, validate=True)  # (checks the rule's output is its own fixpoint)
    ran.clear()
    monkeypatch.setattr(semi_join_pushdown, "IDEMPOTENT", False)
    monkeypatch.setattr(semi_join_pushdown, "_MAX_WALKS", 0)
    full = runner.optimize(plan)
    assert ran.count("semi_join_pushdown") == 2
    assert full.plan == res.plan and full.plan.pretty() == res.plan.pretty()
