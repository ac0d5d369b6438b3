"""A benchmark of the harness itself (used by ``tests/test_bench_harness.py``; not run by ``all``).

``good`` and ``reference`` agree; ``wrong`` answers differently (must be marked MISMATCH and
left out of the ratios); ``drifting`` changes its answer between rounds; ``absent`` needs a
module that does not exist (a "not installed" row); ``cached`` is fast only when its cache
survives between rounds (``reset`` empties it, so its rounds must all be slow). ``good`` reports
its worker's pid and how many runs that worker has served (warm-up included) as metrics, so a test
can see which process ran each round and that every new process was warmed up.
"""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks.harness import Bench, Engine


def _start(p: dict[str, Any]) -> dict[str, Any]:
    return {"n": p["n"], "calls": 0, "cache": False}


def _run(state: dict[str, Any], case: str) -> int:
    state["calls"] += 1
    return sum(range(state["n"]))


def _run_wrong(state: dict[str, Any], case: str) -> int:
    return sum(range(state["n"])) + 1


def _run_drifting(state: dict[str, Any], case: str) -> int:
    state["calls"] += 1
    return sum(range(state["n"])) + (state["calls"] > 1)


def _run_cached(state: dict[str, Any], case: str) -> int:
    if not state["cache"]:
        time.sleep(0.05)  # the cold round
        state["cache"] = True
    return sum(range(state["n"]))


def _reset(state: dict[str, Any]) -> None:
    state["cache"] = False


def _check(state: dict[str, Any], case: str, out: int) -> int:
    return out


def _metrics(state: dict[str, Any], case: str, out: int) -> dict[str, int]:
    return {"pid": os.getpid(), "calls": state["calls"]}


BENCH = Bench(
    name="_selftest",
    title="harness self-test",
    engines=(
        Engine("reference", _start, _run, _check),
        Engine("good", _start, _run, _check, metrics=_metrics),
        Engine("wrong", _start, _run_wrong, _check),
        Engine("drifting", _start, _run_drifting, _check),
        Engine("absent", _start, _run, _check, requires=("no_such_module_anywhere",)),
        Engine("cached", _start, _run_cached, _check, reset=_reset),
    ),
    reference="reference",
    baseline="reference",
    units="items",
    quick={"n": 1000, "rounds": 3, "warmup": 1},
    full={"n": 1000, "rounds": 3, "warmup": 1},
    count=lambda p: p["n"],
)
