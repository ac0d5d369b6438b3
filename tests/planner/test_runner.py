from __future__ import annotations

import pytest

import thresher as th
from thresher import col
from thresher.errors import ThresherError
from thresher.planner.logical import Filter
from thresher.planner.optimizer import runner


def test_every_rule_has_a_module_with_a_docstring_and_a_test():
    from pathlib import Path

    here = Path(__file__).parent
    for name in runner.RULES:
        mod = runner._load(name)
        assert callable(mod)
        doc = __import__(f"thresher.planner.optimizer.rules.{name}", fromlist=["x"]).__doc__
        assert doc and "Before" in doc and "After" in doc, name
        assert (here / f"test_{name}.py").exists(), name


def test_unknown_rule_names_raise():
    with pytest.raises(ThresherError):
        th.set_optimizer(disabled=["no_such_rule"])
    with pytest.raises(ThresherError):
        runner.optimize(th.from_pydict({"a": [1]}).plan, disabled=["nope"])


def test_register_rule_after(monkeypatch):
    monkeypatch.setattr(runner, "_EXTRA_RULES", [])
    runner.register_rule("merge_filters")  # already there: no-op
    runner.register_rule("projection_merge_copy", after="merge_filters")
    names = runner.rule_names()
    assert names[names.index("merge_filters") + 1] == "projection_merge_copy"
    with pytest.raises(ThresherError):
        runner.register_rule("x", after="nope")


def test_validation_catches_a_schema_change():
    df = th.from_pydict({"a": [1]})
    with pytest.raises(ThresherError):
        runner.validate_plan(df.select((col("a") + 1).alias("b")).plan, df.schema, "test")


def test_log_records_each_firing_and_reaches_a_fixpoint():
    df = th.from_pydict({"a": [1, 2]})
    res = runner.optimize(Filter(Filter(df.plan, col("a") > 0), col("a") < 5), validate=True)
    assert res.log and res.iterations >= 2
    again = runner.optimize(res.plan)
    assert again.log == []


def test_join_only_rules_skip_a_plan_without_a_join(monkeypatch):
    """A plan without a Join never runs (nor loads) the join-only rules; one with a Join runs
    those whose shape of join it has (an inner join of plain inputs: not the semi join rules,
    nor the join ordering ones, which need two joins, nor those starting from a join on a
    group-by; see NEEDS_KINDS), and each of them leaves a join-free plan unchanged."""
    loaded = []
    load = runner._load
    monkeypatch.setattr(runner, "_load", lambda name: loaded.append(name) or load(name))
    df = th.from_pydict({"a": [1, 2], "b": [3, 4]})
    flat = df.filter(col("a") > 1).select("a").plan
    runner.optimize(flat)
    assert loaded and not set(loaded) & runner.JOIN_ONLY_RULES
    for name in runner.JOIN_ONLY_RULES:  # the skip changes nothing: they would not fire
        assert load(name)(flat) in (None, flat), name
    loaded.clear()
    runner.optimize(df.join(th.from_pydict({"a": [1], "c": [5]}), on="a").filter(col("b") > 0).plan)
    assert runner.JOIN_ONLY_RULES - set(loaded) == {"semi_join_pushdown", "semi_join_key_set", "join_order",
                                                    "join_reorder", "aggregate_to_window", "semi_join_reduction",
                                                    "semi_join_from_exists", "eager_aggregation"}


def _join_pair():
    a = th.from_pydict({"k": [1, 2, 3], "v": [4, 5, 6]})
    b = th.from_pydict({"k": [1, 2], "w": ["x", "y"]})
    return a.join(b, on="k").filter(col("v") > 4).select("k", "w")


