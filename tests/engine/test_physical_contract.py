"""The physical plan is the only contract between planner and executors.

The engine imports no logical node (checked on the source, next to the import-linter contract),
operators are built from the stage's factories (once per stage, not per executor), an executor
rejects a stage kind it does not declare before anything runs, and a write's bookkeeping asks
the sink once.
"""

from __future__ import annotations

import ast
import pathlib
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher import col
from thresher.engine.local import LocalExecutor
from thresher.errors import UnsupportedError
from thresher.io.files_sink import ParquetSink
from thresher.planner.logical import Write
from thresher.planner.physical import CompileSettings, MapSpec, compile, plan_fingerprint

ENGINE = pathlib.Path(th.__file__).parent / "engine"
FORBIDDEN = ("thresher.planner.logical", "thresher.planner.optimizer", "thresher.planner.polars_plan")


def _imports(path: pathlib.Path) -> list[str]:
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
    return out


def test_engine_imports_no_logical_node() -> None:
    offenders = []
    for path in sorted(ENGINE.glob("*.py")):
        text = path.read_text()
        if "planner.logical" in text:  # the acceptance grep, comments and docstrings included
            offenders.append(f"{path.name}: mentions planner.logical")
        offenders += [f"{path.name}: imports {m}" for m in _imports(path) if m.startswith(FORBIDDEN)]
        # nor reads a stage's provenance (the logical nodes kept for explain)
        tree = ast.parse(text)
        offenders += [f"{path.name}:{n.lineno}: reads .{n.attr}" for n in ast.walk(tree)
                      if isinstance(n, ast.Attribute) and n.attr in ("logical", "ops", "leaves")]
    assert offenders == []


def test_import_linter_forbids_the_engine_the_logical_plan() -> None:
    import tomllib

    cfg = tomllib.loads((pathlib.Path(th.__file__).parents[2] / "pyproject.toml").read_text())
    contracts = cfg["tool"]["importlinter"]["contracts"]
    assert any(c["type"] == "forbidden" and c["source_modules"] == ["thresher.engine"]
               and "thresher.planner.logical" in c["forbidden_modules"] for c in contracts)


def test_operators_come_from_the_stage_factory_once() -> None:
    df = th.from_pydict({"a": list(range(1000))}).with_columns(b=col("a") * 2).filter(col("b") > 10)
    plan = compile(df.plan)
    (m,) = [s for s in plan.stages() if s.kind == "map"]
    assert isinstance(m.spec, MapSpec)
    calls = {"n": 0}
    make = m.spec.make_pipeline

    def counted() -> Any:
        calls["n"] += 1
        return make()

    object.__setattr__(m.spec, "make_pipeline", counted)
    out = [b for b in LocalExecutor(num_threads=2).execute(plan)]
    assert sum(b.num_rows for b in out) == 994
    assert calls["n"] == 1  # no pool: one pipeline shared by the worker threads


def test_unsupported_stage_is_rejected_before_running() -> None:
    plan = compile(th.from_pydict({"a": [1, 2]}).with_columns(b=col("a") + 1).plan)
    plan.root.kind = "teleport"
    with pytest.raises(UnsupportedError, match="cannot run stage .* 'teleport'"):
        LocalExecutor().execute(plan)  # raised on the call, not when the first batch is pulled


def test_compile_optimizes_once_and_lowers() -> None:
    df = th.from_pydict({"a": [1, 2, 3], "b": [4, 5, 6]}).filter(col("a") > 1).select("a")
    on = compile(df.plan)
    off = compile(df.plan, CompileSettings(optimize=False))
    assert on.optimizer is not None and on.optimizer.log  # rules fired
    assert off.optimizer is not None and not off.optimizer.log
    assert off.optimized is df.plan and on.write_job is None
    assert [b.to_pydict() for b in LocalExecutor().execute(on)] == [{"a": [2, 3]}]


def test_plan_fingerprint_is_stable_and_tells_plans_apart() -> None:
    def q(k: int) -> Any:
        return th.from_pydict({"x": [1, 2, 3]}).filter(col("x") > k).plan

    assert plan_fingerprint(q(1)) == plan_fingerprint(q(1))
    assert plan_fingerprint(q(1)) != plan_fingerprint(q(2))


