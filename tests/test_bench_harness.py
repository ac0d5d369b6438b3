"""The benchmark harness enforces its rules: mismatches excluded, peers missing reported, caches reset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from benchmarks.harness import run_bench, write_docs_page

ROOT = Path(__file__).resolve().parent.parent


def test_harness_marks_mismatches_missing_peers_and_resets_caches(tmp_path: Path) -> None:
    res = run_bench("_selftest", out_dir=tmp_path)
    rows = {r["engine"]: r for r in res["rows"]}
    assert rows["reference"]["status"] == rows["good"]["status"] == "ok"
    assert rows["good"]["ratio"] is not None and len(rows["good"]["times"]) == 3
    # the paired ratio pairs round r of the baseline with round r of the engine
    per_round = sorted(b / e for b, e in zip(rows["reference"]["times"], rows["good"]["times"]))
    assert rows["good"]["paired_ratios"] and rows["good"]["paired_ratio"] == per_round[1]
    assert rows["wrong"]["paired_ratio"] is None
    assert rows["wrong"]["status"] == "MISMATCH" and rows["wrong"]["ratio"] is None
    assert rows["drifting"]["status"] == "MISMATCH" and "between rounds" in rows["drifting"]["mismatch"]
    assert rows["absent"]["status"] == "not installed" and "no_such_module_anywhere" in rows["absent"]["error"]
    # reset runs before every round: no timed round of "cached" reuses the previous round's cache
    assert min(rows["cached"]["times"]) >= 0.04
    assert all(r["start_s"] is not None for r in rows.values() if r["status"] == "ok")
    md = (tmp_path / "_selftest.md").read_text()
    assert "paired ratio (range)" in md
    assert "| wrong | MISMATCH |" in md and "| absent | not installed |" in md
    assert (tmp_path / "_selftest.png").stat().st_size > 0
    # the command that reproduces the numbers is recorded and shown; the plot is copied next to the page
    assert res["command"] == "python -m benchmarks _selftest"
    assert "Reproduce: `python -m benchmarks _selftest`." in md
    page = write_docs_page(tmp_path, tmp_path / "bench.md", failed=["broken (ValueError: x)"]).read_text()
    assert "## The rules" in page and "harness self-test" in page
    assert "comes from one command, `python -m benchmarks _selftest`" in page
    assert "did not complete in this run** (no table below): broken (ValueError: x)" in page
    assert "![" in page and (tmp_path / "img" / "benchmarks" / "_selftest.png").stat().st_size > 0
    # `docs` after re-running some benchmarks: the others keep their tables, the re-run ones are replaced
    other = "### Another benchmark\n\n| engine |\n|---|\n| x |\n"
    (tmp_path / "bench.md").write_text(page.replace("### ", other + "\n### ", 1))
    empty = tmp_path / "none"
    empty.mkdir()
    kept = write_docs_page(empty, tmp_path / "bench.md", keep_others=True).read_text()
    assert "### Another benchmark" in kept and kept.count("| wrong | MISMATCH |") == 1
    # a kept table without a recorded command: the page no longer claims one command made it all
    assert "come from these commands" in kept and "(not recorded)" in kept
    again = write_docs_page(tmp_path, tmp_path / "bench.md", keep_others=True).read_text()
    assert "### Another benchmark" in again and again.count("| wrong | MISMATCH |") == 1


def test_recorded_commands_carry_no_machine_paths() -> None:
    from benchmarks.harness import ROOT, scrub_command

    cmd = f"python -m benchmarks image --python daft={ROOT}/.venv-peers/bin/python --python ray=/opt/ray/bin/python"
    assert scrub_command(cmd) == "python -m benchmarks image --python daft=./.venv-peers/bin/python --python ray=PATH"
    assert scrub_command("make bench BENCH_SCALE=quick --set queries='1,3'") == "make bench BENCH_SCALE=quick --set queries='1,3'"


def test_load_warning_names_tables_started_on_a_busy_machine() -> None:
    from benchmarks.harness import _load_note

    def result(title: str, start: float, end: float) -> dict[str, object]:
        return {"title": title, "machine": {"cpus": 2, "load_avg": [start, 1.0, 1.0], "load_avg_after": [end, 1.0, 1.0]}}

    # a benchmark's own processes (Ray workers) raise the load taken at its end: that is not a busy machine
    assert _load_note([result("calm", 0.5, 11.8)]) == []
    note = " ".join(_load_note([result("calm", 0.5, 11.8), result("busy", 5.7, 1.0)], [("kept", 23.9)]))
    assert "busy (load 5.7)" in note and "kept (load 23.9)" in note and "calm" not in note


def test_round_order_balances_who_runs_after_whom() -> None:
    from collections import Counter

    from benchmarks.harness import round_order

    engines = ["duckdb", "thresher", "polars"]
    orders = [round_order(engines, r) for r in range(2 * len(engines))]
    assert all(sorted(o) == sorted(engines) for o in orders)
    # each engine runs first equally often, and each runs right after each other engine equally often
    assert set(Counter(o[0] for o in orders).values()) == {2}
    follows = Counter((a, b) for o in orders for a, b in zip(o, o[1:]))
    assert len(follows) == 6 and set(follows.values()) == {2}


def test_tpch_df_phases_replays_the_thresher_program_and_rotates_who_goes_first(
        tpch_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``replay`` collects again the very LazyFrame Thresher's own collect got (never the Polars
    side's), and each of a query's three runs goes first in one round of three."""
    import benchmarks.tpch_df_phases as phases
    import polars as pl

    import thresher.engine.stages as stages
    import thresher.planner.physical as physical
    import thresher.planner.polars_plan as polars_plan

    assert phases._order(0)[0] == "thresher"  # the replay needs a program
    assert {phases._order(r)[0] for r in range(3)} == set(phases._SIDES)
    assert all(sorted(phases._order(r)) == sorted(phases._SIDES) for r in range(6))

    calls: list[tuple[pl.LazyFrame, bool]] = []  # (the frame, collected by Thresher's collect_lazy)
    keep: Any = pl.LazyFrame.collect

    def collect(self: pl.LazyFrame, *a: object, **k: object) -> Any:
        calls.append((self, "engine" in k))  # collect_lazy passes its engine, the other two do not
        return keep(self, *a, **k)

    monkeypatch.setattr(pl.LazyFrame, "collect", collect)
    for mod, name in ((stages, "collect_lazy"), (physical, "_compile"), (polars_plan, "build_lazy")):
        monkeypatch.setattr(mod, name, getattr(mod, name))  # measure() wraps them: undone after the test
    res = phases.measure(str(tpch_dir), [6], rounds=3, cold=False)
    assert set(res[6]) == set(phases._PHASES) and all(v > 0 for v in res[6].values())
    ours = [lf for lf, by_thresher in calls if by_thresher]
    others = [lf for lf, by_thresher in calls if not by_thresher]
    assert len(ours) == 4 and len(others) == 8  # the warm-up round and three timed ones
    replays = [lf for lf in others if any(lf is o for o in ours)]
    assert len(replays) == 4


