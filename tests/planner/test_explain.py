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


def test_calls_show_only_the_arguments_that_differ_from_their_defaults(capsys):
    # was: url.download(max_connections=32, on_error='null', timeout=30.0, max_bytes=None)
    #      .image.decode(mode=None, on_error='null').image.resize(width=32, height=32, keep_aspect=False, ...)
    df = th.from_pydict({"u": ["a.jpg"]}).with_columns(
        img=col("u").url.download(timeout=5).image.decode().image.resize(32, 32))
    df.explain()
    out = capsys.readouterr().out
    assert 'col("u").url.download(timeout=5.0).image.decode().image.resize(width=32, height=32)' in out
    assert "image.decode_resize(width=32, height=32)" in out  # a fused call: its parts' defaults
    for default in ("max_connections", "on_error", "max_bytes", "keep_aspect", "filter=", "mode="):
        assert default not in out
    assert repr(col("u").image.decode(mode="RGB", on_error="raise")) == \
        "col(\"u\").image.decode(mode='RGB', on_error='raise')"


def _rules_section(text: str) -> list[str]:
    return text.split("== Rules fired")[1].split("== Physical plan ==")[0].splitlines()[1:]


def test_rules_show_what_changed_not_the_trees_again():
    df = (th.from_pydict({"x": [1, 2, 3]}).filter(col("x") > 1).with_columns(z=col("x") + 1)
          .filter(col("z") > 2).select("z").filter(col("z") < 9).group_by("z").agg(col("z").count().alias("n"))
          .sort("z"))
    text = _text(df)
    rules = _rules_section(text)
    fired = [r["rule"] for r in df.explain(format="dict")["rules"]]
    assert len(fired) > len(set(fired))  # this plan has a rule that fires in two passes ...
    headers = [line for line in rules if line[:5].strip().rstrip(".").isdigit()]
    assert [h.split(". ", 1)[1].split(" (")[0] for h in headers] == list(dict.fromkeys(fired))  # ... shown once
    assert any("fired 2 times" in h for h in headers)
    # the nodes above the change (Sort, Aggregate) only moved up a level: not reprinted
    assert not [line for line in rules if "Sort [" in line or "Aggregate keys" in line]


def _text(df) -> str:
    from thresher.explain import explain_plan

    return str(explain_plan(df.plan))


def test_a_relational_stage_lists_its_polars_program():
    # was: "Stage 0 [relational, barrier] ...: polars: Sort [col("z")]" and nothing else
    df = th.from_pydict({"k": ["a", "b", "a"], "v": [1, 2, 3]}).filter(col("v") > 0).group_by("k").agg(
        col("v").sum()).sort("k")
    physical = _text(df).split("== Physical plan ==")[1].strip().splitlines()
    assert physical[0].startswith("Stage 0 [relational, barrier]")
    body = "\n".join(physical[1:])
    assert "Sort [" in body and "Aggregate keys=" in body and "Scan memory" in body
    stage = next(s for s in df.explain(format="dict")["physical"] if s["kind"] == "relational")
    assert "AGGREGATE" in stage["program"] and "SORT" in stage["program"]  # Polars' own plan


def test_a_relational_stage_over_a_udf_stage_points_at_its_input():
    import pyarrow as pa
    import pyarrow.compute as pc

    @th.udf(return_dtype="int64", batch=True)
    def dbl(a: pa.Array) -> pa.Array:
        return pc.multiply(a, 2)

    df = th.from_pydict({"k": ["a", "b", "a"], "v": [1, 2, 3]}).with_columns(w=dbl(col("v"))).group_by("k").agg(
        col("w").sum()).sort("k")
    lines = _text(df).split("== Physical plan ==")[1].strip().splitlines()
    assert lines[0].startswith("Stage 2 [relational, barrier]")
    assert lines[1:4] == ['    Sort [col("k")]', '      Aggregate keys=[col("k")] aggs=[col("w").sum()]',
                          "        <- Stage 1"]
    assert lines[4].startswith("  Stage 1 [map, streaming]") and "dbl(" in lines[4]
