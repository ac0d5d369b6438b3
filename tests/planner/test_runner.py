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
    every one of them, and each of them leaves a join-free plan unchanged."""
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
    assert runner.JOIN_ONLY_RULES <= set(loaded)