def test_process_blocks_split_the_rounds_into_consecutive_near_equal_blocks() -> None:
    from benchmarks.harness import process_blocks

    assert process_blocks(12, 1) == [0] * 12
    assert process_blocks(12, 4) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert process_blocks(7, 3) == [0, 0, 0, 1, 1, 2, 2]
    assert process_blocks(3, 5) == [0, 1, 2]  # never a process without a round
    for n in range(1, 30):
        for k in range(1, 9):
            b = process_blocks(n, k)
            sizes = [b.count(x) for x in range(min(n, k))]
            assert len(b) == n and b == sorted(b) and max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    with pytest.raises(ValueError, match="at least 1"):
        process_blocks(4, 0)


def test_rounds_spread_over_worker_processes_restart_every_engine_at_the_same_rounds(tmp_path: Path) -> None:
    """``processes=3`` over 5 rounds: blocks of 2, 2 and 1 rounds. Every engine's round r ran in the
    same block, each block in a new worker (its own pid) that was started and warmed up again."""
    res = run_bench("_selftest", out_dir=tmp_path, rounds=5, processes=3)
    assert res["processes"] == 3 and res["round_process"] == [0, 0, 1, 1, 2]
    rows = {r["engine"]: r for r in res["rows"]}
    for name in ("reference", "good", "wrong", "drifting", "cached"):
        assert rows[name]["process"] == [0, 0, 1, 1, 2], name
        assert len(rows[name]["starts_s"]) == 3, name  # one start-up per process, all reported
    good = rows["good"]
    pids = [m["pid"] for m in good["metrics"]]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4] and pids[0] != pids[4]
    # runs served by the worker at each timed round: the one warm-up run again in every new process
    assert [m["calls"] for m in good["metrics"]] == [2, 3, 2, 3, 2]
    assert len(good["process_medians_s"]) == len(good["process_cpu_medians_s"]) == 3
    assert good["median_s"] == sorted(good["times"])[2]  # the median is over every round of every process
    assert min(rows["cached"]["times"]) >= 0.04  # reset still runs before every round
    md = (tmp_path / "_selftest.md").read_text()
    assert "over 3 worker processes per engine" in md and "--processes 3" in md
    # one process (the default): the old table, no per-process range
    one = run_bench("_selftest", out_dir=tmp_path, rounds=2)
    assert one["processes"] == 1 and one["round_process"] == [0, 0]
    assert len({m["pid"] for m in {r["engine"]: r for r in one["rows"]}["good"]["metrics"]}) == 1
    assert "worker processes" not in (tmp_path / "_selftest.md").read_text()