def test_hints_only_tells_a_strategy_change_from_any_other():
    from thresher.planner.logical import Join, Project

    plan = _join_pair().plan
    (j,) = [n for n in plan.walk() if isinstance(n, Join)]

    def replace_join(node, new):
        return new if node is j else node.with_children([replace_join(c, new) for c in node.children()])

    hinted = replace_join(plan, j._with_inputs(j.children(), strategy="broadcast"))
    assert hinted != plan and runner.hints_only(plan, hinted)
    assert runner.hints_only(plan, plan)
    for other in (Join(j.left, j.right, j.left_on, j.right_on, "left", j.suffix, "broadcast"),  # another kind
                  Join(j.left, j.right, j.left_on, j.right_on, j.how, "_x", "broadcast"),  # another suffix
                  Join(j.left, Project(j.right, tuple(col(n) for n in j.right.schema.names)), j.left_on,
                       j.right_on, j.how, j.suffix, "broadcast")):  # another input
        assert not runner.hints_only(plan, replace_join(plan, other))
    assert not runner.hints_only(plan, plan.with_children([Filter(plan.input, col("k") > 0)]))


def test_a_strategy_change_does_not_rerun_the_rules_before_it(monkeypatch):
    """broadcast_join setting a strategy (the last rule of the first pass here) costs no pass of
    the rules before it; the plan is the one the full fixpoint gives."""
    q = _join_pair()
    ran: list[str] = []
    load = runner._load
    monkeypatch.setattr(runner, "_load", lambda name: (lambda p, f=load(name), n=name: ran.append(n) or f(p)))
    res = runner.optimize(q.plan)
    assert [f.rule for f in res.log][-1] == "broadcast_join"
    fast_runs = list(ran)
    ran.clear()
    monkeypatch.setattr(runner, "hints_only", lambda a, b: False)
    full = runner.optimize(q.plan)
    assert full.plan == res.plan and full.plan.pretty() == res.plan.pretty()
    assert len(fast_runs) < len(ran)
    after = fast_runs[len(fast_runs) - fast_runs[::-1].index("broadcast_join"):]
    # (no pass after it: the rules before projection_pushdown, the last rule that changed the plan
    # before broadcast_join (idempotent), are skipped for their shapes (no projection over a
    # projection, a single join of plain inputs, see NEEDS_KINDS) or declare QUIET_AFTER_NARROWING)
    assert after == [] and "projection_pushdown" in fast_runs
    assert "projection_merge" not in ran and "join_order" not in ran


