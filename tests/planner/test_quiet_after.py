"""The runner does not rerun, after a rule's change, the rules that were quiet before it and declare
they stay quiet after that rule (QUIET_AFTER); ``optimize(validate=True)`` runs them and checks.

The plans are the ones the full fixpoint gives: each test compares with the declarations switched off.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import thresher as th
from thresher import col, lit
from thresher.errors import ThresherError
from thresher.planner.logical import Filter, LogicalPlan, Project
from thresher.planner.optimizer import runner

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import tpcds  # noqa: E402
from benchmarks.tpch import dataframe_queries as dq  # noqa: E402
from benchmarks.tpch.queries_df import QUERIES as DF_QUERIES  # noqa: E402
from benchmarks.tpch.queries_df import tables  # noqa: E402
from benchmarks.tpch.sql_queries import QUERIES as SQL_QUERIES  # noqa: E402


def _declarations() -> dict[str, dict[str, str]]:
    for name in runner.RULES:
        runner._load(name)
    return {n: getattr(runner._MODULES[n], "QUIET_AFTER", {}) for n in runner.RULES}


def test_declarations() -> None:
    """Each declaration names a rule and gives its reason; a rule declares only for rules after it in
    the order (for one before it, the pass runs it on that rule's output anyway)."""
    declared = {n: d for n, d in _declarations().items() if d}
    assert set(declared) == {"constant_folding", "merge_filters"}
    for name, after in declared.items():
        for fired in after:
            assert fired in runner.RULES, (name, fired)
            reason = runner.quiet_after(name, fired)
            assert isinstance(reason, str) and len(reason) > 20, (name, fired)
            assert runner.RULES.index(name) < runner.RULES.index(fired), (name, fired)
    # predicate_pushdown leaves filters over filters (a filter pushed through a projection onto a
    # filter below it: merge_filters merges them in the next pass)
    assert runner.quiet_after("merge_filters", "predicate_pushdown") is None


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    ran: list[str] = []
    load = runner._load
    monkeypatch.setattr(runner, "_load", lambda name: (lambda p, f=load(name), n=name: ran.append(n) or f(p)))
    return ran


def test_constant_folding_not_rerun_after_predicate_pushdown(monkeypatch: pytest.MonkeyPatch) -> None:
    """predicate_pushdown moves the filter below the projection: constant_folding, quiet before it,
    is not run again on its output (merge_filters and predicate_pushdown are)."""
    q = th.from_pydict({"a": [1, 2], "b": [3, 4]}).with_columns((col("a") + 1).alias("c")).filter(col("c") > 2)
    runner.optimize(q.plan, validate=True)
    ran = _recording(monkeypatch)
    res = runner.optimize(q.plan)
    assert [f.rule for f in res.log] == ["predicate_pushdown"]
    fast = list(ran)
    ran.clear()
    monkeypatch.setattr(runner, "quiet_after", lambda name, fired: None)
    full = runner.optimize(q.plan)
    assert full.plan == res.plan and full.plan.pretty() == res.plan.pretty()
    assert (fast.count("constant_folding"), ran.count("constant_folding")) == (1, 2)
    # (merge_filters: no filter over a filter, so never run, see NEEDS_KINDS)
    assert fast.count("merge_filters") == ran.count("merge_filters") == 0
    assert len(ran) - len(fast) == 1


def test_validate_runs_a_skipped_rule_and_checks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """optimize(validate=True) raises when a rule that declares QUIET_AFTER predicate_pushdown changes
    that rule's output; without validate the rule is not run there."""
    q = th.from_pydict({"a": [1, 2], "b": [3, 4]}).with_columns((col("a") + 1).alias("c")).filter(col("c") > 2)
    runner._load("constant_folding")
    mod = runner._MODULES["constant_folding"]

    def pushed(p: LogicalPlan) -> bool:
        return isinstance(p, Project) and isinstance(p.input, Filter)

    # a rule that wraps the pushed-down plan in a projection of its columns (once): quiet before
    monkeypatch.setattr(mod, "apply", lambda p: Project(p, tuple(col(n) for n in p.schema.names)) if pushed(p) else None)
    assert runner.quiet_after("constant_folding", "predicate_pushdown")
    with pytest.raises(ThresherError, match="QUIET_AFTER predicate_pushdown"):
        runner.optimize(q.plan, validate=True, disabled=["projection_merge"])
    assert pushed(runner.optimize(q.plan, disabled=["projection_merge"]).plan)  # (skipped: trusted)


def test_pushdown_folds_a_literal_it_puts_in() -> None:
    """A projection's literal substituted into a filter term is folded by predicate_pushdown itself
    (constant_folding, declared quiet after it, is not rerun), and an AND computed as a column is
    split into its terms; the rows match the unoptimized plan's."""
    df = th.from_pydict({"a": [1, 2, 3, 4], "b": [5, 1, 7, 0]})
    q = (df.with_columns(lit(2).alias("k"), ((col("a") > 1) & (col("b") > 0)).alias("both"))
         .filter(((col("k") + 1) < col("b")) & col("both")))
    res = runner.optimize(q.plan, validate=True)
    # (it was: the term pushed as (2 + 1) < b, folded by constant_folding's rerun and pushed into
    # the scan by predicate_pushdown's)
    assert [(f.rule, f.iteration) for f in res.log] == [("predicate_pushdown", 0)]
    text = res.plan.pretty()
    assert "predicate=[b > 3 AND a > 1 AND b > 0]" in text, text
    assert not [n for n in res.plan.walk() if isinstance(n, Filter)], text
    assert q.to_pydict() == q.to_pydict(optimize=False) == {"a": [3], "b": [7], "k": [2], "both": [True]}


def _same_with_and_without(monkeypatch: pytest.MonkeyPatch, plans: dict[str, Callable[[], LogicalPlan]]) -> None:
    """Every plan optimizes (validated: every skipped rule is run and checked) to the plan the
    full fixpoint gives."""
    fast = {k: runner.optimize(p(), validate=True).plan.pretty() for k, p in plans.items()}
    with monkeypatch.context() as m:
        m.setattr(runner, "quiet_after", lambda name, fired: None)
        m.setattr(runner, "quiet_after_narrowing", lambda name: None)
        full = {k: runner.optimize(p()).plan.pretty() for k, p in plans.items()}
    assert fast == full


def test_tpch_plans_same_without_the_skip(monkeypatch: pytest.MonkeyPatch, tpch_dir: Path) -> None:
    """The 22 TPC-H DataFrame and the 22 TPC-H SQL queries."""
    t = tables(tpch_dir)
    frames = dq.tables(tpch_dir)
    plans: dict[str, Callable[[], LogicalPlan]] = {f"df{q}": (lambda f=f: f(t).plan) for q, f in DF_QUERIES.items()}
    plans |= {f"sql{q}": (lambda s=s: th.sql(s, **frames).plan) for q, s in SQL_QUERIES.items()}
    _same_with_and_without(monkeypatch, plans)


#: a sample for `make test` (the largest plans, semi joins, unions, rollups, the EXISTS rewrites
#: semi_join_pushdown moves); all 99 under -m slow
TPCDS_SAMPLE = (4, 10, 14, 24, 35, 39, 64, 69, 72, 77, 88)


@pytest.mark.parametrize("queries", [
    pytest.param(TPCDS_SAMPLE, id="sample"),
    pytest.param(None, id="all", marks=pytest.mark.slow),
])
def test_tpcds_plans_same_without_the_skip(monkeypatch: pytest.MonkeyPatch, tpcds_generate: Callable[[float], Path],
                                           queries: tuple[int, ...] | None) -> None:
    frames = tpcds.tables(tpcds_generate(0.01))
    numbers = queries or tpcds.query_numbers()
    _same_with_and_without(monkeypatch, {f"q{q}": (lambda q=q: th.sql(tpcds.query(q), **frames).plan) for q in numbers})
