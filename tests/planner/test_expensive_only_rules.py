"""The rules that can only change a plan with an expression costing more than ``scalar``
(``runner.EXPENSIVE_ONLY_RULES``: the media fusions, header predicates, common subexpressions) are
not run, nor imported, while no such expression exists in the process (``cost.NOT_SCALAR_BUILT``);
``optimize(validate=True)`` runs them there and checks that they change nothing. Each case runs in
a fresh interpreter: the flag is per process and never cleared (this test process has long set it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import thresher

_ROOT = Path(__file__).resolve().parents[2]
_PYTHONPATH = os.pathsep.join([str(Path(thresher.__file__).resolve().parents[1]), str(_ROOT),
                               os.environ.get("PYTHONPATH", "")])

_PRELUDE = """
import json, sys
import pyarrow as pa
import thresher as th
from thresher import col
from thresher.expressions import cost
from thresher.planner.optimizer import runner
ran = []
_load = runner._load
runner._load = lambda name: (lambda p, f=_load(name), n=name: ran.append(n) or f(p))
RULES = sorted(runner.EXPENSIVE_ONLY_RULES)
def loaded():
    return [r for r in RULES if f"thresher.planner.optimizer.rules.{r}" in sys.modules]
a = th.from_arrow(pa.table({"k": [1, 2, 3], "v": [4, 5, 6], "s": ["a", "b", "c"], "b": [b"x", b"y", b"z"]}))
b = th.from_arrow(pa.table({"k": [1, 2], "w": [7, 8]}))
rel = (a.with_columns(col("s").str.to_uppercase().alias("u")).filter(col("v") > 4)
       .join(b, on="k").filter(col("w") > 7).select("k", "u", "w"))
"""


def _run(body: str) -> dict:
    code = _PRELUDE + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": _PYTHONPATH}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=_ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_not_run_nor_imported_in_a_relational_process() -> None:
    got = _run("""
        res = runner.optimize(rel.plan)
        assert not cost.NOT_SCALAR_BUILT
        fast = [n for n in ran]
        print(json.dumps({"ran": fast, "loaded": loaded(), "runs": res.rule_runs,
                          "fired": [f.rule for f in res.log], "plan": res.plan.pretty()}))
        """)
    assert got["fired"] and got["runs"] == len(got["ran"])
    assert not set(got["ran"]) & _expensive_only(), got["ran"]
    assert got["loaded"] == []


def _expensive_only() -> frozenset[str]:
    from thresher.planner.optimizer.runner import EXPENSIVE_ONLY_RULES

    return EXPENSIVE_ONLY_RULES


def test_validate_runs_them_and_the_plan_is_the_same() -> None:
    """validate=True runs them on every plan of the fixpoint (they change nothing); the plan and the
    rules that fired are those of the run that skips them."""
    got = _run("""
        fast = runner.optimize(rel.plan)
        ran.clear()
        checked = runner.optimize(rel.plan, validate=True)
        assert not cost.NOT_SCALAR_BUILT
        print(json.dumps({"same": checked.plan.pretty() == fast.plan.pretty(),
                          "fired": [f.rule for f in checked.log] == [f.rule for f in fast.log],
                          "ran": sorted(set(ran) & set(RULES)), "loaded": loaded()}))
        """)
    assert got["same"] and got["fired"]
    assert got["ran"] == got["loaded"] == sorted(_expensive_only())


def test_validate_raises_when_one_changes_a_relational_plan() -> None:
    got = _run("""
        from thresher.errors import ThresherError
        from thresher.planner.logical import Limit
        runner._load("common_subexpression_elimination")
        runner._MODULES["common_subexpression_elimination"].apply = (
            lambda p: None if isinstance(p, Limit) else Limit(p, 5))
        try:
            runner.optimize(rel.plan, validate=True)
            err = ""
        except ThresherError as e:
            err = str(e)
        skipped = runner.optimize(rel.plan).plan  # (without validate the rule is not run)
        print(json.dumps({"err": err, "limit": isinstance(skipped, Limit)}))
        """)
    assert "EXPENSIVE_ONLY_RULES" in got["err"] and not got["limit"]


def test_they_run_once_an_expensive_expression_exists() -> None:
    got = _run("""
        e = col("b").image.decode(mode="RGB").image.resize(width=4, height=4)
        assert cost.NOT_SCALAR_BUILT
        runner.optimize(rel.plan)  # (a relational plan: they run, and find nothing)
        first = sorted(set(ran) & set(RULES))
        ran.clear()
        res = runner.optimize(a.with_columns(e.alias("t")).plan)
        print(json.dumps({"first": first, "fired": [f.rule for f in res.log]}))
        """)
    # (header_predicates needs a filter: the plan's are in its scans by then, see NEEDS_KINDS)
    assert {"fuse_decode_resize", "fuse_decode_resize_encode", "common_subexpression_elimination"} <= set(got["first"])
    assert "fuse_decode_resize" in got["fired"], got


def test_tpch_rule_runs(tpch_dir: Path) -> None:
    """TPC-H DataFrame q16 and q22 in a relational process: 6 and 7 rule runs (8 and 9 with
    cheap_predicate_first and eager_aggregation run on one-term filters and group-bys over anti
    joins, 10 and 11 with semi_join_key_set run twice on semi joins of a filtered scan, 14 and 15
    with the four rules run once each too), the 22 queries 255 (292, 304, 424)."""
    got = _run(f"""
        from benchmarks.tpch.queries_df import QUERIES, tables
        t = tables({str(tpch_dir)!r})
        runs = {{q: runner.optimize(f(t).plan).rule_runs for q, f in QUERIES.items()}}
        assert not cost.NOT_SCALAR_BUILT
        print(json.dumps({{"runs": runs, "loaded": loaded()}}))
        """)
    runs = {int(q): n for q, n in got["runs"].items()}
    # (10 and 11 before KeySetSemiJoin, 8 and 9 before ConjunctionFilter and the eager-aggregation shape)
    assert runs[16] <= 6 and runs[22] <= 7, runs
    assert sum(runs.values()) <= 255, sum(runs.values())  # (304, 292)
    assert got["loaded"] == []
