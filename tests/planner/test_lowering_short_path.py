"""The per-query Python path of a lone relational query (planning, lowering, running) runs
less code than before, with the same plans and results: the garbage collector is paused without
contextlib's machinery, the local runner with no options skips the option check, the group-by
and sort reach Polars without its argument parsing, and the lowering's join tests stop at their
cheapest disqualifying fact (table sizes) before estimating anything.

Each test fails on the code before: it ran contextlib functions around every query, checked
empty options, estimated the left side of every semi/anti join and the right side of every
join with a filtered scan on the right."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher.planner import polars_plan
from thresher.planner.logical import Join
from thresher.planner.physical import compile as compile_plan


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("short")
    n = 20_000
    big = pa.table({"k": pa.array([i % 5000 for i in range(n)], pa.int64()), "v": pa.array([float(i) for i in range(n)])})
    small = pa.table({"dk": pa.array(list(range(0, 5000, 7)), pa.int64()),
                      "cat": pa.array([i % 3 for i in range(0, 5000, 7)], pa.int64())})
    out = {"big": root / "big.parquet", "small": root / "small.parquet"}
    pq.write_table(big, out["big"], row_group_size=2000)
    pq.write_table(small, out["small"])
    return out


def _frames(files: dict[str, Path]) -> tuple[th.DataFrame, th.DataFrame]:
    return th.read_parquet(str(files["big"])), th.read_parquet(str(files["small"]))


def _rows(t: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(tuple(r.values()) for r in t.to_pylist())


def test_a_query_runs_no_contextlib_code_and_restores_the_collector(files: dict[str, Path]) -> None:
    big, small = _frames(files)
    q = big.join(small.filter(th.col("cat") == 1), left_on="k", right_on="dk").group_by("cat").agg(
        th.col("v").sum().alias("s"))
    q.to_arrow()  # (imports)
    seen: list[str] = []

    def prof(frame: Any, event: str, arg: Any) -> None:
        # contextlib called from the run's own frames (the optimizer's are its own business)
        if event == "call" and frame.f_code.co_filename.endswith("contextlib.py"):
            caller = frame.f_back.f_code.co_filename
            if caller.endswith(("dataframe.py", "gc_pause.py")) or "engine" in caller:
                seen.append(f"{frame.f_code.co_name} from {caller}")

    assert gc.isenabled()
    sys.setprofile(prof)
    try:
        got = q.to_arrow()
    finally:
        sys.setprofile(None)
    assert gc.isenabled()
    assert not seen
    assert got.num_rows == 1
    gc.disable()
    try:
        q.to_arrow()
        assert not gc.isenabled()  # (a collector the caller disabled stays disabled)
    finally:
        gc.enable()


def test_the_collector_is_enabled_again_when_a_query_fails(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    big, _small = _frames(files)

    def fail(*a: Any, **k: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(polars_plan, "_build", fail)
    with pytest.raises(Exception, match="boom"):
        big.group_by("k").agg(th.col("v").sum().alias("s")).to_arrow()
    assert gc.isenabled()


def test_the_local_runner_without_options_skips_the_option_check(monkeypatch: pytest.MonkeyPatch) -> None:
    import thresher.session as session

    def check(*a: Any) -> None:
        raise AssertionError("checked")

    monkeypatch.setattr(session, "check_executor_options", check)
    assert session.make_executor().name == "local"
    with pytest.raises(AssertionError, match="checked"):
        session.make_executor(progress=False)


def _estimated(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    real = polars_plan.estimate

    def estimate(node: Any) -> Any:
        seen.append(node)
        return real(node)

    monkeypatch.setattr(polars_plan, "estimate", estimate)
    return seen


@pytest.mark.parametrize("how", ["semi", "anti"])
def test_a_small_right_side_of_a_semi_join_does_not_estimate_the_left(
        files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    big, small = _frames(files)
    q = big.filter(th.col("v") > 100.0).join(small.filter(th.col("cat") == 1), left_on="k", right_on="dk", how=how)
    physical = compile_plan(q.plan)
    join = next(n for n in physical.root.spec.program.node.walk() if isinstance(n, Join))  # type: ignore[attr-defined]
    seen = _estimated(monkeypatch)
    polars_plan._key_set_reduced(join, None, None)  # type: ignore[arg-type]
    assert seen and join.left not in seen
    import polars as pl

    want = pl.scan_parquet(files["big"]).filter(pl.col("v") > 100.0).join(
        pl.scan_parquet(files["small"]).filter(pl.col("cat") == 1), left_on="k", right_on="dk", how=how)
    assert _rows(q.to_arrow()) == _rows(want.collect().to_arrow())


def test_a_build_table_too_large_for_the_probe_side_is_not_estimated(
        files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # the build side scans the big table (20,000 rows), the probe side the small one (715):
    # KEY_RANGE_MAX_SCAN_FRACTION rules the filter out before the build side's estimate
    big, small = _frames(files)
    q = small.join(big.filter(th.col("v") < 50.0), left_on="dk", right_on="k")
    physical = compile_plan(q.plan)
    join = next(n for n in physical.root.spec.program.node.walk() if isinstance(n, Join))  # type: ignore[attr-defined]
    assert polars_plan._scanned_rows(join.right) == 20_000 and polars_plan._scanned_rows(join.left) == 715
    seen = _estimated(monkeypatch)
    assert polars_plan._key_range_filter(join, None, None, list) is None  # type: ignore[arg-type]
    assert not seen
    import polars as pl

    want = pl.scan_parquet(files["small"]).join(
        pl.scan_parquet(files["big"]).filter(pl.col("v") < 50.0), left_on="dk", right_on="k")
    assert _rows(q.to_arrow()) == _rows(want.collect().to_arrow())


def test_group_by_agg_and_sort_fast_paths_are_polars_methods() -> None:
    import polars as pl

    from thresher._polars import group_by_agg, sort

    lf = pl.LazyFrame({"a": [1, 2, None, 2], "b": ["x", "y", "z", None], "c": [1.0, 2.0, 3.0, 4.0]})
    keys = [pl.col("a"), pl.col("b").alias("bb")]
    aggs = [pl.col("c").sum().alias("s"), pl.len().alias("n")]
    fast, slow = group_by_agg(lf, keys, aggs), lf.group_by(keys).agg(aggs)
    assert fast.explain(optimized=False) == slow.explain(optimized=False)
    assert fast.sort("a", "bb").collect().equals(slow.sort("a", "bb").collect())
    by = [pl.col("a"), pl.col("c") * 2]
    fast, slow = (sort(lf, by, [True, False], [False, True]),
                  lf.sort(by, descending=[True, False], nulls_last=[False, True], maintain_order=True))
    assert fast.explain(optimized=False) == slow.explain(optimized=False)
    assert fast.collect().equals(slow.collect())
    with pytest.raises(ValueError):  # (Polars' own error for flags of another length)
        sort(lf, by, [True], [False, True])


def test_group_by_agg_and_sort_fall_back_when_polars_internals_differ() -> None:
    import polars as pl

    from thresher._polars import group_by_agg, sort

    class Internals:
        def group_by(self, *a: object) -> object:
            raise TypeError("group_by() takes 4 positional arguments")

        sort_by_exprs = group_by

    lf = pl.LazyFrame({"a": [2, 1, 2]})
    odd = pl.LazyFrame._from_pyldf(lf._ldf)
    odd._ldf = Internals()  # type: ignore[assignment]
    odd.group_by = lf.group_by  # type: ignore[method-assign]
    odd.sort = lf.sort  # type: ignore[method-assign]
    got = group_by_agg(odd, [pl.col("a")], [pl.len().alias("n")]).sort("a").collect()
    assert got.equals(lf.group_by("a").agg(pl.len().alias("n")).sort("a").collect())
    assert sort(odd, [pl.col("a")], [False], [False]).collect().equals(lf.sort("a").collect())
