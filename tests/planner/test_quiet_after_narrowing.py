"""The runner does not rerun, after projection_pushdown, the rules that declare they cannot change a
plan it only narrowed (QUIET_AFTER_NARROWING); ``optimize(validate=True)`` runs them and checks.

That the benchmark queries' plans are the ones the full fixpoint gives, with this and QUIET_AFTER's
declarations switched off, is checked in test_quiet_after.py.
"""

from __future__ import annotations

import pytest

import thresher as th
from thresher import col
from thresher.errors import ThresherError
from thresher.planner.logical import Limit, LogicalPlan, ScanSource
from thresher.planner.optimizer import runner


def _declared() -> set[str]:
    for name in runner.RULES:
        runner._load(name)
    return {n for n in runner.RULES if runner.quiet_after_narrowing(n)}


def test_declarations() -> None:
    """Each declaration gives its reason; projection_pushdown is the one rule that only narrows;
    a rule after it in the order gains nothing by declaring (it runs on the narrowed plan anyway),
    and projection_merge must not declare (see the next test)."""
    declared = _declared()
    assert declared, "no rule declares QUIET_AFTER_NARROWING"
    for name in declared:
        reason = runner.quiet_after_narrowing(name)
        assert isinstance(reason, str) and len(reason) > 20, name
    assert [n for n in runner.RULES if runner.narrows_only(n)] == ["projection_pushdown"]
    assert runner.is_idempotent("projection_pushdown")  # (the runner relies on both)
    first = runner.RULES.index("projection_pushdown")
    assert all(runner.RULES.index(n) < first for n in declared)
    assert not declared & {"projection_merge", "semi_join_from_exists", "aggregate_to_window", "limit_pushdown",
                           "semi_join_key_set"}


def test_projection_merge_fires_after_narrowing() -> None:
    """Why projection_merge cannot declare: a decoded column used twice is kept apart (inlining it
    would decode twice) until narrowing drops one use; then the two projections merge."""
    df = th.from_pydict({"b": [b"x", b"y"]}).select(col("b").image.decode().alias("img"))
    df = df.select(col("img"), col("img").image.width().alias("w")).filter(col("w") > 10).select("w")
    res = runner.optimize(df.plan, validate=True)
    rules = [f.rule for f in res.log]
    assert "projection_merge" in rules[rules.index("projection_pushdown"):], rules


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    ran: list[str] = []
    load = runner._load
    monkeypatch.setattr(runner, "_load", lambda name: (lambda p, f=load(name), n=name: ran.append(n) or f(p)))
    return ran


def test_declared_rules_are_not_rerun_after_narrowing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only projection_pushdown changes this plan: of the rules before it, the ones that declare are
    not run again on its output (limit_pushdown, merge_filters and projection_merge never run: no
    limit, no filter over a filter, no projection over a projection, see NEEDS_KINDS)."""
    q = th.from_pydict({"a": [1, 2], "b": [3, 4], "c": [5, 6], "d": [7, 8]}).filter(col("b") + col("c") > 3).select("a")
    runner.optimize(q.plan, validate=True)
    ran = _recording(monkeypatch)
    res = runner.optimize(q.plan)
    assert [f.rule for f in res.log] == ["projection_pushdown"]
    fast = list(ran)
    ran.clear()
    monkeypatch.setattr(runner, "quiet_after_narrowing", lambda name: None)
    full = runner.optimize(q.plan)
    assert full.plan == res.plan and full.plan.pretty() == res.plan.pretty()
    for name in ("constant_folding", "predicate_pushdown"):
        assert (fast.count(name), ran.count(name)) == (1, 2), name
    for name in ("limit_pushdown", "merge_filters", "projection_merge"):
        assert fast.count(name) == ran.count(name) == 0, name
    assert len(ran) - len(fast) == 2


def test_validate_runs_a_skipped_rule_and_checks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """optimize(validate=True) raises when a rule that declares QUIET_AFTER_NARROWING changes a
    plan projection_pushdown narrowed; without validate the rule is not run there."""
    q = th.from_pydict({"a": [1, 2], "b": [3, 4]}).select("a")
    runner._load("merge_filters")
    mod = runner._MODULES["merge_filters"]

    def narrowed(p: LogicalPlan) -> bool:
        return any(isinstance(n, ScanSource) and n.columns is not None for n in p.walk())

    # a rule that puts a limit on top of a narrowed plan (once): quiet before the narrowing only
    monkeypatch.setattr(mod, "apply", lambda p: Limit(p, 5) if narrowed(p) and not isinstance(p, Limit) else None)
    assert runner.quiet_after_narrowing("merge_filters")
    with pytest.raises(ThresherError, match="QUIET_AFTER_NARROWING"):
        runner.optimize(q.plan, validate=True)
    assert not isinstance(runner.optimize(q.plan).plan, Limit)  # (skipped: the declaration is trusted)
