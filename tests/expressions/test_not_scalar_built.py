"""``cost.NOT_SCALAR_BUILT``: a process that never built an expression costing more than
``scalar`` answers ``cost_class`` and the optimizer's ``plan_facts`` without walking; every way an
expensive expression can come to exist sets it. Each case runs in a fresh interpreter (the flag
is per process and never cleared; this test process has long set it)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import thresher
from thresher import col

_PYTHONPATH = os.pathsep.join(
    [str(Path(thresher.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])

_PRELUDE = """
import pyarrow as pa
import thresher as th
from thresher import col
from thresher.expressions import cost
from thresher.planner.optimizer.runner import optimize
from thresher.planner.optimizer.rules._util import plan_facts
df = th.from_arrow(pa.table({"k": [1, 2], "s": ["a", "b"], "b": [b"x", b"y"]}))
rel = df.filter(col("k") > 1).with_columns(col("s").str.to_uppercase().alias("u"))
optimize(rel.plan)
assert not cost.NOT_SCALAR_BUILT
assert plan_facts(rel.plan) == (frozenset(), False)
"""


def _run(body: str, tmp: Path | None = None) -> None:
    code = _PRELUDE + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": _PYTHONPATH}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp)
    assert out.returncode == 0, out.stderr[-3000:]


def test_a_relational_process_is_not_marked_and_a_media_call_marks_it() -> None:
    _run("""
        e = col("b").image.decode(mode="RGB").image.resize(width=4, height=4)
        assert cost.NOT_SCALAR_BUILT and cost.cost_class(e) == "decode"
        plan = df.with_columns(e.alias("t")).plan
        calls, expensive = plan_facts(plan)
        assert expensive and {"image.decode", "image.resize"} <= calls
        fired = [f.rule for f in optimize(plan).log]
        assert "fuse_decode_resize" in fired, fired
        """)


def test_a_sql_media_call_marks_it() -> None:
    _run("""
        e = th.sql("SELECT image_decode(b) AS i FROM t", t=df)
        assert cost.NOT_SCALAR_BUILT
        """)


def test_an_unpickled_or_copied_media_call_marks_it(tmp_path: Path) -> None:
    (tmp_path / "e.pkl").write_bytes(pickle.dumps(col("b").image.decode()))
    _run("""
        import copy, pickle
        e = copy.deepcopy(col("k") + 1)
        assert not cost.NOT_SCALAR_BUILT
        e = pickle.loads(open("e.pkl", "rb").read())
        assert cost.NOT_SCALAR_BUILT and cost.cost_class(e) == "decode"
        """, tmp_path)


def test_a_udf_call_marks_it() -> None:
    _run("""
        @th.udf(return_dtype="int64")
        def f(x):
            return x

        e = f(col("k"))
        assert cost.NOT_SCALAR_BUILT
        """)


def test_a_function_re_registered_as_expensive_marks_it() -> None:
    _run("""
        from dataclasses import replace
        from thresher.expressions import registry
        e = col("s").str.to_uppercase()
        spec = registry.get(e.name)
        registry.register(replace(spec, cost="model"))
        assert cost.NOT_SCALAR_BUILT and cost.cost_class(e) == "model"
        """)


def test_an_expr_class_with_its_own_cost_marks_it() -> None:
    _run("""
        from thresher.expressions.expr import Expr

        class Costly(Expr):
            def call_cost(self):
                return "io", 100.0

        assert cost.NOT_SCALAR_BUILT
        """)


def test_the_flag_is_set_here() -> None:
    from thresher.expressions import cost

    col("b").image.decode()
    assert cost.NOT_SCALAR_BUILT
