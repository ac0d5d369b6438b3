from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from planner_helpers import assert_rule_equivalent, optimized

import thresher as th
from thresher import col
from thresher.planner.logical import Filter, Join, Project, ScanSource, Union
from thresher.planner.memo import memo_scope
from thresher.planner.optimizer.rules import predicate_pushdown


def _frames():
    left = th.from_pydict({"k": [1, 2, 3, None], "a": [10, 20, 30, 40]})
    right = th.from_pydict({"k": [1, 2, 2, 5], "b": ["x", "y", "z", "w"]})
    return left, right


def _scan_preds(plan):
    return [str(n.predicate) for n in plan.walk() if isinstance(n, ScanSource) and n.predicate is not None]


def test_through_with_columns_into_scan():
    df = th.from_pydict({"a": [1, 2, 3]})
    q = df.with_columns(b=col("a") * 2).filter(col("b") > 2)
    plan = optimized(q)
    assert isinstance(plan, Project)
    assert not any(isinstance(n, Filter) and isinstance(n.input, Project) for n in plan.walk())
    assert_rule_equivalent(q, "predicate_pushdown")


def test_not_through_an_expensive_column():
    df = th.from_pydict({"u": ["a"]})
    q = df.with_columns(b=col("u").url.download()).filter(col("b").is_null())
    plan = optimized(q, disabled=("header_predicates",))
    assert isinstance(plan, Filter)


@pytest.mark.parametrize("how", ["inner", "semi", "left", "anti"])
def test_join_sides(how):
    left, right = _frames()
    q = left.join(right, on="k", how=how).filter(col("k") >= 2)
    plan = optimized(q)
    (j,) = [n for n in plan.walk() if isinstance(n, Join)]
    preds = _scan_preds(plan)
    assert "k >= 2" in preds[0]
    assert len(preds) == 2  # the key term is copied to the other side
    assert_rule_equivalent(q, "predicate_pushdown")


def test_right_side_terms_of_inner_join():
    left, right = _frames()
    q = left.join(right, on="k").filter((col("b") == "y") & (col("a") > 10))
    preds = _scan_preds(optimized(q))
    assert any("b ==" in p for p in preds) and any("a >" in p for p in preds)
    assert_rule_equivalent(q, "predicate_pushdown")


def test_left_join_right_terms_stay_above():
    left, right = _frames()
    q = left.join(right, on="k", how="left").filter(col("b").is_null())
    plan = optimized(q)
    assert isinstance(plan, Filter) or isinstance(plan.input, Filter)
    assert_rule_equivalent(q, "predicate_pushdown")


def test_explode_union_distinct_window():
    df = th.from_pydict({"a": [1, 2, 3], "l": [[1, 2], [3], []]})
    q = df.explode("l").filter((col("a") > 1) & (col("l") > 1))
    plan = optimized(q)
    assert "a > 1" in _scan_preds(plan)[0]
    assert_rule_equivalent(q, "predicate_pushdown")
    u = df.union(df).filter(col("a") == 2)
    assert isinstance(optimized(u), Union) and len(_scan_preds(optimized(u))) == 2
    assert_rule_equivalent(u, "predicate_pushdown")
    d = df.unique(subset=["a"]).filter(col("a") < 3)
    assert _scan_preds(optimized(d))
    assert_rule_equivalent(d, "predicate_pushdown")


def test_past_a_cheaper_filter():
    df = th.from_pydict({"u": ["a", "b"], "x": [1, 2]})
    inner = Filter(df.with_columns(y=col("x") + 1).plan, col("x") > 0)
    plan = Filter(inner, col("u").url.download().is_not_null())
    from thresher.planner.optimizer.rules import predicate_pushdown

    out = predicate_pushdown.apply(plan)
    assert out is not None
    # both filters went below the projection (the expensive one no longer waits above the cheap one)
    assert isinstance(out, Project)
    assert "download" in repr(out.input.input.predicate) if isinstance(out.input.input, Filter) else False


