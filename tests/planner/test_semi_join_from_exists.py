from __future__ import annotations

from planner_helpers import assert_rule_equivalent

import thresher as th
from thresher import col
from thresher.expressions.expr import Alias, Column
from thresher.planner.logical import Aggregate, Filter, Join, Project
from thresher.planner.optimizer.rules import semi_join_from_exists


def _frames():
    orders = th.from_pydict({"ok": [1, 2, 3, 4, 5], "prio": ["a", "b", "a", "c", "b"]})
    lines = th.from_pydict({"lk": [1, 1, 3, 5, 5, 9], "late": [True, False, True, True, True, False]})
    return orders, lines


def _exists(orders, lines, test):
    """What a decorrelated EXISTS looks like: left join to the distinct keys + a null test."""
    keys = lines.group_by(col("lk").alias("__k")).agg(th.count().alias("n")).select(col("__k").alias("u.lk"))
    joined = Join(orders.plan, keys.plan, (Column("ok"),), (Alias(Column("u.lk"), "__key"),), "left")
    return Aggregate(Filter(joined, test(col("u.lk"))), (col("prio"),), (th.count().alias("cnt"),))


def test_exists_becomes_semi_join_without_the_group_by():
    orders, lines = _frames()
    out = semi_join_from_exists.apply(_exists(orders, lines, lambda c: c.is_not_null()))
    assert isinstance(out, Aggregate)
    j = out.input
    assert isinstance(j, Join) and j.how == "semi"
    assert repr(j.right_on[0]) == 'col("lk")' and j.right is lines.plan  # the group-by is gone
    assert semi_join_from_exists.apply(out) is None


def test_not_exists_becomes_anti_join():
    orders, lines = _frames()
    out = semi_join_from_exists.apply(_exists(orders, lines, lambda c: c.is_null()))
    assert isinstance(out, Aggregate) and isinstance(out.input, Join) and out.input.how == "anti"


def test_kept_when_a_right_column_is_read_above():
    orders, lines = _frames()
    keys = lines.group_by("lk").agg(th.count().alias("n"))
    joined = Join(orders.plan, keys.plan, (Column("ok"),), (Alias(Column("lk"), "__key"),), "left")
    plan = Project(Filter(joined, col("lk").is_not_null()), (col("prio"), col("n")))
    assert semi_join_from_exists.apply(plan) is None


def test_kept_when_the_right_side_is_not_unique_on_the_key():
    orders, lines = _frames()
    joined = Join(orders.plan, lines.plan, (Column("ok"),), (Alias(Column("lk"), "__key"),), "left")
    plan = Project(Filter(joined, col("lk").is_not_null()), (col("prio"),))
    assert semi_join_from_exists.apply(plan) is None  # each match is its own row: not a semi join


def test_same_rows():
    orders, lines = _frames()
    for test in (lambda c: c.is_not_null(), lambda c: c.is_null()):
        assert_rule_equivalent(th.DataFrame(_exists(orders, lines, test)), "semi_join_from_exists")


def test_a_plan_without_a_candidate_is_not_walked(monkeypatch):
    """A semi/anti join over plain inputs and no filtered left join: nothing to rewrite, and the
    plan is not walked; a semi join on a group-by's keys still loses the group-by."""
    orders, lines = _frames()
    walked = []
    visit = semi_join_from_exists._visit
    monkeypatch.setattr(semi_join_from_exists, "_visit", lambda *a: walked.append(a) or visit(*a))
    plain = orders.join(lines, left_on="ok", right_on="lk", how="anti").filter(col("prio") != "c")
    assert semi_join_from_exists.apply(plain.plan) is None and not walked
    left = Join(orders.plan, lines.plan, (Column("ok"),), (Column("lk"),), "left")
    assert semi_join_from_exists.apply(Filter(left, col("late").is_null())) is None and walked  # (a candidate)
    walked.clear()
    keys = lines.group_by("lk").agg(th.count().alias("n")).select("lk")
    grouped = Join(orders.plan, keys.plan, (Column("ok"),), (Column("lk"),), "semi")
    out = semi_join_from_exists.apply(grouped)
    assert walked and isinstance(out, Join) and out.right is lines.plan


def test_inner_join_with_an_unread_unique_side_becomes_semi_join():
    """A side of at most one row (an aggregate without keys: a scalar subquery) that nothing above
    reads: a semi join of the other side; read above, or unique on the key by a group-by, it stays."""
    orders, lines = _frames()
    one = lines.agg(col("lk").max().alias("m"))  # one row
    joined = Join(orders.plan, one.plan, (Column("ok"),), (Alias(Column("m"), "__key"),), "inner")
    out = semi_join_from_exists.apply(Project(joined, (col("prio"),)))
    assert isinstance(out, Project) and isinstance(out.input, Join) and out.input.how == "semi"
    assert out.input.right is one.plan  # the aggregate stays (a scalar subquery's row check is in it)
    assert semi_join_from_exists.apply(out) is None
    assert semi_join_from_exists.apply(Project(joined, (col("prio"), col("m")))) is None
    # the one-row side on the left: the other side is kept, semi-joined with it
    swapped = Join(one.plan, orders.plan, (Column("m"),), (Alias(Column("ok"), "__key"),), "inner")
    out = semi_join_from_exists.apply(Project(swapped, (col("prio"),)))
    assert isinstance(out, Project) and isinstance(out.input, Join) and out.input.how == "semi"
    assert out.input.left is orders.plan and repr(out.input.left_on[0]) == 'col("ok")'
    plain = Join(orders.plan, lines.plan, (Column("ok"),), (Alias(Column("lk"), "__key"),), "inner")
    assert semi_join_from_exists.apply(Project(plain, (col("prio"),))) is None
    keys = lines.group_by("lk").agg(th.count().alias("n"))
    grouped = Join(orders.plan, keys.plan, (Column("ok"),), (Alias(Column("lk"), "__key"),), "inner")
    assert semi_join_from_exists.apply(Project(grouped, (col("prio"),))) is None
    for plan in (Project(joined, (col("prio"),)), Project(swapped, (col("prio"),))):
        assert_rule_equivalent(th.DataFrame(plan), "semi_join_from_exists")
