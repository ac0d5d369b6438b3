from __future__ import annotations

import thresher as th
from thresher import col
from thresher.explain import Explanation, plan_diff


def _query():
    df = th.from_pydict({"a": [1, 2, 3], "p": ["x", "y", "z"]})
    return df.with_columns(b=col("p").url.download()).filter(col("a") > 1).select("a")


def test_text_has_every_section_and_what_each_rule_changed(capsys):
    _query().explain()
    out = capsys.readouterr().out
    for head in ("== Logical plan ==", "== Optimized plan ==", "== Rules fired", "== Physical plan =="):
        assert head in out
    assert "predicate_pushdown" in out and "projection_pushdown" in out
    assert "\n       - " in out and "\n       + " in out  # the diff lines
    assert "batch=" in out and "cpus=" in out


def test_dict_for_tests():
    d = _query().explain(format="dict")
    assert set(d) >= {"logical", "optimized", "rules", "physical", "schema"}
    rules = [r["rule"] for r in d["rules"]]
    assert "projection_pushdown" in rules
    assert all(r["changes"] for r in d["rules"])
    assert "download" not in d["optimized"]
    for st in d["physical"]:
        assert {"resources", "batch_size", "concurrency", "kind"} <= set(st)


def test_disabled_rules_are_reported():
    th.set_optimizer(disabled=["projection_pushdown"])
    d = _query().explain(format="dict")
    assert d["disabled_rules"] == ["projection_pushdown"]
    assert "projection_pushdown" not in [r["rule"] for r in d["rules"]]
    assert _query().explain(format="dict", optimize=False)["rules"] == []


def test_html_renders_in_a_notebook():
    out = _query().explain(format="html")
    assert isinstance(out, Explanation) and "== Physical plan ==" in out
    html = out._repr_html_()
    assert "<details" in html and "Physical stages" in html
    # the markup is real markup (not escaped into text), while the plan's own text is escaped:
    # the filter "a > 1" must reach the page as "a &gt; 1", never as a raw ">" inside the text
    assert "&lt;details" not in html and "&lt;table" not in html
    assert "&gt; 1" in html and "col(a) > 1" not in html and "a > 1" not in html


def test_plan_diff():
    assert plan_diff("a\n  b\nc", "a\n  x\nc") == ["-   b", "+   x"]