def test_row_groups_pruned(tmp_path):
    pq.write_table(pa.table({"a": list(range(1000))}), tmp_path / "t.parquet", row_group_size=100)
    q = th.read_parquet(str(tmp_path / "t.parquet")).filter(col("a") >= 950)
    assert _scan_preds(optimized(q)) == ["a >= 950"]
    src = optimized(q).walk()[-1].source
    assert len(src.partitions(None, optimized(q).walk()[-1].predicate)[0]._row_groups) == 1
    assert q.to_pydict()["a"] == list(range(950, 1000))


def test_a_branch_constant_meets_the_filter_value_folded():
    # a filter over a union of branches that each label their rows with a constant: pushed into a
    # branch, the term compares two literals and folds there (False: the branch is empty; True:
    # no filter), as constant_folding would in the next pass
    from thresher.planner.optimizer.rules import predicate_pushdown

    base = th.from_pydict({"v": [1, 2, 3]})
    a = base.with_columns(kind=th.lit("a"))
    b = base.with_columns(kind=th.lit("b"))
    q = th.concat([a, b])
    q = q.filter(col("kind") == "a")
    out = predicate_pushdown.apply(q.plan)
    filters = [repr(n.predicate) for n in out.walk() if isinstance(n, Filter)]
    assert filters == ["False"], filters
    assert_rule_equivalent(q, "predicate_pushdown")


def test_or_of_ands_over_a_join_sends_its_one_sided_clauses_down():
    # TPC-H Q7's shape in the DataFrame API: a nation pair as (s & c) | (s' & c') above the join;
    # its CNF's one-sided clauses (s | s'), (c | c') filter each side; nulls on both sides
    # (three-valued logic: a null comparison is neither true nor false)
    left = th.from_pydict({"k": [1, 2, 3, 4, 5, 6], "s": ["FR", "DE", "FR", None, "IT", "DE"]})
    right = th.from_pydict({"k": [1, 2, 3, 4, 5, 6], "c": ["DE", "FR", "FR", "DE", "DE", None]})
    pair = ((col("s") == "FR") & (col("c") == "DE")) | ((col("s") == "DE") & (col("c") == "FR"))
    q = left.join(right, on="k").filter(pair)
    plan = optimized(q)
    (j,) = [n for n in plan.walk() if isinstance(n, Join)]
    sides = [sorted(n.predicate.columns()) for n in j.walk() if isinstance(n, Filter)]
    assert sorted(sides) == [["c"], ["s"]], plan.pretty()  # one filter on each side, of its own column
    got = assert_rule_equivalent(q, "predicate_pushdown")
    assert sorted(got.column("k").to_pylist()) == [1, 2]
    pl = pytest.importorskip("polars")
    ref = pl.from_arrow(left.to_arrow()).join(pl.from_arrow(right.to_arrow()), on="k").filter(
        ((pl.col("s") == "FR") & (pl.col("c") == "DE")) | ((pl.col("s") == "DE") & (pl.col("c") == "FR")))
    assert sorted(ref["k"].to_list()) == sorted(got.column("k").to_pylist())


def test_or_of_ands_over_a_join_stays_above_it_as_written():
    # the one-sided clauses go down and the OR of ANDs itself stays above the join, not its CNF
    # clauses over both sides ((s | c') & (c | s')): with it Polars' streaming engine derives
    # the nation filters again and estimates TPC-H Q7's customer side small enough to filter
    # lineitem's scan by the join keys while it runs (Q7 about a fifth faster); validated every rule,
    # and the optimizer reaches its fixpoint (the term is not expanded and pushed again)
    left = th.from_pydict({"k": [1, 2, 3, 4, 5, 6], "s": ["FR", "DE", "FR", None, "IT", "DE"]})
    right = th.from_pydict({"k": [1, 2, 3, 4, 5, 6], "c": ["DE", "FR", "FR", "DE", "DE", None]})
    pair = ((col("s") == "FR") & (col("c") == "DE")) | ((col("s") == "DE") & (col("c") == "FR"))
    q = left.join(right, on="k").filter(pair)
    plan = optimized(q)
    crossing = [n.predicate for n in plan.walk() if isinstance(n, Filter) and n.predicate.columns() == {"s", "c"}]
    assert [p.key() for p in crossing] == [pair.key()], plan.pretty()
    with memo_scope():
        once = predicate_pushdown.apply(q.plan)
        assert once is not None and predicate_pushdown.apply(once) is None
    assert sorted(assert_rule_equivalent(q, "predicate_pushdown").column("k").to_pylist()) == [1, 2]


