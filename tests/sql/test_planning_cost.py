"""Planning work stays linear in the query's size (counts, not timings: the machine is shared).

Planning a TPC-DS query once took seconds: sqlglot deep-copied the tree per pass, every rule
re-derived every schema from Arrow, and semi_join_reduction added a semi join on every pass of
the fixpoint loop (q83 ran the 16-pass limit). These tests count what grows with the plan.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import tpcds  # noqa: E402

import thresher as th  # noqa: E402
from thresher.planner.logical import LogicalPlan  # noqa: E402
from thresher.planner.optimizer.runner import optimize, rule_names  # noqa: E402


@pytest.fixture
def count_nodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many plan nodes were built (each derives and checks its schema)."""
    built = [0]
    original = LogicalPlan.__post_init__

    def counting(self: LogicalPlan) -> None:
        built[0] += 1
        original(self)

    monkeypatch.setattr(LogicalPlan, "__post_init__", counting)
    yield built


@pytest.mark.parametrize("q", [4, 14, 24, 39, 64, 83])
def test_tpcds_fixpoint_needs_few_passes(q: int, tpcds_generate: Callable[[float], Path]) -> None:
    frames = tpcds.tables(tpcds_generate(0.01))
    res = optimize(th.sql(tpcds.query(q), **frames).plan)
    assert res.iterations <= 4, [(f.iteration, f.rule) for f in res.log]
    # the last pass stops at the last rule that changed something
    assert res.rule_runs < res.iterations * len(rule_names())


def _union_query(k: int) -> str:
    branch = ("SELECT t.a AS a, sum(u.b) AS s FROM t JOIN u ON t.k = u.k WHERE t.c > {i} AND u.b < 100 "
              "GROUP BY t.a")
    return " UNION ALL ".join(branch.format(i=i) for i in range(k))


def test_planning_work_grows_linearly(count_nodes: list[int]) -> None:
    t = th.from_pydict({"a": [1, 2], "k": [1, 2], "c": [5, 6]})
    u = th.from_pydict({"k": [1, 2], "b": [3, 4]})
    built = {}
    for k in (4, 16):
        count_nodes[0] = 0
        optimize(th.sql(_union_query(k), t=t, u=u).plan)
        built[k] = count_nodes[0]
    # 4x the branches: about 4x the nodes built (quadratic work would be 16x)
    assert built[16] <= 5 * built[4], built


def test_same_query_over_same_frames_reuses_its_plan(count_nodes: list[int]) -> None:
    t = th.from_pydict({"a": [1, 2], "k": [1, 2], "c": [5, 6]})
    u = th.from_pydict({"k": [1, 2], "b": [3, 4]})
    q = _union_query(2)
    first = th.sql(q, t=t, u=u)
    count_nodes[0] = 0
    again = th.sql(q, t=t, u=u)
    assert again.plan is first.plan and count_nodes[0] == 0
    other = th.from_pydict({"a": [7], "k": [1], "c": [9]})
    fresh = th.sql(q, t=other, u=u)  # another frame: translated again
    assert fresh.plan is not first.plan
    assert sorted(fresh.to_pydict()["a"]) == [7, 7]


@pytest.mark.parametrize("q", [4, 14, 64, 72, 88])
def test_tpcds_plans_type_check_after_every_rule(q: int, tpcds_generate: Callable[[float], Path]) -> None:
    """Rules build some nodes without re-running their type checks (a filter whose terms were
    checked above, pushed down a level: ``Filter.of_checked_terms``); validation rebuilds every
    node with the checks after every rule that fired."""
    frames = tpcds.tables(tpcds_generate(0.01))
    plan = th.sql(tpcds.query(q), **frames).plan
    checked = optimize(plan, validate=True)
    assert checked.plan == optimize(plan).plan