def test_plan_fingerprint_changes_with_the_partition_id_version(monkeypatch: pytest.MonkeyPatch) -> None:
    # a job checkpointed by a build whose sources named partitions differently must not resume
    from thresher.io import source as io_source

    plan = th.from_pydict({"x": [1, 2, 3]}).plan
    before = plan_fingerprint(plan)
    monkeypatch.setattr(io_source, "PARTITION_ID_VERSION", io_source.PARTITION_ID_VERSION + 1)
    assert plan_fingerprint(plan) != before


def test_write_job_carries_the_bookkeeping(tmp_path: Path) -> None:
    df = th.from_pydict({"x": [1, 2, 3]}).filter(col("x") > 1)
    sink = ParquetSink(str(tmp_path / "out"))
    plan = compile(Write(df.plan, sink, "job-7"))
    job = plan.write_job
    assert job is not None and job.sink is sink and job.job_id == "job-7" and job.resumable
    assert job.partition_local and job.committed == frozenset()
    optimized = plan.optimized
    assert isinstance(optimized, Write)
    assert job.plan_fingerprint == plan_fingerprint(optimized.input)
    anon = compile(Write(df.plan, sink, None)).write_job
    assert anon is not None and not anon.resumable and anon.job_id  # a fresh id, nothing skipped


class CountingSink(ParquetSink):
    asked = 0

    def committed_partitions(self, job_id: str) -> set[str]:
        CountingSink.asked += 1
        return super().committed_partitions(job_id)


def test_write_asks_the_sink_once_and_records_the_fingerprint(tmp_path: Path) -> None:
    import json

    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        pq.write_table(th.from_pydict({"x": [i, i + 10]}).to_arrow(), src / f"p{i}.parquet")
    df = th.read_parquet(str(src)).with_columns(y=col("x") * 2)
    CountingSink.asked = 0
    out = df.write(CountingSink(str(tmp_path / "out")), job_id="once")
    assert sorted(out.to_pydict()["status"]) == ["committed"] * 3
    assert CountingSink.asked == 1
    records = list((tmp_path / "out").rglob("job-*.json"))
    assert records, "the finished job is recorded next to the sink"
    rec = json.loads(records[0].read_text())
    assert rec["complete"] and rec["plan_fingerprint"] == compile(Write(df.plan, CountingSink("x"), "once")).write_job.plan_fingerprint  # type: ignore[union-attr]


def test_prompt_stage_declares_its_pool_and_router_for_the_executor() -> None:
    pytest.importorskip("transformers")
    from thresher import functions as F
    from thresher.udfs.ai.routing import PromptRouter
    from thresher.udfs.ai.testing import tiny_causal_lm_dir

    expr = F.prompt(col("q"), model=tiny_causal_lm_dir(), max_tokens=5, concurrency=(1, 3))
    plan = compile(th.from_pydict({"q": ["a", "b"]}).with_columns(a=expr).plan)
    (stage,) = [s for s in plan.stages() if s.pool is not None]
    pool = stage.pool
    assert pool is not None and (pool.min_size, pool.max_size) == (1, 3) and pool.resources == stage.resources
    (svc,) = pool.services
    assert svc.factory is PromptRouter and svc.stats_key == "routing" and svc.max_concurrency >= 2 * 3
    udf = expr.udf
    svc.bind("handle")  # the executor binds the started service before shipping the pool's payload
    assert udf._router == "handle"
    svc.bind(None)
    assert udf._router is None


def test_plan_fingerprint_spells_out_default_options(monkeypatch: pytest.MonkeyPatch) -> None:
    # explain() hides options left at their default; a job record must not: if a default changed
    # between versions, a resumed job would otherwise mix outputs of two different plans
    from thresher.expressions import expr as expr_mod
    from thresher.planner.physical import plan_fingerprint

    plan = th.from_pydict({"u": ["file:///x"]}).select(th.col("u").url.download()).plan
    before = plan_fingerprint(plan)
    assert "timeout" not in plan.pretty()
    monkeypatch.setitem(expr_mod._DEFAULTS_CACHE, "url.download", {"timeout": 99.0})
    assert plan_fingerprint(plan) == before
    explicit = th.from_pydict({"u": ["file:///x"]}).select(th.col("u").url.download(timeout=5.0)).plan
    assert plan_fingerprint(explicit) != before