def test_or_of_ands_too_big_for_cnf_stays_above_the_join():
    left = th.from_pydict({"k": [1, 2], "a": [1, 2], "b": [1, 2], "c": [1, 2]})
    right = th.from_pydict({"k": [1, 2], "x": [1, 2], "y": [1, 2], "z": [1, 2]})
    big = ((col("a") == 1) & (col("b") == 1) & (col("x") == 1)) | ((col("c") == 2) & (col("y") == 2) & (col("z") == 2))
    q = left.join(right, on="k").filter(big)
    plan = optimized(q)  # 3 x 3 = 9 clauses: over the limit, the term stays whole above the join
    assert isinstance(plan, Filter) or any(isinstance(n, Filter) and isinstance(n.input, Join) for n in plan.walk())
    assert sorted(assert_rule_equivalent(q, "predicate_pushdown").column("k").to_pylist()) == [1, 2]


def _second_application_changes(plans) -> list[str]:
    """The plans on which predicate_pushdown, applied (outside an optimize() call, so without its
    memo) to what it made in an optimize() call, changes the plan again."""
    import sys

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))  # (a stacked plan is deep)
    from thresher.planner.optimizer import runner

    bad = []
    for name, make in plans.items():
        for firing in runner.optimize(make()).log:
            if firing.rule == "predicate_pushdown":
                again = predicate_pushdown.apply(firing.after_plan)
                if again is not None and again != firing.after_plan:
                    bad.append(name)
    return bad


def test_or_of_ands_not_pushed_again_by_a_second_application():
    # outside an optimize() call the rule does not remember the OR of ANDs it expanded: applied to
    # its own output it found the one-sided clauses' CNF again and stacked them on each side once
    # more, up to its 64 applications in a row (TPC-H Q7); now it sees them below the join
    left = th.from_pydict({"k": [1, 2, 3, 4, 5, 6], "s": ["FR", "DE", "FR", None, "IT", "DE"]})
    right = th.from_pydict({"k": [1, 2, 3, 4, 5, 6], "c": ["DE", "FR", "FR", "DE", "DE", None]})
    pair = ((col("s") == "FR") & (col("c") == "DE")) | ((col("s") == "DE") & (col("c") == "FR"))
    q = left.join(right, on="k").filter(pair)
    once = predicate_pushdown.apply(q.plan)
    assert once is not None
    assert len([n for n in once.walk() if isinstance(n, Filter)]) == 3, once.pretty()
    assert predicate_pushdown.apply(once) is None


def test_tpch_dataframe_plans_a_second_application_changes_nothing(tpch_dir):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.tpch.queries_df import QUERIES, tables

    t = tables(tpch_dir)
    assert _second_application_changes({f"q{q}": (lambda f=f: f(t).plan) for q, f in QUERIES.items()}) == []


@pytest.mark.parametrize("q", [
    4, 7, 10, 14, 24, 35, 72, 88,
    # a filter held above a filter it does not commute with stays there while the one below
    # moves down: the next application pushes it further (fixing that changes the final plans
    # of q64, q74 and q75, through the other rules' order of changes)
    *(pytest.param(q, marks=pytest.mark.xfail(strict=True, reason="filter blocked by a filter that moves"))
      for q in (39, 64, 74, 75)),
])
def test_tpcds_plans_a_second_application_changes_nothing(tpcds_generate, q):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks import tpcds

    frames = tpcds.tables(tpcds_generate(0.01))
    assert _second_application_changes({f"q{q}": lambda: th.sql(tpcds.query(q), **frames).plan}) == []
