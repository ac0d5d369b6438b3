"""A WHERE conjunct that is an OR of ANDs over several tables, each comparison on one table (TPC-H
Q7's nation pair), stays whole above the join (its one-sided clauses go down to each table), as
the DataFrame API's does, not as its conjunctive normal form; answers against DuckDB."""

from __future__ import annotations

import pyarrow as pa
import pytest

import thresher as th
from thresher.expressions.expr import Call
from thresher.planner.logical import Filter, Join
from thresher.planner.optimizer.runner import optimize

duckdb = pytest.importorskip("duckdb")

L = pa.table({"k": [1, 2, 3, 4, 5, 6, 7], "s": ["FR", "DE", "FR", None, "IT", "DE", "FR"]})
R = pa.table({"k": [1, 2, 3, 4, 5, 6, 7], "c": ["DE", "FR", "FR", "DE", "DE", None, "DE"],
              "x": [1, 2, 3, 4, 5, 6, 150]})


def _crossing(plan) -> list:  # noqa: ANN001
    return [n.predicate for n in plan.walk()
            if isinstance(n, Filter) and {c.split(".")[0] for c in n.predicate.columns()} == {"l", "r"}]


@pytest.mark.parametrize("cond", [
    "(l.s = 'FR' AND r.c = 'DE') OR (l.s = 'DE' AND r.c = 'FR')",
    "(l.s = 'FR' AND r.c = 'DE') OR (l.s = 'DE' AND r.x BETWEEN 1 AND 100)",
    "(l.s = 'FR' AND r.c = 'DE') OR l.s IS NULL",
])
def test_or_of_ands_across_tables_stays_whole_above_the_join(cond: str) -> None:
    q = f"SELECT l.k, l.s, r.c FROM l, r WHERE l.k = r.k AND ({cond}) ORDER BY l.k"
    df = th.sql(q, l=L, r=R)
    assert df.to_arrow().to_pylist() == duckdb.sql(q.replace(" l,", " L AS l,").replace(" r ", " R AS r ")
                                                   ).to_arrow_table().to_pylist()
    plan = optimize(df.plan).plan
    (above,) = _crossing(plan)
    assert isinstance(above, Call) and above.name == "or", plan.pretty()
    assert any(isinstance(n, Join) for n in plan.walk())


def test_an_or_holding_a_join_condition_is_still_normalized() -> None:
    # TPC-H Q19's shape: the join equality in every branch becomes the join's key
    q = ("SELECT l.k FROM l, r WHERE (l.k = r.k AND l.s = 'FR') OR (l.k = r.k AND r.c = 'FR') "
         "ORDER BY l.k")
    df = th.sql(q, l=L, r=R)
    assert df.to_arrow().to_pylist() == duckdb.sql(q.replace(" l,", " L AS l,").replace(" r ", " R AS r ")
                                                   ).to_arrow_table().to_pylist()
    joins = [n for n in optimize(df.plan).plan.walk() if isinstance(n, Join)]
    assert joins and all(j.how != "cross" for j in joins)
