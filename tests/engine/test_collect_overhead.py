"""What a collect() costs besides running the plan: ``to_arrow()`` returns the table without
building a result frame around it, and executors ask the CPU count once per process."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
import thresher.dataframe as dataframe_module
from thresher import col
from thresher.engine import local


@pytest.fixture
def frame(tmp_path: Path) -> th.DataFrame:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"k": [1, 2, 2, 3], "v": [1.0, 2.0, 3.0, None]}), path)
    return th.read_parquet(str(path)).filter(col("v") > 0).group_by("k").agg(col("v").sum().alias("s")).sort("k")


def test_to_arrow_builds_no_result_frame(frame: th.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []
    real = dataframe_module.InMemorySource

    def counting(table: pa.Table) -> object:
        made.append(table)
        return real(table)

    monkeypatch.setattr(dataframe_module, "InMemorySource", counting)
    got = frame.to_arrow()
    assert made == []
    assert got.to_pydict() == {"k": [1, 2], "s": [1.0, 5.0]}
    assert frame.stats() is not None and frame.stats().executor == "local"  # type: ignore[union-attr]
    # collect() still gives a materialized frame whose to_arrow is its own table
    done = frame.collect()
    assert len(made) == 1 and done.to_arrow() is made[0]


def test_to_arrow_matches_polars_and_takes_the_run_options(frame: th.DataFrame, tmp_path: Path) -> None:
    want = (pl.scan_parquet(str(tmp_path / "t.parquet")).filter(pl.col("v") > 0).group_by("k")
            .agg(pl.col("v").sum().alias("s")).sort("k").collect().to_arrow())
    for kw in ({}, {"optimize": False}, {"runner": "local"}, {"memory_budget": "64MB"}):
        got = frame.to_arrow(**kw)
        assert got.to_pydict() == want.to_pydict(), kw
        assert got.schema.names == ["k", "s"]


def test_to_arrow_of_an_empty_result_has_the_schema(frame: th.DataFrame) -> None:
    got = frame.filter(col("k") > 10).to_arrow()
    assert got.num_rows == 0 and got.schema.names == ["k", "s"]


def test_cpu_count_asked_once(frame: th.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.cpu_count

    def counting() -> int | None:
        calls.append(1)
        return real()

    monkeypatch.setattr(os, "cpu_count", counting)
    local._default_threads.cache_clear()
    try:
        for _ in range(3):
            frame.to_arrow()
        assert len(calls) == 1
        assert local.LocalExecutor().num_threads == max(2, real() or 2)
        assert local.LocalExecutor(num_threads=3).num_threads == 3
    finally:
        local._default_threads.cache_clear()


def test_the_memory_budget_is_read_when_a_pipeline_needs_it(frame: th.DataFrame,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # a lone relational stage runs without the pipeline's memory budget: the default (the
    # environment, the machine's memory) is not read for it; a pipeline run reads it then
    calls: list[int] = []
    real = local.default_budget_bytes

    def counting() -> int:
        calls.append(1)
        return real()

    monkeypatch.setattr(local, "default_budget_bytes", counting)
    frame.to_arrow()
    assert calls == []
    monkeypatch.setenv("THRESHER_MEMORY_BUDGET", "96MB")
    executor = local.LocalExecutor()
    assert executor.budget_bytes == 96 << 20 and executor.budget_bytes == 96 << 20 and len(calls) == 1
    assert local.LocalExecutor(memory_budget="64MB").budget_bytes == 64 << 20 and len(calls) == 1
    with pytest.raises(ValueError):
        local.LocalExecutor(memory_budget="lots")  # a bad value still fails when the executor is made
    th.set_runner("local", memory_budget="32MB")
    try:
        from thresher.session import make_executor

        assert make_executor().budget_bytes == 32 << 20  # the session's runner options still apply
    finally:
        th.set_runner("local")


def _stage_stats(stats: object) -> list[dict[str, object]]:
    """The statistics of a run without its times."""
    return [{k: v for k, v in d.items() if k not in ("wall_s", "busy_s")}
            for d in stats.to_dicts()]  # type: ignore[attr-defined]


@pytest.mark.parametrize("shape", ["grouped", "empty", "many"])
def test_a_lone_relational_stage_runs_without_the_pipeline_as_execute_runs_it(
        frame: th.DataFrame, tmp_path: Path, shape: str) -> None:
    """A plan that is one relational stage over nothing runs on the caller's thread without the
    pipeline around it: the same batches (empty ones left out, cut at the stage's batch size)
    and the same statistics as the pipeline's run."""
    from thresher.planner.physical import compile

    if shape == "empty":
        frame = frame.filter(col("k") > 10)
    elif shape == "many":  # more rows than a batch holds
        path = tmp_path / "big.parquet"
        pq.write_table(pa.table({"k": list(range(300_000))}), path)
        frame = th.read_parquet(str(path)).filter(col("k") % 2 == 0).sort("k", descending=True)
    plan = compile(frame.plan)
    assert plan.root.kind == "relational" and not plan.root.inputs
    ex = local.LocalExecutor(progress=False)
    alone = ex.run_alone(plan)
    assert alone is not None
    lean = ex.stats()
    ex2 = local.LocalExecutor(progress=False)
    piped = list(ex2.execute(plan))
    assert [b.num_rows for b in alone] == [b.num_rows for b in piped]
    assert pa.Table.from_batches(alone, schema=plan.root.schema.to_arrow()).equals(
        pa.Table.from_batches(piped, schema=plan.root.schema.to_arrow()))
    assert _stage_stats(lean) == _stage_stats(ex2.stats())
    (st,) = lean.stages.values()
    assert st.passes == 1 and st.busy_seconds > 0 and st.finished is not None
    if shape == "many":
        assert len(alone) > 1 and st.batches_out == len(alone)
    # what to_arrow gives is the same table
    assert frame.to_arrow().equals(pa.Table.from_batches(piped, schema=frame.schema.to_arrow()))


def test_run_alone_leaves_other_plans_and_progress_bars_to_execute(frame: th.DataFrame) -> None:
    from thresher.planner.physical import compile

    assert local.LocalExecutor(progress=True).run_alone(compile(frame.plan)) is None
    mapped = th.from_pydict({"a": [1, 2]}).with_columns(b=th.udf(return_dtype="int64")(lambda x: x)(col("a")))
    assert compile(mapped.plan).root.kind != "relational" or compile(mapped.plan).root.inputs
    assert local.LocalExecutor(progress=False).run_alone(compile(mapped.plan)) is None


def test_a_lone_relational_stage_fails_as_in_the_pipeline(frame: th.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure inside the stage is worded as the pipeline words it."""
    from thresher.engine import stages
    from thresher.planner.physical import compile

    def failing(*a: object, **k: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(stages, "collect_lazy", failing)
    plan = compile(frame.plan)
    errors = []
    for run in (lambda: local.LocalExecutor(progress=False).run_alone(plan),
                lambda: list(local.LocalExecutor(progress=False).execute(plan))):
        with pytest.raises(th.ThresherError) as info:
            run()
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]
    assert "RuntimeError: boom" in errors[0][1]
    with pytest.raises(th.ThresherError, match="boom"):
        frame.to_arrow()


def test_the_plans_are_freed_before_polars_runs(frame: th.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """to_arrow() of a lone relational stage drops the compiled plans (the optimizer's too)
    once the Polars program is built, before Polars' collect: freed after it, with cold caches,
    they cost four times as much."""
    import weakref

    from thresher.engine import stages
    from thresher.planner import physical as physical_module

    refs: list[weakref.ref[object]] = []
    compile_ = physical_module.compile

    def keeping(*a: object, **k: object) -> object:
        out = compile_(*a, **k)  # type: ignore[arg-type]
        refs.append(weakref.ref(out))
        refs.append(weakref.ref(out.optimizer))
        return out

    alive: list[bool] = []
    collect = stages.collect_lazy

    def checking(*a: object, **k: object) -> object:
        alive.append(any(r() is not None for r in refs))
        return collect(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(physical_module, "compile", keeping)
    monkeypatch.setattr(stages, "collect_lazy", checking)
    assert frame.to_arrow().to_pydict() == {"k": [1, 2], "s": [1.0, 5.0]}
    assert len(refs) == 2 and alive == [False]
    assert frame.stats() is not None and frame.stats().stages[0].rows_out == 2  # type: ignore[union-attr]


def test_a_stage_label_is_what_describe_says_after_its_head(frame: th.DataFrame,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run names its stage by its label: the description without its head (id, kind,
    resources, batch size), which is not formatted for it."""
    from thresher.planner import physical
    from thresher.planner.physical import compile

    mapped = th.from_pydict({"a": [1, 2]}).with_columns(b=th.udf(return_dtype="int64")(lambda x: x)(col("a")))
    stages = [s for f in (frame, mapped, frame.limit(1)) for s in compile(f.plan).stages()]
    assert {s.kind for s in stages} >= {"relational", "map"}
    want = [s.describe().split(": ", 1)[-1] for s in stages]

    def unformatted(self: object) -> str:
        raise AssertionError("a stage's head formatted for its label")

    monkeypatch.setattr(physical.Resources, "__str__", unformatted)
    assert [s.label() for s in stages] == want
    assert frame.to_arrow().num_rows == 2
