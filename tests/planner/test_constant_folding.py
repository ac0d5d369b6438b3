from __future__ import annotations

from planner_helpers import assert_rule_equivalent

import thresher as th
from thresher import col, lit
from thresher.planner.logical import Filter
from thresher.planner.optimizer.rules import constant_folding


def test_literals_fold_and_true_terms_vanish():
    df = th.from_pydict({"x": [1, 2, 5]})
    plan = Filter(df.plan, (col("x") > (lit(1) + 2)) & lit(True))
    out = constant_folding.apply(plan)
    assert isinstance(out, Filter) and repr(out.predicate) == '(col("x") > 3)'
    assert constant_folding.apply(Filter(df.plan, lit(True))) == df.plan


def test_same_rows():
    df = th.from_pydict({"x": [1, 2, 5, None]})
    assert_rule_equivalent(df.filter(col("x") > (lit(1) + 2)).with_columns(y=lit(2) * 3), "constant_folding")


def test_literal_comparisons_folded_in_python_match_polars():
    import itertools

    import polars as pl

    from thresher.datatypes import Schema
    from thresher.operators.expr_to_polars import to_polars

    values = [["s", "c", "", "é", "z", "ß", "aé", "a"], [0, -1, 7, 2**40, -(2**40)]]
    for group in values:
        for a, b in itertools.product(group, repeat=2):
            for op in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
                e = getattr(lit(a), op)(lit(b))
                folded = constant_folding._compare_literals(e)
                assert folded is not None
                want = pl.select(to_polars(e, Schema()).alias("v")).to_series().to_list()[0]
                assert folded.value is want, (a, op, b)
                assert folded.dtype == e.resolve(Schema()).dtype
    assert constant_folding._compare_literals(lit(1) == lit("1")) is None  # mixed types: Polars decides
    assert constant_folding._compare_literals(lit(None) == lit(1)) is None