def test_strategy_shortcut_keeps_the_tpch_plans(tpch_dir, monkeypatch):
    """The 22 TPC-H DataFrame queries optimize to the same plans with and without the shortcut."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.tpch.queries_df import QUERIES, tables

    t = tables(tpch_dir)
    fast = {q: runner.optimize(f(t).plan).plan.pretty() for q, f in QUERIES.items()}
    monkeypatch.setattr(runner, "hints_only", lambda a, b: False)
    full = {q: runner.optimize(f(t).plan).plan.pretty() for q, f in QUERIES.items()}
    assert fast == full


def test_an_idempotent_rule_is_not_rerun_on_its_own_output(monkeypatch):
    """A rule declaring IDEMPOTENT (projection_pushdown) that made the last change is not run again
    on its output in the pass after; the plan is the one the full fixpoint gives."""
    q = th.from_pydict({"a": [1, 2], "b": [3, 4], "c": [5, 6]}).filter(col("a") > 1).select("a")
    # (QUIET_AFTER off: constant_folding, kept after predicate_pushdown by it, would then be kept
    # after projection_pushdown's narrowing only while that rule counts as idempotent)
    monkeypatch.setattr(runner, "quiet_after", lambda name, fired: None)
    ran: list[str] = []
    load = runner._load
    monkeypatch.setattr(runner, "_load", lambda name: (lambda p, f=load(name), n=name: ran.append(n) or f(p)))
    res = runner.optimize(q.plan)
    assert [f.rule for f in res.log][-1] == "projection_pushdown"
    assert ran.count("projection_pushdown") == 1
    fast_runs = len(ran)
    ran.clear()
    monkeypatch.setattr(runner, "is_idempotent", lambda name: False)
    full = runner.optimize(q.plan)
    assert ran.count("projection_pushdown") == 2 and len(ran) == fast_runs + 1
    assert full.plan == res.plan and full.plan.pretty() == res.plan.pretty()


def test_validate_checks_a_rule_that_declares_idempotent(monkeypatch):
    """optimize(validate=True) raises when a rule declaring IDEMPOTENT changes its own output."""
    from thresher.planner.logical import Limit

    q = th.from_pydict({"a": [1, 2]}).limit(2)  # (a plan with a limit: limit_pushdown runs, see NEEDS_KINDS)
    runner._load("limit_pushdown")
    mod = runner._MODULES["limit_pushdown"]
    # a rule that adds a limit on top of every plan: never quiet on its own output
    monkeypatch.setattr(mod, "apply", lambda p: Limit(p, 5))
    monkeypatch.setattr(runner, "is_idempotent", lambda name: name == "limit_pushdown")
    with pytest.raises(ThresherError, match="IDEMPOTENT"):
        runner.optimize(q.plan, validate=True)


def test_idempotent_shortcut_keeps_the_tpch_plans(tpch_dir, monkeypatch):
    """The 22 TPC-H DataFrame queries optimize to the same plans with and without the shortcut
    (and every declared-idempotent rule's firing checks out under validate)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.tpch.queries_df import QUERIES, tables

    t = tables(tpch_dir)
    fast = {q: runner.optimize(f(t).plan, validate=True).plan.pretty() for q, f in QUERIES.items()}
    monkeypatch.setattr(runner, "is_idempotent", lambda name: False)
    full = {q: runner.optimize(f(t).plan).plan.pretty() for q, f in QUERIES.items()}
    assert fast == full


def test_a_rule_is_not_run_on_a_plan_without_the_nodes_it_needs(monkeypatch):
    """A rule of NEEDS_KINDS is not called on a plan without a node of those classes (a plan
    without a limit: limit_pushdown; without an explode: stream_video_frames); the plan is the one
    running every rule gives."""
    q = th.from_pydict({"a": [1, 2], "b": [3, 4]}).filter(col("a") > 1).select("a")
    ran: list[str] = []
    load = runner._load
    monkeypatch.setattr(runner, "_load", lambda name: (lambda p, f=load(name), n=name: ran.append(n) or f(p)))
    runner.optimize(q.plan, validate=True)  # (validate runs the skipped rules and checks them)
    ran.clear()
    res = runner.optimize(q.plan)
    assert "constant_folding" in ran and "predicate_pushdown" in ran
    assert "limit_pushdown" not in ran and "stream_video_frames" not in ran
    fast = list(ran)
    ran.clear()
    monkeypatch.setattr(runner, "NEEDS_KINDS", {})
    full = runner.optimize(q.plan)
    assert full.plan == res.plan and full.plan.pretty() == res.plan.pretty()
    assert ran.count("limit_pushdown") >= 1 and len(ran) > len(fast)
    limited = runner.optimize(q.limit(1).plan)
    assert any(f.rule == "limit_pushdown" for f in limited.log)  # (with a limit it runs and fires)


def test_validate_runs_a_rule_skipped_for_its_kinds(monkeypatch):
    """optimize(validate=True) runs a rule skipped for NEEDS_KINDS and raises if it changes the plan."""
    from thresher.planner.logical import Limit

    q = th.from_pydict({"a": [1, 2]})
    runner._load("limit_pushdown")
    mod = runner._MODULES["limit_pushdown"]
    monkeypatch.setattr(mod, "apply", lambda p: None if isinstance(p, Limit) else Limit(p, 5))
    with pytest.raises(ThresherError, match="NEEDS_KINDS"):
        runner.optimize(q.plan, validate=True)
    assert not isinstance(runner.optimize(q.plan).plan, Limit)  # (skipped: the declaration is trusted)
