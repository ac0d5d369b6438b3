from __future__ import annotations

from planner_helpers import StubUDF, assert_rule_equivalent, count_kernel, optimized, udf_call

import thresher as th
from thresher import col
from thresher.planner.logical import Filter
from thresher.planner.optimizer.rules import cheap_predicate_first


def _filters(plan):
    return [n for n in plan.walk() if isinstance(n, Filter)]


def test_terms_split_by_cost_class_cheapest_lowest():
    expensive = StubUDF(lambda x: x is not None and x > 1, th.DataType.bool(), cost="model")
    df = th.from_pydict({"a": [1, 2, 3], "b": [b"x", b"y", b"z"]})
    pred = udf_call(expensive, col("a")) & (col("b").image.width() > 1) & (col("a") < 3)
    plan = Filter(df.plan, pred)
    out = cheap_predicate_first.apply(plan)
    assert out is not None
    chain = _filters(out)
    assert [repr(f.predicate) for f in chain] == [
        "stub(col(\"a\"))",
        '(col("b").image.width() > 1)',
        '(col("a") < 3)',
    ]
    assert cheap_predicate_first.apply(out) is None  # a fixpoint


def test_single_class_unchanged():
    df = th.from_pydict({"a": [1, 2, 3]})
    assert cheap_predicate_first.apply(Filter(df.plan, (col("a") > 1) & (col("a") < 3))) is None


def test_expensive_udf_sees_only_rows_the_cheap_term_kept():
    u = StubUDF(lambda x: x % 2 == 0, th.DataType.bool(), cost="model")
    df = th.from_pydict({"a": list(range(100))})
    q = df.filter(udf_call(u, col("a")) & (col("a") < 10))
    plan = optimized(q)
    assert len(_filters(plan)) == 1  # the cheap one went into the scan
    u.calls = 0
    assert q.to_pydict() == {"a": [0, 2, 4, 6, 8]}
    assert u.calls == 10
    u.calls = 0
    q.to_pydict(optimize=False)
    assert u.calls == 100
    assert_rule_equivalent(q, "cheap_predicate_first")


def test_decode_predicate_after_scalar_one(images_df):
    q = images_df.filter((col("path").url.download().image.decode().image.phash() > 0) & (col("id") > 5))
    with count_kernel("image.decode") as n:
        q.to_arrow()
    assert n["image.decode"] == 6
    assert_rule_equivalent(q, "cheap_predicate_first")