def test_tpch_summary_shows_the_ratio_range_over_worker_processes() -> None:
    """Per process k, thresher's median over polars' (the same rounds); absent with one process."""
    from benchmarks.harness import _summarize
    from benchmarks.tpch.canon import ratio_summary

    def row(engine: str, times: list[float]) -> dict[str, Any]:
        return {"engine": engine, "case": "q1", "status": "ok", "times": times, "process": [0, 0, 1, 1],
                "metrics": [{"cpu_s": t} for t in times]}

    result: dict[str, Any] = {"primary": "seconds", "higher_is_better": False, "units_per_round": None,
                              "baseline": "polars", "cases": ["q1"], "engines": {"thresher": "", "polars": ""},
                              "processes": 2,
                              "rows": [row("thresher", [1.0, 1.0, 3.0, 3.0]), row("polars", [1.0, 1.0, 2.0, 2.0])]}
    _summarize(result)
    assert result["rows"][0]["process_medians_s"] == [1.0, 3.0]
    assert result["rows"][0]["process_cpu_medians_s"] == [1.0, 3.0]
    md = ratio_summary(result, "thresher", ("polars",))
    assert "| q1 | 1.33x (1.25x) [1.00-1.50] |" in md and "range over the worker processes" in md
    for r in result["rows"]:
        r["process"] = [0, 0, 0, 0]
    _summarize(result)
    assert "[" not in ratio_summary(result, "thresher", ("polars",)).split("\n", 3)[3]


def test_counters_are_recorded_per_round_for_every_engine_when_asked(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``THRESHER_BENCH_COUNTERS=1``: each timed round of every engine carries its worker's page
    faults, context switches, RSS and the Python allocator's counts (load-independent, next to the
    times), in ``counters``; without it rows carry none (and the table is unchanged)."""
    monkeypatch.setenv("THRESHER_BENCH_COUNTERS", "1")
    res = run_bench("_selftest", out_dir=tmp_path, rounds=2)
    for r in res["rows"]:
        if r["status"] not in ("ok", "MISMATCH"):
            continue
        assert len(r["counters"]) == len(r["times"]) == 2, r["engine"]
        for c in r["counters"]:
            assert {"minflt", "majflt", "nvcsw", "nivcsw", "rss", "rss_before", "py_blocks", "gc"} <= set(c)
            assert c["minflt"] >= 0 and c["majflt"] >= 0 and c["rss"] > 0 and c["rss_before"] > 0
    assert "minflt" not in (tmp_path / "_selftest.md").read_text()
    monkeypatch.delenv("THRESHER_BENCH_COUNTERS")
    plain = run_bench("_selftest", out_dir=tmp_path, rounds=2)
    assert all("counters" not in r for r in plain["rows"])


def test_prerun_puts_an_untimed_run_of_the_same_case_right_before_each_timed_one(tmp_path: Path) -> None:
    """``prerun``: every engine's timed run follows its own untimed run of that case (the idle
    time before it no longer depends on the other engines' speed on the previous case)."""
    res = run_bench("_selftest", out_dir=tmp_path, rounds=3, overrides={"prerun": True})
    good = {r["engine"]: r for r in res["rows"]}["good"]
    # runs served by the worker at each timed round: 1 warm-up, then 2 per round
    assert [m["calls"] for m in good["metrics"]] == [3, 5, 7]
    assert res["prerun"] is True and "prerun" not in res["params"]
    assert "(prerun)" in (tmp_path / "_selftest.md").read_text()
    plain = run_bench("_selftest", out_dir=tmp_path, rounds=3)
    assert [m["calls"] for m in {r["engine"]: r for r in plain["rows"]}["good"]["metrics"]] == [2, 3, 4]
    assert plain["prerun"] is False and "(prerun)" not in (tmp_path / "_selftest.md").read_text()


def test_tpcds_phases_times_each_phase_and_puts_the_functions_back(tpcds_generate: Any) -> None:
    """Each phase of a TPC-DS query is timed (translated from scratch every round), the phases
    add up within the whole, and the wrapped functions are the originals again afterwards."""
    import benchmarks.tpcds_phases as phases

    import thresher.engine.stages as stages
    import thresher.sql_frontend as frontend

    before = (stages.collect_lazy, frontend.translate)
    res = phases.measure(str(tpcds_generate(0.01)), [3, 41], rounds=2)
    assert (stages.collect_lazy, frontend.translate) == before
    for q in (3, 41):
        m = res[q]
        assert set(m) == set(phases.PHASES)
        assert all(m[k] > 0 for k in ("parse", "sqlglot", "xlate", "sql", "optimize", "program", "collect"))
        assert m["parse"] + m["sqlglot"] + m["xlate"] <= m["sql"] + 1e-6
        assert m["sql"] + m["optimize"] + m["program"] + m["collect"] <= m["e2e"] + 1e-6
    planned = phases.measure(str(tpcds_generate(0.01)), [3], rounds=1, plan_only=True)
    assert planned[3]["collect"] == 0 and planned[3]["optimize"] > 0


def test_tpch_df_session_compares_results_and_runs_each_engine_alone(tpch_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Each engine's session runs in its own process, one at a time, taking turns; a query whose
    results differ between the engines gets no ratio."""
    import subprocess

    import benchmarks.tpch_df_session as session

    started: list[str] = []
    real = subprocess.run

    def run(cmd: list[str], **k: Any) -> Any:
        started.append(cmd[cmd.index("--child") + 1])
        return real(cmd, **k)

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "python"), str(ROOT)]))
    table = session.measure(str(tpch_dir), processes=2, passes=1)
    assert started == ["thresher", "polars", "polars", "thresher"]
    assert sorted(table) == list(range(1, 23)) and all(r["same"] for r in table.values())
    table[3]["same"] = False
    text = session.report(table)
    assert "| q3 |" in text and "results differ: not counted" in text and "results differ: q3" in text
